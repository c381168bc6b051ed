import { type GateClass, VISIBILITY_CLASSES, type VisibilityClass } from "../diff.js";
import type { Summary, VisibilitySummary } from "../summary.js";
import type { VisibilityChange } from "../types.js";
import type { ReportContext } from "./context.js";
import { n, plural } from "./words.js";

// The tool-list section every format shares: which tools appear in or disappear from an
// identity's tools/list, apart from the changed calls. A summary without `visibility` (a source
// that never compares lists) has no section and no line at all.

/** The classes of tool-list change a report lists (--only; both when not given). */
export function listedVisibility(ctx: ReportContext): readonly VisibilityClass[] {
  return ctx.only
    ? VISIBILITY_CLASSES.filter((c) => (ctx.only as readonly GateClass[]).includes(c))
    : VISIBILITY_CLASSES;
}

/** Whether a tool-list change fails the gate: its class is in --fail-on. */
export function visibilityFails(c: VisibilityChange, failOn: readonly GateClass[]): boolean {
  return failOn.includes(c.change);
}

/**
 * `fleet_wipe disappears from agent-ops's tool list (12 sessions listed it; 3 calls)`, or
 * `... appears in ...'s tool list (2 sessions had it hidden; 0 calls)`. `code` sets a name
 * (markdown's backticks).
 */
export function visibilitySentence(
  c: VisibilityChange,
  code: (s: string) => string = (s) => s,
): string {
  const calls = plural(c.calls, "call");
  return c.change === "hidden"
    ? `${code(c.tool)} disappears from ${code(c.identity)}'s tool list (${plural(c.sessions, "session")} listed it; ${calls})`
    : `${code(c.tool)} appears in ${code(c.identity)}'s tool list (${plural(c.sessions, "session")} had it hidden; ${calls})`;
}

/** The tool-list changes a report lists: of the --only classes, those failing first, to `show`. */
export function visibilityListing(
  ctx: ReportContext,
  v: VisibilitySummary,
): { items: VisibilityChange[]; eligible: number } {
  const only = listedVisibility(ctx);
  const eligible = v.changes.filter((c) => only.includes(c.change));
  const failing = eligible.filter((c) => visibilityFails(c, ctx.failOn));
  const rest = eligible.filter((c) => !visibilityFails(c, ctx.failOn));
  return { items: [...failing, ...rest].slice(0, ctx.show), eligible: eligible.length };
}

/** The context line about tool lists: what was compared, or why nothing was; null without. */
export function visibilityContext(s: Summary): string | null {
  const v = s.visibility;
  if (!v) return null;
  if (!v.known)
    return "Tool lists: not known from a trace (it holds calls, not tools/list answers).";
  if (!v.lists_read)
    return "Tool lists: no tool appears or disappears (both sides hide the same tools).";
  const notes: string[] = [];
  if (v.malformed > 0) notes.push(`${plural(v.malformed, "malformed answer")} skipped`);
  if (v.unknown_policy > 0)
    notes.push(`${plural(v.unknown_policy, "session")} left out (the recording lacks its policy)`);
  const tail = notes.length > 0 ? `; ${notes.join("; ")}` : "";
  if (v.answers === 0 && v.malformed === 0)
    return `Tool lists: the recordings hold no tools/list answer to compare${tail}.`;
  const read = `${plural(v.answers, "tools/list answer")} in ${plural(v.sessions, "session")}`;
  if (v.changes.length === 0) return `Tool lists: no tool appears or disappears (${read}${tail}).`;
  return `Tool lists: ${read} compared${tail}; ${n(v.hidden)} hidden, ${n(v.unhidden)} unhidden (listed below).`;
}

/**
 * What a listing of tool-list changes leaves out, for its heading, or null when it lists every
 * one (as listingScope says it of the changed calls).
 */
export function visibilityScope(
  ctx: ReportContext,
  v: VisibilitySummary,
  listed: number,
  eligible: number,
  showAll: string | null,
): string | null {
  const total = v.changes.length;
  const narrowed = eligible < total;
  const cut = listed < eligible;
  if (!narrowed && !cut) return null;
  const hint = showAll === null ? "" : `; ${showAll}`;
  const only = listedVisibility(ctx);
  const classes =
    only.length === 0 ? `--only ${ctx.only!.join(",")}` : `${only.join(" and ")} only`;
  if (!narrowed) return `first ${n(listed)} of ${n(eligible)}${hint}`;
  if (!cut) return `${classes}: ${n(eligible)} of ${n(total)}`;
  return `${classes}: first ${n(listed)} of ${n(eligible)}, of ${n(total)} in all${hint}`;
}

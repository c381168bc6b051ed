import type { ChangeClass, GateClass, Outcome, VisibilityClass } from "../diff.js";
import type { CallResult } from "../replay.js";
import type { Summary } from "../summary.js";
import { count } from "../../numbers.js";
import { plain, type Style } from "./style.js";

// The phrases every format shares, so a headline reads the same in a terminal, a pull-request
// comment, a JUnit report and a GitHub annotation.

/** `1,234`: a count as en-US writes it. */
export const n = count;

/** `1 call`, `2 calls`. */
export const plural = (x: number, word: string, words = `${word}s`): string =>
  `${n(x)} ${x === 1 ? word : words}`;

/** A call's time as ISO 8601 UTC. */
export const iso = (ts: number): string => new Date(ts).toISOString();

/** `2025-11-22 08:27:22.217`: a call's time in UTC, for tables. */
export const tableTime = (ts: number): string => iso(ts).replace("T", " ").replace("Z", "");

/** `1.2s`, `3m20s`: a retry time. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1).replace(/\.0$/, "")}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h${Math.round((ms % 3_600_000) / 60_000)}m`;
}

/** The colour of a change class (tightened red, loosened yellow, changed cyan). */
export function classStyle(c: ChangeClass, style: Style): (s: string) => string {
  return c === "tightened" ? style.red : c === "loosened" ? style.yellow : style.cyan;
}

/** The colour of a tool-list class: hidden as tightened (red), unhidden as loosened (yellow). */
export function visibilityStyle(c: VisibilityClass, style: Style): (s: string) => string {
  return c === "hidden" ? style.red : style.yellow;
}

/** `; tool lists: 1 hidden, 0 unhidden` for the headline, when a list changed; else "". */
function listsPart(s: Summary, style: Style): string {
  const v = s.visibility;
  if (!v || v.changes.length === 0) return "";
  const count = (c: VisibilityClass) => {
    const text = `${n(v[c])} ${c}`;
    return v[c] > 0 ? visibilityStyle(c, style)(text) : text;
  };
  return `; tool lists: ${count("hidden")}, ${count("unhidden")}`;
}

/**
 * The answer, in one line: "501 calls in 8 sessions replayed; 55 tightened, 0 loosened,
 * 1 changed." (with "; 3 accepted" when an accept list covered some, and "; tool lists:
 * 1 hidden, 0 unhidden" when a tool appears in or disappears from a tools/list).
 */
export function headline(s: Summary, style: Style = plain): string {
  const head = `${plural(s.calls, "call")} in ${plural(s.sessions, "session")} replayed`;
  if (s.basis === "none") {
    return `${head}; nothing to compare with (no --baseline, and the calls carry no recorded decisions).`;
  }
  const lists = listsPart(s, style);
  if (s.changes.total === 0) return `${head}. No decision changed${lists}.`;
  const count = (c: ChangeClass) => {
    const text = `${n(s.changes[c])} ${c}`;
    // Colour only: the report sets the whole headline in bold, and a nested bold's reset
    // would end it early.
    return s.changes[c] > 0 ? classStyle(c, style)(text) : text;
  };
  const accepted = s.accepted.total > 0 ? `; ${n(s.accepted.total)} accepted` : "";
  return `${head}; ${count("tightened")}, ${count("loosened")}, ${count("changed")}${accepted}${lists}.`;
}

/** "Gate: FAIL — ..." or "Gate: pass (...)"; null when there was nothing to compare. */
export function gateLine(s: Summary, style: Style = plain): string | null {
  if (s.basis === "none") return null;
  const on = s.gate.fail_on.length === 0 ? "nothing (--fail-on none)" : s.gate.fail_on.join(", ");
  const accepted =
    s.accepted.total > 0 ? `; ${plural(s.accepted.total, "accepted change")} not counted` : "";
  return s.gate.failed
    ? `${style.bold(style.red("Gate: FAIL"))} — ${plural(s.gate.failing, "change")} of a failing class (fails on ${on}${accepted}).`
    : `${style.bold(style.green("Gate: pass"))} (fails on ${on}${accepted}).`;
}

/**
 * `deny rate_limited`: a decision and its code, the word once when they are the same
 * (`approval_required`).
 */
export function decisionText(o: Pick<Outcome, "decision" | "code">): string {
  return o.decision === o.code ? o.decision : `${o.decision} ${o.code}`;
}

/** `deny rate_limited, retry 1.2s`: a decision without its rule. */
export function outcomeText(o: Outcome): string {
  let s = decisionText(o);
  if (o.approval) s += ` (${o.approval})`;
  if (o.retry_after_ms !== null) s += `, retry ${formatMs(o.retry_after_ms)}`;
  return s;
}

/** The rule that decided, or `before -> after` when the deciding rule changed; `-` for none. */
export function ruleText(r: CallResult): string {
  const before = r.before?.rule ?? null;
  const after = r.after.rule;
  return r.before === null || before === after
    ? (after ?? "-")
    : `${before ?? "-"} -> ${after ?? "-"}`;
}

/** A changed call's marks: counterfactual, inexact, accepted. */
export function marks(r: CallResult): string[] {
  const out: string[] = [];
  if (r.counterfactual) out.push("counterfactual");
  if (r.inexact) out.push("inexact");
  if (r.accepted) out.push("accepted");
  return out;
}

/** Whether this changed call fails the gate: its class is in --fail-on and it is not accepted. */
export function fails(r: CallResult, failOn: readonly GateClass[]): boolean {
  return r.change !== null && !r.accepted && failOn.includes(r.change);
}

import { compileGlob } from "../engine/glob.js";
import { UsageError } from "../errors.js";
import type { CallQuery } from "../store/types.js";
import type { TraceCall } from "./types.js";

/**
 * Which calls a replay or an export takes. Every list is "any of"; the filters together are
 * "all of". A call left out is not replayed at all, so counters see only the calls kept.
 */
export interface CallFilter {
  sessions?: string[];
  identities?: string[];
  /** Tool names or globs (`*`, `?`), as in a policy. */
  tools?: string[];
  /** Calls at or after this time (ms). */
  since?: number;
  /** Calls before this time (ms, exclusive). */
  until?: number;
}

// ISO 8601 as people type it: a date, or a date and time with optional seconds, fraction and
// zone. A time without a zone is UTC, as every time in the reports is.
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Parse a --since/--until value: ISO 8601 (no zone: UTC) or integer ms since the epoch. */
export function parseTime(flag: string, value: string): number {
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (Number.isSafeInteger(n)) return n;
  }
  const m = ISO.exec(v);
  if (m) {
    const zone = m[8] ?? "Z";
    const text =
      m[4] === undefined
        ? `${m[1]}-${m[2]}-${m[3]}T00:00:00Z`
        : `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? "00"}${m[7] ?? ""}${zone}`;
    const t = Date.parse(text);
    // Date.parse rolls 2026-02-30 over to March: reject what does not read back the same.
    const day = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    if (!Number.isNaN(t) && day.getUTCDate() === Number(m[3])) return t;
  }
  throw new UsageError(
    `${flag}: expected an ISO 8601 date or time (2026-11-23, 2026-11-23T12:00:00Z) or ms since the epoch, not "${value}"`,
  );
}

/** Check a filter as a whole: a time range that selects nothing is a mistake, not a question. */
export function checkFilter(f: CallFilter): CallFilter {
  if (f.since !== undefined && f.until !== undefined && f.since >= f.until) {
    throw new UsageError(
      `--since ${new Date(f.since).toISOString()} is not before --until ${new Date(f.until).toISOString()}: no call can be in that range`,
    );
  }
  return f;
}

/** True when the filter keeps every call. */
export function isEmptyFilter(f: CallFilter): boolean {
  return (
    f.sessions === undefined &&
    f.identities === undefined &&
    f.tools === undefined &&
    f.since === undefined &&
    f.until === undefined
  );
}

/** The part of a filter SQL can apply (everything but the tool globs). */
export function toQuery(f: CallFilter): CallQuery {
  const q: CallQuery = {};
  if (f.since !== undefined) q.since = f.since;
  if (f.until !== undefined) q.until = f.until;
  if (f.sessions !== undefined) q.sessions = f.sessions;
  if (f.identities !== undefined) q.identities = f.identities;
  return q;
}

/** A predicate for --tool: any of the globs matches (the policy's own glob semantics). */
export function toolMatcher(globs: readonly string[]): (tool: string) => boolean {
  const res = globs.map(compileGlob);
  // Tools are few and repeat: remember each answer.
  const seen = new Map<string, boolean>();
  return (tool) => {
    let ok = seen.get(tool);
    if (ok === undefined) {
      ok = res.some((re) => re.test(tool));
      if (seen.size < 100_000) seen.set(tool, ok);
    }
    return ok;
  };
}

/** Keep the calls of a stream (a JSONL trace) that the filter selects; indexes are kept as read. */
export function* filterCalls(calls: Iterable<TraceCall>, f: CallFilter): Generator<TraceCall> {
  const sessions = f.sessions && new Set(f.sessions);
  const identities = f.identities && new Set(f.identities);
  const tool = f.tools && toolMatcher(f.tools);
  for (const tc of calls) {
    const c = tc.call;
    if (f.since !== undefined && c.ts < f.since) continue;
    if (f.until !== undefined && c.ts >= f.until) continue;
    if (sessions && !sessions.has(c.session)) continue;
    if (identities && !identities.has(c.identity)) continue;
    if (tool && !tool(c.tool)) continue;
    yield tc;
  }
}

import { compileGlob } from "../../engine/glob.js";
import { isOpaque } from "../../engine/conditions.js";
import type { ReadOpenOptions, RecordedCall } from "../../store/sqlite.js";
import { withReader } from "../evidence.js";

// What the recordings say that a suggested policy is built from: per identity and tool, how
// its calls were decided and what their arguments held; the tools the servers listed. Read
// straight from each recording (the store's reader), two passes: this file's evidence, then
// the calls again for their rates (see eachCall).

/** A recording to read: its path, and the name the summary gives it. */
export interface SuggestSource {
  path: string;
  name: string;
}

/** Which calls the suggestion is made from: replay's filters, with the same meaning. */
export interface SuggestFilter {
  sessions?: string[];
  identities?: string[];
  /** Tool names or globs. */
  tools?: string[];
  /** Calls at or after this time (ms). */
  since?: number;
  /** Calls before this time (ms, exclusive). */
  until?: number;
}

/** Up to this many distinct values of an argument are kept; one more and it has too many. */
export const MAX_VALUES = 3;
/** Longer strings are never kept as condition values: a policy is for reading. */
const MAX_VALUE_CHARS = 200;
/** Only the keys of the first allowed call can be in every allowed call; at most this many. */
const MAX_KEYS = 32;

/** What the allowed calls of one identity and tool held under one top-level argument key. */
export interface ArgumentValues {
  /** Allowed calls that had the key with a plain value (a string, number, boolean or null). */
  present: number;
  /** Its distinct values by their JSON text; null once there were more than MAX_VALUES, a long
   * string, an object or array, or a value not held in clear (redacted or cut). */
  values: Map<string, string | number | boolean | null> | null;
}

/** One identity's calls of one tool. */
export interface ToolUse {
  calls: number;
  /** Recorded `allow`. */
  allowed: number;
  /** Recorded `approval_required`, and a human approved. */
  approved: number;
  /** Allowed calls (either kind above) that carry no approval: require_approval would stop them. */
  unapproved: number;
  /** Recorded `approval_required`, and a human rejected it or let it time out. */
  refused: number;
  /** Recorded `approval_required` with no human answer (none was asked, or none was kept). */
  unanswered: number;
  /** Recorded denials by code. */
  denied: Map<string, number>;
  /** Per top-level argument key of the first allowed call, what the allowed calls held. */
  args: Map<string, ArgumentValues> | null;
}

export interface SuggestEvidence {
  recordings: string[];
  /** Calls selected by the filter. */
  calls: number;
  sessions: number;
  first: number | null;
  last: number | null;
  /** Identity -> tool -> its calls, for every selected call. */
  uses: Map<string, Map<string, ToolUse>>;
  /** Tool -> the servers that listed it, from the tools/list answers of selected sessions. */
  listed: Map<string, Set<string>>;
}

export function emptySuggestEvidence(): SuggestEvidence {
  return {
    recordings: [],
    calls: 0,
    sessions: 0,
    first: null,
    last: null,
    uses: new Map(),
    listed: new Map(),
  };
}

/** Used when a session's server did not say its name. */
export const UNNAMED_SERVER = "(unnamed server)";

/** A call as the suggestion reads it. */
export interface SelectedCall {
  /** Position of its recording in the sources. */
  file: number;
  session: string;
  identity: string;
  tool: string;
  ts: number;
  arguments: unknown;
  decision: string;
  code: string;
  approval: string | null;
}

/**
 * Call `fn` with every call the filter selects, file by file, each file in recorded order. The
 * time range may be widened (`range`) to read the calls before it that a replay warms its
 * counters with. Throws StoreError (exit 2) for a missing, corrupt or unreadable recording.
 */
export function eachCall(
  sources: readonly SuggestSource[],
  filter: SuggestFilter,
  range: { since?: number; until?: number },
  fn: (call: SelectedCall) => void,
  opts: ReadOpenOptions = {},
): void {
  const keep = selector(filter);
  sources.forEach((src, file) => {
    withReader(src.path, opts, (reader) => {
      for (const c of reader.calls()) {
        if (range.since !== undefined && c.ts < range.since) continue;
        if (range.until !== undefined && c.ts >= range.until) continue;
        if (!keep(c)) continue;
        fn(selected(file, c));
      }
    });
  });
}

/** Read the evidence of every source into `ev`: its selected calls and listed tools. */
export function readEvidence(
  sources: readonly SuggestSource[],
  filter: SuggestFilter,
  ev: SuggestEvidence,
  opts: ReadOpenOptions = {},
): void {
  const keepTool = filter.tools ? toolMatcher(filter.tools) : () => true;
  const sessions = new Set<string>();
  sources.forEach((src, file) => {
    withReader(src.path, opts, (reader) => {
      const servers = new Map<string, string>();
      for (const s of reader.sessions()) {
        if (filter.sessions && !filter.sessions.includes(s.id)) continue;
        if (filter.identities && !filter.identities.includes(s.identity)) continue;
        servers.set(s.id, serverName(s.serverInfo));
      }
      for (const m of reader.toolListAnswers()) {
        const server = servers.get(m.session);
        if (server === undefined) continue;
        for (const tool of toolNames(m.message)) {
          if (!keepTool(tool)) continue;
          let by = ev.listed.get(tool);
          if (!by) ev.listed.set(tool, (by = new Set()));
          by.add(server);
        }
      }
    });
    ev.recordings.push(src.name);
    // The calls, in a pass of their own: a reader runs one statement at a time.
    eachCall(
      [src],
      filter,
      filter,
      (c) => {
        ev.calls++;
        sessions.add(`${file}\u0000${c.session}`);
        if (ev.first === null || c.ts < ev.first) ev.first = c.ts;
        if (ev.last === null || c.ts > ev.last) ev.last = c.ts;
        note(ev, c);
      },
      opts,
    );
  });
  ev.sessions = sessions.size;
}

/** Whether a call was let through as recorded: allowed, or approved by a human. */
export function recordedAllowed(c: Pick<SelectedCall, "decision" | "approval">): boolean {
  return (
    c.decision === "allow" || (c.decision === "approval_required" && c.approval === "approved")
  );
}

function note(ev: SuggestEvidence, c: SelectedCall): void {
  let tools = ev.uses.get(c.identity);
  if (!tools) ev.uses.set(c.identity, (tools = new Map()));
  let use = tools.get(c.tool);
  if (!use) {
    use = {
      calls: 0,
      allowed: 0,
      approved: 0,
      unapproved: 0,
      refused: 0,
      unanswered: 0,
      denied: new Map(),
      args: null,
    };
    tools.set(c.tool, use);
  }
  use.calls++;
  if (c.decision === "allow") use.allowed++;
  else if (c.decision === "approval_required") {
    if (c.approval === "approved") use.approved++;
    else if (c.approval === "rejected" || c.approval === "timeout") use.refused++;
    else use.unanswered++;
  } else use.denied.set(c.code, (use.denied.get(c.code) ?? 0) + 1);
  if (!recordedAllowed(c)) return;
  if (c.approval !== "approved") use.unapproved++;
  noteArguments(use, c.arguments);
}

/**
 * Keep what an allowed call's arguments say about each candidate key. A condition must hold
 * for every allowed call, so only keys the first one had can qualify, and a call without one
 * (or with arguments that are not an object) rules it out.
 */
function noteArguments(use: ToolUse, args: unknown): void {
  const obj =
    args !== null && typeof args === "object" && !Array.isArray(args) && !isOpaque(args)
      ? (args as Record<string, unknown>)
      : null;
  if (use.args === null) {
    use.args = new Map();
    if (obj === null) return;
    for (const key of Object.keys(obj).slice(0, MAX_KEYS)) {
      use.args.set(key, { present: 0, values: new Map() });
    }
  }
  for (const [key, av] of use.args) {
    if (obj === null || !Object.hasOwn(obj, key)) {
      use.args.delete(key);
      continue;
    }
    const v = obj[key];
    av.present++;
    if (av.values === null) continue;
    const plainValue =
      v === null ||
      typeof v === "boolean" ||
      (typeof v === "number" && Number.isFinite(v)) ||
      (typeof v === "string" && v.length <= MAX_VALUE_CHARS);
    // Objects and arrays are left out, redaction markers with them: never a condition's value.
    if (!plainValue) {
      av.values = null;
      continue;
    }
    av.values.set(JSON.stringify(v), v as string | number | boolean | null);
    if (av.values.size > MAX_VALUES) av.values = null;
  }
}

function selected(file: number, c: RecordedCall): SelectedCall {
  return {
    file,
    session: c.session,
    identity: c.identity,
    tool: c.tool,
    ts: c.ts,
    arguments: c.arguments,
    decision: c.decision,
    code: c.code,
    approval: c.approval,
  };
}

/** The filter's sessions, identities and tools as one predicate (its time range is apart). */
function selector(filter: SuggestFilter): (c: RecordedCall) => boolean {
  const sessions = filter.sessions ? new Set(filter.sessions) : null;
  const identities = filter.identities ? new Set(filter.identities) : null;
  const tool = filter.tools ? toolMatcher(filter.tools) : null;
  return (c) =>
    (sessions === null || sessions.has(c.session)) &&
    (identities === null || identities.has(c.identity)) &&
    (tool === null || tool(c.tool));
}

/** Any of the globs matches, with the policy's own glob semantics. */
function toolMatcher(globs: readonly string[]): (tool: string) => boolean {
  const res = globs.map(compileGlob);
  return (t) => res.some((g) => g.test(t));
}

function serverName(info: unknown): string {
  if (info === null || typeof info !== "object") return UNNAMED_SERVER;
  const name = (info as { name?: unknown }).name;
  return typeof name === "string" && name !== "" ? name : UNNAMED_SERVER;
}

/** The names in a tools/list result; none when the message is not one (an error answer). */
function toolNames(message: unknown): string[] {
  const result = (message as { result?: { tools?: unknown } } | null)?.result;
  if (!result || !Array.isArray(result.tools)) return [];
  const names: string[] = [];
  for (const t of result.tools as unknown[]) {
    const n = (t as { name?: unknown } | null)?.name;
    if (typeof n === "string") names.push(n);
  }
  return names;
}

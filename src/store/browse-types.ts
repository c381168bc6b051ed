import type { LimitHit } from "../engine/index.js";
import type {
  ApprovalAnswer,
  CallOutcome,
  Direction,
  Mode,
  ShadowDecision,
  StoredRun,
  TransportKind,
} from "./types.js";

// What the terminal UI reads a recording as: the Browser (browse.ts) and its rows (rows.ts).

/** Reads a list page by page: rows after a row, or before one, in the list's own order. */
export interface Keyset<T> {
  /** Up to n rows that follow `row` (from the first when null), in list order. */
  after(row: T | null, n: number): T[];
  /** Up to n rows that precede `row` (the last n when null), in list order. */
  before(row: T | null, n: number): T[];
}

export const SESSION_SORTS = ["newest", "oldest", "identity", "longest"] as const;
export type SessionSort = (typeof SESSION_SORTS)[number];

export interface SessionQuery {
  sort: SessionSort;
  /** Text that the id, identity, client or server name contains (any case); "" for all. */
  filter: string;
}

export interface SessionRow {
  /** SQLite's rowid: the tie-breaker that makes every sort order total. */
  rowid: number;
  id: string;
  identity: string;
  transport: TransportKind;
  mode: Mode;
  policyHash: string;
  startedAt: number;
  endedAt: number | null;
  endReason: string | null;
  /** The client's and server's names (and versions) from the initialize handshake. */
  client: string | null;
  server: string | null;
  protocolVersion: string | null;
  /**
   * Where the proxy kept its counters: "memory", "recording" or "redis" (as written; the
   * browser does not check it); null for a session recorded before schema 6.
   */
  counters: string | null;
  /** The shadow policy's hash (`record --shadow`), or null: recorded without a shadow. */
  shadowPolicyHash: string | null;
}

/** A session's decisions so far, counted over [0, lastSeq]. */
export interface CallCounts {
  calls: number;
  denied: number;
  rateLimited: number;
  approvals: number;
  /** The seq of the last call counted, or -1 when none was. */
  lastSeq: number;
}

export interface CallQuery {
  session: string;
  /** Text that the tool, decision, code or rule contains (any case); "" for all. */
  filter: string;
}

/** A call as a list shows it. */
export interface CallRow {
  id: number;
  session: string;
  seq: number;
  ts: number;
  identity: string;
  tool: string;
  decision: string;
  code: string;
  rule: string | null;
  retryAfterMs: number | null;
  limit: LimitHit | null;
  inexact: boolean;
  approval: ApprovalAnswer | null;
  outcome: CallOutcome["outcome"] | null;
  latencyMs: number | null;
  /** The shadow policy's decision (`record --shadow`), or null when there is none. */
  shadow: { decision: string; code: string } | null;
}

/**
 * How a session's shadow decisions differ from its enforced ones, classed as a replay classes
 * a change (after any human answer to an approval); `calls` counts the calls with a shadow.
 */
export interface ShadowCounts {
  calls: number;
  tightened: number;
  loosened: number;
  changed: number;
}

/** Everything recorded about one call. */
export interface CallDetail extends CallRow {
  jsonrpcId: string;
  mode: Mode;
  reason: string | null;
  arguments: unknown;
  /**
   * For a call that reached its rule's limits: each limit's count when it was decided, before
   * this call; null for any other call, and for every call of a recording before schema 6.
   */
  counts: LimitHit[] | null;
  /** Redis's sequence number for the call, when its counters were in Redis; else null. */
  counterSeq: number | null;
  /** The shadow policy's decision (`record --shadow`), or null when there is none. */
  shadow: ShadowDecision | null;
}

export interface MessageRow {
  seq: number;
  ts: number;
  direction: Direction;
  method: string | null;
  jsonrpcId: string | null;
  /** The message parsed, or its text when it was cut for size (see `cut`). */
  body: unknown;
  /** The message is longer than was read: `body` holds its first characters as text. */
  cut: boolean;
  /** The stored message's length in characters. */
  length: number;
}

/** A saved run (the store's StoredRun). */
export type RunRow = StoredRun;

export const DIFF_CLASSES = ["all", "tightened", "loosened", "changed", "inexact"] as const;
export type DiffClass = (typeof DIFF_CLASSES)[number];

export interface DiffQuery {
  run: number;
  /** A change class, or "inexact" for every inexact result, or "all". */
  class: DiffClass;
  /** Text the tool or identity contains; `tool:X` or `identity:X` look at one of them. */
  filter: string;
}

export interface DecisionSide {
  decision: string;
  code: string;
  rule: string | null;
}

/** One call of a saved run whose decision changed, or was inexact. */
export interface DiffRow {
  run: number;
  call: number;
  class: "tightened" | "loosened" | "changed" | null;
  old: DecisionSide;
  new: DecisionSide & { reason: string | null; retryAfterMs: number | null };
  counterfactual: boolean;
  inexact: boolean;
  /** From the call; null when the run names a call this file does not hold. */
  session: string | null;
  seq: number | null;
  ts: number | null;
  identity: string | null;
  tool: string | null;
}

/** What the terminal UI reads a recording through. */
export interface Browser {
  readonly file: string;
  /** How many sessions the recording holds (matching `filter`, if given). */
  sessionCount(filter?: string): number;
  sessions(q: SessionQuery): Keyset<SessionRow>;
  session(id: string): SessionRow | null;
  /** How the session's shadow decisions differ from its enforced ones; null before schema 7. */
  shadowCounts(session: string): ShadowCounts | null;
  /**
   * Count up to `limit` of a session's calls after seq `afterSeq`, on calls_by_session: the
   * caller counts a large session in slices, so no single query holds the UI for long.
   */
  countCalls(session: string, afterSeq: number, limit: number): CallCounts;
  calls(q: CallQuery): Keyset<CallRow>;
  call(id: number): CallDetail | null;
  /** The answer to a call (same JSON-RPC id, later in its session), looking at most `within` messages ahead. */
  answer(call: CallDetail, within?: number): MessageRow | null;
  /** A session's messages with seq in [from, to], at most `limit`, bodies cut at `maxChars`. */
  messages(
    session: string,
    from: number,
    to: number,
    limit: number,
    maxChars?: number,
  ): MessageRow[];
  /** A policy's text by its hash, or null. */
  policy(hash: string): string | null;
  /** Saved runs shown: from the recording's runs file, and any saved inside it by older versions. */
  runCount(): number;
  /**
   * One line on saved runs that are not shown, or null: those of a runs file made from another
   * recording (this one replaced it), or a whole runs file that cannot be read.
   */
  runsNotice(): string | null;
  runs(): Keyset<RunRow>;
  run(id: number): RunRow | null;
  diffs(q: DiffQuery): Keyset<DiffRow>;
  /** How many results a run holds in a class ("all": every one), on its indexes. */
  diffCount(run: number, cls: DiffClass): number;
  diff(run: number, call: number): DiffRow | null;
  close(): void;
}

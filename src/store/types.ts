import type { Decision, DecisionKind, LimitHit } from "../engine/index.js";
import type { StoreError } from "./errors.js";

// The store's seam: everything the proxy writes and replay and the terminal UI read goes
// through this interface; all SQL lives in sqlite.ts behind it.

/** "import": a session made by `policy-replay import` from a JSONL trace. */
export type TransportKind = "stdio" | "http" | "import";
export type Mode = "enforce" | "observe";
/** Where a proxy kept the counters' state: its memory, the recording file, or Redis. */
export type CountersWhere = "memory" | "recording" | "redis";

/** Which way a message went. The proxy's own messages (denials, approval requests) are "proxy_*". */
export type Direction =
  "client_to_server" | "server_to_client" | "proxy_to_client" | "proxy_to_server";

export interface SessionStart {
  /** Unique per recording file: a UUID (stdio) or the Mcp-Session-Id (HTTP). */
  id: string;
  identity: string;
  transport: TransportKind;
  mode: Mode;
  /** sha256 of the policy text in force; the text itself goes in through putPolicy. */
  policyHash: string;
  startedAt: number;
  /** Where the proxy keeps the counters this session's calls are decided against. */
  counters?: CountersWhere;
  /** sha256 of the shadow policy the proxy also decides under (`record --shadow`), if any. */
  shadowPolicyHash?: string | null;
}

export interface SessionUpdate {
  clientInfo?: unknown;
  serverInfo?: unknown;
  protocolVersion?: string;
  endedAt?: number;
  /** Why the session ended: "closed", "client_disconnected", "server_exited", ... */
  endReason?: string;
}

export interface MessageRecord {
  session: string;
  direction: Direction;
  /** Per-session sequence number, in the order the proxy saw the messages. */
  seq: number;
  /** Arrival time, integer ms since the epoch. */
  ts: number;
  method: string | null;
  /** The JSON-RPC id as text (`"7"` for 7, `"\"abc\""` for "abc"), or null for notifications. */
  jsonrpcId: string | null;
  /** The message as sent, after redaction of secret-looking argument values. */
  message: unknown;
}

export interface DecisionRecord {
  session: string;
  /** seq of the tools/call request message this decision is about. */
  seq: number;
  ts: number;
  identity: string;
  tool: string;
  /** The call's arguments, after redaction. */
  arguments: unknown;
  jsonrpcId: string;
  mode: Mode;
  decision: Decision;
  /**
   * For a call that reached its rule's limits: each limit's count when it was decided, before
   * this call (the engine's limitCounts()); null or absent for any other call.
   */
  counts?: readonly LimitHit[] | null;
  /** The counter service's sequence number for the call (Redis's); null or absent for none. */
  counterSeq?: number | null;
  /** The shadow policy's decision (`record --shadow`); null or absent when there is none. */
  shadow?: ShadowRecord | null;
}

/** What a shadow policy decided for a call, as written beside the enforced decision. */
export interface ShadowRecord {
  decision: Decision;
  /** Each limit's count when the shadow decided it, as DecisionRecord.counts. */
  counts: readonly LimitHit[] | null;
}

/** A shadow decision as read back. */
export interface ShadowDecision {
  decision: DecisionKind;
  code: string;
  rule: string | null;
  reason: string | null;
  retry_after_ms: number | null;
  counts: LimitHit[] | null;
}

export type ApprovalAnswer = "approved" | "rejected" | "timeout" | "unavailable";

export interface CallOutcome {
  /** "result": the server answered; "tool_error": answered with isError; "error": JSON-RPC
   * error; "denied": the proxy answered instead; "no_answer": the session ended first. */
  outcome: "result" | "tool_error" | "error" | "denied" | "no_answer";
  /** ms from the request's arrival to its answer. */
  latencyMs: number | null;
}

/** One recorded call as replay reads it back, in recorded order. */
export interface StoredCall {
  id: number;
  session: string;
  identity: string;
  ts: number;
  tool: string;
  arguments: unknown;
  decision: string;
  code: string;
  rule: string | null;
  retry_after_ms: number | null;
  approval: ApprovalAnswer | null;
}

/** How the store's writes are going: what the proxy needs to refuse calls and to say so once. */
export interface StoreHealth {
  /**
   * False from a write that failed for the store as a whole (store_busy, store_full, store_io,
   * store_read_only, store_corrupt) until a write succeeds again.
   */
  healthy: boolean;
  /** The latest such fault while unhealthy; null when healthy. */
  fault: StoreError | null;
  /** Queued writes waiting to be written (kept while the store fails). */
  queued: number;
  /** Queued writes dropped since opening because the queue overflowed while the store failed. */
  lost: number;
}

/** A decided call as counters shared by several proxies need it. */
export interface RecordedDecision {
  id: number;
  session: string;
  identity: string;
  tool: string;
  ts: number;
  decision: "allow" | "deny" | "approval_required";
  /**
   * Its shadow decision, when the store was asked for those of one shadow policy and the
   * call's session decided under that policy; else null or absent.
   */
  shadow?: DecisionKind | null;
}

export interface Store {
  /** Remember a policy's text by its hash (idempotent). */
  putPolicy(hash: string, text: string): void;
  startSession(s: SessionStart): void;
  updateSession(id: string, patch: SessionUpdate): void;
  /** Queue a message; written in batches off the hot path (see flush). */
  recordMessage(m: MessageRecord): void;
  /**
   * Write a tools/call decision and commit it before returning: the audit log is write-ahead,
   * so no call reaches the server before its row is on disk. Returns the call's row id.
   * Throws StoreError when it cannot: store_busy, store_full, store_io, store_read_only or
   * store_corrupt (the store as a whole is failing; see health()), store_write_failed (this
   * row alone), store_closed. The call must then not be forwarded.
   */
  recordDecision(d: DecisionRecord): number;
  /**
   * recordDecision() for counters shared through the recording: in one transaction holding
   * the file's write lock, `step` is given the decided calls that other connections wrote
   * since this one last looked (on the first call, those at or after `sinceTs`), in recorded
   * order, and returns the decision row to write; with `shadowPolicyHash`, each with its shadow
   * decision under that policy. Throws as recordDecision does. Only stores
   * backed by a file that several proxies can share have it.
   */
  recordDecisionShared?(
    sinceTs: number,
    step: (others: RecordedDecision[]) => DecisionRecord,
    shadowPolicyHash?: string | null,
  ): number;
  /**
   * recordDecision() for several calls at once, in one commit: all their rows are written or
   * none is (then it throws as recordDecision does, and none may be forwarded). Row ids in
   * the given order.
   */
  recordDecisions?(ds: readonly DecisionRecord[]): number[];
  /** recordDecisionShared() for several calls at once: `step` returns their rows, in order. */
  recordDecisionsShared?(
    sinceTs: number,
    step: (others: RecordedDecision[]) => readonly DecisionRecord[],
    shadowPolicyHash?: string | null,
  ): number[];
  /** Committed at once, like recordDecision, and throws as it does. */
  recordApproval(callId: number, answer: ApprovalAnswer): void;
  recordOutcome(callId: number, outcome: CallOutcome): void;
  /**
   * The shadow decision of a call already written without one: a shadow decided after the
   * enforced decision went on (its lookup must not hold the call). Queued like an outcome;
   * a store without it keeps such calls without a shadow decision.
   */
  recordShadow?(callId: number, shadow: ShadowRecord): void;
  /**
   * Write queued messages now. Never throws for a fault of the store (what could not be
   * written stays queued for the next flush); store_closed after close().
   */
  flush(): void;
  /** Flush and close; never throws for a fault of the store (reports what it could not write). */
  close(): void;
  /** How writes are going; a store without it is taken to be always healthy. */
  health?(): StoreHealth;
  /** Queued writes of this session dropped because the queue overflowed (see StoreHealth.lost). */
  lostWrites?(session: string): number;
  /** Recorded calls in recorded order (by ts, then arrival), streamed. */
  calls(): IterableIterator<StoredCall>;
}

/** Replaces secret-looking argument values with keyed hashes before anything is stored. */
export interface Redactor {
  redact(value: unknown): unknown;
}

/**
 * Which recorded calls to read. Every filter is pushed into SQL: the time range and identities
 * as comparisons on the scan in time order, sessions through the calls_by_session index.
 */
export interface CallQuery {
  /** Calls at or after this time (ms since the epoch). */
  since?: number;
  /** Calls before this time (ms, exclusive). */
  until?: number;
  /** Only the calls of these sessions. */
  sessions?: readonly string[];
  /** Only the calls of these identities. */
  identities?: readonly string[];
  /** Read the arguments too (default true); false when no decision looks at them. */
  arguments?: boolean;
  /**
   * Read the arguments only of the calls these tool patterns name (when `arguments` is not
   * false): a replay's decisions look at a call's arguments only when its tool's rule has
   * conditions, and most calls' rules have none.
   */
  argumentTools?: ArgumentTools;
}

/**
 * Which calls' arguments a reader sends: those whose tool is named by one of `tools` (exact
 * names or globs, as a policy's rules spell them), or by one of `grants`' patterns for the
 * call's own identity. Other calls come without arguments (as if none were recorded).
 */
export interface ArgumentTools {
  tools: string[];
  /** [identity, patterns] pairs. */
  grants: [string, string[]][];
}

/** How a saved run's result differs from what it was compared with (SPEC section 6). */
export type ResultClass = "tightened" | "loosened" | "changed";

/** A replay run's counts, as saved (runs.ts) and read back (StoredRun). */
export interface RunCounts {
  calls: number;
  sessions: number;
  tightened: number;
  loosened: number;
  changed: number;
  /** Changed calls that follow an earlier change in their session. */
  counterfactual: number;
  inexact: number;
  gateFailed: boolean;
}

/** A replay run as saved: what was replayed under what, and what came out. */
export interface RunRecord extends RunCounts {
  createdAt: number;
  /** The candidate policy: its sha256, the path it was given as, and its text. */
  policy: { hash: string; path: string; text: string };
  /** The baseline policy, or null when the run compared with the recorded decisions. */
  baseline: { hash: string; path: string; text: string } | null;
  /** The filters, --fail-on, the source files: anything JSON. */
  options: unknown;
}

// What a recording reads back as (reader.ts, rows.ts).

/** A session as read back. */
export interface StoredSession {
  id: string;
  identity: string;
  transport: TransportKind;
  mode: Mode;
  policyHash: string;
  startedAt: number;
  endedAt: number | null;
  endReason: string | null;
  clientInfo: unknown;
  serverInfo: unknown;
  protocolVersion: string | null;
  /** Where the proxy kept its counters; null for a session recorded before schema 6. */
  counters: CountersWhere | null;
  /** The shadow policy's hash (its text in policies), or null: recorded without a shadow. */
  shadowPolicyHash: string | null;
}

/** A message as read back. */
export interface StoredMessage {
  session: string;
  seq: number;
  ts: number;
  direction: Direction;
  method: string | null;
  jsonrpcId: string | null;
  message: unknown;
}

/** A server's answer to the agent's `tools/list`, with whom it was for, as read back. */
export interface ToolListing {
  session: string;
  identity: string;
  /** The hash of the policy the session was recorded under. */
  policyHash: string;
  seq: number;
  ts: number;
  /**
   * The names of the listed tools, in the answer's order (entries without a string name left
   * out); null when the answer is not a well-formed result with a `tools` array.
   */
  tools: string[] | null;
}

/** A call as read back, with everything recorded about it (a StoredCall and more). */
export interface RecordedCall extends StoredCall {
  seq: number;
  jsonrpcId: string;
  mode: Mode;
  reason: string | null;
  /** The rate limit that denied, as the engine described it (LimitHit), or null. */
  limit: unknown;
  inexact: boolean;
  outcome: CallOutcome["outcome"] | null;
  latencyMs: number | null;
  /** Each limit's count when the call was decided (see DecisionRecord.counts), or null. */
  counts: LimitHit[] | null;
  /** The counter service's sequence number for the call, or null. */
  counterSeq: number | null;
  /** The shadow policy's decision, or null when the call was recorded without one. */
  shadow: ShadowDecision | null;
}

/** A saved replay run as read back (see runs.ts for what is saved). */
export interface StoredRun extends RunCounts {
  id: number;
  createdAt: number;
  policyHash: string;
  policyPath: string;
  /** Null: the run compared with the recorded decisions. */
  baselineHash: string | null;
  baselinePath: string | null;
  /** The filters, --fail-on and the source files, as saved (JSON). */
  options: unknown;
}

/** What replay and the terminal UI read a recording through. */
export interface StoreReader {
  readonly file: string;
  /** Recorded calls in recorded order (ts, then arrival), streamed. */
  calls(): IterableIterator<RecordedCall>;
  /** Sessions by start time. */
  sessions(): IterableIterator<StoredSession>;
  /** One session's messages (or every message, by session then seq), in sequence order. */
  messages(session?: string): IterableIterator<StoredMessage>;
  /** A policy's text by its hash, or null if the recording does not hold it. */
  policy(hash: string): string | null;
  /**
   * The server's answers to the agent's `tools/list` requests, by session then seq: for each
   * request, the first later server_to_client response in its session with the same JSON-RPC id.
   */
  toolListAnswers(): IterableIterator<StoredMessage>;
  /**
   * The same answers as toolListAnswers, each with its session's identity and recorded policy
   * and the tool names it listed, by session then seq (what replay compares tool lists with).
   */
  toolListings(): IterableIterator<ToolListing>;
  /** The hashes of the policies the sessions were recorded under, each once. */
  sessionPolicies(): string[];
  /**
   * Where each session kept its counters (`memory`, `recording`, `redis`), by session id, for
   * the sessions that say; empty for a recording made before sessions had the column.
   */
  sessionCounters(): Map<string, string>;
  close(): void;
}

/** The read-write store the proxy records through; it can read back too. */
export interface RecordingStore extends Store, StoreReader {
  calls(): IterableIterator<RecordedCall>;
  /**
   * Run fn with every write it makes in one transaction: all commit together when it returns,
   * none when it throws (a failed write throws too, instead of being reported and skipped).
   * For bulk writers (import, generated recordings), not for the live proxy.
   */
  transaction<T>(fn: () => T): T;
  close(): void;
  health(): StoreHealth;
  lostWrites(session: string): number;
}

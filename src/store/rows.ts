import type { LimitHit } from "../engine/index.js";
import type {
  CallDetail,
  CallRow,
  DiffRow,
  MessageRow,
  RunRow,
  SessionRow,
} from "./browse-types.js";
import type {
  ApprovalAnswer,
  CallOutcome,
  CountersWhere,
  Direction,
  Mode,
  RecordedCall,
  ShadowDecision,
  StoredMessage,
  StoredSession,
  ToolListing,
  TransportKind,
} from "./types.js";

// The one place where rows of the recording's tables become the store's types: each column
// list beside the tuple it reads as (raw rows: about twice as fast to read as an object per
// row) and the mappers from it. The reader (reader.ts) and the browser (browse.ts) read the same
// columns; they differ in what they make of them: the reader's types keep everything and trust
// the file, the browser's are for display and tolerate a value edited by hand.

/** messages.direction, by its stored number. */
export const DIRECTIONS: readonly Direction[] = [
  "client_to_server",
  "server_to_client",
  "proxy_to_client",
  "proxy_to_server",
];
export const DIRECTION_CODE: Record<Direction, number> = {
  client_to_server: 0,
  server_to_client: 1,
  proxy_to_client: 2,
  proxy_to_server: 3,
};

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/**
 * Columns added in schema `added`: in an older file (the browser reads those without upgrading
 * them) each reads as NULL, so that a row has the same shape whatever the file's version.
 */
function since(added: number, version: number, columns: string[]): string {
  return columns.map((c) => (version >= added ? c : "NULL")).join(", ");
}
const since6 = (version: number, columns: string[]): string => since(6, version, columns);

/** JSON text parsed, or the text itself when it is not JSON. */
function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

// ---------------------------------------------------------------------------------------------
// sessions

/** A session's columns in a file of schema `version`. */
export const sessionColumns = (version: number): string =>
  "rowid, id, identity, transport, mode, policy_hash, started_at, ended_at, end_reason, " +
  `client_info, server_info, protocol_version, ${since6(version, ["counters"])}, ` +
  since(7, version, ["shadow_policy_hash"]);

export type SessionRaw = [
  rowid: number,
  id: string,
  identity: string,
  transport: TransportKind,
  mode: Mode,
  policyHash: string,
  startedAt: number,
  endedAt: number | null,
  endReason: string | null,
  clientInfo: string | null,
  serverInfo: string | null,
  protocolVersion: string | null,
  counters: string | null,
  shadowPolicyHash: string | null,
];

export function toStoredSession(r: SessionRaw): StoredSession {
  return {
    id: r[1],
    identity: r[2],
    transport: r[3],
    mode: r[4],
    policyHash: r[5],
    startedAt: r[6],
    endedAt: r[7],
    endReason: r[8],
    clientInfo: parse(r[9]),
    serverInfo: parse(r[10]),
    protocolVersion: r[11],
    counters: r[12] as CountersWhere | null,
    shadowPolicyHash: r[13],
  };
}

/** `name version` from a client or server info object, tolerating anything. */
function peerName(text: string | null): string | null {
  if (text === null) return null;
  try {
    const info = JSON.parse(text) as { name?: unknown; version?: unknown } | null;
    if (info === null || typeof info !== "object" || typeof info.name !== "string") return null;
    return typeof info.version === "string" ? `${info.name} ${info.version}` : info.name;
  } catch {
    return null;
  }
}

export function toSessionRow(r: SessionRaw): SessionRow {
  return {
    rowid: r[0],
    id: r[1],
    identity: r[2],
    transport: r[3],
    mode: r[4],
    policyHash: r[5],
    startedAt: r[6],
    endedAt: r[7],
    endReason: r[8],
    client: peerName(r[9]),
    server: peerName(r[10]),
    protocolVersion: r[11],
    counters: r[12],
    shadowPolicyHash: r[13],
  };
}

// ---------------------------------------------------------------------------------------------
// calls

/** A call as a list shows it. */
export const CALL_COLUMNS =
  "id, session, seq, ts, identity, tool, decision, code, rule, retry_after_ms, limit_json, " +
  "inexact, approval, outcome, latency_ms";
/** Everything recorded about a call, in a file of schema `version`. */
export const callDetailColumns = (version: number): string =>
  `${CALL_COLUMNS}, jsonrpc_id, mode, reason, arguments, ${since6(version, ["counts", "counter_seq"])}, ` +
  since(7, version, SHADOW_COLUMNS);

/** A call's shadow decision (schema 7), after its other columns. */
const SHADOW_COLUMNS = [
  "shadow_decision",
  "shadow_code",
  "shadow_rule",
  "shadow_reason",
  "shadow_retry_after_ms",
  "shadow_counts",
];

export type CallRaw = [
  id: number,
  session: string,
  seq: number,
  ts: number,
  identity: string,
  tool: string,
  decision: string,
  code: string,
  rule: string | null,
  retryAfterMs: number | null,
  limitJson: string | null,
  inexact: number,
  approval: ApprovalAnswer | null,
  outcome: CallOutcome["outcome"] | null,
  latencyMs: number | null,
];

export type CallDetailRaw = [
  ...CallRaw,
  jsonrpcId: string,
  mode: Mode,
  reason: string | null,
  args: string | null,
  counts: string | null,
  counterSeq: number | null,
  shadowDecision: string | null,
  shadowCode: string | null,
  shadowRule: string | null,
  shadowReason: string | null,
  shadowRetryAfterMs: number | null,
  shadowCounts: string | null,
];

/** The shadow decision of a CallDetailRaw, or null when the call has none. */
function shadowOf(r: CallDetailRaw, counts: (text: string | null) => LimitHit[] | null) {
  if (r[21] === null) return null;
  return {
    decision: r[21] as ShadowDecision["decision"],
    code: r[22] ?? "",
    rule: r[23],
    reason: r[24],
    retry_after_ms: r[25],
    counts: counts(r[26]),
  };
}

/** The reader's call: every column, the arguments and limit parsed. */
export function toRecordedCall(r: CallDetailRaw): RecordedCall {
  const args = r[18];
  return {
    id: r[0],
    session: r[1],
    identity: r[4],
    ts: r[3],
    tool: r[5],
    arguments: args === null ? undefined : JSON.parse(args),
    decision: r[6],
    code: r[7],
    rule: r[8],
    retry_after_ms: r[9],
    approval: r[12],
    seq: r[2],
    jsonrpcId: r[15],
    mode: r[16],
    reason: r[17],
    limit: parse(r[10]),
    inexact: r[11] !== 0,
    outcome: r[13],
    latencyMs: r[14],
    counts: parse(r[19]) as LimitHit[] | null,
    counterSeq: r[20],
    shadow: shadowOf(r, (t) => parse(t) as LimitHit[] | null),
  };
}

function parseLimit(text: string | null): LimitHit | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as LimitHit | null;
    return v !== null && typeof v === "object" ? v : null;
  } catch {
    return null;
  }
}

/** A call's counts as the browser shows them: the entries that read as limits, or null. */
function parseCounts(text: string | null): LimitHit[] | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as unknown;
    if (!Array.isArray(v)) return null;
    return v.filter(
      (h): h is LimitHit =>
        h !== null &&
        typeof h === "object" &&
        typeof (h as LimitHit).count === "number" &&
        typeof (h as LimitHit).max === "number",
    );
  } catch {
    return null;
  }
}

/** A call as a list shows it, with its shadow decision (NULL before schema 7). */
export const callListColumns = (version: number): string =>
  `${CALL_COLUMNS}, ${since(7, version, ["shadow_decision", "shadow_code"])}`;

export type CallListRaw = [...CallRaw, shadowDecision: string | null, shadowCode: string | null];

/** The browser's call in a list, from callListColumns. */
export function toCallListRow(r: CallListRaw): CallRow {
  return toCallRow(r, r[15] === null ? null : { decision: r[15], code: r[16] ?? "" });
}

/** The browser's call, from CALL_COLUMNS (or the start of CALL_DETAIL_COLUMNS). */
export function toCallRow(
  r: CallRaw | CallListRaw | CallDetailRaw,
  shadow: CallRow["shadow"] = null,
): CallRow {
  return {
    id: r[0],
    session: r[1],
    seq: r[2],
    ts: r[3],
    identity: r[4],
    tool: r[5],
    decision: r[6],
    code: r[7],
    rule: r[8],
    retryAfterMs: r[9],
    limit: parseLimit(r[10]),
    inexact: r[11] !== 0,
    approval: r[12],
    outcome: r[13],
    latencyMs: r[14],
    shadow,
  };
}

export function toCallDetail(r: CallDetailRaw): CallDetail {
  const text = r[18];
  return {
    ...toCallRow(r),
    jsonrpcId: r[15],
    mode: r[16],
    reason: r[17],
    arguments: text === null ? undefined : parseOrText(text),
    counts: parseCounts(r[19]),
    counterSeq: typeof r[20] === "number" ? r[20] : null,
    shadow: shadowOf(r, parseCounts),
  };
}

// ---------------------------------------------------------------------------------------------
// messages

export const MESSAGE_COLUMNS = "session, seq, ts, direction, method, jsonrpc_id, body";

export type MessageRaw = [
  session: string,
  seq: number,
  ts: number,
  direction: number,
  method: string | null,
  jsonrpcId: string | null,
  body: string,
];

export function toStoredMessage(r: MessageRaw): StoredMessage {
  return {
    session: r[0],
    seq: r[1],
    ts: r[2],
    direction: DIRECTIONS[r[3]] ?? "client_to_server",
    method: r[4],
    jsonrpcId: r[5],
    message: JSON.parse(r[6]),
  };
}

export type ToolListingRaw = [
  session: string,
  identity: string,
  policyHash: string,
  seq: number,
  ts: number,
  body: string,
];

/** A tools/list answer: recorded bytes may be anything, so a malformed one reads as null. */
export function toToolListing(r: ToolListingRaw): ToolListing {
  return {
    session: r[0],
    identity: r[1],
    policyHash: r[2],
    seq: r[3],
    ts: r[4],
    tools: toolNames(r[5]),
  };
}

function toolNames(body: string): string[] | null {
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    return null;
  }
  const result = (message as { result?: unknown } | null)?.result;
  const tools = (result as { tools?: unknown } | null | undefined)?.tools;
  if (!Array.isArray(tools)) return null;
  const names: string[] = [];
  for (const t of tools as unknown[]) {
    const name = t !== null && typeof t === "object" ? (t as { name?: unknown }).name : undefined;
    if (typeof name === "string") names.push(name);
  }
  return names;
}

/** A message for display: its body cut to a length (substr), and its full length. */
export type MessagePartRaw = [
  seq: number,
  ts: number,
  direction: number,
  method: string | null,
  jsonrpcId: string | null,
  body: string,
  length: number,
];

export function toMessageRow(r: MessagePartRaw): MessageRow {
  const cut = r[6] > r[5].length;
  return {
    seq: r[0],
    ts: r[1],
    direction: DIRECTIONS[r[2]] ?? "client_to_server",
    method: r[3],
    jsonrpcId: r[4],
    // Stored as text that is not JSON: shown as it is.
    body: cut ? r[5] : parseOrText(r[5]),
    cut,
    length: r[6],
  };
}

// ---------------------------------------------------------------------------------------------
// runs and their results

export const RUN_COLUMNS =
  "id, created_at, policy_hash, policy_path, baseline_hash, baseline_path, options, calls, " +
  "sessions, tightened, loosened, changed, counterfactual, inexact, gate_failed";

export type RunRaw = [
  id: number,
  createdAt: number,
  policyHash: string,
  policyPath: string,
  baselineHash: string | null,
  baselinePath: string | null,
  options: string,
  calls: number,
  sessions: number,
  tightened: number,
  loosened: number,
  changed: number,
  counterfactual: number,
  inexact: number,
  gateFailed: number,
];

export function toRun(r: RunRaw): RunRow {
  return {
    id: r[0],
    createdAt: r[1],
    policyHash: r[2],
    policyPath: r[3],
    baselineHash: r[4],
    baselinePath: r[5],
    options: parseOrText(r[6]),
    calls: r[7],
    sessions: r[8],
    tightened: r[9],
    loosened: r[10],
    changed: r[11],
    counterfactual: r[12],
    inexact: r[13],
    gateFailed: r[14] !== 0,
  };
}

/** A run's results (r) with their outcomes (o) and calls (c), whose call may be missing (a LEFT JOIN). */
export const DIFF_COLUMNS =
  "r.run, r.call, r.class, o.old_decision, o.old_code, o.old_rule, o.new_decision, o.new_code, " +
  "o.new_rule, o.new_reason, r.new_retry_after_ms, r.counterfactual, r.inexact, " +
  "c.session, c.seq, c.ts, c.identity, c.tool";

export type DiffRaw = [
  run: number,
  call: number,
  cls: DiffRow["class"],
  oldDecision: string,
  oldCode: string,
  oldRule: string | null,
  newDecision: string,
  newCode: string,
  newRule: string | null,
  newReason: string | null,
  newRetry: number | null,
  counterfactual: number,
  inexact: number,
  session: string | null,
  seq: number | null,
  ts: number | null,
  identity: string | null,
  tool: string | null,
];

export function toDiff(r: DiffRaw): DiffRow {
  return {
    run: r[0],
    call: r[1],
    class: r[2],
    old: { decision: r[3], code: r[4], rule: r[5] },
    new: { decision: r[6], code: r[7], rule: r[8], reason: r[9], retryAfterMs: r[10] },
    counterfactual: r[11] !== 0,
    inexact: r[12] !== 0,
    session: r[13],
    seq: r[14],
    ts: r[15],
    identity: r[16],
    tool: r[17],
  };
}

/** Number a (session, identity, tool, decision, code, rule) key, if no writer has yet. */
export const INSERT_CALL_KEY = `INSERT OR IGNORE INTO call_keys (session, identity, tool, decision, code, rule)
       VALUES (?, ?, ?, ?, ?, ?)`;

/** A key's number; a null rule matches only a null rule (`=` alone would match neither). */
export const SELECT_CALL_KEY = `SELECT id FROM call_keys WHERE session = ? AND identity = ? AND tool = ?
           AND decision = ? AND code = ? AND ifnull('=' || rule, '') = ifnull('=' || ?, '')`;

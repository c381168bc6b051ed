import { existsSync } from "node:fs";
import type Database from "better-sqlite3";
import type { LimitHit } from "../engine/index.js";
import { StoreError } from "./errors.js";
import { connect, guard, recordingVersion, SCHEMA_VERSION, type StoredRun } from "./sqlite.js";
import type { ApprovalAnswer, CallOutcome, Direction, Mode, TransportKind } from "./types.js";

// Read-only queries for the terminal UI. Every list is read a page at a time by keyset: a page
// starts after (or ends before) the last row seen, on an index, so the cost of a page does not
// grow with the recording and nothing reads a whole table. Nothing here writes: the connection
// is opened read-only, so browsing a recording the proxy is still writing is safe.

/** The oldest schema the UI reads: version 3 added saved runs. */
const OLDEST_SCHEMA = 3;

type Db = Database.Database;

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
}

/** Everything recorded about one call. */
export interface CallDetail extends CallRow {
  jsonrpcId: string;
  mode: Mode;
  reason: string | null;
  arguments: unknown;
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

/** A saved run, as the store's reader gives it too. */
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
  runCount(): number;
  runs(): Keyset<RunRow>;
  run(id: number): RunRow | null;
  diffs(q: DiffQuery): Keyset<DiffRow>;
  /** How many results a run holds in a class ("all": every one), on its indexes. */
  diffCount(run: number, cls: DiffClass): number;
  diff(run: number, call: number): DiffRow | null;
  close(): void;
}

/**
 * Open a recording for browsing, read-only. Throws StoreError: store_missing, store_corrupt,
 * store_not_recording, store_newer_schema, store_needs_upgrade (older than schema 3), store_io.
 */
export function openBrowser(file: string): Browser {
  if (!existsSync(file)) throw new StoreError("store_missing", file, `${file}: no such recording`);
  const db = connect(file, true);
  try {
    const version = recordingVersion(file, db);
    if (version < OLDEST_SCHEMA)
      throw new StoreError(
        "store_needs_upgrade",
        file,
        `${file}: recording schema version ${version} is older than this viewer reads ` +
          `(${OLDEST_SCHEMA} to ${SCHEMA_VERSION}); replaying it once upgrades it in place`,
      );
    return guard(file, () => new SqliteBrowser(file, db, version));
  } catch (err) {
    db.close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Rows

type SessionRaw = [
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
];

const SESSION_COLUMNS =
  "rowid, id, identity, transport, mode, policy_hash, started_at, ended_at, end_reason, " +
  "client_info, server_info, protocol_version";

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

function toSession(r: SessionRaw): SessionRow {
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
  };
}

type CallRaw = [
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

const CALL_COLUMNS =
  "id, session, seq, ts, identity, tool, decision, code, rule, retry_after_ms, limit_json, " +
  "inexact, approval, outcome, latency_ms";

function parseLimit(text: string | null): LimitHit | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as LimitHit | null;
    return v !== null && typeof v === "object" ? v : null;
  } catch {
    return null;
  }
}

function toCall(r: CallRaw): CallRow {
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
  };
}

type MessageRaw = [
  seq: number,
  ts: number,
  direction: number,
  method: string | null,
  jsonrpcId: string | null,
  body: string,
  length: number,
];

const DIRECTIONS: readonly Direction[] = [
  "client_to_server",
  "server_to_client",
  "proxy_to_client",
  "proxy_to_server",
];

function toMessage(r: MessageRaw): MessageRow {
  const cut = r[6] > r[5].length;
  let body: unknown = r[5];
  if (!cut) {
    try {
      body = JSON.parse(r[5]);
    } catch {
      // Stored as text that is not JSON: show it as it is.
    }
  }
  return {
    seq: r[0],
    ts: r[1],
    direction: DIRECTIONS[r[2]] ?? "client_to_server",
    method: r[3],
    jsonrpcId: r[4],
    body,
    cut,
    length: r[6],
  };
}

type RunRaw = [
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

const RUN_COLUMNS =
  "id, created_at, policy_hash, policy_path, baseline_hash, baseline_path, options, calls, " +
  "sessions, tightened, loosened, changed, counterfactual, inexact, gate_failed";

function toRun(r: RunRaw): RunRow {
  let options: unknown = r[6];
  try {
    options = JSON.parse(r[6]);
  } catch {
    // Keep the text.
  }
  return {
    id: r[0],
    createdAt: r[1],
    policyHash: r[2],
    policyPath: r[3],
    baselineHash: r[4],
    baselinePath: r[5],
    options,
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

type DiffRaw = [
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

const DIFF_COLUMNS =
  "r.run, r.call, r.class, o.old_decision, o.old_code, o.old_rule, o.new_decision, o.new_code, " +
  "o.new_rule, o.new_reason, r.new_retry_after_ms, r.counterfactual, r.inexact, " +
  "c.session, c.seq, c.ts, c.identity, c.tool";

/**
 * A run's results (r) with their outcomes (o) and calls (c). From schema 5 the outcomes are a
 * table of their own. Before, they were run_results' own columns, read as they are (the
 * browser opens read-only: it does not upgrade): o is then the same row, by primary key.
 */
function diffSource(version: number, byClass: boolean): string {
  const results = byClass ? "run_results r INDEXED BY run_results_by_class" : "run_results r";
  const outcomes =
    version >= 5
      ? "JOIN run_outcomes o ON o.run = r.run AND o.id = r.outcome"
      : "JOIN run_results o ON o.run = r.run AND o.call = r.call";
  return `${results} ${outcomes} LEFT JOIN calls c ON c.id = r.call`;
}

function toDiff(r: DiffRaw): DiffRow {
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

// ---------------------------------------------------------------------------------------------
// Keyset paging

/** How a list is ordered: the ORDER BY terms (all ascending or all descending) and a row's key. */
interface Order<T> {
  terms: string[];
  desc: boolean;
  key: (row: T) => (string | number)[];
}

const SESSION_ORDERS: Record<SessionSort, Order<SessionRow>> = {
  newest: { terms: ["started_at", "rowid"], desc: true, key: (r) => [r.startedAt, r.rowid] },
  oldest: { terms: ["started_at", "rowid"], desc: false, key: (r) => [r.startedAt, r.rowid] },
  identity: {
    terms: ["identity", "started_at", "rowid"],
    desc: false,
    key: (r) => [r.identity, r.startedAt, r.rowid],
  },
  // A session still open (no end) sorts as the shortest.
  longest: {
    terms: ["ifnull(ended_at - started_at, -1)", "rowid"],
    desc: true,
    key: (r) => [r.endedAt === null ? -1 : r.endedAt - r.startedAt, r.rowid],
  },
};

/** `%text%` for LIKE, with LIKE's own wildcards in the text taken literally. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

type Param = string | number;

/**
 * A Keyset over one SELECT: `where` (with its params) narrows the rows, `order` sorts them;
 * a page adds `(terms) > (key)` (or `<`) so SQLite seeks straight to it on the order's index.
 */
class SqlKeyset<T, R extends unknown[]> implements Keyset<T> {
  private readonly stmts = new Map<string, Database.Statement<Param[], R>>();

  constructor(
    private readonly db: Db,
    private readonly file: string,
    private readonly select: string,
    private readonly where: string[],
    private readonly params: Param[],
    private readonly order: Order<T>,
    private readonly map: (raw: R) => T,
  ) {}

  after(row: T | null, n: number): T[] {
    return this.page(row, n, true);
  }

  before(row: T | null, n: number): T[] {
    return this.page(row, n, false).reverse();
  }

  private page(row: T | null, n: number, forward: boolean): T[] {
    if (n <= 0) return [];
    // Reading forward in a descending list is reading the index backwards, and vice versa.
    const ascending = forward !== this.order.desc;
    const id = `${row === null ? "start" : "from"}:${ascending ? "asc" : "desc"}`;
    let stmt = this.stmts.get(id);
    if (stmt === undefined) {
      const where = [...this.where];
      if (row !== null) {
        const marks = this.order.terms.map(() => "?").join(", ");
        where.push(`(${this.order.terms.join(", ")}) ${ascending ? ">" : "<"} (${marks})`);
      }
      const dir = ascending ? "ASC" : "DESC";
      const sql =
        `${this.select}${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""} ` +
        `ORDER BY ${this.order.terms.map((t) => `${t} ${dir}`).join(", ")} LIMIT ?`;
      stmt = guard(this.file, () => this.db.prepare<Param[], R>(sql).raw());
      this.stmts.set(id, stmt);
    }
    const params = row === null ? [...this.params, n] : [...this.params, ...this.order.key(row), n];
    const s = stmt;
    return guard(this.file, () => s.all(...params)).map(this.map);
  }
}

// ---------------------------------------------------------------------------------------------
// The browser

class SqliteBrowser implements Browser {
  private readonly sessionByIdStmt;
  private readonly sessionCountStmt;
  private readonly sessionFilterCountStmt;
  private readonly countStmt;
  private readonly callStmt;
  private readonly answerStmt;
  private readonly messagesStmt;
  private readonly policyStmt;
  private readonly runCountStmt;
  private readonly runStmt;
  private readonly diffStmt;
  private readonly diffCountStmt;
  private readonly diffClassCountStmt;
  private readonly diffInexactCountStmt;
  /** Keysets keep their prepared statements: one per distinct query, reused across pages. */
  private readonly keysets = new Map<string, Keyset<unknown>>();

  constructor(
    readonly file: string,
    private readonly db: Db,
    /** The file's schema version: what its run results look like (diffSource). */
    private readonly version: number,
  ) {
    this.sessionByIdStmt = db
      .prepare<[string], SessionRaw>(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = ?`)
      .raw();
    this.sessionCountStmt = db.prepare<[], [number]>("SELECT count(*) FROM sessions").raw().pluck();
    this.sessionFilterCountStmt = db
      .prepare<Param[], [number]>(`SELECT count(*) FROM sessions WHERE ${SESSION_FILTER}`)
      .raw()
      .pluck();
    this.countStmt = db
      .prepare<[string, number, number], [number, number | null, number, number, number]>(
        `SELECT count(*), max(seq), total(decision = 'deny'), total(code = 'rate_limited'),
                total(decision = 'approval_required')
         FROM (SELECT seq, decision, code FROM calls WHERE session = ? AND seq > ?
               ORDER BY seq LIMIT ?)`,
      )
      .raw();
    this.callStmt = db
      .prepare<[number], [...CallRaw, string, Mode, string | null, string | null]>(
        `SELECT ${CALL_COLUMNS}, jsonrpc_id, mode, reason, arguments FROM calls WHERE id = ?`,
      )
      .raw();
    this.answerStmt = db
      .prepare<[string, string, number, number, string], MessageRaw>(
        // The inner read leaves the bodies alone (the last column: SQLite stops before it), so
        // looking thousands of messages ahead costs little.
        `SELECT seq, ts, direction, method, jsonrpc_id, substr(body, 1, 262144), length(body)
         FROM messages WHERE session = ? AND seq = (
           SELECT seq FROM (
             SELECT seq, jsonrpc_id, method, direction FROM messages
             WHERE session = ? AND seq > ? ORDER BY seq LIMIT ?)
           WHERE jsonrpc_id = ? AND method IS NULL AND direction IN (1, 2) LIMIT 1)`,
      )
      .raw();
    this.messagesStmt = db
      .prepare<[number, string, number, number, number], MessageRaw>(
        `SELECT seq, ts, direction, method, jsonrpc_id, substr(body, 1, ?), length(body)
         FROM messages WHERE session = ? AND seq BETWEEN ? AND ? ORDER BY seq LIMIT ?`,
      )
      .raw();
    this.policyStmt = db
      .prepare<[string], [string]>("SELECT text FROM policies WHERE hash = ?")
      .raw()
      .pluck();
    this.runCountStmt = db.prepare<[], [number]>("SELECT count(*) FROM runs").raw().pluck();
    this.runStmt = db
      .prepare<[number], RunRaw>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`)
      .raw();
    this.diffCountStmt = db
      .prepare<[number], [number]>("SELECT count(*) FROM run_results WHERE run = ?")
      .raw()
      .pluck();
    this.diffClassCountStmt = db
      .prepare<[number, string], [number]>(
        "SELECT count(*) FROM run_results INDEXED BY run_results_by_class WHERE run = ? AND class = ?",
      )
      .raw()
      .pluck();
    this.diffInexactCountStmt = db
      .prepare<[number], [number]>("SELECT count(*) FROM run_results WHERE run = ? AND inexact = 1")
      .raw()
      .pluck();
    this.diffStmt = db
      .prepare<[number, number], DiffRaw>(
        `SELECT ${DIFF_COLUMNS} FROM ${diffSource(version, false)} WHERE r.run = ? AND r.call = ?`,
      )
      .raw();
  }

  sessionCount(filter = ""): number {
    if (filter === "") return this.read(() => this.sessionCountStmt.get() as unknown as number);
    const like = likePattern(filter);
    return this.read(
      () => this.sessionFilterCountStmt.get(like, like, like, like) as unknown as number,
    );
  }

  sessions(q: SessionQuery): Keyset<SessionRow> {
    return this.keyset(`sessions:${q.sort}:${q.filter}`, () => {
      const like = likePattern(q.filter);
      return new SqlKeyset<SessionRow, SessionRaw>(
        this.db,
        this.file,
        `SELECT ${SESSION_COLUMNS} FROM sessions`,
        q.filter === "" ? [] : [`(${SESSION_FILTER})`],
        q.filter === "" ? [] : [like, like, like, like],
        SESSION_ORDERS[q.sort],
        toSession,
      );
    });
  }

  session(id: string): SessionRow | null {
    const raw = this.read(() => this.sessionByIdStmt.get(id));
    return raw === undefined ? null : toSession(raw);
  }

  countCalls(session: string, afterSeq: number, limit: number): CallCounts {
    const r = this.read(() => this.countStmt.get(session, afterSeq, limit));
    if (r === undefined) return { calls: 0, denied: 0, rateLimited: 0, approvals: 0, lastSeq: -1 };
    return { calls: r[0], lastSeq: r[1] ?? -1, denied: r[2], rateLimited: r[3], approvals: r[4] };
  }

  calls(q: CallQuery): Keyset<CallRow> {
    return this.keyset(`calls:${q.session}:${q.filter}`, () => {
      const like = likePattern(q.filter);
      const where = ["session = ?"];
      const params: Param[] = [q.session];
      if (q.filter !== "") {
        where.push(
          "(tool LIKE ? ESCAPE '\\' OR decision LIKE ? ESCAPE '\\' OR code LIKE ? ESCAPE '\\' OR ifnull(rule, '') LIKE ? ESCAPE '\\')",
        );
        params.push(like, like, like, like);
      }
      return new SqlKeyset<CallRow, CallRaw>(
        this.db,
        this.file,
        `SELECT ${CALL_COLUMNS} FROM calls`,
        where,
        params,
        { terms: ["seq"], desc: false, key: (r) => [r.seq] },
        toCall,
      );
    });
  }

  call(id: number): CallDetail | null {
    const r = this.read(() => this.callStmt.get(id));
    if (r === undefined) return null;
    let args: unknown = undefined;
    const text = r[18];
    if (text !== null) {
      try {
        args = JSON.parse(text);
      } catch {
        args = text;
      }
    }
    return {
      ...toCall(r.slice(0, 15) as CallRaw),
      jsonrpcId: r[15],
      mode: r[16],
      reason: r[17],
      arguments: args,
    };
  }

  answer(call: CallDetail, within = 5000): MessageRow | null {
    const r = this.read(() =>
      this.answerStmt.get(call.session, call.session, call.seq, within, call.jsonrpcId),
    );
    return r === undefined ? null : toMessage(r);
  }

  messages(
    session: string,
    from: number,
    to: number,
    limit: number,
    maxChars = 4000,
  ): MessageRow[] {
    return this.read(() => this.messagesStmt.all(maxChars, session, from, to, limit)).map(
      toMessage,
    );
  }

  policy(hash: string): string | null {
    return this.read(() => this.policyStmt.get(hash) as unknown as string | undefined) ?? null;
  }

  runCount(): number {
    return this.read(() => this.runCountStmt.get() as unknown as number);
  }

  runs(): Keyset<RunRow> {
    return this.keyset("runs", () => {
      return new SqlKeyset<RunRow, RunRaw>(
        this.db,
        this.file,
        `SELECT ${RUN_COLUMNS} FROM runs`,
        [],
        [],
        { terms: ["id"], desc: true, key: (r) => [r.id] },
        toRun,
      );
    });
  }

  run(id: number): RunRow | null {
    const r = this.read(() => this.runStmt.get(id));
    return r === undefined ? null : toRun(r);
  }

  diffs(q: DiffQuery): Keyset<DiffRow> {
    return this.keyset(`diffs:${q.run}:${q.class}:${q.filter}`, () => {
      const where = ["r.run = ?"];
      const params: Param[] = [q.run];
      if (q.class === "inexact") where.push("r.inexact = 1");
      else if (q.class !== "all") {
        where.push("r.class = ?");
        params.push(q.class);
      }
      const f = parseDiffFilter(q.filter);
      if (f.tool !== null) {
        where.push("c.tool LIKE ? ESCAPE '\\'");
        params.push(likePattern(f.tool));
      }
      if (f.identity !== null) {
        where.push("c.identity LIKE ? ESCAPE '\\'");
        params.push(likePattern(f.identity));
      }
      if (f.any !== null) {
        where.push("(c.tool LIKE ? ESCAPE '\\' OR c.identity LIKE ? ESCAPE '\\')");
        params.push(likePattern(f.any), likePattern(f.any));
      }
      // A class is read on run_results_by_class (run, class, call); SQLite, without statistics,
      // would otherwise walk the run's primary key and test each row's class.
      const from = diffSource(this.version, q.class !== "all" && q.class !== "inexact");
      return new SqlKeyset<DiffRow, DiffRaw>(
        this.db,
        this.file,
        `SELECT ${DIFF_COLUMNS} FROM ${from}`,
        where,
        params,
        { terms: ["r.call"], desc: false, key: (r) => [r.call] },
        toDiff,
      );
    });
  }

  diffCount(run: number, cls: DiffClass): number {
    return this.read(
      () =>
        (cls === "all"
          ? this.diffCountStmt.get(run)
          : cls === "inexact"
            ? this.diffInexactCountStmt.get(run)
            : this.diffClassCountStmt.get(run, cls)) as unknown as number,
    );
  }

  diff(run: number, call: number): DiffRow | null {
    const r = this.read(() => this.diffStmt.get(run, call));
    return r === undefined ? null : toDiff(r);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private read<T>(fn: () => T): T {
    if (!this.db.open)
      throw new StoreError("store_closed", this.file, `${this.file}: recording is closed`);
    return guard(this.file, fn);
  }

  private keyset<T>(id: string, make: () => Keyset<T>): Keyset<T> {
    let k = this.keysets.get(id) as Keyset<T> | undefined;
    if (k === undefined) {
      // Bounded: a filter typed many times over must not keep every statement it made.
      if (this.keysets.size >= 64) this.keysets.clear();
      k = make();
      this.keysets.set(id, k as Keyset<unknown>);
    }
    return k;
  }
}

const SESSION_FILTER = [
  "id LIKE ? ESCAPE '\\'",
  "identity LIKE ? ESCAPE '\\'",
  "(json_valid(client_info) AND ifnull(json_extract(client_info, '$.name'), '') LIKE ? ESCAPE '\\')",
  "(json_valid(server_info) AND ifnull(json_extract(server_info, '$.name'), '') LIKE ? ESCAPE '\\')",
].join(" OR ");

/** `tool:X identity:Y rest` -> its parts; a word without a prefix looks at tool and identity. */
export function parseDiffFilter(text: string): {
  tool: string | null;
  identity: string | null;
  any: string | null;
} {
  let tool: string | null = null;
  let identity: string | null = null;
  const rest: string[] = [];
  for (const word of text.trim().split(/\s+/)) {
    if (word === "") continue;
    const m = /^(tool|identity|id):(.*)$/i.exec(word);
    if (m && m[1]!.toLowerCase() === "tool") tool = m[2]!;
    else if (m) identity = m[2]!;
    else rest.push(word);
  }
  return { tool, identity, any: rest.length > 0 ? rest.join(" ") : null };
}

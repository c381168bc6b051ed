import { existsSync } from "node:fs";
import type Database from "better-sqlite3";
import type {
  Browser,
  CallCounts,
  CallDetail,
  CallQuery,
  CallRow,
  DiffClass,
  DiffQuery,
  DiffRow,
  Keyset,
  MessageRow,
  RunRow,
  SessionQuery,
  SessionRow,
  SessionSort,
} from "./browse-types.js";
import { connect, guard, recordingVersion } from "./connection.js";
import { StoreError } from "./errors.js";
import { SCHEMA_VERSION } from "./migrations/index.js";
import {
  CALL_COLUMNS,
  callDetailColumns,
  type CallDetailRaw,
  type CallRaw,
  DIFF_COLUMNS,
  type DiffRaw,
  type MessagePartRaw,
  RUN_COLUMNS,
  type RunRaw,
  sessionColumns,
  type SessionRaw,
  toCallDetail,
  toCallRow,
  toDiff,
  toMessageRow,
  toRun,
  toSessionRow,
} from "./rows.js";

export * from "./browse-types.js";

// Read-only queries for the terminal UI. Every list is read a page at a time by keyset: a page
// starts after (or ends before) the last row seen, on an index, so the cost of a page does not
// grow with the recording and nothing reads a whole table. Nothing here writes: the connection
// is opened read-only, so browsing a recording the proxy is still writing is safe.

/** The oldest schema the UI reads: version 3 added saved runs. */
const OLDEST_SCHEMA = 3;

type Db = Database.Database;

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
    /** The file's schema version: what its run results and columns look like. */
    private readonly version: number,
  ) {
    this.sessionByIdStmt = db
      .prepare<[string], SessionRaw>(`SELECT ${sessionColumns(version)} FROM sessions WHERE id = ?`)
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
      .prepare<[number], CallDetailRaw>(
        `SELECT ${callDetailColumns(version)} FROM calls WHERE id = ?`,
      )
      .raw();
    this.answerStmt = db
      .prepare<[string, string, number, number, string], MessagePartRaw>(
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
      .prepare<[number, string, number, number, number], MessagePartRaw>(
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
        `SELECT ${sessionColumns(this.version)} FROM sessions`,
        q.filter === "" ? [] : [`(${SESSION_FILTER})`],
        q.filter === "" ? [] : [like, like, like, like],
        SESSION_ORDERS[q.sort],
        toSessionRow,
      );
    });
  }

  session(id: string): SessionRow | null {
    const raw = this.read(() => this.sessionByIdStmt.get(id));
    return raw === undefined ? null : toSessionRow(raw);
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
        toCallRow,
      );
    });
  }

  call(id: number): CallDetail | null {
    const r = this.read(() => this.callStmt.get(id));
    return r === undefined ? null : toCallDetail(r);
  }

  answer(call: CallDetail, within = 5000): MessageRow | null {
    const r = this.read(() =>
      this.answerStmt.get(call.session, call.session, call.seq, within, call.jsonrpcId),
    );
    return r === undefined ? null : toMessageRow(r);
  }

  messages(
    session: string,
    from: number,
    to: number,
    limit: number,
    maxChars = 4000,
  ): MessageRow[] {
    return this.read(() => this.messagesStmt.all(maxChars, session, from, to, limit)).map(
      toMessageRow,
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

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
  ShadowCounts,
} from "./browse-types.js";
import { connect, guard, recordingVersion } from "./connection.js";
import { StoreError } from "./errors.js";
import { SCHEMA_VERSION } from "./migrations/index.js";
import {
  callDetailColumns,
  type CallDetailRaw,
  callListColumns,
  type CallListRaw,
  DIFF_COLUMNS,
  type DiffRaw,
  type MessagePartRaw,
  RUN_COLUMNS,
  type RunRaw,
  sessionColumns,
  type SessionRaw,
  toCallDetail,
  toCallListRow,
  toDiff,
  toMessageRow,
  toRun,
  toSessionRow,
} from "./rows.js";
import { type AttachedRuns, attachRuns, MATCHING_RUNS, runsNotice, SAVED } from "./runs-file.js";

export * from "./browse-types.js";

// Read-only queries for the terminal UI. Every list is read a page at a time by keyset: a page
// starts after (or ends before) the last row seen, on an index, so the cost of a page does not
// grow with the recording and nothing reads a whole table. Nothing here writes: the connection
// is opened read-only, so browsing a recording the proxy is still writing is safe.
//
// Saved runs are read from the recording's runs file (runs-file.ts), attached to the same
// connection (read-only too) so that a run's results join the recording's calls, and from the
// recording itself, where an older policy-replay saved them.

/** The oldest schema the UI reads: version 3 added saved runs. */
const OLDEST_SCHEMA = 3;

type Db = Database.Database;

/**
 * Open a recording for browsing, read-only, with its runs file if it has one. Throws
 * StoreError: store_missing, store_corrupt, store_not_recording, store_newer_schema,
 * store_needs_upgrade (older than schema 3), store_io. A runs file that cannot be read is not:
 * its runs are left out, and runsNotice() says why.
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
    return guard(file, () => new SqliteBrowser(file, db, version, attachRuns(db, file)));
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Where a run's results are: the schema ("main" or SAVED) and its version's shape. */
type RunPlace = { schema: string; version: number };

/**
 * A run's results (r) with their outcomes (o) and the recording's calls (c). From schema 5 the
 * outcomes are a table of their own (a runs file has them so from the start). Before, they were
 * run_results' own columns, read as they are (the browser opens read-only: it does not
 * upgrade): o is then the same row, by primary key.
 */
function diffSource({ schema, version }: RunPlace, byClass: boolean): string {
  const results = `${schema}.run_results r${byClass ? " INDEXED BY run_results_by_class" : ""}`;
  const outcomes =
    version >= 5
      ? `JOIN ${schema}.run_outcomes o ON o.run = r.run AND o.id = r.outcome`
      : `JOIN ${schema}.run_results o ON o.run = r.run AND o.call = r.call`;
  return `${results} ${outcomes} LEFT JOIN main.calls c ON c.id = r.call`;
}

/** A runs file's results, shaped as schema 5's. */
const IN_RUNS_FILE: RunPlace = { schema: SAVED, version: 5 };

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

/**
 * A decision column's strictness as replay classes a change (allow 0, approval 1, deny 2),
 * after the recorded human answer to an approval, if there was one.
 */
const strictness = (column: string): string =>
  `CASE ${column} WHEN 'allow' THEN 0 WHEN 'approval_required' THEN CASE approval
     WHEN 'approved' THEN 0 WHEN 'rejected' THEN 2 WHEN 'timeout' THEN 2 ELSE 1 END ELSE 2 END`;

// ---------------------------------------------------------------------------------------------
// The browser

class SqliteBrowser implements Browser {
  private readonly sessionByIdStmt;
  private readonly sessionCountStmt;
  private readonly sessionFilterCountStmt;
  private readonly countStmt;
  /** Made only for a file that has shadow decisions (schema 7). */
  private readonly shadowCountStmt;
  private readonly callStmt;
  private readonly answerStmt;
  private readonly messagesStmt;
  /** Keysets keep their prepared statements: one per distinct query, reused across pages. */
  private readonly keysets = new Map<string, Keyset<unknown>>();
  /** The saved runs' statements, by their SQL, which depends on whether a runs file is read. */
  private readonly runStmts = new Map<string, Database.Statement<unknown[], unknown[]>>();
  /** Where each run seen so far is. */
  private readonly places = new Map<number, RunPlace>();

  constructor(
    readonly file: string,
    private readonly db: Db,
    /** The file's schema version: what its run results and columns look like. */
    private readonly version: number,
    /** The recording's runs file. */
    private saved: AttachedRuns,
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
    this.shadowCountStmt = db
      .prepare<[string], [number, number, number, number]>(
        version < 7
          ? "SELECT 0, 0, 0, 0"
          : `SELECT count(*), total(s > e), total(s < e),
                  total(s = e AND (shadow_code IS NOT code OR shadow_rule IS NOT rule))
             FROM (SELECT code, rule, shadow_code, shadow_rule, ${strictness("decision")} AS e,
                     ${strictness("shadow_decision")} AS s
                   FROM calls WHERE session = ? AND shadow_decision IS NOT NULL)`,
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
      return new SqlKeyset<CallRow, CallListRaw>(
        this.db,
        this.file,
        `SELECT ${callListColumns(this.version)} FROM calls`,
        where,
        params,
        { terms: ["seq"], desc: false, key: (r) => [r.seq] },
        toCallListRow,
      );
    });
  }

  shadowCounts(session: string): ShadowCounts | null {
    if (this.version < 7) return null;
    const r = this.read(() => this.shadowCountStmt.get(session));
    return r === undefined ? null : { calls: r[0], tightened: r[1], loosened: r[2], changed: r[3] };
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
    // The recorded policies are the recording's; a run's candidate and baseline, its runs file's.
    if (!this.saved.attached)
      return (
        this.runValue<string | undefined>("SELECT text FROM main.policies WHERE hash = ?", hash) ??
        null
      );
    const sql = `SELECT text FROM main.policies WHERE hash = ?
         UNION ALL SELECT text FROM ${SAVED}.policies WHERE hash = ? LIMIT 1`;
    return this.runValue<string | undefined>(sql, hash, hash) ?? null;
  }

  runCount(): number {
    // Called when the runs are listed or read again: a runs file made since is read from now.
    this.attachLater();
    return this.runValue<number>(`SELECT count(*) FROM (${this.runsSelect()})`);
  }

  runsNotice(): string | null {
    const stale = this.saved.attached
      ? this.runValue<number>(
          `SELECT count(*) FROM ${SAVED}.runs WHERE id NOT IN (${MATCHING_RUNS})`,
        )
      : 0;
    return runsNotice(this.saved, stale);
  }

  runs(): Keyset<RunRow> {
    return this.keyset("runs", () => {
      return new SqlKeyset<RunRow, RunRaw>(
        this.db,
        this.file,
        `SELECT ${RUN_COLUMNS} FROM (${this.runsSelect()})`,
        [],
        [],
        { terms: ["id"], desc: true, key: (r) => [r.id] },
        toRun,
      );
    });
  }

  run(id: number): RunRow | null {
    const r = this.runRow(`SELECT ${RUN_COLUMNS} FROM (${this.runsSelect()}) WHERE id = ?`, id);
    return r === undefined ? null : toRun(r as RunRaw);
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
      const from = diffSource(this.place(q.run), q.class !== "all" && q.class !== "inexact");
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
    const { schema } = this.place(run);
    const results = `${schema}.run_results`;
    if (cls === "all")
      return this.runValue<number>(`SELECT count(*) FROM ${results} WHERE run = ?`, run);
    if (cls === "inexact")
      return this.runValue<number>(
        `SELECT count(*) FROM ${results} WHERE run = ? AND inexact = 1`,
        run,
      );
    return this.runValue<number>(
      `SELECT count(*) FROM ${results} INDEXED BY run_results_by_class WHERE run = ? AND class = ?`,
      run,
      cls,
    );
  }

  diff(run: number, call: number): DiffRow | null {
    const from = diffSource(this.place(run), false);
    const r = this.runRow(
      `SELECT ${DIFF_COLUMNS} FROM ${from} WHERE r.run = ? AND r.call = ?`,
      run,
      call,
    );
    return r === undefined ? null : toDiff(r as DiffRaw);
  }

  /**
   * Every run shown: those of the runs file made from this recording, and those an older
   * policy-replay saved inside the recording. A runs file numbers its runs after the
   * recording's own, so their ids do not meet; should they (an older policy-replay saved into
   * the recording again since), the runs file's run is the one shown.
   */
  private runsSelect(): string {
    const own = `SELECT ${RUN_COLUMNS} FROM main.runs`;
    if (!this.saved.attached) return own;
    return (
      `${own} WHERE id NOT IN (${MATCHING_RUNS}) ` +
      `UNION ALL SELECT ${RUN_COLUMNS} FROM ${SAVED}.runs WHERE id IN (${MATCHING_RUNS})`
    );
  }

  /** Where run `id`'s results are: in the runs file when it holds the run shown. */
  private place(id: number): RunPlace {
    let place = this.places.get(id);
    if (place === undefined) {
      const inRunsFile =
        this.saved.attached &&
        this.runRow(`SELECT 1 FROM ${SAVED}.runs WHERE id = ? AND id IN (${MATCHING_RUNS})`, id) !==
          undefined;
      place = inRunsFile ? IN_RUNS_FILE : { schema: "main", version: this.version };
      this.places.set(id, place);
    }
    return place;
  }

  /** A runs file that was not there when the recording was opened is read once it is. */
  private attachLater(): void {
    if (this.saved.attached || this.saved.problem !== null) return;
    const saved = attachRuns(this.db, this.file);
    if (!saved.attached && saved.problem === null) return;
    this.saved = saved;
    this.runStmts.clear();
    this.places.clear();
    this.keysets.clear();
  }

  private runStmt(sql: string): Database.Statement<unknown[], unknown[]> {
    let stmt = this.runStmts.get(sql);
    if (stmt === undefined) {
      stmt = this.read(() => this.db.prepare<unknown[], unknown[]>(sql).raw());
      this.runStmts.set(sql, stmt);
    }
    return stmt;
  }

  /** The first row of a runs statement, raw. */
  private runRow(sql: string, ...params: unknown[]): unknown[] | undefined {
    const stmt = this.runStmt(sql);
    return this.read(() => stmt.get(...params));
  }

  /** The first value of the first row of a runs statement (a count, a text). */
  private runValue<T>(sql: string, ...params: unknown[]): T {
    return this.runRow(sql, ...params)?.[0] as T;
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

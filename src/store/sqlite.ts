import { chmodSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { StoreError } from "./errors.js";
import { classifyWriteError, isStoreWide } from "./faults.js";
import { checkNotDamaged, checkSchema, createRecordingFile } from "./open-checks.js";
import { type BindValue, type QueuedWrite, WriteQueue } from "./write-queue.js";
import type {
  ApprovalAnswer,
  CallOutcome,
  DecisionRecord,
  Direction,
  MessageRecord,
  Mode,
  ResultClass,
  RunCounts,
  SessionStart,
  SessionUpdate,
  Store,
  StoredCall,
  StoreHealth,
  TransportKind,
} from "./types.js";

export { StoreError, type StoreErrorCode } from "./errors.js";

// The one module that speaks SQL. Everything about the recording file's layout lives here.
//
// Durability. The file runs in WAL mode with synchronous=NORMAL by default. A transaction is
// committed once its frames are appended to the -wal file with write(2); with NORMAL, SQLite
// does not fsync the WAL on every commit, only at checkpoints. The fault the audit log must
// survive is the proxy process dying (SIGKILL, crash, OOM kill): the written WAL frames are
// then in the kernel's page cache, which belongs to the kernel, not to the process, and the
// next opener replays them. So a decision whose recordDecision() returned is in the file after
// a SIGKILL, and the file is never corrupt (WAL commits are atomic: a torn tail has no commit
// frame and is ignored). What NORMAL gives up is the last commits before a power loss or
// kernel crash (never corruption); `synchronous: "full"` closes that too, at an fsync per
// decision: measured on a 2-core VM, a decision (with its request message) commits in about
// 60 us at p50 under NORMAL against 2.5 ms under FULL, i.e. ~8,000 against ~400 calls/s.
//
// Checkpoints. Under NORMAL the only fsyncs are a checkpoint's, and SQLite would run one
// inside whichever commit pushes the WAL past 1000 pages: milliseconds on the write-ahead
// path of a tools/call. So a worker thread with a connection of its own checkpoints
// (PASSIVE: it never blocks the writer) every CHECKPOINT_EVERY_MS, and the writer's own
// automatic checkpoint only starts at a much larger WAL, as a safety net.

/** What the file's `PRAGMA user_version` is after opening: the number of migrations run. */
export const SCHEMA_VERSION = 5;

type Db = Database.Database;

/**
 * Migrations, in order: entry i takes a file from user_version i to i + 1. Never edit a
 * released entry; add a new one. Each runs inside the opening transaction.
 */
/**
 * Number the keys of every calls row that has none (call_key NULL), in order of first use:
 * what schema 4's upgrade does to an older file, and what a tool that inserts calls rows with
 * plain SQL (bench/tui.ts) runs afterwards, so that replay reads them by key.
 */
export const NUMBER_CALL_KEYS = `
  INSERT OR IGNORE INTO call_keys (session, identity, tool, decision, code, rule)
    SELECT session, identity, tool, decision, code, rule FROM calls WHERE call_key IS NULL
    GROUP BY session, identity, tool, decision, code, ifnull('=' || rule, '')
    ORDER BY min(id);
  UPDATE calls SET call_key = (
    SELECT k.id FROM call_keys k
    WHERE k.session = calls.session AND k.identity = calls.identity AND k.tool = calls.tool
      AND k.decision = calls.decision AND k.code = calls.code
      AND ifnull('=' || k.rule, '') = ifnull('=' || calls.rule, '')
  ) WHERE call_key IS NULL;`;

const MIGRATIONS: readonly ((db: Db) => void)[] = [
  // 1: the tables, and the index replay reads calls through.
  (db) =>
    db.exec(`
      CREATE TABLE policies (
        hash TEXT PRIMARY KEY,
        text TEXT NOT NULL,
        first_seen INTEGER NOT NULL
      );
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        identity TEXT NOT NULL,
        transport TEXT NOT NULL,
        mode TEXT NOT NULL,
        policy_hash TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        end_reason TEXT,
        client_info TEXT,
        server_info TEXT,
        protocol_version TEXT
      );
      -- direction: 0 client_to_server, 1 server_to_client, 2 proxy_to_client, 3 proxy_to_server
      CREATE TABLE messages (
        session TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        direction INTEGER NOT NULL,
        method TEXT,
        jsonrpc_id TEXT,
        body TEXT NOT NULL,
        PRIMARY KEY (session, seq)
      );
      CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        identity TEXT NOT NULL,
        tool TEXT NOT NULL,
        arguments TEXT,
        jsonrpc_id TEXT NOT NULL,
        mode TEXT NOT NULL,
        decision TEXT NOT NULL,
        code TEXT NOT NULL,
        rule TEXT,
        reason TEXT,
        counter TEXT,
        limit_json TEXT,
        retry_after_ms INTEGER,
        inexact INTEGER NOT NULL DEFAULT 0,
        approval TEXT,
        outcome TEXT,
        latency_ms INTEGER
      );
      -- Replay: calls in recorded order. An index holds the rowid, so this is (ts, id).
      CREATE INDEX calls_by_ts ON calls (ts);
    `),
  // 2: the terminal UI's lookups.
  (db) =>
    db.exec(`
      CREATE INDEX calls_by_session ON calls (session, seq);
      CREATE INDEX calls_by_tool ON calls (tool, ts);
      CREATE INDEX calls_by_code ON calls (decision, code);
      CREATE INDEX sessions_by_start ON sessions (started_at);
    `),
  // 3: saved replay runs. And two call indexes leave the write-ahead path: every index is a
  // page written inside each decision's commit, and no query needs these two (a tool filter
  // is a glob; decisions are counted per session through calls_by_session).
  (db) =>
    db.exec(`
      DROP INDEX calls_by_tool;
      DROP INDEX calls_by_code;
      CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        created_at INTEGER NOT NULL,
        -- The candidate policy; its text is in policies.
        policy_hash TEXT NOT NULL,
        policy_path TEXT NOT NULL,
        -- Null: the run was diffed against the recorded decisions.
        baseline_hash TEXT,
        baseline_path TEXT,
        -- JSON: the filters, --fail-on, --accept, and every source file of the run.
        options TEXT NOT NULL,
        calls INTEGER NOT NULL,
        sessions INTEGER NOT NULL,
        tightened INTEGER NOT NULL,
        loosened INTEGER NOT NULL,
        changed INTEGER NOT NULL,
        counterfactual INTEGER NOT NULL,
        inexact INTEGER NOT NULL,
        gate_failed INTEGER NOT NULL
      );
      -- One row per call of this file that changed or was inexact; a replayed call without a
      -- row kept its decision exactly.
      CREATE TABLE run_results (
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        call INTEGER NOT NULL,
        class TEXT,
        old_decision TEXT NOT NULL,
        old_code TEXT NOT NULL,
        old_rule TEXT,
        new_decision TEXT NOT NULL,
        new_code TEXT NOT NULL,
        new_rule TEXT,
        new_reason TEXT,
        new_retry_after_ms INTEGER,
        counterfactual INTEGER NOT NULL,
        inexact INTEGER NOT NULL,
        PRIMARY KEY (run, call)
      ) WITHOUT ROWID;
      CREATE INDEX run_results_by_class ON run_results (run, class, call);
    `),
  // 4: a call's repetitive fields (session, identity, tool and the recorded decision) numbered
  // once in call_keys, each calls row pointing at its key: replay reads one integer a row
  // instead of six strings to look up (about half of what reading a row cost). The text
  // columns stay: every other reader, and anyone with sqlite3 at hand, reads them as before.
  // The rule is NULL for a default decision; '=' || rule keeps it apart from a rule named ''.
  (db) =>
    db.exec(`
      CREATE TABLE call_keys (
        id INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        identity TEXT NOT NULL,
        tool TEXT NOT NULL,
        decision TEXT NOT NULL,
        code TEXT NOT NULL,
        rule TEXT
      );
      CREATE UNIQUE INDEX call_keys_by_value
        ON call_keys (session, identity, tool, decision, code, ifnull('=' || rule, ''));
      ALTER TABLE calls ADD COLUMN call_key INTEGER;
      ${NUMBER_CALL_KEYS}
      -- A row whose fields are edited by hand no longer matches its key: it loses the key, and
      -- replay reads it from its text columns (as it does a row inserted without one).
      CREATE TRIGGER calls_key_stale
        AFTER UPDATE OF session, identity, tool, decision, code, rule ON calls
        WHEN NEW.call_key IS NOT NULL
      BEGIN
        UPDATE calls SET call_key = NULL WHERE id = NEW.id;
      END;
    `),
  // 5: a run's results numbered like the calls: each distinct outcome (class, old and new
  // decision, code, rule, the new reason) once in run_outcomes, each run_results row pointing
  // at it. The benchmark's 48,108 results take 38 outcomes; a result row shrinks from about
  // 90 bytes to about 20, and saving a run (inserting its rows and committing them) from about
  // 0.21 s to 0.12 s. The class stays in run_results, for its index. run_result_rows shows the
  // results as schema 4 stored them, for anyone with sqlite3 at hand.
  (db) =>
    db.exec(`
      DROP INDEX run_results_by_class;
      ALTER TABLE run_results RENAME TO run_results_4;
      CREATE TABLE run_outcomes (
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        id INTEGER NOT NULL,
        old_decision TEXT NOT NULL,
        old_code TEXT NOT NULL,
        old_rule TEXT,
        new_decision TEXT NOT NULL,
        new_code TEXT NOT NULL,
        new_rule TEXT,
        new_reason TEXT,
        PRIMARY KEY (run, id)
      ) WITHOUT ROWID;
      -- One row per call of this file that changed or was inexact; a replayed call without a
      -- row kept its decision exactly.
      CREATE TABLE run_results (
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        call INTEGER NOT NULL,
        outcome INTEGER NOT NULL,
        class TEXT,
        new_retry_after_ms INTEGER,
        counterfactual INTEGER NOT NULL,
        inexact INTEGER NOT NULL,
        PRIMARY KEY (run, call)
      ) WITHOUT ROWID;
      CREATE INDEX run_results_by_class ON run_results (run, class, call);
      INSERT INTO run_outcomes
        SELECT run, row_number() OVER (PARTITION BY run ORDER BY min(call)), old_decision,
          old_code, old_rule, new_decision, new_code, new_rule, new_reason
        FROM run_results_4
        GROUP BY run, old_decision, old_code, old_rule, new_decision, new_code, new_rule,
          new_reason;
      INSERT INTO run_results
        SELECT r.run, r.call, o.id, r.class, r.new_retry_after_ms, r.counterfactual, r.inexact
        FROM run_results_4 r JOIN run_outcomes o ON o.run = r.run
          AND o.old_decision = r.old_decision AND o.old_code = r.old_code
          AND o.old_rule IS r.old_rule AND o.new_decision = r.new_decision
          AND o.new_code = r.new_code AND o.new_rule IS r.new_rule
          AND o.new_reason IS r.new_reason;
      DROP TABLE run_results_4;
      CREATE VIEW run_result_rows AS
        SELECT r.run, r.call, r.class, o.old_decision, o.old_code, o.old_rule, o.new_decision,
          o.new_code, o.new_rule, o.new_reason, r.new_retry_after_ms, r.counterfactual,
          r.inexact
        FROM run_results r JOIN run_outcomes o ON o.run = r.run AND o.id = r.outcome;
    `),
];

const DIRECTIONS: readonly Direction[] = [
  "client_to_server",
  "server_to_client",
  "proxy_to_client",
  "proxy_to_server",
];
const DIRECTION_CODE: Record<Direction, number> = {
  client_to_server: 0,
  server_to_client: 1,
  proxy_to_client: 2,
  proxy_to_server: 3,
};

export interface OpenStoreOptions {
  /** Queued writes (messages, outcomes, session updates) that trigger a flush. Default 256. */
  batchSize?: number;
  /** Longest time a queued write waits before it is flushed, in ms. Default 50. */
  flushIntervalMs?: number;
  /**
   * "normal" (default) survives the process being killed at any point; "full" also survives
   * power loss, at an fsync per commit.
   */
  synchronous?: "normal" | "full";
  /** Where a background flush reports a failure; by default a line on stderr. */
  onError?: (err: StoreError) => void;
  /**
   * How long a write waits for another connection's lock before failing with store_busy, in
   * ms. Default 200: a commit holds the lock for well under a millisecond, so several proxies
   * on one file pass, while a stuck lock costs the event loop (SQLite waits synchronously)
   * one short stall, not seconds per call. While the store is unhealthy writes wait not at all.
   */
  busyTimeoutMs?: number;
  /** While the store fails, how often queued writes are tried again, in ms. Default 1000. */
  retryIntervalMs?: number;
  /** Queued writes kept while the store fails; past it the oldest messages go. See WriteQueue. */
  maxQueued?: number;
  /** Told when the store turns unhealthy and when it recovers; by default a line on stderr. */
  onHealthChange?: (health: StoreHealth) => void;
  /** Create the file's directory if missing (what `record` wants for its default path). */
  createDirectory?: boolean;
  /**
   * Refuse a damaged file: PRAGMA quick_check when opening, on files up to
   * QUICK_CHECK_MAX_BYTES (open-checks.ts). For the proxy, which must not write into one.
   */
  checkIntegrity?: boolean;
  /** Checkpoint the WAL from a worker thread (default true); false: SQLite's own way. */
  checkpointWorker?: boolean;
  /**
   * A file filled in one go before anyone reads it (a generated recording): the rollback
   * journal in memory, no syncs, a large page cache, no checkpointer. A crash leaves a damaged
   * file, so write to a temporary name and rename it when closed.
   */
  bulk?: boolean;
}

const CHECKPOINT_EVERY_MS = 100;
/** WAL pages at which the writer checkpoints itself when the worker has not kept up. */
const WRITER_CHECKPOINT_PAGES = 16_384;

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

/** One call of a saved run that changed or was inexact, with the call it is about. */
export interface StoredRunResult {
  /** The call's row id. */
  call: number;
  session: string;
  identity: string;
  ts: number;
  tool: string;
  /** Null: the call kept its decision but was inexact. */
  class: ResultClass | null;
  old: { decision: string; code: string; rule: string | null };
  new: {
    decision: string;
    code: string;
    rule: string | null;
    reason: string | null;
    retryAfterMs: number | null;
  };
  counterfactual: boolean;
  inexact: boolean;
}

/** A page of a run's results: keyset by call id. */
export interface RunResultsQuery {
  /** Results after this call id (the last one of the previous page); from the first if absent. */
  afterCall?: number;
  /** At most this many (default 100). */
  limit?: number;
  /** Only this class; null: only the inexact calls that kept their decision. */
  class?: ResultClass | null;
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
  /** The replay runs saved in this recording, newest first. */
  listRuns(): StoredRun[];
  /** One saved run, or null. */
  getRun(id: number): StoredRun | null;
  /** A run's results in call id order, a page at a time (keyset on the call id). */
  runResults(runId: number, query?: RunResultsQuery): StoredRunResult[];
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

// ---------------------------------------------------------------------------------------------
// Opening

/**
 * Open (creating it with mode 0600 if needed) a recording for writing, bringing its schema up
 * to date. Throws StoreError: store_corrupt (also a damaged file, with checkIntegrity),
 * store_not_recording (another program's SQLite file), store_newer_schema, store_io.
 */
export function openStore(file: string, opts: OpenStoreOptions = {}): RecordingStore {
  createRecordingFile(file, opts.createDirectory ?? false);
  const db = connect(file, false);
  try {
    const sync = opts.synchronous === "full" ? "FULL" : "NORMAL";
    guard(file, () => {
      checkSchema(file, db, userVersion(db));
      if (opts.checkIntegrity) checkNotDamaged(file, db);
      if (opts.bulk) {
        db.pragma("journal_mode = MEMORY");
        db.pragma("synchronous = OFF");
        db.pragma("cache_size = -262144");
      } else {
        db.pragma("journal_mode = WAL");
        db.pragma(`synchronous = ${sync}`);
      }
      migrate(db, file);
    });
  } catch (err) {
    db.close();
    throw err;
  }
  const checkpointer =
    opts.checkpointWorker === false || opts.bulk ? null : startCheckpointer(file);
  if (checkpointer) db.pragma(`wal_autocheckpoint = ${WRITER_CHECKPOINT_PAGES}`);
  // SQLite gives the -wal and -shm files the database file's mode; make sure anyway.
  for (const side of [`${file}-wal`, `${file}-shm`]) {
    try {
      chmodSync(side, 0o600);
    } catch {
      // Not there (yet), or not ours to change: SQLite's own choice stands.
    }
  }
  return new SqliteStore(file, db, opts, checkpointer);
}

// ---------------------------------------------------------------------------------------------
// Checkpointing off the main thread

interface Checkpointer {
  /** Close the worker's connection and wait (bounded) until it has. */
  stop(): void;
}

const CHECKPOINTER = `
const { parentPort, workerData } = require("node:worker_threads");
const { module, file, everyMs, done } = workerData;
const flag = new Int32Array(done);
const finish = () => {
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
};
process.on("exit", finish);
let db = null;
try {
  const Database = require(module);
  db = new Database(file, { fileMustExist: true, timeout: 0 });
} catch {
  finish();
}
const tick = () => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch {
    // Busy or gone: the next tick, or the writer's own checkpoint, will do.
  }
};
const timer = db && setInterval(tick, everyMs);
parentPort.on("message", () => {
  clearInterval(timer);
  try {
    if (db) db.close();
  } finally {
    finish();
    parentPort.close();
  }
});
`;

function startCheckpointer(file: string): Checkpointer | null {
  const done = new SharedArrayBuffer(4);
  let worker: Worker;
  try {
    worker = new Worker(CHECKPOINTER, {
      eval: true,
      workerData: {
        module: createRequire(import.meta.url).resolve("better-sqlite3"),
        file,
        everyMs: CHECKPOINT_EVERY_MS,
        done,
      },
      stdout: true,
      stderr: true,
    });
  } catch {
    return null;
  }
  worker.on("error", () => {});
  worker.unref();
  return {
    stop() {
      worker.postMessage("close");
      // Bounded: the worker closes between two checkpoints, or has died already.
      Atomics.wait(new Int32Array(done), 0, 0, 2000);
    },
  };
}

export interface ReadOpenOptions {
  /** Told before an older recording is upgraded in place: seconds for a big one, once. */
  onUpgrade?: (file: string, from: number, to: number) => void;
}

/**
 * Open an existing recording for reading. An older schema is upgraded first (which needs
 * write access once); a newer one, a missing file or a non-recording is a StoreError.
 */
export function openStoreReadOnly(file: string, opts: ReadOpenOptions = {}): StoreReader {
  if (!existsSync(file)) throw new StoreError("store_missing", file, `${file}: no such recording`);
  let db = connect(file, true);
  try {
    const version = recordingVersion(file, db);
    if (version < SCHEMA_VERSION) {
      db.close();
      opts.onUpgrade?.(file, version, SCHEMA_VERSION);
      upgradeInPlace(file, version);
      db = connect(file, true);
    }
  } catch (err) {
    if (db.open) db.close();
    throw err;
  }
  return new SqliteReader(file, db);
}

function upgradeInPlace(file: string, version: number): void {
  let db: Db;
  try {
    db = new Database(file, { fileMustExist: true });
    // The journal mode stays as it was: a finished recording stays one self-contained file.
    guard(file, () => migrate(db, file));
  } catch (err) {
    if (err instanceof StoreError && err.code !== "store_io") throw err;
    throw new StoreError(
      "store_needs_upgrade",
      file,
      `${file}: recording schema version ${version} needs upgrading to ${SCHEMA_VERSION}, ` +
        `which needs write access: ${(err as Error).message}`,
      { cause: err },
    );
  }
  db.close();
}

/** A connection to a recording file; failing that, a store_io StoreError naming it. */
export function connect(file: string, readonly: boolean): Db {
  try {
    // timeout: how long to wait for another process's write lock (two proxies, one file).
    return new Database(file, { readonly, fileMustExist: true, timeout: 5000 });
  } catch (err) {
    throw new StoreError("store_io", file, `${file}: cannot open: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Run fn, turning SQLite's "not a database"/"corrupt" into store_corrupt and I/O into store_io. */
export function guard<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof StoreError) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === "SQLITE_NOTADB" || (typeof code === "string" && code.startsWith("SQLITE_CORRUPT")))
      throw new StoreError(
        "store_corrupt",
        file,
        `${file}: not a recording: the file is not a SQLite database or is damaged (${(err as Error).message})`,
        { cause: err },
      );
    throw new StoreError("store_io", file, `${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The file's schema version: the number of migrations it has had. */
function userVersion(db: Db): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/** Throw store_newer_schema when a file's schema is newer than this build understands. */
/**
 * The schema version of an open recording; a SQLite file without our tables, or one from a
 * newer policy-replay, is a StoreError.
 */
export function recordingVersion(file: string, db: Db): number {
  const version = guard(file, () => userVersion(db));
  if (version === 0)
    throw new StoreError(
      "store_not_recording",
      file,
      `${file}: not a policy-replay recording (a SQLite file without its tables)`,
    );
  checkNotNewer(file, version);
  return version;
}

function checkNotNewer(file: string, version: number): void {
  if (version > SCHEMA_VERSION)
    throw new StoreError(
      "store_newer_schema",
      file,
      `${file}: recording schema version ${version} is newer than this policy-replay ` +
        `understands (${SCHEMA_VERSION}); upgrade policy-replay to read it`,
    );
}

function migrate(db: Db, file: string): void {
  checkNotNewer(file, userVersion(db));
  if (userVersion(db) === SCHEMA_VERSION) return;
  // IMMEDIATE: take the write lock first, then look again, so two processes opening the same
  // new file do not both run the migrations.
  db.transaction(() => {
    const from = userVersion(db);
    checkNotNewer(file, from);
    for (let v = from; v < SCHEMA_VERSION; v++) MIGRATIONS[v]?.(db);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

// ---------------------------------------------------------------------------------------------
// Reading

/** A calls row as an array (raw mode: about twice as fast to read as an object per row). */
type CallRow = [
  id: number,
  session: string,
  seq: number,
  ts: number,
  identity: string,
  tool: string,
  args: string | null,
  jsonrpcId: string,
  mode: Mode,
  decision: string,
  code: string,
  rule: string | null,
  reason: string | null,
  limitJson: string | null,
  retryAfterMs: number | null,
  inexact: number,
  approval: ApprovalAnswer | null,
  outcome: CallOutcome["outcome"] | null,
  latencyMs: number | null,
];

interface SessionRow {
  id: string;
  identity: string;
  transport: TransportKind;
  mode: Mode;
  policy_hash: string;
  started_at: number;
  ended_at: number | null;
  end_reason: string | null;
  client_info: string | null;
  server_info: string | null;
  protocol_version: string | null;
}

interface MessageRow {
  session: string;
  seq: number;
  ts: number;
  direction: number;
  method: string | null;
  jsonrpc_id: string | null;
  body: string;
}

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

function toCall(r: CallRow): RecordedCall {
  const [id, session, seq, ts, identity, tool, args, jsonrpcId, mode, decision, code] = r;
  return {
    id,
    session,
    identity,
    ts,
    tool,
    arguments: args === null ? undefined : JSON.parse(args),
    decision,
    code,
    rule: r[11],
    retry_after_ms: r[14],
    approval: r[16],
    seq,
    jsonrpcId,
    mode,
    reason: r[12],
    limit: parse(r[13]),
    inexact: r[15] !== 0,
    outcome: r[17],
    latencyMs: r[18],
  };
}

function toSession(r: SessionRow): StoredSession {
  return {
    id: r.id,
    identity: r.identity,
    transport: r.transport,
    mode: r.mode,
    policyHash: r.policy_hash,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    endReason: r.end_reason,
    clientInfo: parse(r.client_info),
    serverInfo: parse(r.server_info),
    protocolVersion: r.protocol_version,
  };
}

function toMessage(r: MessageRow): StoredMessage {
  return {
    session: r.session,
    seq: r.seq,
    ts: r.ts,
    direction: DIRECTIONS[r.direction] ?? "client_to_server",
    method: r.method,
    jsonrpcId: r.jsonrpc_id,
    message: JSON.parse(r.body),
  };
}

interface RunRow {
  id: number;
  created_at: number;
  policy_hash: string;
  policy_path: string;
  baseline_hash: string | null;
  baseline_path: string | null;
  options: string;
  calls: number;
  sessions: number;
  tightened: number;
  loosened: number;
  changed: number;
  counterfactual: number;
  inexact: number;
  gate_failed: number;
}

interface RunResultRow {
  call: number;
  session: string;
  identity: string;
  ts: number;
  tool: string;
  class: ResultClass | null;
  old_decision: string;
  old_code: string;
  old_rule: string | null;
  new_decision: string;
  new_code: string;
  new_rule: string | null;
  new_reason: string | null;
  new_retry_after_ms: number | null;
  counterfactual: number;
  inexact: number;
}

function toRun(r: RunRow): StoredRun {
  return {
    id: r.id,
    createdAt: r.created_at,
    policyHash: r.policy_hash,
    policyPath: r.policy_path,
    baselineHash: r.baseline_hash,
    baselinePath: r.baseline_path,
    options: JSON.parse(r.options),
    calls: r.calls,
    sessions: r.sessions,
    tightened: r.tightened,
    loosened: r.loosened,
    changed: r.changed,
    counterfactual: r.counterfactual,
    inexact: r.inexact,
    gateFailed: r.gate_failed !== 0,
  };
}

function toRunResult(r: RunResultRow): StoredRunResult {
  return {
    call: r.call,
    session: r.session,
    identity: r.identity,
    ts: r.ts,
    tool: r.tool,
    class: r.class,
    old: { decision: r.old_decision, code: r.old_code, rule: r.old_rule },
    new: {
      decision: r.new_decision,
      code: r.new_code,
      rule: r.new_rule,
      reason: r.new_reason,
      retryAfterMs: r.new_retry_after_ms,
    },
    counterfactual: r.counterfactual !== 0,
    inexact: r.inexact !== 0,
  };
}

const RUN_RESULT_SELECT =
  "SELECT r.call, c.session, c.identity, c.ts, c.tool, r.class, o.old_decision, o.old_code, " +
  "o.old_rule, o.new_decision, o.new_code, o.new_rule, o.new_reason, r.new_retry_after_ms, " +
  "r.counterfactual, r.inexact FROM run_results r " +
  "JOIN run_outcomes o ON o.run = r.run AND o.id = r.outcome JOIN calls c ON c.id = r.call";

const CALL_COLUMNS =
  "id, session, seq, ts, identity, tool, arguments, jsonrpc_id, mode, decision, code, rule, " +
  "reason, limit_json, retry_after_ms, inexact, approval, outcome, latency_ms";

class SqliteReader implements StoreReader {
  protected readonly callsStmt;
  protected readonly sessionsStmt;
  protected readonly messagesStmt;
  protected readonly allMessagesStmt;
  protected readonly policyStmt;
  protected readonly toolListAnswersStmt;
  /** Open iterators: the connection cannot run other statements while one is open. */
  protected reading = 0;

  constructor(
    readonly file: string,
    protected readonly db: Db,
  ) {
    this.callsStmt = db
      .prepare<[], CallRow>(`SELECT ${CALL_COLUMNS} FROM calls ORDER BY ts, id`)
      .raw();
    this.sessionsStmt = db.prepare<[], SessionRow>(
      "SELECT * FROM sessions ORDER BY started_at, rowid",
    );
    this.messagesStmt = db.prepare<[string], MessageRow>(
      "SELECT session, seq, ts, direction, method, jsonrpc_id, body FROM messages WHERE session = ? ORDER BY seq",
    );
    this.allMessagesStmt = db.prepare<[], MessageRow>(
      "SELECT session, seq, ts, direction, method, jsonrpc_id, body FROM messages ORDER BY session, seq",
    );
    this.policyStmt = db.prepare<[string], { text: string }>(
      "SELECT text FROM policies WHERE hash = ?",
    );
    // An answer has no method, and the server's own requests may reuse the agent's ids: only
    // method-less server_to_client rows answer.
    this.toolListAnswersStmt = db.prepare<[], MessageRow>(
      `SELECT a.session, a.seq, a.ts, a.direction, a.method, a.jsonrpc_id, a.body
         FROM messages r JOIN messages a ON a.session = r.session AND a.seq = (
           SELECT b.seq FROM messages b
            WHERE b.session = r.session AND b.seq > r.seq AND b.direction = 1
              AND b.method IS NULL AND b.jsonrpc_id = r.jsonrpc_id
            ORDER BY b.seq LIMIT 1)
        WHERE r.direction = 0 AND r.method = 'tools/list' AND r.jsonrpc_id IS NOT NULL
        ORDER BY a.session, a.seq`,
    );
  }

  calls(): IterableIterator<RecordedCall> {
    return this.stream(() => this.callsStmt.iterate(), toCall);
  }

  sessions(): IterableIterator<StoredSession> {
    return this.stream(() => this.sessionsStmt.iterate(), toSession);
  }

  messages(session?: string): IterableIterator<StoredMessage> {
    return this.stream(
      () =>
        session === undefined ? this.allMessagesStmt.iterate() : this.messagesStmt.iterate(session),
      toMessage,
    );
  }

  policy(hash: string): string | null {
    this.checkOpen();
    return this.policyStmt.get(hash)?.text ?? null;
  }

  toolListAnswers(): IterableIterator<StoredMessage> {
    return this.stream(() => this.toolListAnswersStmt.iterate(), toMessage);
  }

  listRuns(): StoredRun[] {
    this.checkOpen();
    return this.db.prepare<[], RunRow>("SELECT * FROM runs ORDER BY id DESC").all().map(toRun);
  }

  getRun(id: number): StoredRun | null {
    this.checkOpen();
    const r = this.db.prepare<[number], RunRow>("SELECT * FROM runs WHERE id = ?").get(id);
    return r ? toRun(r) : null;
  }

  runResults(runId: number, query: RunResultsQuery = {}): StoredRunResult[] {
    this.checkOpen();
    const after = query.afterCall ?? -Infinity;
    const limit = Math.max(0, Math.floor(query.limit ?? 100));
    // By class: through run_results_by_class (run, class, call); else the primary key.
    const rows =
      query.class === undefined
        ? this.db
            .prepare<[number, number, number], RunResultRow>(
              `${RUN_RESULT_SELECT} WHERE r.run = ? AND r.call > ? ORDER BY r.call LIMIT ?`,
            )
            .all(runId, after, limit)
        : this.db
            .prepare<[number, string | null, number, number], RunResultRow>(
              `${RUN_RESULT_SELECT} WHERE r.run = ? AND r.class IS ? AND r.call > ? ORDER BY r.call LIMIT ?`,
            )
            .all(runId, query.class, after, limit);
    return rows.map(toRunResult);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  protected checkOpen(): void {
    if (!this.db.open)
      throw new StoreError("store_closed", this.file, `${this.file}: store is closed`);
  }

  /** Rows mapped one at a time, the statement held only while the consumer iterates. */
  protected *stream<R, T>(rows: () => IterableIterator<R>, map: (row: R) => T): Generator<T> {
    this.checkOpen();
    this.beforeRead();
    this.reading++;
    try {
      for (const row of rows()) yield map(row);
    } finally {
      this.reading--;
    }
  }

  protected beforeRead(): void {}
}

// ---------------------------------------------------------------------------------------------
// Writing

const json = (value: unknown): string | null =>
  value === undefined ? null : (JSON.stringify(value) ?? null);

/** A queued write's parameters, with a deferred message body serialised into the last one. */
function bind(w: QueuedWrite): BindValue[] {
  if (w.body === undefined) return w.params;
  w.params[w.params.length - 1] = json(w.body) ?? "null";
  w.body = undefined;
  return w.params;
}

class SqliteStore extends SqliteReader implements RecordingStore {
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly onError: (err: StoreError) => void;
  private readonly busyTimeoutMs: number;
  private readonly retryIntervalMs: number;
  private readonly onHealthChange: (health: StoreHealth) => void;
  private readonly queue: WriteQueue;
  /** The store-wide fault the last write met; null while writes succeed. */
  private fault: StoreError | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Inside transaction(): writes run at once, in the open transaction, and failures throw. */
  private inTransaction = false;

  private readonly insertPolicy;
  private readonly insertSession;
  private readonly updateSessionStmt;
  private readonly insertMessage;
  private readonly insertCall;
  private readonly insertKey;
  private readonly selectKey;
  /** call_keys ids this connection has written or looked up, by the key's JSON text. */
  private readonly keyIds = new Map<string, number>();
  /** Past this many keys the map starts again: a proxy may run for months. */
  private static readonly KEY_CACHE_LIMIT = 50_000;
  private readonly updateApproval;
  private readonly updateOutcome;
  private readonly writeBatch;

  constructor(
    file: string,
    db: Db,
    opts: OpenStoreOptions,
    private readonly checkpointer: Checkpointer | null,
  ) {
    super(file, db);
    this.batchSize = Math.max(1, opts.batchSize ?? 256);
    this.flushIntervalMs = Math.max(0, opts.flushIntervalMs ?? 50);
    this.onError =
      opts.onError ?? ((err) => void process.stderr.write(`policy-replay: ${err.message}\n`));
    this.busyTimeoutMs = Math.max(0, opts.busyTimeoutMs ?? 200);
    this.retryIntervalMs = Math.max(0, opts.retryIntervalMs ?? 1000);
    this.onHealthChange = opts.onHealthChange ?? stderrHealth;
    this.queue = new WriteQueue(opts.maxQueued);
    this.setBusyTimeout(this.busyTimeoutMs);
    this.insertPolicy = db.prepare<[BindValue[]]>(
      "INSERT OR IGNORE INTO policies (hash, text, first_seen) VALUES (?, ?, ?)",
    );
    this.insertSession = db.prepare<[BindValue[]]>(
      "INSERT INTO sessions (id, identity, transport, mode, policy_hash, started_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.updateSessionStmt = db.prepare<[BindValue[]]>(
      `UPDATE sessions SET
         client_info = coalesce(?, client_info),
         server_info = coalesce(?, server_info),
         protocol_version = coalesce(?, protocol_version),
         ended_at = coalesce(?, ended_at),
         end_reason = coalesce(?, end_reason)
       WHERE id = ?`,
    );
    this.insertMessage = db.prepare<[BindValue[]]>(
      "INSERT INTO messages (session, seq, ts, direction, method, jsonrpc_id, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.insertCall = db.prepare<[BindValue[]]>(
      `INSERT INTO calls (session, seq, ts, identity, tool, arguments, jsonrpc_id, mode, decision,
         code, rule, reason, counter, limit_json, retry_after_ms, inexact, call_key)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertKey = db.prepare<[BindValue[]]>(
      `INSERT OR IGNORE INTO call_keys (session, identity, tool, decision, code, rule)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.selectKey = db
      .prepare<BindValue[], number>(
        `SELECT id FROM call_keys WHERE session = ? AND identity = ? AND tool = ?
           AND decision = ? AND code = ? AND ifnull('=' || rule, '') = ifnull('=' || ?, '')`,
      )
      .pluck();
    this.updateApproval = db.prepare<[BindValue[]]>("UPDATE calls SET approval = ? WHERE id = ?");
    this.updateOutcome = db.prepare<[BindValue[]]>(
      "UPDATE calls SET outcome = ?, latency_ms = ? WHERE id = ?",
    );
    this.writeBatch = db.transaction((writes: QueuedWrite[]) => {
      for (const w of writes) w.stmt.run(bind(w));
    });
  }

  health(): StoreHealth {
    return {
      healthy: this.fault === null,
      fault: this.fault,
      queued: this.queue.size,
      lost: this.queue.lost(),
    };
  }

  lostWrites(session: string): number {
    return this.queue.lost(session);
  }

  putPolicy(hash: string, text: string): void {
    this.writeNow({ stmt: this.insertPolicy, params: [hash, text, Date.now()] });
  }

  startSession(s: SessionStart): void {
    this.writeNow({
      stmt: this.insertSession,
      params: [s.id, s.identity, s.transport, s.mode, s.policyHash, s.startedAt],
    });
  }

  updateSession(id: string, patch: SessionUpdate): void {
    this.enqueue({
      stmt: this.updateSessionStmt,
      params: [
        json(patch.clientInfo),
        json(patch.serverInfo),
        patch.protocolVersion ?? null,
        patch.endedAt ?? null,
        patch.endReason ?? null,
        id,
      ],
      session: id,
    });
  }

  recordMessage(m: MessageRecord): void {
    // The message is serialised at flush time; the relay never mutates a message it passed on.
    this.enqueue({
      stmt: this.insertMessage,
      params: [m.session, m.seq, m.ts, DIRECTION_CODE[m.direction], m.method, m.jsonrpcId, null],
      body: m.message,
      session: m.session,
      droppable: true,
    });
  }

  recordDecision(d: DecisionRecord): number {
    const dec = d.decision;
    const key: BindValue[] = [d.session, d.identity, d.tool, dec.decision, dec.code, dec.rule];
    const keyText = JSON.stringify(key);
    const keyId = this.keyIds.get(keyText);
    const call: QueuedWrite = {
      stmt: this.insertCall,
      params: [
        d.session,
        d.seq,
        d.ts,
        d.identity,
        d.tool,
        json(d.arguments),
        d.jsonrpcId,
        d.mode,
        dec.decision,
        dec.code,
        dec.rule,
        dec.reason,
        dec.limit?.counter ?? null,
        json(dec.limit ?? undefined),
        dec.retry_after_ms,
        dec.inexact ? 1 : 0,
        keyId ?? null,
      ],
    };
    // Alone in its commit: the queued messages would add their pages to the write-ahead path
    // of this call (measured: ~60 us against ~20 us at p50). They follow in the next batch.
    // A key not seen yet (a session's first call of a tool and outcome) is numbered in the
    // same commit; another process may have numbered it already, hence OR IGNORE and a look.
    const result =
      keyId !== undefined ? this.writeAlone(call) : this.writeWithNewKey(call, key, keyText);
    return Number(result.lastInsertRowid);
  }

  private writeWithNewKey(
    call: QueuedWrite,
    key: BindValue[],
    keyText: string,
  ): Database.RunResult {
    this.checkWritable();
    let id: number | undefined;
    const result = this.commit(() =>
      this.db.transaction(() => {
        this.insertKey.run(key);
        id = this.selectKey.get(...key);
        if (id === undefined) throw new Error("call_keys: the key just written is not there");
        call.params[call.params.length - 1] = id;
        return call.stmt.run(bind(call));
      })(),
    );
    if (this.keyIds.size >= SqliteStore.KEY_CACHE_LIMIT) this.keyIds.clear();
    this.keyIds.set(keyText, id!);
    return result;
  }

  recordApproval(callId: number, answer: ApprovalAnswer): void {
    // Committed at once: an approved call goes to the server next, and the log is write-ahead.
    this.writeAlone({ stmt: this.updateApproval, params: [answer, callId] });
  }

  recordOutcome(callId: number, outcome: CallOutcome): void {
    this.enqueue({
      stmt: this.updateOutcome,
      params: [outcome.outcome, outcome.latencyMs, callId],
    });
  }

  transaction<T>(fn: () => T): T {
    this.checkOpen();
    if (this.inTransaction) return fn();
    if (this.reading > 0)
      throw new StoreError(
        "store_write_failed",
        this.file,
        `${this.file}: cannot write while a read of the same store is in progress`,
      );
    this.flush();
    this.inTransaction = true;
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      // Keys numbered inside the transaction were rolled back with it.
      this.keyIds.clear();
      // The caller's own errors (a bad input line, a bug) pass through as they are.
      throw err instanceof Database.SqliteError ? classifyWriteError(this.file, err) : err;
    } finally {
      this.inTransaction = false;
    }
  }

  /** Never throws for a fault of the store: what could not be written stays queued. */
  flush(): void {
    this.checkOpen();
    if (this.queue.size === 0) return this.clearTimer();
    if (this.reading > 0) {
      // A read holds the connection: the timer writes the queue once it is done.
      if (this.timer === null) this.startTimer();
      return;
    }
    this.drain();
    this.clearTimer();
    if (this.queue.size > 0) this.startTimer();
  }

  override close(): void {
    if (!this.db.open) return;
    try {
      // A last try, waiting the full busy timeout: a lock held a moment longer is no reason
      // to leave the session's end unwritten.
      if (this.fault !== null) this.setBusyTimeout(this.busyTimeoutMs);
      this.flush();
      if (this.queue.size > 0)
        this.onError(
          new StoreError(
            this.fault?.code ?? "store_write_failed",
            this.file,
            `${this.file}: closed with ${this.queue.size} queued writes unwritten: ` +
              (this.fault?.message ?? "the store kept failing"),
          ),
        );
    } catch (err) {
      this.onError(classifyWriteError(this.file, err));
    } finally {
      this.clearTimer();
      // The last connection to close checkpoints the WAL into the file and removes it: let the
      // checkpointer's go first.
      this.checkpointer?.stop();
      // Leave a finished recording in rollback-journal mode, one self-contained file, so that
      // reading it (replay, the UI) creates no -wal/-shm files beside it. Only possible when
      // no other connection has the file open; otherwise it stays in WAL mode, which is fine.
      try {
        this.db.pragma("busy_timeout = 0");
        this.db.pragma("journal_mode = DELETE");
      } catch {
        // Busy: someone else is using the file.
      }
      this.db.close();
    }
  }

  /** Flush before reading, so a read sees everything recorded so far. */
  protected override beforeRead(): void {
    if (this.reading === 0) this.flush();
  }

  private enqueue(w: QueuedWrite): void {
    this.checkOpen();
    if (this.inTransaction) {
      this.run(w);
      return;
    }
    this.queue.push(w);
    // While the store fails only the retry timer tries again: a full batch rolled back on
    // every write would cost the relay far more than waiting.
    if (this.fault === null && this.queue.size >= this.batchSize && this.reading === 0)
      this.flush();
    else if (this.timer === null) this.startTimer();
  }

  private startTimer(): void {
    const ms = this.fault === null ? this.flushIntervalMs : this.retryIntervalMs;
    this.timer = setTimeout(() => this.flushInBackground(), ms);
    this.timer.unref();
  }

  /** Commit one write now, after whatever is queued (queued first, keeping order). */
  private writeNow(w: QueuedWrite): Database.RunResult {
    this.checkWritable();
    if (this.queue.size > 0 && !this.inTransaction) this.flush();
    return this.run(w);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.reading > 0)
      throw new StoreError(
        "store_write_failed",
        this.file,
        `${this.file}: cannot write while a read of the same store is in progress`,
      );
  }

  /** Commit one write now, on its own; whatever is queued stays queued. */
  private writeAlone(w: QueuedWrite): Database.RunResult {
    this.checkWritable();
    return this.run(w);
  }

  private run(w: QueuedWrite): Database.RunResult {
    return this.commit(() => w.stmt.run(bind(w)));
  }

  /** Run a write that commits at once; its failure thrown as a StoreError, health kept up to date. */
  private commit<T>(write: () => T): T {
    let result: T;
    try {
      result = write();
    } catch (err) {
      throw this.failed(err);
    }
    this.recovered();
    return result;
  }

  /** Write the queue a batch at a time, up to a fault of the store; the rest stays queued. */
  private drain(): void {
    while (this.queue.size > 0) {
      const writes = this.queue.take(this.batchSize);
      try {
        this.writeBatch(writes);
      } catch (err) {
        const fault = classifyWriteError(this.file, err);
        if (isStoreWide(fault)) {
          // Back in the queue before anyone is told, so that health() counts them.
          this.queue.putBack(writes);
          this.failed(fault);
          return;
        }
        // One bad row must not cost the others: go one by one.
        if (!this.salvage(writes)) return;
        continue;
      }
      this.recovered();
    }
  }

  /**
   * Write each of a failed batch's rows on its own; report the ones that fail. A fault of the
   * store stops it, the rows not yet written back in the queue: false then.
   */
  private salvage(writes: QueuedWrite[]): boolean {
    let failed = 0;
    let first: StoreError | null = null;
    let stopped = false;
    for (const [i, w] of writes.entries()) {
      try {
        w.stmt.run(bind(w));
        this.recovered();
      } catch (err) {
        const fault = classifyWriteError(this.file, err);
        if (isStoreWide(fault)) {
          this.queue.putBack(writes.slice(i));
          this.failed(fault);
          stopped = true;
          break;
        }
        failed++;
        first ??= fault;
      }
    }
    if (first !== null)
      this.onError(
        new StoreError(
          "store_write_failed",
          this.file,
          `${this.file}: ${failed} of ${writes.length} queued writes lost: ${first.message}`,
          { cause: first },
        ),
      );
    return !stopped;
  }

  /** A write failed: as a StoreError; a fault of the store as a whole makes it unhealthy. */
  private failed(err: unknown): StoreError {
    const fault = classifyWriteError(this.file, err);
    if (!isStoreWide(fault)) return fault;
    const wasHealthy = this.fault === null;
    this.fault = fault;
    if (wasHealthy) {
      // Until it recovers, each write finds out at once whether the lock is free, instead of
      // stalling the event loop the whole busy timeout per call.
      this.setBusyTimeout(0);
      this.onHealthChange(this.health());
    }
    return fault;
  }

  /** A write succeeded: if the store was failing, it has recovered. */
  private recovered(): void {
    if (this.fault === null) return;
    this.fault = null;
    this.setBusyTimeout(this.busyTimeoutMs);
    this.onHealthChange(this.health());
    // What waited while it failed goes in the next batch, not on this write's path.
    if (this.queue.size > 0 && !this.inTransaction) {
      this.clearTimer();
      this.startTimer();
    }
  }

  private setBusyTimeout(ms: number): void {
    this.db.pragma(`busy_timeout = ${ms}`);
  }

  private flushInBackground(): void {
    this.timer = null;
    if (!this.db.open) return;
    if (this.reading > 0) {
      // A read holds the connection; try again shortly.
      this.startTimer();
      return;
    }
    try {
      this.flush();
    } catch (err) {
      this.onError(classifyWriteError(this.file, err));
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

/** The default health report: a line on stderr when the store fails, one when it recovers. */
function stderrHealth(health: StoreHealth): void {
  process.stderr.write(
    health.healthy
      ? "policy-replay: audit log recovered\n"
      : `policy-replay: audit log unavailable: ${health.fault?.message ?? "unknown fault"}\n`,
  );
}

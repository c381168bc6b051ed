import { closeSync, existsSync, fsyncSync, linkSync, openSync, renameSync, rmSync } from "node:fs";
import type Database from "better-sqlite3";
import { checkNotRunsFile, connect, guard, recordingVersion } from "./connection.js";
import { StoreError } from "./errors.js";
import { classifyWriteError } from "./faults.js";
import { migrate } from "./migrations/index.js";
import { checkSchema, createRecordingFile } from "./open-checks.js";
import { INSERT_CALL_KEY, SELECT_CALL_KEY } from "./rows.js";
import type { ApprovalAnswer, SessionStart } from "./types.js";

// Many calls written into a recording in one go (`policy-replay import`), each row the same as
// the proxy's writer would make it, at a fraction of the cost (docs/performance.md#import):
// - A new recording is built under a temporary name with the journal in memory and no syncs,
//   then synced and put in place: a bad input line leaves no file behind, a crash only the
//   temporary one (FILE.import-PID), never a damaged recording under the name.
// - An existing one is written in one transaction of its own journal mode; rolling it back
//   (a bad input line) leaves the file as it was, byte for byte.
// - The calls indexes are dropped and made again after the rows once the import has added as
//   many calls as the file held (at once for a new file): building an index from sorted rows
//   is several times cheaper than inserting a million random (session, seq) keys into it.
// - Rows go in several at a time; keys come numbered by the caller (import-thread.ts).

/** Calls rows bound per INSERT: fewer calls into better-sqlite3, a small gain (measured). */
const ROWS_PER_INSERT = 64;

const CALL_COLUMNS = [
  "session",
  "seq",
  "ts",
  "identity",
  "tool",
  "arguments",
  "jsonrpc_id",
  "mode",
  "decision",
  "code",
  "rule",
  "reason",
  "counter",
  "limit_json",
  "retry_after_ms",
  "inexact",
  "counts",
  "counter_seq",
  "call_key",
  "approval",
];
const WIDTH = CALL_COLUMNS.length;

type BindValue = string | number | null;

function insertCalls(rows: number): string {
  const one = `(${CALL_COLUMNS.map(() => "?").join(", ")})`;
  return `INSERT INTO calls (${CALL_COLUMNS.join(", ")}) VALUES ${Array(rows).fill(one).join(", ")}`;
}

/** A call as it crosses to the import's thread: the values its key does not hold. */
export interface CallRow {
  seq: number;
  ts: number;
  /** JSON text, or null. */
  arguments: string | null;
  jsonrpcId: string;
  mode: string;
  reason: string | null;
  counter: string | null;
  /** JSON text of the limit reached, or null. */
  limit: string | null;
  retryAfterMs: number | null;
  inexact: boolean;
  /** JSON text of the limits' counts, or null. */
  counts: string | null;
  counterSeq: number | null;
  approval: ApprovalAnswer | null;
}

/** A call_keys row's values: session, identity, tool, decision, code, rule. */
export type KeyValues = [string, string, string, string, string, string | null];

/**
 * Start importing into `file`, creating it if missing (its directory must exist). Throws
 * StoreError as opening a recording does (store_not_recording, store_newer_schema, ...).
 */
export function openImport(file: string): Importer {
  return existsSync(file) ? openExisting(file) : openNew(file);
}

function openExisting(file: string): Importer {
  const db = connect(file, false);
  try {
    recordingVersion(file, db);
    // A cache that holds the indexes' working pages while they are still kept up row by row.
    db.pragma("cache_size = -65536");
    guard(file, () => db.prepare("BEGIN IMMEDIATE").run());
  } catch (err) {
    db.close();
    throw classifyWriteError(file, err);
  }
  try {
    // In the import's transaction: a bad input line rolls an upgrade back too.
    migrate(db, file);
    return new Importer(file, db, null);
  } catch (err) {
    rollbackAndClose(db);
    throw classifyWriteError(file, err);
  }
}

/** Where a new file is built until it is put in place; its process removes it if the thread dies. */
export const importTempName = (file: string): string => `${file}.import-${process.pid}`;

function openNew(file: string): Importer {
  const temp = importTempName(file);
  rmSync(temp, { force: true });
  createRecordingFile(temp, false);
  let db: Database.Database | null = null;
  try {
    db = connect(temp, false);
    const d = db;
    guard(temp, () => {
      checkSchema(temp, d, 0);
      checkNotRunsFile(temp, d);
      // Nobody reads the file until it is in place, and a crash leaves only the temporary
      // name behind: no journal on disk, no syncs but the one before it is put in place.
      d.pragma("journal_mode = MEMORY");
      d.pragma("synchronous = OFF");
      d.pragma("cache_size = -65536");
      migrate(d, temp);
      d.prepare("BEGIN IMMEDIATE").run();
    });
    return new Importer(file, d, temp);
  } catch (err) {
    db?.close();
    rmSync(temp, { force: true });
    throw classifyWriteError(file, err);
  }
}

function rollbackAndClose(db: Database.Database): void {
  try {
    if (db.inTransaction) db.prepare("ROLLBACK").run();
  } catch {
    // Rolled back already (SQLite does on some errors); closing leaves the file as it was.
  }
  db.close();
}

/** An import into one recording, on the thread that writes it: finish() or abort() it. */
export class Importer {
  private readonly insertMany;
  private readonly insertOne;
  private readonly insertKey;
  private readonly selectKey;
  private readonly insertSession;
  private readonly endSessionStmt;
  private readonly selectSession;
  /** Rows waiting for the next multi-row INSERT, flat, WIDTH values each. */
  private readonly pending: BindValue[] = new Array<BindValue>(ROWS_PER_INSERT * WIDTH);
  private pendingRows = 0;
  /** Calls added; once past `rebuildAfter`, the calls indexes are made again at the end. */
  private added = 0;
  private readonly rebuildAfter: number;
  /** The calls indexes dropped, to be made again at finish(); null while they are kept. */
  private dropped: string[] | null = null;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly db: Database.Database,
    /** A new file's temporary name; null when importing into an existing file in place. */
    private readonly temp: string | null,
  ) {
    this.insertMany = db.prepare<[BindValue[]]>(insertCalls(ROWS_PER_INSERT));
    this.insertOne = db.prepare<[BindValue[]]>(insertCalls(1));
    this.insertKey = db.prepare<[BindValue[]]>(INSERT_CALL_KEY);
    this.selectKey = db.prepare<BindValue[], number>(SELECT_CALL_KEY).pluck();
    this.insertSession = db.prepare<[BindValue[]]>(
      `INSERT INTO sessions (id, identity, transport, mode, policy_hash, started_at, counters)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.endSessionStmt = db.prepare<[BindValue[]]>(
      "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ?",
    );
    this.selectSession = db
      .prepare<[string], number>("SELECT 1 FROM sessions WHERE id = ?")
      .pluck();
    this.rebuildAfter =
      temp !== null
        ? 0
        : ((db.prepare("SELECT max(id) FROM calls").pluck().get() as number | null) ?? 0);
  }

  /** The sessions the recording holds already (none in a new file). */
  sessions(): string[] {
    if (this.temp !== null) return [];
    return this.write(() => this.db.prepare("SELECT id FROM sessions").pluck().all() as string[]);
  }

  putPolicy(hash: string, text: string): void {
    this.write(() =>
      this.db
        .prepare("INSERT OR IGNORE INTO policies (hash, text, first_seen) VALUES (?, ?, ?)")
        .run(hash, text, Date.now()),
    );
  }

  startSession(s: SessionStart): void {
    this.write(() =>
      this.insertSession.run([
        s.id,
        s.identity,
        s.transport,
        s.mode,
        s.policyHash,
        s.startedAt,
        s.counters ?? null,
      ]),
    );
  }

  endSession(id: string, endedAt: number, endReason: string): void {
    this.write(() => this.endSessionStmt.run([endedAt, endReason, id]));
  }

  /**
   * The call_keys id of a key the import has not used before. Keys are numbered in order of
   * first use, as the proxy's writer numbers them; another import, or a hand-made row, may
   * have numbered one already: hence OR IGNORE and a look.
   */
  numberKey(values: KeyValues): number {
    const id = this.write(() => {
      const r = this.insertKey.run(values);
      return r.changes === 1 ? Number(r.lastInsertRowid) : this.selectKey.get(...values);
    });
    if (id === undefined)
      throw new StoreError("store_write_failed", this.file, `${this.file}: call_keys: key lost`);
    return id;
  }

  /** A calls row: its key's values and id, and the rest. */
  addCall(key: KeyValues, keyId: number, c: CallRow): void {
    if (this.dropped === null && this.added >= this.rebuildAfter) this.dropIndexes();
    this.added++;
    const p = this.pending;
    let i = this.pendingRows * WIDTH;
    p[i++] = key[0];
    p[i++] = c.seq;
    p[i++] = c.ts;
    p[i++] = key[1];
    p[i++] = key[2];
    p[i++] = c.arguments;
    p[i++] = c.jsonrpcId;
    p[i++] = c.mode;
    p[i++] = key[3];
    p[i++] = key[4];
    p[i++] = key[5];
    p[i++] = c.reason;
    p[i++] = c.counter;
    p[i++] = c.limit;
    p[i++] = c.retryAfterMs;
    p[i++] = c.inexact ? 1 : 0;
    p[i++] = c.counts;
    p[i++] = c.counterSeq;
    p[i++] = keyId;
    p[i++] = c.approval;
    if (++this.pendingRows === ROWS_PER_INSERT) {
      this.write(() => this.insertMany.run(p));
      this.pendingRows = 0;
    }
  }

  private dropIndexes(): void {
    this.dropped = this.write(() => {
      const indexes = this.db
        .prepare(
          "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'calls' AND sql IS NOT NULL ORDER BY rowid",
        )
        .all() as { name: string; sql: string }[];
      for (const i of indexes) this.db.exec(`DROP INDEX "${i.name.replaceAll('"', '""')}"`);
      return indexes.map((i) => i.sql);
    });
  }

  finish(): void {
    if (this.closed)
      throw new StoreError("store_closed", this.file, `${this.file}: import finished`);
    try {
      this.write(() => {
        const p = this.pending;
        for (let r = 0; r < this.pendingRows; r++)
          this.insertOne.run(p.slice(r * WIDTH, (r + 1) * WIDTH));
        this.pendingRows = 0;
        // Made again exactly as the migrations wrote them, so the schema reads the same.
        for (const sql of this.dropped ?? []) this.db.exec(sql);
        this.db.prepare("COMMIT").run();
      });
      this.closed = true;
      this.db.close();
      if (this.temp !== null) this.putInPlace(this.temp);
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  abort(): void {
    if (!this.closed) {
      this.closed = true;
      rollbackAndClose(this.db);
    }
    if (this.temp !== null) rmSync(this.temp, { force: true });
  }

  /** Sync the new file and give it its name; never over a file made there meanwhile. */
  private putInPlace(temp: string): void {
    try {
      const fd = openSync(temp, "r+");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      try {
        linkSync(temp, this.file);
        rmSync(temp, { force: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST")
          throw new StoreError(
            "store_io",
            this.file,
            `${this.file}: created by another process during the import; import again`,
          );
        // A file system without hard links: renaming is as atomic, if not as careful.
        if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw err;
        renameSync(temp, this.file);
      }
    } catch (err) {
      rmSync(temp, { force: true });
      throw err instanceof StoreError
        ? err
        : new StoreError("store_io", this.file, `${this.file}: ${(err as Error).message}`, {
            cause: err,
          });
    }
  }

  private write<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw classifyWriteError(this.file, err);
    }
  }
}

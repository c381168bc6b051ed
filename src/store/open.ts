import { chmodSync, existsSync } from "node:fs";
import Database from "better-sqlite3";
import { startCheckpointer, WRITER_CHECKPOINT_PAGES } from "./checkpoint.js";
import { checkNotRunsFile, connect, guard, recordingVersion } from "./connection.js";
import { StoreError } from "./errors.js";
import { migrate, SCHEMA_VERSION, userVersion } from "./migrations/index.js";
import { checkNotDamaged, checkSchema, createRecordingFile } from "./open-checks.js";
import { SqliteReader } from "./reader.js";
import type { RecordingStore, StoreReader } from "./types.js";
import { SqliteStore, type WriterOptions } from "./writer.js";

// Opening a recording: for writing (the proxy, import, generated recordings) or for reading
// (replay), with the pragmas each wants and the schema brought up to date.
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
// Checkpoints run off the main thread: see checkpoint.ts.

export interface OpenStoreOptions extends WriterOptions {
  /**
   * "normal" (default) survives the process being killed at any point; "full" also survives
   * power loss, at an fsync per commit.
   */
  synchronous?: "normal" | "full";
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
      checkNotRunsFile(file, db);
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
  let db: Database.Database;
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

import Database from "better-sqlite3";
import { StoreError } from "./errors.js";
import { checkNotNewer, userVersion } from "./migrations/index.js";
import { RUNS_FILE_ID } from "./migrations/runs-file.js";

// Connections to a recording file, and SQLite's errors as the store's: what every side of the
// store (writer, reader, browser) opens a file through.

/** A connection to a recording file; failing that, a store_io StoreError naming it. */
export function connect(file: string, readonly: boolean): Database.Database {
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

/**
 * The schema version of an open recording; a SQLite file without our tables, or one from a
 * newer policy-replay, is a StoreError.
 */
export function recordingVersion(file: string, db: Database.Database): number {
  const version = guard(file, () => userVersion(db));
  checkNotRunsFile(file, db);
  if (version === 0)
    throw new StoreError(
      "store_not_recording",
      file,
      `${file}: not a policy-replay recording (a SQLite file without its tables)`,
    );
  checkNotNewer(file, version);
  return version;
}

/** Refuse a recording's runs file (`<recording>.runs`) given where a recording belongs. */
export function checkNotRunsFile(file: string, db: Database.Database): void {
  if (guard(file, () => db.pragma("application_id", { simple: true })) === RUNS_FILE_ID)
    throw new StoreError(
      "store_not_recording",
      file,
      `${file}: the saved runs of a recording, not a recording; open the recording itself`,
    );
}

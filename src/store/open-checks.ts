import { closeSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
import { StoreError } from "./errors.js";

// What opening a recording for writing checks before anything is written into it: that the
// path can hold a file, that the file is ours to add to, and that it is not damaged. Each
// refusal is one StoreError naming the file and the fault, never SQLite's or Node's stack.

/**
 * quick_check reads every page: measured 0.18-0.25 s for an 87 MB recording (400,000 calls,
 * warm page cache, quiet 2-core VM), ~0.5 s with the machine loaded. Above this size only the
 * header and schema are checked at opening, so a proxy's start-up stays short; damage past
 * them shows as store_corrupt on the first write that meets it.
 */
export const QUICK_CHECK_MAX_BYTES = 128 * 1024 * 1024;

/** An errno as a few words a user can act on. */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case "ENOTDIR":
      return "a part of the path is a file, not a directory";
    case "EISDIR":
      return "it is a directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
      return "no space left on the device";
    case "ENOENT":
      return "no such directory";
    default:
      return e?.message ?? String(err);
  }
}

const ioError = (file: string, what: string, err: unknown): StoreError =>
  new StoreError("store_io", file, `${file}: ${what}: ${describeFsError(err)}`, { cause: err });

/** Make the file's directory (when asked), then the file itself with mode 0600 if it is new. */
export function createRecordingFile(file: string, createDirectory: boolean): void {
  if (createDirectory) {
    try {
      mkdirSync(dirname(file), { recursive: true });
    } catch (err) {
      throw ioError(file, "cannot create its directory", err);
    }
  }
  try {
    closeSync(openSync(file, "wx", 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw ioError(file, "cannot create", err);
    // There already: a directory would reach SQLite as "unable to open database file".
    let isDirectory = false;
    try {
      isDirectory = statSync(file).isDirectory();
    } catch {
      // Gone again, or not ours to look at: SQLite's opening will say.
    }
    if (isDirectory)
      throw new StoreError("store_io", file, `${file}: cannot record into it: it is a directory`);
  }
}

/**
 * Read the schema (SQLite parses all of it: a damaged one throws here, inside the opening's
 * guard) and refuse a SQLite file holding another program's tables (user_version 0 with a
 * schema): migrating would add ours to it.
 */
export function checkSchema(file: string, db: Database.Database, version: number): void {
  const tables = db.prepare("SELECT count(*) FROM sqlite_schema").pluck().get() as number;
  if (version === 0 && tables > 0)
    throw new StoreError(
      "store_not_recording",
      file,
      `${file}: not a policy-replay recording (a SQLite database with other tables)`,
    );
}

/**
 * PRAGMA quick_check on a file up to QUICK_CHECK_MAX_BYTES: a damaged recording is refused
 * rather than written into. Throws store_corrupt with SQLite's first complaint.
 */
export function checkNotDamaged(file: string, db: Database.Database): void {
  let size = 0;
  try {
    size = statSync(file).size;
  } catch {
    return;
  }
  if (size > QUICK_CHECK_MAX_BYTES) return;
  const found = db.prepare("PRAGMA quick_check(1)").pluck().all() as string[];
  const first = found[0] ?? "no answer";
  if (found.length === 1 && first === "ok") return;
  throw new StoreError(
    "store_corrupt",
    file,
    `${file}: the recording is damaged (quick_check: ${first.replace(/\s+/g, " ").slice(0, 200)}); ` +
      "record into a new file",
  );
}

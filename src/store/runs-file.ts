import { closeSync, existsSync, openSync } from "node:fs";
import { basename } from "node:path";
import Database from "better-sqlite3";
import { StoreError } from "./errors.js";
import { migrateRunsFile, RUNS_FILE_VERSION, runsFileVersion } from "./migrations/runs-file.js";
import { describeFsError } from "./open-checks.js";

// Saved runs live beside their recording, in its runs file `<recording>.runs`, never inside
// it: a replay opens the recording read-only, so the recording stays byte for byte as the
// proxy wrote it (evidence, and a file under version control stays unmodified), and a
// recording that cannot be written still gets its runs. The runs file is made on the first
// save, with the run tables of a recording (migrations/runs-file.ts).
//
// A runs file belongs to one recording: each run keeps the recording's first session and its
// newest call at the time (run_recording), and a run whose recording no longer holds that call
// was made from another file (the recording was replaced) and is not shown. Runs an older
// policy-replay saved inside the recording itself are still read there; new runs are numbered
// after them, so a run's id stays unique across the two files.

/** Where the runs of `recording` are saved. */
export const runsFileOf = (recording: string): string => `${recording}.runs`;

/** The schema name a reader attaches a runs file under. */
export const SAVED = "saved";

/** How long opening a runs file waits for another replay's lock on it. */
const BUSY_MS = 5000;

/**
 * Open the runs file of `recording` for writing, making it (mode 0600) if it is missing and
 * bringing its schema up to date. Throws: an Error with Node's code when it cannot be made
 * (EACCES, EROFS, ...), a StoreError (store_not_runs_file, store_newer_schema), or SQLite's.
 */
export function openRunsFile(recording: string): Database.Database {
  const file = runsFileOf(recording);
  try {
    closeSync(openSync(file, "wx", 0o600));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EEXIST")
      throw Object.assign(new Error(`cannot create it: ${describeFsError(err)}`), { code });
  }
  const db = new Database(file, { fileMustExist: true, timeout: BUSY_MS });
  try {
    migrateRunsFile(db, file);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** What identifies a recording when a run is saved (a run_recording row), and its own runs. */
export interface RecordingMark {
  /** Its first session's id; null when it has none. */
  firstSession: string | null;
  /** Its newest call: id, time and session; null when it has none. */
  lastCall: number | null;
  lastCallTs: number | null;
  lastCallSession: string | null;
  /** The highest id of the runs an older policy-replay saved inside it (0: none). */
  lastRun: number;
}

/** Read the mark of `recording`, opening it read-only. */
export function markRecording(recording: string): RecordingMark {
  const db = new Database(recording, { readonly: true, fileMustExist: true, timeout: BUSY_MS });
  try {
    const first = db.prepare("SELECT id FROM sessions ORDER BY rowid LIMIT 1").pluck().get() as
      string | undefined;
    const last = db
      .prepare("SELECT id, ts, session FROM calls ORDER BY id DESC LIMIT 1")
      .raw()
      .get() as [number, number, string] | undefined;
    const hasRuns = db
      .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'runs'")
      .get();
    const lastRun = hasRuns
      ? (db.prepare("SELECT ifnull(max(id), 0) FROM runs").pluck().get() as number)
      : 0;
    return {
      firstSession: first ?? null,
      lastCall: last?.[0] ?? null,
      lastCallTs: last?.[1] ?? null,
      lastCallSession: last?.[2] ?? null,
      lastRun,
    };
  } finally {
    db.close();
  }
}

/**
 * The ids of the attached runs file's runs that were made from the recording open as main: it
 * still holds the run's newest call (same id, time and session) and starts with the same
 * session. Two index lookups a run.
 */
export const MATCHING_RUNS = `
  SELECT k.run FROM ${SAVED}.run_recording k
  WHERE (k.first_session IS NULL
         OR k.first_session = (SELECT id FROM main.sessions ORDER BY rowid LIMIT 1))
    AND (k.last_call IS NULL OR EXISTS (
          SELECT 1 FROM main.calls c
          WHERE c.id = k.last_call AND c.ts = k.last_call_ts AND c.session = k.last_call_session))`;

/** A recording's runs file as a reader found it. */
export interface AttachedRuns {
  /** The runs file's path. */
  file: string;
  /** Attached as SAVED: its runs are read with the recording's. */
  attached: boolean;
  /** Why a runs file that is there is not read (damaged, not one, newer), or null. */
  problem: string | null;
}

/**
 * Attach the runs file of `recording` to `db` (the recording's connection; read-only, so the
 * runs file is opened read-only too) as SAVED, when there is one to read. A runs file that
 * cannot be read is left out with a `problem`: the recording itself is still browsed.
 */
export function attachRuns(db: Database.Database, recording: string): AttachedRuns {
  const file = runsFileOf(recording);
  const none = (problem: string | null): AttachedRuns => ({ file, attached: false, problem });
  if (!existsSync(file)) return none(null);
  try {
    db.prepare(`ATTACH DATABASE ? AS ${SAVED}`).run(file);
  } catch (err) {
    return none(`cannot be read (${(err as Error).message})`);
  }
  let problem: string | null = null;
  try {
    const version = runsFileVersion(db, file, SAVED);
    // Empty: a replay is making it right now. Older: the next saved run brings it up to date.
    if (version < RUNS_FILE_VERSION)
      problem =
        version === 0 ? "" : `an older runs file (schema ${version}), read once a run is saved`;
  } catch (err) {
    problem =
      err instanceof StoreError
        ? err.message.slice(file.length + 2)
        : `cannot be read (${(err as Error).message})`;
  }
  if (problem === null) return { file, attached: true, problem: null };
  db.exec(`DETACH DATABASE ${SAVED}`);
  return none(problem === "" ? null : problem);
}

/** One line on the runs a reader leaves out, or null when it leaves none out. */
export function runsNotice(runs: AttachedRuns, stale: number): string | null {
  const name = basename(runs.file);
  if (runs.problem !== null) return `${name}: ${runs.problem}; its runs are not shown`;
  if (stale === 0) return null;
  const runsOf = stale === 1 ? "1 run" : `${stale} runs`;
  return `${name}: ${runsOf} of another recording (this one replaced it) not shown`;
}

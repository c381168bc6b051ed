import type Database from "better-sqlite3";
import { StoreError } from "../errors.js";
import { RUN_TABLES } from "./003-runs.js";
import { migration005 } from "./005-run-outcomes.js";

// The schema of a recording's runs file (`<recording>.runs`, see ../runs-file.ts), numbered by
// its own PRAGMA user_version. Its run tables are the recording's, made by the same migrations
// (3's tables, then 5), so a run reads the same from either file; a later change to them is a
// migration in both lists.

/** A runs file's PRAGMA application_id, "runs" in ASCII: it is never taken for a recording. */
export const RUNS_FILE_ID = 0x72756e73;

// 1: the policies the runs name (kept as a recording keeps them), the run tables as schema 3
// made them, and what identifies the recording each run was made from.
function runsFile001(db: Database.Database): void {
  db.exec(`
      CREATE TABLE policies (
        hash TEXT PRIMARY KEY,
        text TEXT NOT NULL,
        first_seen INTEGER NOT NULL
      );
      ${RUN_TABLES}
      -- The recording a run was made from, as it was when the run was saved: its first session
      -- and its newest call, with that call's time and session. A recording replaced by another
      -- file no longer holds that call, and the run is not shown over it.
      CREATE TABLE run_recording (
        run INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        first_session TEXT,
        last_call INTEGER,
        last_call_ts INTEGER,
        last_call_session TEXT
      );
    `);
  db.pragma(`application_id = ${RUNS_FILE_ID}`);
}

/** Entry i takes a runs file from user_version i to i + 1. Never edit a released one. */
const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [runsFile001, migration005];

/** A current runs file's PRAGMA user_version. */
export const RUNS_FILE_VERSION = MIGRATIONS.length;

/**
 * The runs file's schema version; a file that is not a runs file (another program's database),
 * or one from a newer policy-replay, is a StoreError. A new, empty file is version 0.
 */
export function runsFileVersion(db: Database.Database, file: string, schema = "main"): number {
  const version = db.pragma(`${schema}.user_version`, { simple: true }) as number;
  const id = db.pragma(`${schema}.application_id`, { simple: true }) as number;
  if (id !== RUNS_FILE_ID) {
    const tables = db.prepare(`SELECT count(*) FROM ${schema}.sqlite_schema`).pluck().get();
    if (version !== 0 || id !== 0 || tables !== 0)
      throw new StoreError(
        "store_not_runs_file",
        file,
        `${file}: not a policy-replay runs file (another file is where a recording's saved runs go)`,
      );
  }
  if (version > RUNS_FILE_VERSION)
    throw new StoreError(
      "store_newer_schema",
      file,
      `${file}: runs file schema version ${version} is newer than this policy-replay ` +
        `understands (${RUNS_FILE_VERSION}); upgrade policy-replay to save runs there`,
    );
  return version;
}

/** Bring a runs file (new and empty, or older) up to RUNS_FILE_VERSION, in one transaction. */
export function migrateRunsFile(db: Database.Database, file: string): void {
  if (runsFileVersion(db, file) === RUNS_FILE_VERSION) return;
  // IMMEDIATE, then look again: two replays saving into a new file do not both make it.
  db.transaction(() => {
    const from = runsFileVersion(db, file);
    for (let v = from; v < RUNS_FILE_VERSION; v++) MIGRATIONS[v]!(db);
    db.pragma(`user_version = ${RUNS_FILE_VERSION}`);
  }).immediate();
}

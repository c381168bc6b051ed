import type Database from "better-sqlite3";
import { StoreError } from "../errors.js";
import { migration001 } from "./001-tables.js";
import { migration002 } from "./002-ui-indexes.js";
import { migration003 } from "./003-runs.js";
import { migration004 } from "./004-call-keys.js";
import { migration005 } from "./005-run-outcomes.js";
import { migration006 } from "./006-counters.js";
import { migration007 } from "./007-shadow.js";
import { migration008 } from "./008-tool-list-requests.js";

export { NUMBER_CALL_KEYS } from "./004-call-keys.js";

// The recording's schema: a file's PRAGMA user_version is the number of migrations it has had.

/**
 * Migrations, in order: entry i takes a file from user_version i to i + 1. Never edit a
 * released one; add a new file. Each runs inside the opening transaction.
 */
const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  migration001,
  migration002,
  migration003,
  migration004,
  migration005,
  migration006,
  migration007,
  migration008,
];

/** What the file's `PRAGMA user_version` is after opening: the number of migrations run. */
export const SCHEMA_VERSION = 8;

/** The file's schema version: the number of migrations it has had. */
export function userVersion(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/** Throw store_newer_schema when a file's schema is newer than this build understands. */
export function checkNotNewer(file: string, version: number): void {
  if (version > SCHEMA_VERSION)
    throw new StoreError(
      "store_newer_schema",
      file,
      `${file}: recording schema version ${version} is newer than this policy-replay ` +
        `understands (${SCHEMA_VERSION}); upgrade policy-replay to read it`,
    );
}

/** Bring the file's schema up to SCHEMA_VERSION, in one transaction. */
export function migrate(db: Database.Database, file: string): void {
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

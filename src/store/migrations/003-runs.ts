import type Database from "better-sqlite3";

/**
 * Saved runs as schema 3 made them (migration 5 reshapes run_results). A recording's runs
 * file starts from the same tables (runs-file.ts).
 */
export const RUN_TABLES = `
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
    `;

// 3: saved replay runs. And two call indexes leave the write-ahead path: every index is a
// page written inside each decision's commit, and no query needs these two (a tool filter
// is a glob; decisions are counted per session through calls_by_session).
export function migration003(db: Database.Database): void {
  db.exec(`
      DROP INDEX calls_by_tool;
      DROP INDEX calls_by_code;
      ${RUN_TABLES}`);
}

import type Database from "better-sqlite3";

// 5: a run's results numbered like the calls: each distinct outcome (class, old and new
// decision, code, rule, the new reason) once in run_outcomes, each run_results row pointing
// at it. The benchmark's 48,108 results take 38 outcomes; a result row shrinks from about
// 90 bytes to about 20, and saving a run (inserting its rows and committing them) from about
// 0.21 s to 0.12 s. The class stays in run_results, for its index. run_result_rows shows the
// results as schema 4 stored them, for anyone with sqlite3 at hand.
export function migration005(db: Database.Database): void {
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
    `);
}

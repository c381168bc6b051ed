import type Database from "better-sqlite3";

// 7: a shadow policy's decisions, recorded beside the enforced ones (`record --shadow`).
// sessions.shadow_policy_hash names the candidate the session's proxy also decided under (its
// text in policies; NULL: no shadow); each call's shadow_* columns hold that decision as the
// enforced columns hold theirs, and shadow_counts its limits' counts (as counts). A call
// whose shadow_decision is NULL has no shadow decision.
export function migration007(db: Database.Database): void {
  db.exec(`
      ALTER TABLE sessions ADD COLUMN shadow_policy_hash TEXT;
      ALTER TABLE calls ADD COLUMN shadow_decision TEXT;
      ALTER TABLE calls ADD COLUMN shadow_code TEXT;
      ALTER TABLE calls ADD COLUMN shadow_rule TEXT;
      ALTER TABLE calls ADD COLUMN shadow_reason TEXT;
      ALTER TABLE calls ADD COLUMN shadow_retry_after_ms INTEGER;
      ALTER TABLE calls ADD COLUMN shadow_counts TEXT;
    `);
}

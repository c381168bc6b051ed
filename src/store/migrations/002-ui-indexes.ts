import type Database from "better-sqlite3";

// 2: the terminal UI's lookups.
export function migration002(db: Database.Database): void {
  db.exec(`
      CREATE INDEX calls_by_session ON calls (session, seq);
      CREATE INDEX calls_by_tool ON calls (tool, ts);
      CREATE INDEX calls_by_code ON calls (decision, code);
      CREATE INDEX sessions_by_start ON sessions (started_at);
    `);
}

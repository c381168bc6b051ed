import type Database from "better-sqlite3";

// 8: the agent's tools/list requests (reader.ts TOOL_LIST_REQUESTS), which a replay whose
// candidate hides other tools reads: without it that query scans every message. Partial, so it
// holds a few rows a session and costs the proxy's message inserts next to nothing. The query
// must name the same terms (method and direction) for SQLite to use it.
export function migration008(db: Database.Database): void {
  db.exec(`
      CREATE INDEX messages_tool_list_requests ON messages (session, seq)
        WHERE method = 'tools/list' AND direction = 0;
    `);
}

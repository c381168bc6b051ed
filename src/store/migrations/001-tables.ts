import type Database from "better-sqlite3";

// 1: the tables, and the index replay reads calls through.
export function migration001(db: Database.Database): void {
  db.exec(`
      CREATE TABLE policies (
        hash TEXT PRIMARY KEY,
        text TEXT NOT NULL,
        first_seen INTEGER NOT NULL
      );
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        identity TEXT NOT NULL,
        transport TEXT NOT NULL,
        mode TEXT NOT NULL,
        policy_hash TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        end_reason TEXT,
        client_info TEXT,
        server_info TEXT,
        protocol_version TEXT
      );
      -- direction: 0 client_to_server, 1 server_to_client, 2 proxy_to_client, 3 proxy_to_server
      CREATE TABLE messages (
        session TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        direction INTEGER NOT NULL,
        method TEXT,
        jsonrpc_id TEXT,
        body TEXT NOT NULL,
        PRIMARY KEY (session, seq)
      );
      CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        identity TEXT NOT NULL,
        tool TEXT NOT NULL,
        arguments TEXT,
        jsonrpc_id TEXT NOT NULL,
        mode TEXT NOT NULL,
        decision TEXT NOT NULL,
        code TEXT NOT NULL,
        rule TEXT,
        reason TEXT,
        counter TEXT,
        limit_json TEXT,
        retry_after_ms INTEGER,
        inexact INTEGER NOT NULL DEFAULT 0,
        approval TEXT,
        outcome TEXT,
        latency_ms INTEGER
      );
      -- Replay: calls in recorded order. An index holds the rowid, so this is (ts, id).
      CREATE INDEX calls_by_ts ON calls (ts);
    `);
}

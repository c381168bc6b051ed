import type Database from "better-sqlite3";
import { StoreError } from "./errors.js";
import { SCHEMA_VERSION } from "./migrations/index.js";
import {
  callDetailColumns,
  type CallDetailRaw,
  MESSAGE_COLUMNS,
  type MessageRaw,
  sessionColumns,
  type SessionRaw,
  toRecordedCall,
  toStoredMessage,
  toStoredSession,
  toToolListing,
  type ToolListingRaw,
} from "./rows.js";
import type {
  RecordedCall,
  StoredMessage,
  StoredSession,
  StoreReader,
  ToolListing,
} from "./types.js";

// Reading a recording back on the main thread: what replay's checks, the import command and
// the proxy's store read through (replay's bulk read of the calls is stream.ts, on threads).
// Saved runs are read through the browser (browse.ts), with the recording's runs file.

/**
 * Each tools/list request of the agent joined to its answer (`r` the request, `a` the answer):
 * the first later message in its session from the server with the same id and no method. The
 * server's own requests may reuse the agent's ids, but they have a method. The requests are
 * found through schema 8's partial index, which SQLite uses only while these terms name its own.
 */
const TOOL_LIST_ANSWERS = `messages r JOIN messages a ON a.session = r.session AND a.seq = (
    SELECT b.seq FROM messages b
     WHERE b.session = r.session AND b.seq > r.seq AND b.direction = 1
       AND b.method IS NULL AND b.jsonrpc_id = r.jsonrpc_id
     ORDER BY b.seq LIMIT 1)`;
const TOOL_LIST_REQUESTS = `r.direction = 0 AND r.method = 'tools/list' AND r.jsonrpc_id IS NOT NULL`;
/** The answers as messages (toolListAnswers); exported for the query-plan test. */
export const TOOL_LIST_ANSWERS_SQL = `SELECT a.session, a.seq, a.ts, a.direction, a.method, a.jsonrpc_id, a.body
   FROM ${TOOL_LIST_ANSWERS} WHERE ${TOOL_LIST_REQUESTS} ORDER BY a.session, a.seq`;
/** The answers with whom they were for (toolListings); exported for the query-plan test. */
export const TOOL_LISTINGS_SQL = `SELECT a.session, s.identity, s.policy_hash, a.seq, a.ts, a.body
   FROM ${TOOL_LIST_ANSWERS} JOIN sessions s ON s.id = a.session
  WHERE ${TOOL_LIST_REQUESTS} ORDER BY a.session, a.seq`;

export class SqliteReader implements StoreReader {
  protected readonly callsStmt;
  protected readonly sessionsStmt;
  protected readonly messagesStmt;
  protected readonly allMessagesStmt;
  protected readonly policyStmt;
  protected readonly toolListAnswersStmt;
  protected readonly toolListingsStmt;
  /** Open iterators: the connection cannot run other statements while one is open. */
  protected reading = 0;

  constructor(
    readonly file: string,
    protected readonly db: Database.Database,
  ) {
    this.callsStmt = db
      .prepare<[], CallDetailRaw>(
        `SELECT ${callDetailColumns(SCHEMA_VERSION)} FROM calls ORDER BY ts, id`,
      )
      .raw();
    this.sessionsStmt = db
      .prepare<[], SessionRaw>(
        `SELECT ${sessionColumns(SCHEMA_VERSION)} FROM sessions ORDER BY started_at, rowid`,
      )
      .raw();
    this.messagesStmt = db
      .prepare<[string], MessageRaw>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE session = ? ORDER BY seq`,
      )
      .raw();
    this.allMessagesStmt = db
      .prepare<[], MessageRaw>(`SELECT ${MESSAGE_COLUMNS} FROM messages ORDER BY session, seq`)
      .raw();
    this.policyStmt = db.prepare<[string], { text: string }>(
      "SELECT text FROM policies WHERE hash = ?",
    );
    this.toolListAnswersStmt = db.prepare<[], MessageRaw>(TOOL_LIST_ANSWERS_SQL).raw();
    this.toolListingsStmt = db.prepare<[], ToolListingRaw>(TOOL_LISTINGS_SQL).raw();
  }

  calls(): IterableIterator<RecordedCall> {
    return this.stream(() => this.callsStmt.iterate(), toRecordedCall);
  }

  sessions(): IterableIterator<StoredSession> {
    return this.stream(() => this.sessionsStmt.iterate(), toStoredSession);
  }

  messages(session?: string): IterableIterator<StoredMessage> {
    return this.stream(
      () =>
        session === undefined ? this.allMessagesStmt.iterate() : this.messagesStmt.iterate(session),
      toStoredMessage,
    );
  }

  policy(hash: string): string | null {
    this.checkOpen();
    return this.policyStmt.get(hash)?.text ?? null;
  }

  toolListAnswers(): IterableIterator<StoredMessage> {
    return this.stream(() => this.toolListAnswersStmt.iterate(), toStoredMessage);
  }

  toolListings(): IterableIterator<ToolListing> {
    return this.stream(() => this.toolListingsStmt.iterate(), toToolListing);
  }

  sessionPolicies(): string[] {
    this.checkOpen();
    this.beforeRead();
    return this.db
      .prepare<[], string>("SELECT DISTINCT policy_hash FROM sessions ORDER BY policy_hash")
      .pluck()
      .all();
  }

  sessionCounters(): Map<string, string> {
    this.checkOpen();
    this.beforeRead();
    // The column came with schema 6; a file opened read-only may predate it.
    const has = this.db
      .prepare("SELECT 1 FROM pragma_table_info('sessions') WHERE name = 'counters'")
      .get();
    if (has === undefined) return new Map();
    const rows = this.db
      .prepare<[], [string, string]>("SELECT id, counters FROM sessions WHERE counters IS NOT NULL")
      .raw()
      .all();
    return new Map(rows);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  protected checkOpen(): void {
    if (!this.db.open)
      throw new StoreError("store_closed", this.file, `${this.file}: store is closed`);
  }

  /** Rows mapped one at a time, the statement held only while the consumer iterates. */
  protected *stream<R, T>(rows: () => IterableIterator<R>, map: (row: R) => T): Generator<T> {
    this.checkOpen();
    this.beforeRead();
    this.reading++;
    try {
      for (const row of rows()) yield map(row);
    } finally {
      this.reading--;
    }
  }

  protected beforeRead(): void {}
}

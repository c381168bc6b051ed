import Database from "better-sqlite3";
import type { Checkpointer } from "./checkpoint.js";
import { StoreError } from "./errors.js";
import { classifyWriteError, isStoreWide } from "./faults.js";
import { SqliteReader } from "./reader.js";
import { SharedCalls } from "./shared-calls.js";
import { DecisionRows } from "./decision-rows.js";
import { DIRECTION_CODE } from "./rows.js";
import { type BindValue, type QueuedWrite, WriteQueue } from "./write-queue.js";
import type {
  RecordedDecision,
  ApprovalAnswer,
  CallOutcome,
  DecisionRecord,
  MessageRecord,
  RecordingStore,
  SessionStart,
  SessionUpdate,
  ShadowRecord,
  StoreHealth,
} from "./types.js";

// The proxy's side of the store: every write of a recording, queued or committed at once, and
// the store's health while writes fail (faults.ts says which faults are the store's).

/** How the writing store queues, retries and reports (openStore takes these and more). */
export interface WriterOptions {
  /** Queued writes (messages, outcomes, session updates) that trigger a flush. Default 256. */
  batchSize?: number;
  /** Longest time a queued write waits before it is flushed, in ms. Default 50. */
  flushIntervalMs?: number;
  /** Where a background flush reports a failure; by default a line on stderr. */
  onError?: (err: StoreError) => void;
  /**
   * How long a write waits for another connection's lock before failing with store_busy, in
   * ms. Default 200: a commit holds the lock for well under a millisecond, so several proxies
   * on one file pass, while a stuck lock costs the event loop (SQLite waits synchronously)
   * one short stall, not seconds per call. While the store is unhealthy writes wait not at all.
   */
  busyTimeoutMs?: number;
  /** While the store fails, how often queued writes are tried again, in ms. Default 1000. */
  retryIntervalMs?: number;
  /** Queued writes kept while the store fails; past it the oldest messages go. See WriteQueue. */
  maxQueued?: number;
  /** Told when the store turns unhealthy and when it recovers; by default a line on stderr. */
  onHealthChange?: (health: StoreHealth) => void;
}

const json = (value: unknown): string | null =>
  value === undefined ? null : (JSON.stringify(value) ?? null);

/** A queued write's parameters, with a deferred message body serialised into the last one. */
function bind(w: QueuedWrite): BindValue[] {
  if (w.body === undefined) return w.params;
  w.params[w.params.length - 1] = json(w.body) ?? "null";
  w.body = undefined;
  return w.params;
}

export class SqliteStore extends SqliteReader implements RecordingStore {
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly onError: (err: StoreError) => void;
  private readonly busyTimeoutMs: number;
  private readonly retryIntervalMs: number;
  private readonly onHealthChange: (health: StoreHealth) => void;
  private readonly queue: WriteQueue;
  /** The store-wide fault the last write met; null while writes succeed. */
  private fault: StoreError | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Inside transaction(): writes run at once, in the open transaction, and failures throw. */
  private inTransaction = false;

  private readonly insertPolicy;
  private readonly insertSession;
  private readonly updateSessionStmt;
  private readonly insertMessage;
  private readonly rows: DecisionRows;
  /** Calls other proxies wrote, for counters shared through this file (made on first use). */
  private shared: SharedCalls | undefined;
  private readonly updateApproval;
  private readonly updateOutcome;
  private readonly updateShadow;
  private readonly writeBatch;
  private readonly insertDecisions;
  /** Counters shared through the file: the calls decided inside the transaction that writes them. */
  private readonly decideShared;

  constructor(
    file: string,
    db: Database.Database,
    opts: WriterOptions,
    private readonly checkpointer: Checkpointer | null,
  ) {
    super(file, db);
    this.batchSize = Math.max(1, opts.batchSize ?? 256);
    this.flushIntervalMs = Math.max(0, opts.flushIntervalMs ?? 50);
    this.onError =
      opts.onError ?? ((err) => void process.stderr.write(`policy-replay: ${err.message}\n`));
    this.busyTimeoutMs = Math.max(0, opts.busyTimeoutMs ?? 200);
    this.retryIntervalMs = Math.max(0, opts.retryIntervalMs ?? 1000);
    this.onHealthChange = opts.onHealthChange ?? stderrHealth;
    this.queue = new WriteQueue(opts.maxQueued);
    this.setBusyTimeout(this.busyTimeoutMs);
    this.insertPolicy = db.prepare<[BindValue[]]>(
      "INSERT OR IGNORE INTO policies (hash, text, first_seen) VALUES (?, ?, ?)",
    );
    this.insertSession = db.prepare<[BindValue[]]>(
      `INSERT INTO sessions (id, identity, transport, mode, policy_hash, started_at, counters,
         shadow_policy_hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.updateSessionStmt = db.prepare<[BindValue[]]>(
      `UPDATE sessions SET
         client_info = coalesce(?, client_info),
         server_info = coalesce(?, server_info),
         protocol_version = coalesce(?, protocol_version),
         ended_at = coalesce(?, ended_at),
         end_reason = coalesce(?, end_reason)
       WHERE id = ?`,
    );
    this.insertMessage = db.prepare<[BindValue[]]>(
      "INSERT INTO messages (session, seq, ts, direction, method, jsonrpc_id, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.rows = new DecisionRows(db);
    this.updateApproval = db.prepare<[BindValue[]]>("UPDATE calls SET approval = ? WHERE id = ?");
    this.updateOutcome = db.prepare<[BindValue[]]>(
      "UPDATE calls SET outcome = ?, latency_ms = ? WHERE id = ?",
    );
    this.updateShadow = db.prepare<[BindValue[]]>(
      "UPDATE calls SET shadow_decision = ?, shadow_code = ?, shadow_rule = ?, shadow_reason = ?, shadow_retry_after_ms = ?, shadow_counts = ? WHERE id = ?",
    );
    this.writeBatch = db.transaction((writes: QueuedWrite[]) => {
      for (const w of writes) w.stmt.run(bind(w));
    });
    // Made once: a transaction function costs more to make than a small one takes to run.
    this.insertDecisions = db.transaction((ds: readonly DecisionRecord[]) =>
      ds.map((d) => this.rows.insert(d)),
    );
    this.decideShared = db.transaction(
      (
        shared: SharedCalls,
        sinceTs: number,
        step: (others: RecordedDecision[]) => readonly DecisionRecord[],
      ) => step(shared.others(sinceTs)).map((d) => this.rows.insert(d)),
    );
  }

  health(): StoreHealth {
    return {
      healthy: this.fault === null,
      fault: this.fault,
      queued: this.queue.size,
      lost: this.queue.lost(),
    };
  }

  lostWrites(session: string): number {
    return this.queue.lost(session);
  }

  putPolicy(hash: string, text: string): void {
    this.writeNow({ stmt: this.insertPolicy, params: [hash, text, Date.now()] });
  }

  startSession(s: SessionStart): void {
    this.writeNow({
      stmt: this.insertSession,
      params: [
        s.id,
        s.identity,
        s.transport,
        s.mode,
        s.policyHash,
        s.startedAt,
        s.counters ?? null,
        s.shadowPolicyHash ?? null,
      ],
    });
  }

  updateSession(id: string, patch: SessionUpdate): void {
    this.enqueue({
      stmt: this.updateSessionStmt,
      params: [
        json(patch.clientInfo),
        json(patch.serverInfo),
        patch.protocolVersion ?? null,
        patch.endedAt ?? null,
        patch.endReason ?? null,
        id,
      ],
      session: id,
    });
  }

  recordMessage(m: MessageRecord): void {
    // The message is serialised at flush time; the relay never mutates a message it passed on.
    this.enqueue({
      stmt: this.insertMessage,
      params: [m.session, m.seq, m.ts, DIRECTION_CODE[m.direction], m.method, m.jsonrpcId, null],
      body: m.message,
      session: m.session,
      droppable: true,
    });
  }

  recordDecision(d: DecisionRecord): number {
    const { call, keyId } = this.rows.write(d);
    // Alone in its commit: the queued messages would add their pages to the write-ahead path
    // of this call (measured: ~60 us against ~20 us at p50). They follow in the next batch.
    if (keyId !== undefined) return Number(this.writeAlone(call).lastInsertRowid);
    // A key not seen yet is numbered in the same commit.
    return this.recordDecisions([d])[0]!;
  }

  recordDecisions(ds: readonly DecisionRecord[]): number[] {
    this.checkWritable();
    return this.decisionsCommit(() => this.insertDecisions(ds));
  }

  recordDecisionShared(
    sinceTs: number,
    step: (others: RecordedDecision[]) => DecisionRecord,
    shadowPolicyHash: string | null = null,
  ): number {
    return this.recordDecisionsShared(sinceTs, (others) => [step(others)], shadowPolicyHash)[0]!;
  }

  recordDecisionsShared(
    sinceTs: number,
    step: (others: RecordedDecision[]) => readonly DecisionRecord[],
    shadowPolicyHash: string | null = null,
  ): number[] {
    this.checkWritable();
    const shared = (this.shared ??= new SharedCalls(this.db, shadowPolicyHash));
    const ids = this.decisionsCommit(() => this.decideShared.immediate(shared, sinceTs, step));
    for (const id of ids) shared.wrote(id);
    return ids;
  }

  /** commit() for writes that may number keys: a rolled-back transaction forgets them. */
  private decisionsCommit<T>(write: () => T): T {
    try {
      return this.commit(write);
    } catch (err) {
      this.rows.forget();
      throw err;
    }
  }

  recordApproval(callId: number, answer: ApprovalAnswer): void {
    // Committed at once: an approved call goes to the server next, and the log is write-ahead.
    this.writeAlone({ stmt: this.updateApproval, params: [answer, callId] });
  }

  recordOutcome(callId: number, outcome: CallOutcome): void {
    this.enqueue({
      stmt: this.updateOutcome,
      params: [outcome.outcome, outcome.latencyMs, callId],
    });
  }

  recordShadow(callId: number, shadow: ShadowRecord): void {
    const d = shadow.decision;
    this.enqueue({
      stmt: this.updateShadow,
      params: [
        d.decision,
        d.code,
        d.rule,
        d.reason,
        d.retry_after_ms,
        shadow.counts ? JSON.stringify(shadow.counts) : null,
        callId,
      ],
    });
  }

  transaction<T>(fn: () => T): T {
    this.checkOpen();
    if (this.inTransaction) return fn();
    if (this.reading > 0)
      throw new StoreError(
        "store_write_failed",
        this.file,
        `${this.file}: cannot write while a read of the same store is in progress`,
      );
    this.flush();
    this.inTransaction = true;
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      // Keys numbered inside the transaction were rolled back with it.
      this.rows.forget();
      // The caller's own errors (a bad input line, a bug) pass through as they are.
      throw err instanceof Database.SqliteError ? classifyWriteError(this.file, err) : err;
    } finally {
      this.inTransaction = false;
    }
  }

  /** Never throws for a fault of the store: what could not be written stays queued. */
  flush(): void {
    this.checkOpen();
    if (this.queue.size === 0) return this.clearTimer();
    if (this.reading > 0) {
      // A read holds the connection: the timer writes the queue once it is done.
      if (this.timer === null) this.startTimer();
      return;
    }
    this.drain();
    this.clearTimer();
    if (this.queue.size > 0) this.startTimer();
  }

  override close(): void {
    if (!this.db.open) return;
    try {
      // A last try, waiting the full busy timeout: a lock held a moment longer is no reason
      // to leave the session's end unwritten.
      if (this.fault !== null) this.setBusyTimeout(this.busyTimeoutMs);
      this.flush();
      if (this.queue.size > 0)
        this.onError(
          new StoreError(
            this.fault?.code ?? "store_write_failed",
            this.file,
            `${this.file}: closed with ${this.queue.size} queued writes unwritten: ` +
              (this.fault?.message ?? "the store kept failing"),
          ),
        );
    } catch (err) {
      this.onError(classifyWriteError(this.file, err));
    } finally {
      this.clearTimer();
      // The last connection to close checkpoints the WAL into the file and removes it: let the
      // checkpointer's go first.
      this.checkpointer?.stop();
      // Leave a finished recording in rollback-journal mode, one self-contained file, so that
      // reading it (replay, the UI) creates no -wal/-shm files beside it. Only possible when
      // no other connection has the file open; otherwise it stays in WAL mode, which is fine.
      try {
        this.db.pragma("busy_timeout = 0");
        this.db.pragma("journal_mode = DELETE");
      } catch {
        // Busy: someone else is using the file.
      }
      this.db.close();
    }
  }

  /** Flush before reading, so a read sees everything recorded so far. */
  protected override beforeRead(): void {
    if (this.reading === 0) this.flush();
  }

  private enqueue(w: QueuedWrite): void {
    this.checkOpen();
    if (this.inTransaction) {
      this.run(w);
      return;
    }
    this.queue.push(w);
    // While the store fails only the retry timer tries again: a full batch rolled back on
    // every write would cost the relay far more than waiting.
    if (this.fault === null && this.queue.size >= this.batchSize && this.reading === 0)
      this.flush();
    else if (this.timer === null) this.startTimer();
  }

  private startTimer(): void {
    const ms = this.fault === null ? this.flushIntervalMs : this.retryIntervalMs;
    this.timer = setTimeout(() => this.flushInBackground(), ms);
    this.timer.unref();
  }

  /** Commit one write now, after whatever is queued (queued first, keeping order). */
  private writeNow(w: QueuedWrite): Database.RunResult {
    this.checkWritable();
    if (this.queue.size > 0 && !this.inTransaction) this.flush();
    return this.run(w);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.reading > 0)
      throw new StoreError(
        "store_write_failed",
        this.file,
        `${this.file}: cannot write while a read of the same store is in progress`,
      );
  }

  /** Commit one write now, on its own; whatever is queued stays queued. */
  private writeAlone(w: QueuedWrite): Database.RunResult {
    this.checkWritable();
    return this.run(w);
  }

  private run(w: QueuedWrite): Database.RunResult {
    return this.commit(() => w.stmt.run(bind(w)));
  }

  /** Run a write that commits at once; its failure thrown as a StoreError, health kept up to date. */
  private commit<T>(write: () => T): T {
    let result: T;
    try {
      result = write();
    } catch (err) {
      throw this.failed(err);
    }
    this.recovered();
    return result;
  }

  /** Write the queue a batch at a time, up to a fault of the store; the rest stays queued. */
  private drain(): void {
    while (this.queue.size > 0) {
      const writes = this.queue.take(this.batchSize);
      try {
        this.writeBatch(writes);
      } catch (err) {
        const fault = classifyWriteError(this.file, err);
        if (isStoreWide(fault)) {
          // Back in the queue before anyone is told, so that health() counts them.
          this.queue.putBack(writes);
          this.failed(fault);
          return;
        }
        // One bad row must not cost the others: go one by one.
        if (!this.salvage(writes)) return;
        continue;
      }
      this.recovered();
    }
  }

  /**
   * Write each of a failed batch's rows on its own; report the ones that fail. A fault of the
   * store stops it, the rows not yet written back in the queue: false then.
   */
  private salvage(writes: QueuedWrite[]): boolean {
    let failed = 0;
    let first: StoreError | null = null;
    let stopped = false;
    for (const [i, w] of writes.entries()) {
      try {
        w.stmt.run(bind(w));
        this.recovered();
      } catch (err) {
        const fault = classifyWriteError(this.file, err);
        if (isStoreWide(fault)) {
          this.queue.putBack(writes.slice(i));
          this.failed(fault);
          stopped = true;
          break;
        }
        failed++;
        first ??= fault;
      }
    }
    if (first !== null)
      this.onError(
        new StoreError(
          "store_write_failed",
          this.file,
          `${this.file}: ${failed} of ${writes.length} queued writes lost: ${first.message}`,
          { cause: first },
        ),
      );
    return !stopped;
  }

  /** A write failed: as a StoreError; a fault of the store as a whole makes it unhealthy. */
  private failed(err: unknown): StoreError {
    const fault = classifyWriteError(this.file, err);
    if (!isStoreWide(fault)) return fault;
    const wasHealthy = this.fault === null;
    this.fault = fault;
    if (wasHealthy) {
      // Until it recovers, each write finds out at once whether the lock is free, instead of
      // stalling the event loop the whole busy timeout per call.
      this.setBusyTimeout(0);
      this.onHealthChange(this.health());
    }
    return fault;
  }

  /** A write succeeded: if the store was failing, it has recovered. */
  private recovered(): void {
    if (this.fault === null) return;
    this.fault = null;
    this.setBusyTimeout(this.busyTimeoutMs);
    this.onHealthChange(this.health());
    // What waited while it failed goes in the next batch, not on this write's path.
    if (this.queue.size > 0 && !this.inTransaction) {
      this.clearTimer();
      this.startTimer();
    }
  }

  private setBusyTimeout(ms: number): void {
    this.db.pragma(`busy_timeout = ${ms}`);
  }

  private flushInBackground(): void {
    this.timer = null;
    if (!this.db.open) return;
    if (this.reading > 0) {
      // A read holds the connection; try again shortly.
      this.startTimer();
      return;
    }
    try {
      this.flush();
    } catch (err) {
      this.onError(classifyWriteError(this.file, err));
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

/** The default health report: a line on stderr when the store fails, one when it recovers. */
function stderrHealth(health: StoreHealth): void {
  process.stderr.write(
    health.healthy
      ? "policy-replay: audit log recovered\n"
      : `policy-replay: audit log unavailable: ${health.fault?.message ?? "unknown fault"}\n`,
  );
}

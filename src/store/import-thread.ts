import { rmSync } from "node:fs";
import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  type TransferListItem,
  type Worker,
} from "node:worker_threads";
import { StoreError, type StoreErrorCode } from "./errors.js";
import { importTempName, type KeyValues } from "./import.js";
import { APPROVALS, type ImportReply, type ImportRequest, NUMBERS } from "./import-protocol.js";
import { startThread } from "./threads.js";
import type { ApprovalAnswer, DecisionRecord, SessionStart } from "./types.js";

// Importing calls into a recording (`policy-replay import`) on two threads: the caller reads,
// checks and decides calls and hands them over here a batch at a time; the import's thread
// (import.worker.ts) writes them (import.ts). Inserting a million rows is about as much work
// as reading and deciding them, so each takes a core. The caller never runs more than a few
// batches ahead, so memory stays flat however long the trace.
//
// The caller waits for the thread asynchronously: a thread that dies hard (terminated, out of
// memory, process.exit in it) sets no shared word and sends no reply, and its exit event reaches
// only a main thread whose event loop runs. Waits are rare (once a batch at most), so awaiting
// them costs the caller next to nothing.

/** Calls per batch handed to the thread. */
const BATCH = 1024;
/** Batches handed over and not yet written, past which the caller waits. */
const AHEAD = 4;
/** The longest single wait on a shared word: a thread's exit is also looked for between. */
const WAIT_SLICE_MS = 1000;

// ES2024's Atomics.waitAsync: Node 20 has it; this project's lib is ES2023.
type WaitAsync = (
  a: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** An import into one recording, written on a thread of its own: finish() or abort() it. */
export interface CallImport {
  /** True when the recording held this session before the import. */
  hasSession(id: string): boolean;
  putPolicy(hash: string, text: string): void;
  startSession(s: SessionStart): void;
  /**
   * A decision as the proxy records it, with the approval answer it got, if any. A promise
   * when the thread is behind: await it before the next call (it rejects with a StoreError
   * when a write failed or the thread died).
   */
  addCall(d: DecisionRecord, approval: ApprovalAnswer | null): Promise<void> | null;
  endSession(id: string, endedAt: number, endReason: string): void;
  /** Write what is left, commit, and put a new file in place. Rejects with a StoreError. */
  finish(): Promise<void>;
  /** Leave the recording as it was (a new one is never made). Never rejects. */
  abort(): Promise<void>;
}

const json = (value: unknown): string | null =>
  value === undefined ? null : (JSON.stringify(value) ?? null);

/**
 * Start importing into `file`, created if missing (its directory must exist). Waits for the
 * thread to open it; rejects with a StoreError as opening a recording for writing throws.
 */
export async function startImport(file: string): Promise<CallImport> {
  const into = new ThreadedImport(file);
  await into.opened();
  return into;
}

/** A call_keys key the import has used: its fields, and its number in the import. */
interface Key {
  identity: string;
  decision: string;
  code: string;
  rule: string | null;
  index: number;
}

class ThreadedImport implements CallImport {
  private readonly control = new Int32Array(new SharedArrayBuffer(8));
  private readonly worker: Worker;
  /** Resolves with the exit code once the thread has ended, however it ended. */
  private readonly exited: Promise<number>;
  private exitCode: number | null = null;
  private readonly port: MessagePort;
  private readonly post: (m: ImportRequest, transfer?: TransferListItem[]) => void;
  private known: ReadonlySet<string> = new Set();
  private repliesSeen = 0;
  private posted = 0;
  private closed = false;
  /** Keys by session and tool: a session has few tools, and few outcomes per tool. */
  private readonly keys = new Map<string, Map<string, Key[]>>();
  private keyCount = 0;
  // The batch being filled.
  private policies: [string, string][] = [];
  private sessions: SessionStart[] = [];
  private newKeys: KeyValues[] = [];
  private rows = 0;
  private numbers = new Float64Array(BATCH * NUMBERS);
  private texts: (string | null)[] = [];

  constructor(private readonly file: string) {
    const worker = startThread("importer");
    this.worker = worker;
    this.exited = new Promise((resolve) =>
      worker.once("exit", (code: number) => resolve((this.exitCode = code))),
    );
    // Ended before this listener (only a thread taken just as it died): -1 from then on.
    if (worker.threadId === -1) this.exitCode = -1;
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.post = (m, transfer) => worker.postMessage(m, transfer);
    const control = this.control.buffer as SharedArrayBuffer;
    this.post({ type: "start", file, control, port: port2 }, [port2]);
  }

  /** Wait for the thread to open the recording. */
  async opened(): Promise<void> {
    const ready = await this.reply();
    if (ready.type !== "ready") {
      this.closed = true;
      throw this.error(ready);
    }
    this.known = new Set(ready.sessions);
  }

  hasSession(id: string): boolean {
    return this.known.has(id);
  }

  putPolicy(hash: string, text: string): void {
    this.policies.push([hash, text]);
  }

  startSession(s: SessionStart): void {
    this.sessions.push(s);
  }

  addCall(d: DecisionRecord, approval: ApprovalAnswer | null): Promise<void> | null {
    const dec = d.decision;
    const n = this.numbers;
    const i = this.rows * NUMBERS;
    n[i] = d.seq;
    n[i + 1] = d.ts;
    n[i + 2] = this.key(d.session, d.identity, d.tool, dec.decision, dec.code, dec.rule);
    n[i + 3] = dec.retry_after_ms ?? Number.NaN;
    n[i + 4] = (dec.inexact ? 1 : 0) | (approval === null ? 0 : APPROVALS.indexOf(approval) << 1);
    n[i + 5] = d.counterSeq ?? Number.NaN;
    this.texts.push(
      json(d.arguments),
      d.jsonrpcId,
      d.mode,
      dec.reason,
      dec.limit?.counter ?? null,
      json(dec.limit ?? undefined),
      d.counts ? JSON.stringify(d.counts) : null,
    );
    return ++this.rows === BATCH ? this.send() : null;
  }

  endSession(id: string, endedAt: number, endReason: string): void {
    this.ends.push([id, endedAt, endReason]);
  }

  private readonly ends: [string, number, string][] = [];

  async finish(): Promise<void> {
    this.hand();
    this.post({ type: "finish", ends: this.ends });
    this.closed = true;
    const r = await this.reply();
    if (r.type !== "done") throw this.error(r);
  }

  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.post({ type: "abort" });
    // Wait for the rollback: the caller reports the failure once the file is as it was. A
    // thread that died instead took its transaction with it (reply() cleans up after it).
    try {
      await this.reply();
    } catch {
      // Reported by whatever failed first.
    }
  }

  /** The number of a call's key in this import, numbered in order of first use. */
  private key(
    session: string,
    identity: string,
    tool: string,
    decision: string,
    code: string,
    rule: string | null,
  ): number {
    let byTool = this.keys.get(session);
    if (byTool === undefined) this.keys.set(session, (byTool = new Map()));
    let list = byTool.get(tool);
    if (list === undefined) byTool.set(tool, (list = []));
    for (const k of list) {
      if (k.decision === decision && k.code === code && k.rule === rule && k.identity === identity)
        return k.index;
    }
    const index = this.keyCount++;
    list.push({ identity, decision, code, rule, index });
    this.newKeys.push([session, identity, tool, decision, code, rule]);
    return index;
  }

  /** Hand the batch over; a promise while the thread is too far behind. */
  private send(): Promise<void> | null {
    this.hand();
    // A reply before "finish" is a failed write: stop at once.
    if (Atomics.load(this.control, 1) !== this.repliesSeen) return this.failed();
    if (this.posted - Atomics.load(this.control, 0) <= AHEAD) return null;
    return this.room();
  }

  /** Post the batch being filled (even an empty one) and start the next. */
  private hand(): void {
    if (this.closed) throw new StoreError("store_closed", this.file, `${this.file}: import ended`);
    if (this.exitCode !== null) {
      this.closed = true;
      throw this.died();
    }
    const numbers = this.numbers;
    this.post(
      {
        type: "batch",
        policies: this.policies,
        sessions: this.sessions,
        keys: this.newKeys,
        rows: this.rows,
        numbers,
        texts: this.texts,
      },
      [numbers.buffer],
    );
    this.posted++;
    this.policies = [];
    this.sessions = [];
    this.newKeys = [];
    this.rows = 0;
    this.numbers = new Float64Array(BATCH * NUMBERS);
    this.texts = [];
  }

  /** Wait until the thread is at most AHEAD batches behind. */
  private async room(): Promise<void> {
    for (;;) {
      if (Atomics.load(this.control, 1) !== this.repliesSeen) return this.failed();
      const written = Atomics.load(this.control, 0);
      if (this.posted - written <= AHEAD) return;
      await this.changed(0, written);
    }
  }

  /** The thread replied before "finish": a failed write. */
  private async failed(): Promise<never> {
    this.closed = true;
    throw this.error(await this.reply());
  }

  /** The thread's next reply, waited for; a StoreError if the thread died first. */
  private async reply(): Promise<ImportReply> {
    for (;;) {
      const m = receiveMessageOnPort(this.port);
      if (m !== undefined) {
        this.repliesSeen++;
        return m.message as ImportReply;
      }
      await this.changed(1, this.repliesSeen);
    }
  }

  /**
   * Wait until control[at] is no longer `seen`: the thread notifies each change. A StoreError
   * if the thread has died, its word unchanged: nothing will change it any more.
   */
  private async changed(at: 0 | 1, seen: number): Promise<void> {
    for (;;) {
      if (Atomics.load(this.control, at) !== seen) return;
      if (this.exitCode !== null) {
        this.closed = true;
        throw this.died();
      }
      const w = waitAsync(this.control, at, seen, WAIT_SLICE_MS);
      if (!w.async) continue;
      // The thread is unref'd: while it is waited on, it must keep the process alive.
      this.worker.ref();
      try {
        await Promise.race([w.value, this.exited]);
      } finally {
        this.worker.unref();
      }
    }
  }

  /** The thread's death as the import's error, with a new file's temporary name removed. */
  private died(): StoreError {
    // Its connection ended with it: an existing file's transaction is rolled back (by SQLite
    // when the thread's connection closes, else by the next opener); a new file was never put
    // in place, only its temporary name is left.
    rmSync(importTempName(this.file), { force: true });
    return new StoreError(
      "store_io",
      this.file,
      `${this.file}: import: the writer thread stopped unexpectedly (exit code ${this.exitCode}); nothing was imported`,
    );
  }

  private error(r: ImportReply): StoreError {
    if (r.type === "error") return new StoreError(r.code as StoreErrorCode, r.file, r.message);
    return new StoreError(
      "store_write_failed",
      this.file,
      `${this.file}: import: unexpected ${r.type}`,
    );
  }
}

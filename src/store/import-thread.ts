import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  type TransferListItem,
} from "node:worker_threads";
import { StoreError, type StoreErrorCode } from "./errors.js";
import type { KeyValues } from "./import.js";
import { APPROVALS, type ImportReply, type ImportRequest, NUMBERS } from "./import-protocol.js";
import { startThread } from "./threads.js";
import type { ApprovalAnswer, DecisionRecord, SessionStart } from "./types.js";

// Importing calls into a recording (`policy-replay import`) on two threads: the caller reads,
// checks and decides calls and hands them over here a batch at a time; the import's thread
// (import.worker.ts) writes them (import.ts). Inserting a million rows is about as much work
// as reading and deciding them, so each takes a core. The caller never runs more than a few
// batches ahead, so memory stays flat however long the trace.

/** Calls per batch handed to the thread. */
const BATCH = 1024;
/** Batches handed over and not yet written, past which the caller waits. */
const AHEAD = 4;
/** How long the thread may take to open the recording, or to roll back. */
const START_TIMEOUT_MS = 60_000;

/** An import into one recording, written on a thread of its own: finish() or abort() it. */
export interface CallImport {
  /** True when the recording held this session before the import. */
  hasSession(id: string): boolean;
  putPolicy(hash: string, text: string): void;
  startSession(s: SessionStart): void;
  /** A decision as the proxy records it, with the approval answer it got, if any. */
  addCall(d: DecisionRecord, approval: ApprovalAnswer | null): void;
  endSession(id: string, endedAt: number, endReason: string): void;
  /** Write what is left, commit, and put a new file in place. Throws StoreError. */
  finish(): void;
  /** Leave the recording as it was (a new one is never made). Never throws. */
  abort(): void;
}

const json = (value: unknown): string | null =>
  value === undefined ? null : (JSON.stringify(value) ?? null);

/**
 * Start importing into `file`, created if missing (its directory must exist). Waits for the
 * thread to open it; throws StoreError as opening a recording for writing does.
 */
export function startImport(file: string): CallImport {
  return new ThreadedImport(file);
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
  private readonly port: MessagePort;
  private readonly post: (m: ImportRequest, transfer?: TransferListItem[]) => void;
  private readonly known: ReadonlySet<string>;
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
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.post = (m, transfer) => worker.postMessage(m, transfer);
    const control = this.control.buffer as SharedArrayBuffer;
    this.post({ type: "start", file, control, port: port2 }, [port2]);
    // The thread starts in well under a second; opening waits at most the busy timeout for
    // another connection's lock. A thread that never answers (it could not load) is an error.
    const ready = this.reply(START_TIMEOUT_MS);
    if (ready === null)
      throw new StoreError("store_io", file, `${file}: the import's writer thread did not start`);
    if (ready.type !== "ready") throw this.error(ready);
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

  addCall(d: DecisionRecord, approval: ApprovalAnswer | null): void {
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
    if (++this.rows === BATCH) this.send();
  }

  endSession(id: string, endedAt: number, endReason: string): void {
    this.ends.push([id, endedAt, endReason]);
  }

  private readonly ends: [string, number, string][] = [];

  finish(): void {
    this.send();
    this.post({ type: "finish", ends: this.ends });
    this.closed = true;
    const r = this.reply();
    if (r.type !== "done") throw this.error(r);
  }

  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.post({ type: "abort" });
    // Wait for the rollback: the caller reports the failure once the file is as it was. A
    // thread that does not answer is gone, and its transaction with it.
    this.reply(START_TIMEOUT_MS);
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

  /** Hand the batch over, then wait while the thread is too far behind. */
  private send(): void {
    if (this.closed) throw new StoreError("store_closed", this.file, `${this.file}: import ended`);
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
    for (;;) {
      // A reply before "finish" is a failed write: stop at once.
      if (Atomics.load(this.control, 1) !== this.repliesSeen) {
        const r = this.reply();
        this.closed = true;
        throw this.error(r);
      }
      const written = Atomics.load(this.control, 0);
      if (this.posted - written <= AHEAD) return;
      Atomics.wait(this.control, 0, written, 100);
    }
  }

  /** The thread's next reply, waited for (null: none within `timeoutMs`). */
  private reply(): ImportReply;
  private reply(timeoutMs: number): ImportReply | null;
  private reply(timeoutMs = Infinity): ImportReply | null {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = receiveMessageOnPort(this.port);
      if (m !== undefined) {
        this.repliesSeen++;
        return m.message as ImportReply;
      }
      if (Date.now() > until) return null;
      Atomics.wait(this.control, 1, this.repliesSeen, 100);
    }
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

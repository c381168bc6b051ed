import type { Worker } from "node:worker_threads";
import { StoreError } from "./errors.js";
import type { Outcome, SavedReply, WireError, WriterReply, WriterRequest } from "./protocol.js";
import { runsFileOf } from "./runs-file.js";
import { startThread } from "./threads.js";
import type { ResultClass, RunRecord } from "./types.js";

export type { RunRecord } from "./types.js";

// Saved replay runs (runs, run_outcomes and run_results). A run is written beside every
// recording it read, into that recording's runs file (runs-file.ts), by a RunWriter on a thread
// of its own while the replay runs, and committed once the reading is over; a run that fails
// halfway leaves nothing behind. The recordings are only read.

/** One call of a run that changed or was inexact (a call without one kept its decision). */
export interface RunResultRecord {
  /** The call's row id in the recording. */
  call: number;
  class: ResultClass | null;
  oldDecision: string;
  oldCode: string;
  oldRule: string | null;
  newDecision: string;
  newCode: string;
  newRule: string | null;
  newReason: string | null;
  newRetryAfterMs: number | null;
  counterfactual: boolean;
  inexact: boolean;
}

/**
 * Results a file's open transaction holds before the rest wait in a temporary table: about
 * 30 bytes of pages each (a row and its index entry), which stay in memory until the commit,
 * so at most about 2 MB.
 */
const HELD_ROWS = 65_536;
/** Results sent to the writer thread at a time. */
const BATCH_ROWS = 4096;
/** How long a writer thread may take to end after being told to, before it is stopped. */
const CLOSE_TIMEOUT_MS = 10_000;

/**
 * Saves one replay run beside each recording it reads, on a thread of its own (see
 * run.worker.ts). add() the results during the replay, write() when the reading is over, then
 * save(), or close() to save nothing. Until the commit nothing is visible, and a process that
 * dies leaves the runs files as they were.
 */
export class RunWriter {
  private readonly worker: Worker;
  /** Per result not yet sent: file, call, outcome, retry (NaN: none), flags. */
  private rows = new Float64Array(BATCH_ROWS * 5);
  private pending = 0;
  /**
   * Each distinct outcome's number, found through one Map per field: the strings are long-lived
   * and their hashes cached, where a key joined from them would be built and hashed per result.
   */
  private readonly outcomeIds: OutcomeTree = new Map();
  private outcomeCount = 0;
  private newOutcomes: Outcome[] = [];
  private readonly counts: number[] = [];
  private exited = false;
  private readonly exit: Promise<void>;
  private failure: Error | null = null;
  private pings = 0;
  /** save() was answered: the thread is ending by itself. */
  private answered = false;

  /** `files`: the recordings read, by their position in the replay's list of sources. */
  constructor(
    private readonly files: readonly string[],
    held = HELD_ROWS,
  ) {
    this.worker = startThread("writer");
    this.post({ type: "start", files, held });
    this.exit = new Promise((resolve) => {
      this.worker.once("exit", () => {
        this.exited = true;
        resolve();
      });
    });
    // Waited for only in save() and close() (startThread's threads are unref'd): a replay that
    // throws never hangs on it.
    this.worker.on("error", (err) => {
      this.failure = err;
    });
  }

  /** One result of file `file` (a position in `files`). */
  add(file: number, r: RunResultRecord): void {
    let leaf = branch(this.outcomeIds, r.class);
    leaf = branch(leaf, r.oldDecision);
    leaf = branch(leaf, r.oldCode);
    leaf = branch(leaf, r.oldRule);
    leaf = branch(leaf, r.newDecision);
    leaf = branch(leaf, r.newCode);
    leaf = branch(leaf, r.newRule);
    let outcome = leaf.get(r.newReason) as number | undefined;
    if (outcome === undefined) {
      outcome = this.outcomeCount++;
      leaf.set(r.newReason, outcome);
      this.newOutcomes.push([
        r.class,
        r.oldDecision,
        r.oldCode,
        r.oldRule,
        r.newDecision,
        r.newCode,
        r.newRule,
        r.newReason,
      ]);
    }
    const rows = this.rows;
    const at = this.pending * 5;
    rows[at] = file;
    rows[at + 1] = r.call;
    rows[at + 2] = outcome;
    rows[at + 3] = r.newRetryAfterMs ?? Number.NaN;
    rows[at + 4] = (r.counterfactual ? 1 : 0) | (r.inexact ? 2 : 0);
    this.counts[file] = (this.counts[file] ?? 0) + 1;
    if (++this.pending === BATCH_ROWS) this.send();
  }

  /** How many results file `file` has. */
  count(file: number): number {
    return this.counts[file] ?? 0;
  }

  /**
   * Save the run beside each recording (`runs[i]` for `files[i]`; null: not that one), into
   * its runs file, each in one transaction: the runs row, what identifies the recording, the
   * policies' texts (by hash, if new) and the file's results. Call it after the reading is
   * over. Per file: the run's id, or a StoreError naming the runs file (store_read_only when it
   * or its directory cannot be written, store_write_failed otherwise). The writer is closed
   * afterwards.
   */
  async save(runs: readonly (RunRecord | null)[]): Promise<(number | StoreError | null)[]> {
    this.send();
    let saved: SavedReply[];
    try {
      saved = await this.request<SavedReply[]>({ type: "finish", runs }, (m) =>
        m.type === "saved" ? m.saved : undefined,
      );
      // The thread closed its files before answering and ends on its own: no need to wait.
      this.answered = true;
    } catch (err) {
      await this.close();
      saved = this.files.map(() => ({ error: wireError(err) }));
    }
    return this.files.map((file, i) => {
      const s = saved[i];
      if (s === null || s === undefined) return null;
      return "id" in s ? s.id : saveError(file, s.error);
    });
  }

  /**
   * The reading is over: the thread may write the results it holds now, while the caller makes
   * its report (written during the replay, they would compete with it for the cores).
   */
  write(): void {
    this.send();
    this.post({ type: "write" });
  }

  /** Send the results added so far; resolves once the thread has written them (or failed to). */
  async flush(): Promise<void> {
    this.send();
    const ping = ++this.pings;
    await this.request({ type: "ping", n: ping }, (m) =>
      m.type === "pong" && m.n === ping ? true : undefined,
    );
  }

  /** Save nothing (rolling back what was written) and end the thread; waits for it. */
  async close(): Promise<void> {
    if (this.exited || this.answered) return;
    this.worker.ref();
    this.post({ type: "close" });
    const timer = setTimeout(() => void this.worker.terminate(), CLOSE_TIMEOUT_MS);
    await this.exit;
    clearTimeout(timer);
  }

  /** Post `message` and wait for the thread's answer to it, which `pick` recognises. */
  private request<T>(message: WriterRequest, pick: (m: WriterReply) => T | undefined): Promise<T> {
    if (this.exited) return Promise.reject(this.failure ?? new Error("the writer thread ended"));
    const worker = this.worker;
    worker.ref();
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        worker.off("message", onMessage);
        worker.off("exit", onExit);
        worker.unref();
      };
      const onMessage = (m: WriterReply): void => {
        const v = pick(m);
        if (v === undefined) return;
        done();
        resolve(v);
      };
      const onExit = (): void => {
        done();
        reject(this.failure ?? new Error("the writer thread ended"));
      };
      worker.on("message", onMessage);
      worker.on("exit", onExit);
      this.post(message);
    });
  }

  private post(m: WriterRequest, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(m, transfer);
  }

  private send(): void {
    if (this.pending === 0) return;
    const rows = this.pending === BATCH_ROWS ? this.rows : this.rows.slice(0, this.pending * 5);
    this.post({ type: "rows", outcomes: this.newOutcomes, rows }, [rows.buffer]);
    this.rows = new Float64Array(BATCH_ROWS * 5);
    this.newOutcomes = [];
    this.pending = 0;
  }
}

type OutcomeTree = Map<string | null, OutcomeTree | number>;

/** The map under `key` in `tree`, made if missing. */
function branch(tree: OutcomeTree, key: string | null): OutcomeTree {
  let next = tree.get(key) as OutcomeTree | undefined;
  if (next === undefined) tree.set(key, (next = new Map()));
  return next;
}

const wireError = (err: unknown): WireError => ({
  code: err instanceof Error ? String((err as { code?: unknown }).code ?? "") : "",
  message: err instanceof Error ? err.message : String(err),
});

/** SQLite result codes that mean "this file cannot be written here". */
const READ_ONLY = /^SQLITE_(READONLY|CANTOPEN|PERM|AUTH)/;

/** Why a run was not saved beside `recording`, naming its runs file. */
function saveError(recording: string, err: WireError): StoreError {
  const file = runsFileOf(recording);
  const { code } = err;
  // The store's own errors name the file already.
  const message = err.message.startsWith(`${file}: `)
    ? err.message.slice(file.length + 2)
    : err.message;
  if (READ_ONLY.test(code) || code === "EACCES" || code === "EROFS" || code === "EPERM") {
    return new StoreError("store_read_only", file, `${file}: read-only (${message})`);
  }
  return new StoreError("store_write_failed", file, `${file}: cannot save the run: ${message}`);
}

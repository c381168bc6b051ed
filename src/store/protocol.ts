import type { MessagePort } from "node:worker_threads";
import type { ArgumentTools, RunRecord } from "./types.js";

// The messages between the store's threads and the main thread, one union per direction,
// discriminated by `type`. Both sides import these, so a message is checked where it is made
// and where it is read.

/** An error as it crosses a thread: an Error does not survive structured cloning intact. */
export interface WireError {
  /** SQLite's or Node's code (SQLITE_BUSY, EACCES, ...), "" when none. */
  code: string;
  message: string;
}

// ---------------------------------------------------------------------------------------------
// Reader threads (read.worker.ts) and CallStream (stream.ts)

/** One file a reader thread reads: the statement callsSql() made for it, and how to page. */
export interface ReadFile {
  file: string;
  /** The file's position in the list given to the stream. */
  index: number;
  sql: string;
  params: (string | number)[];
  /** Keyset pages on (ts, id); false: one statement iterated. */
  paged: boolean;
  pageRows: number;
  withArgs: boolean;
  /** With withArgs: send only these calls' arguments (null: every call's). */
  argumentTools: ArgumentTools | null;
  /** Read each row's counter_seq too (merging several files: see CallStream). */
  withSeq: boolean;
  /** No filter: every row is read, so keys are read in runs of ids rather than one by one. */
  everyRow: boolean;
}

/** A reader thread's work: its first and only message. */
export interface ReadWork {
  type: "read";
  /** Where the pages go; the main thread reads it synchronously (receiveMessageOnPort). */
  port: MessagePort;
  /** An Int32Array's buffer, laid out as SIGNAL says. */
  signal: SharedArrayBuffer;
  /** Pages of a file the thread keeps ready that the main thread has not taken yet. */
  ahead: number;
  files: ReadFile[];
}

/** Slots of a reader's shared Int32Array. */
export const SIGNAL = {
  /** Bumped (and notified) by the thread after each message it posts. */
  POSTED: 0,
  /** 1 once the thread has started, 2 when it is exiting. */
  STATE: 1,
  /** Bumped (and notified) by the main thread when it takes a page or asks to close. */
  WAKE: 2,
  /** 1: the main thread asks the thread to close. */
  CLOSE: 3,
  /** TAKEN + file: pages of that file the main thread has taken. */
  TAKEN: 4,
} as const;

/** STATE values. */
export const STARTED = 1;
export const EXITING = 2;

/** A call's repetitive fields, shared by every row that has the same ones. */
export type CallKey = readonly [
  session: string,
  identity: string,
  tool: string,
  decision: string,
  code: string,
  rule: string | null,
];

/** Up to pageRows calls rows of one file, as typed arrays. */
export interface Page {
  n: number;
  /** Per row: id, ts, retry_after_ms (NaN for none). */
  nums: Float64Array;
  /** Per row: its key's dense id (0, 1, 2, ... in order of first use in its file). */
  keys: Int32Array;
  /** Per row: an index into APPROVALS. */
  approvals: Uint8Array;
  /** Per row (only when the file's withSeq): its counter_seq, -1 for none. */
  seqs: Float64Array | null;
  /** Per row: where its arguments are in `text`; start -1 for none (or not sent). */
  spans: Int32Array | null;
  /** The arguments sent, one after another (only when the arguments are read). */
  text: string | null;
  /** The strings first used by this page's new keys, numbered on from the previous pages'. */
  newStrings: string[];
  /**
   * The keys first used in this page, numbered on from the previous pages': six numbers each,
   * their fields' strings (-1: a null rule). Strings rather than each key's own copies: a
   * recording's tens of thousands of keys share a few thousand strings (sessions, tools...).
   */
  newKeys: Int32Array;
}

/** What a reader thread posts on its port. */
export type ReaderMessage =
  | { type: "page"; file: number; page: Page }
  | { type: "done"; file: number }
  | { type: "error"; file: number; error: WireError }
  | { type: "closed" };

/** An approval as a page carries it: its index here (0: none). */
export const APPROVALS = [null, "approved", "rejected", "timeout", "unavailable"] as const;

// ---------------------------------------------------------------------------------------------
// Run writer threads (run.worker.ts) and RunWriter (runs.ts)

/**
 * A result's outcome: [class, old_decision, old_code, old_rule, new_decision, new_code,
 * new_rule, new_reason], numbered in the order sent.
 */
export type Outcome = (string | null)[];

/** What RunWriter posts to its thread. */
export type WriterRequest =
  /**
   * The first message: the recordings whose runs files to save into (the thread may start
   * before they are known).
   */
  | { type: "start"; files: readonly string[]; held: number }
  /**
   * New outcomes, and per result [file, call, outcome, retry_after_ms (NaN: none), flags
   * (1 counterfactual, 2 inexact)].
   */
  | { type: "rows"; outcomes: Outcome[]; rows: Float64Array }
  /** The reading is over: write what is held. */
  | { type: "write" }
  /** Save the run beside each recording (null: not that one); answered by "saved". */
  | { type: "finish"; runs: readonly (RunRecord | null)[] }
  /** Answered by "pong" once everything sent before it is written. */
  | { type: "ping"; n: number }
  /** Roll back anything unsaved and end. */
  | { type: "close" };

/** Per recording: the run's id, why it was not saved, or null (not asked to save there). */
export type SavedReply = { id: number } | { error: WireError } | null;

/** What a run writer thread answers. */
export type WriterReply = { type: "saved"; saved: SavedReply[] } | { type: "pong"; n: number };

// ---------------------------------------------------------------------------------------------
// The checkpointer (checkpoint.worker.ts) and the writing store (checkpoint.ts)

export interface CheckpointData {
  file: string;
  everyMs: number;
  /** An Int32Array's buffer: [0] set to 1 (and notified) once the thread's connection is closed. */
  done: SharedArrayBuffer;
}

export type CheckpointRequest = { type: "close" };

import type { MessagePort } from "node:worker_threads";
import type { KeyValues } from "./import.js";
import type { ApprovalAnswer, SessionStart } from "./types.js";

// What the main thread and the import's thread (import-thread.ts, import.worker.ts) say to
// each other. A batch's calls cross as numbers and strings in flat arrays: an object per call
// would cost the main thread more to clone than the thread saves it.

/** Numbers per call in a batch: seq, ts, key, retry_after_ms (NaN: none), flags, counter_seq. */
export const NUMBERS = 6;
/** Strings per call: arguments, jsonrpc_id, mode, reason, counter, limit_json, counts. */
export const TEXTS = 7;
/** Approval answers by their number in a call's flags (flags >> 1); 0 is none. */
export const APPROVALS: readonly (ApprovalAnswer | null)[] = [
  null,
  "approved",
  "rejected",
  "timeout",
  "unavailable",
];

export type ImportRequest =
  /** control: [batches written, replies sent], each notified. port: where replies go. */
  | { type: "start"; file: string; control: SharedArrayBuffer; port: MessagePort }
  | {
      type: "batch";
      policies: [string, string][];
      sessions: SessionStart[];
      /** Keys first used in this batch, numbered on from the last batch's. */
      keys: KeyValues[];
      rows: number;
      numbers: Float64Array;
      texts: (string | null)[];
    }
  | { type: "finish"; ends: [string, number, string][] }
  | { type: "abort" };

export type ImportReply =
  | { type: "ready"; sessions: string[] }
  | { type: "done" }
  | { type: "aborted" }
  | { type: "error"; code: string; file: string; message: string };

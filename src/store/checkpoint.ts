import { Worker } from "node:worker_threads";
import type { CheckpointData, CheckpointRequest } from "./protocol.js";
import { workerUrl } from "./worker-url.js";

// Checkpoints off the main thread. Under synchronous=NORMAL the only fsyncs are a checkpoint's,
// and SQLite would run one inside whichever commit pushes the WAL past 1000 pages: milliseconds
// on the write-ahead path of a tools/call. So a worker thread with a connection of its own
// checkpoints (PASSIVE: it never blocks the writer) every CHECKPOINT_EVERY_MS, and the writer's
// own automatic checkpoint only starts at a much larger WAL, as a safety net.

const CHECKPOINT_EVERY_MS = 100;
/** WAL pages at which the writer checkpoints itself when the worker has not kept up. */
export const WRITER_CHECKPOINT_PAGES = 16_384;

export interface Checkpointer {
  /** Close the worker's connection and wait (bounded) until it has. */
  stop(): void;
}

/** Start the checkpointer for `file`; null if no thread can be started. */
export function startCheckpointer(file: string): Checkpointer | null {
  const done = new SharedArrayBuffer(4);
  const data: CheckpointData = { file, everyMs: CHECKPOINT_EVERY_MS, done };
  let worker: Worker;
  try {
    worker = new Worker(workerUrl("checkpoint.worker"), {
      workerData: data,
      stdout: true,
      stderr: true,
    });
  } catch {
    return null;
  }
  worker.on("error", () => {});
  worker.unref();
  return {
    stop() {
      const close: CheckpointRequest = { type: "close" };
      worker.postMessage(close);
      // Bounded: the worker closes between two checkpoints, or has died already.
      Atomics.wait(new Int32Array(done), 0, 0, 2000);
    },
  };
}

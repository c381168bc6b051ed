import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import type { CheckpointData, CheckpointRequest } from "./protocol.js";

// The checkpointer (checkpoint.ts): a connection of its own that checkpoints the WAL every
// everyMs, PASSIVE so that it never blocks the writer, until told to close.

const { file, everyMs, done } = workerData as CheckpointData;
const flag = new Int32Array(done);
const finish = (): void => {
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
};
process.on("exit", finish);

let db: Database.Database | null = null;
try {
  db = new Database(file, { fileMustExist: true, timeout: 0 });
} catch {
  finish();
}
const tick = (): void => {
  try {
    db?.pragma("wal_checkpoint(PASSIVE)");
  } catch {
    // Busy or gone: the next tick, or the writer's own checkpoint, will do.
  }
};
const timer = db && setInterval(tick, everyMs);
parentPort?.on("message", (m: CheckpointRequest) => {
  if (m.type !== "close") return;
  if (timer) clearInterval(timer);
  try {
    db?.close();
  } finally {
    finish();
    parentPort?.close();
  }
});

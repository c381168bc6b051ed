import { type MessagePort, parentPort } from "node:worker_threads";
import { classifyWriteError } from "./faults.js";
import {
  APPROVALS,
  type ImportReply,
  type ImportRequest,
  NUMBERS,
  TEXTS,
} from "./import-protocol.js";
import { type CallRow, type Importer, type KeyValues, openImport } from "./import.js";

// The thread behind startImport (import-thread.ts): it writes an import's rows into the
// recording (import.ts) while the main thread reads, checks and decides the next calls.
// Replies go through the port the start message brings, each counted in control[1]; each
// batch written is counted in control[0], which the main thread waits on to stay a few
// batches ahead, no more.

let file = "";
let importer: Importer | null = null;
let port: MessagePort | null = null;
let control: Int32Array | null = null;
/** Set when a write failed: what is left is aborting. */
let failed = false;
const keys: KeyValues[] = [];
const keyIds: number[] = [];

function reply(r: ImportReply): void {
  port!.postMessage(r);
  Atomics.add(control!, 1, 1);
  Atomics.notify(control!, 1);
}

function batchDone(): void {
  Atomics.add(control!, 0, 1);
  Atomics.notify(control!, 0);
}

function fail(err: unknown): void {
  failed = true;
  importer?.abort();
  importer = null;
  const e = classifyWriteError(file, err);
  reply({ type: "error", code: e.code, file: e.file, message: e.message });
}

function end(): void {
  port?.close();
  parentPort!.close();
}

function handle(m: ImportRequest): void {
  switch (m.type) {
    case "start": {
      file = m.file;
      port = m.port;
      control = new Int32Array(m.control);
      try {
        importer = openImport(m.file);
        reply({ type: "ready", sessions: importer.sessions() });
      } catch (err) {
        fail(err);
      }
      return;
    }
    case "batch": {
      if (failed || importer === null) return batchDone();
      try {
        for (const [hash, text] of m.policies) importer.putPolicy(hash, text);
        for (const s of m.sessions) importer.startSession(s);
        for (const k of m.keys) {
          keys.push(k);
          keyIds.push(importer.numberKey(k));
        }
        const { numbers: n, texts: t } = m;
        for (let r = 0, i = 0, j = 0; r < m.rows; r++, i += NUMBERS, j += TEXTS) {
          const key = n[i + 2]!;
          const flags = n[i + 4]!;
          const row: CallRow = {
            seq: n[i]!,
            ts: n[i + 1]!,
            retryAfterMs: Number.isNaN(n[i + 3]) ? null : n[i + 3]!,
            inexact: (flags & 1) !== 0,
            approval: APPROVALS[flags >> 1] ?? null,
            counterSeq: Number.isNaN(n[i + 5]) ? null : n[i + 5]!,
            arguments: t[j]!,
            jsonrpcId: t[j + 1]!,
            mode: t[j + 2]!,
            reason: t[j + 3]!,
            counter: t[j + 4]!,
            limit: t[j + 5]!,
            counts: t[j + 6]!,
          };
          importer.addCall(keys[key]!, keyIds[key]!, row);
        }
      } catch (err) {
        fail(err);
      }
      return batchDone();
    }
    case "finish": {
      if (failed || importer === null) return end();
      try {
        for (const [id, endedAt, reason] of m.ends) importer.endSession(id, endedAt, reason);
        importer.finish();
        importer = null;
        reply({ type: "done" });
      } catch (err) {
        fail(err);
      }
      return end();
    }
    case "abort": {
      importer?.abort();
      importer = null;
      reply({ type: "aborted" });
      return end();
    }
  }
}

parentPort!.on("message", (m: ImportRequest) => handle(m));

import { spawn } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { expect, it } from "vitest";
import { openStoreReadOnly } from "../../src/store/sqlite.js";
import { tempDirs } from "./helpers.js";

const tempDir = tempDirs();

// The compiled store (test/global-setup.ts builds dist/ before the tests run).
const storeModule = pathToFileURL(join(import.meta.dirname, "../../dist/src/store/sqlite.js")).href;

/** Records call after call, printing "<id> <seq>" once each recordDecision has returned. */
const CHILD = `
import { writeSync } from "node:fs";
import { openStore } from ${JSON.stringify(storeModule)};
const store = openStore(process.env.DB, { batchSize: 16, flushIntervalMs: 5 });
store.startSession({ id: "s1", identity: "a", transport: "stdio", mode: "enforce",
  policyHash: "h", startedAt: Date.now() });
let seq = 0;
for (;;) {
  for (let i = 0; i < 25; i++) {
    const s = ++seq;
    const args = { app: "web", n: s, pad: "x".repeat(200) };
    store.recordMessage({ session: "s1", direction: "client_to_server", seq: s, ts: Date.now(),
      method: "tools/call", jsonrpcId: String(s),
      message: { jsonrpc: "2.0", id: s, method: "tools/call", params: { name: "t", arguments: args } } });
    const id = store.recordDecision({ session: "s1", seq: s, ts: Date.now(), identity: "a",
      tool: "t", arguments: args, jsonrpcId: String(s), mode: "enforce",
      decision: { decision: "allow", code: "rule_allow", rule: "t", reason: null,
        retry_after_ms: null, limit: null, inexact: false } });
    writeSync(1, id + " " + s + "\\n");
    const r = ++seq;
    store.recordMessage({ session: "s1", direction: "server_to_client", seq: r, ts: Date.now(),
      method: null, jsonrpcId: String(s), message: { jsonrpc: "2.0", id: s, result: {} } });
    store.recordOutcome(id, { outcome: "result", latencyMs: 1 });
  }
  await new Promise((resolve) => setImmediate(resolve));
}
`;

it("SIGKILL in the middle of a burst: the file opens intact and holds every decided call", async () => {
  const file = join(tempDir(), "killed.sqlite");
  const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD], {
    env: { ...process.env, DB: file },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on("exit", (_code, signal) => resolve(signal)),
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      // Well into the burst: a few hundred calls decided, writes in flight.
      if (out.split("\n").length > 600) resolve();
    });
    child.on("exit", () => reject(new Error(`child exited early: ${err}`)));
  });
  child.kill("SIGKILL");
  expect(await exited).toBe("SIGKILL");

  // Only whole lines were reported written.
  const reported = out
    .split("\n")
    .slice(0, -1)
    .map((line) => line.split(" ").map(Number) as [number, number]);
  expect(reported.length).toBeGreaterThanOrEqual(600);

  const db = new Database(file);
  expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
  const calls = new Map(
    (db.prepare("SELECT id, seq FROM calls").all() as { id: number; seq: number }[]).map((r) => [
      r.id,
      r.seq,
    ]),
  );
  const requests = new Set(
    (db.prepare("SELECT seq FROM messages WHERE direction = 0").all() as { seq: number }[]).map(
      (r) => r.seq,
    ),
  );
  for (const [id, seq] of reported) expect(calls.get(id)).toBe(seq);
  // Messages are batched off the write-ahead path: the ones lost are the newest, at most one
  // batch (16 writes) of them, never a gap in the middle.
  const missing = reported.filter(([, seq]) => !requests.has(seq)).map(([, seq]) => seq);
  expect(missing.length).toBeLessThanOrEqual(16);
  const lastKept = Math.max(0, ...requests);
  for (const seq of missing) expect(seq).toBeGreaterThan(lastKept);
  db.close();

  const reader = openStoreReadOnly(file);
  expect([...reader.calls()].length).toBeGreaterThanOrEqual(reported.length);
  reader.close();
});

// One recording, one state: several `record` processes writing into one file decide against
// the same counts, one after another and at once, and replaying the file changes nothing.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
const bin = join(root, "bin/policy-replay.js");
const naive = join(root, "fixtures/servers/naive-server.mjs");
const dir = mkdtempSync(join(tmpdir(), "policy-replay-shared-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const policy = join(dir, "policy.json");
writeFileSync(
  policy,
  JSON.stringify({
    version: "1",
    default: "allow",
    tools: {
      limited: {
        limits: [{ counter: "secrets", window: "minute", max: 3, scope: "grant" }],
      },
    },
  }),
);

interface Answer {
  id: number;
  result?: { isError?: boolean };
}

/** One `record` process for identity agent-ops: initialize, `calls` calls of `limited`, leave. */
async function proxy(db: string, calls: number): Promise<Answer[]> {
  const child = spawn(
    process.execPath,
    [
      bin,
      "record",
      "--policy",
      policy,
      "--db",
      db,
      "--identity",
      "agent-ops",
      "--",
      process.execPath,
      naive,
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const answers: Answer[] = [];
  let rest = "";
  let want = 1;
  let done: () => void = () => {};
  const all = new Promise<void>((r) => (done = r));
  child.stdout.on("data", (d: Buffer) => {
    const lines = (rest + d.toString()).split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) if (l.trim()) answers.push(JSON.parse(l) as Answer);
    if (answers.length >= want) done();
  });
  const send = (m: object): boolean => child.stdin.write(JSON.stringify(m) + "\n");
  send({
    jsonrpc: "2.0",
    id: 0,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "t", version: "1" },
    },
  });
  await all;
  want = 1 + calls;
  const more = new Promise<void>((r) => (done = r));
  for (let i = 1; i <= calls; i++)
    send({
      jsonrpc: "2.0",
      id: i,
      method: "tools/call",
      params: { name: "limited", arguments: {} },
    });
  await more;
  child.stdin.end();
  const [code] = (await once(child, "exit")) as [number | null];
  expect(code).toBe(0);
  return answers.filter((a) => a.id > 0);
}

const allowed = (answers: Answer[]): number =>
  answers.filter((a) => a.result !== undefined && a.result.isError !== true).length;

async function replayChanges(db: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(
    process.execPath,
    [bin, "--policy", policy, "--db", db, "--no-save", "--format", "json"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, out };
}

describe("counters shared through the recording", () => {
  it("four proxies one after another: a 3-a-minute grant limit allows 3 in all; replay agrees", async () => {
    const db = join(dir, "sequential.sqlite");
    let total = 0;
    for (let p = 0; p < 4; p++) total += allowed(await proxy(db, 3));
    expect(total).toBe(3);
    const replay = await replayChanges(db);
    expect(replay.code).toBe(0);
    const { changes } = (JSON.parse(replay.out) as { summary: { changes: { total: number } } })
      .summary;
    expect(changes.total).toBe(0);
  });

  it("four proxies at once: still 3 in all, never two taking the last unit; replay agrees", async () => {
    const db = join(dir, "concurrent.sqlite");
    const results = await Promise.all([0, 1, 2, 3].map(() => proxy(db, 3)));
    expect(results.reduce((n, a) => n + allowed(a), 0)).toBe(3);
    const replay = await replayChanges(db);
    expect(replay.code).toBe(0);
    const { changes } = (JSON.parse(replay.out) as { summary: { changes: { total: number } } })
      .summary;
    expect(changes.total).toBe(0);
  });
});

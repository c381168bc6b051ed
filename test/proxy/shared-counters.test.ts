// One recording, one state: several `record` processes writing into one file decide against
// the same counts, one after another and at once, and replaying the file changes nothing.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { type Answer, bin, callMany, startRecord } from "./record-process.js";

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

/** One `record` process for identity agent-ops: `calls` calls of `limited` at once, then leave. */
async function proxy(db: string, calls: number): Promise<Answer[]> {
  const p = await startRecord(["--policy", policy, "--db", db, "--identity", "agent-ops"]);
  const answers = await callMany(p, "limited", calls);
  expect((await p.close()).code).toBe(0);
  return answers;
}

const allowed = (answers: Answer[]): number =>
  answers.filter((a) => a.result !== undefined && a.result.isError !== true).length;

async function replayChanges(db: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(
    process.execPath,
    [bin, "--policy", policy, "--db", db, "--no-save", "--format", "json"],
    { stdio: ["ignore", "pipe", "pipe"] },
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
    // Each session says where its counters lived; each call what the limit counted before it.
    const file = new Database(db, { readonly: true });
    const where = file.prepare("SELECT DISTINCT counters FROM sessions").pluck().all();
    const counts = file.prepare("SELECT counts FROM calls ORDER BY ts, id").pluck().all();
    file.close();
    expect(where).toEqual(["recording"]);
    expect(counts.map((c) => (JSON.parse(c as string) as { count: number }[])[0]!.count)).toEqual([
      0, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    ]);
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

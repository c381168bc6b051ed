// `policy-replay import` when its writer thread dies hard: exit 2 with one line naming the
// file, and no recording made. The thread is a stand-in that exits on its first message, as
// process.exit (or an out-of-memory end) in the real one would.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it, vi } from "vitest";
import type * as Threads from "../../src/store/threads.js";
import { cli, tempRoot } from "./support.js";

vi.mock("../../src/store/threads.js", async (importOriginal) => {
  const real = await importOriginal<typeof Threads>();
  return {
    ...real,
    startThread: () =>
      new Worker(
        "require('node:worker_threads').parentPort.once('message', () => process.exit(9))",
        { eval: true },
      ),
  };
});

const tempDir = tempRoot("import-thread-death");

describe("import, its thread dying", () => {
  it("exits 2 with one line, and makes no recording", async () => {
    const dir = tempDir();
    const trace = join(dir, "calls.jsonl");
    writeFileSync(
      trace,
      `${JSON.stringify({ session: "s", identity: "a", ts: 1, tool: "t", decision: "allow", code: "default_allow" })}\n`,
    );
    const db = join(dir, "out/rec.sqlite");
    const r = await cli(["import", trace, "--db", db]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `policy-replay: ${db}: import: the writer thread stopped unexpectedly (exit code 9); nothing was imported\n`,
    );
    expect(existsSync(join(dir, "out"))).toBe(false);
  });
});

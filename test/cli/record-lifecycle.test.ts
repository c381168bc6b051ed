// The life of a `policy-replay record` process over stdio, run as an MCP client runs it: when
// the agent leaves (its stdin ends) or the process is signalled, it stops its server's whole
// process group promptly, closes the recording cleanly and exits; a server that cannot start
// leaves no recording behind.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { bin } from "../proxy/record-process.js";
import { alive, INITIALIZE, readPids, writeStubbornServer } from "../proxy/stubborn-server.js";
import { tempRoot } from "./support.js";

const tempDir = tempRoot("record-lifecycle");

/** Generous for a loaded 2-core machine; the proxy itself takes well under a second. */
const PROMPTLY_MS = 3_000;

function setup() {
  const dir = tempDir();
  const policy = join(dir, "policy.json");
  writeFileSync(policy, JSON.stringify({ version: "1", default: "allow" }));
  return { dir, policy, db: join(dir, "rec.sqlite"), ...writeStubbornServer(dir) };
}

function sessions(db: string): { end_reason: string | null; ended_at: number | null }[] {
  const conn = new Database(db, { readonly: true });
  try {
    return conn.prepare("SELECT end_reason, ended_at FROM sessions").all() as {
      end_reason: string | null;
      ended_at: number | null;
    }[];
  } finally {
    conn.close();
  }
}

/** Nothing of the server left running, the recording closed (no -wal/-shm), its end on record. */
async function expectStoppedCleanly(db: string, pids: number[]): Promise<void> {
  // SIGKILL was sent to the group before the proxy exited; the kernel may take a moment.
  await vi.waitFor(() => expect(pids.filter(alive)).toEqual([]));
  expect(existsSync(`${db}-wal`)).toBe(false);
  expect(existsSync(`${db}-shm`)).toBe(false);
  expect(sessions(db)).toEqual([
    { end_reason: "client_disconnected", ended_at: expect.any(Number) as number },
  ]);
}

describe("record stops a server that will not leave, with all it started", () => {
  const ways = ["stdin ends", "SIGTERM", "SIGINT", "SIGHUP"] as const;
  it.each(ways)(
    "when %s: exits promptly, nothing left running, the recording closed",
    async (way) => {
      const { policy, db, server, pidsFile } = setup();
      const proxy = spawn(
        process.execPath,
        [bin, "record", "--policy", policy, "--db", db, "--", process.execPath, server, pidsFile],
        { stdio: ["pipe", "pipe", "pipe"] },
      );
      let stderr = "";
      proxy.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = once(proxy, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
      const answered = once(proxy.stdout, "data");
      proxy.stdin.write(JSON.stringify(INITIALIZE) + "\n");
      await answered;
      const pids = readPids(pidsFile);
      expect(pids.every(alive)).toBe(true);

      const stoppedAt = Date.now();
      if (way === "stdin ends") proxy.stdin.end();
      else proxy.kill(way);
      const [code, signal] = await exited;
      expect(Date.now() - stoppedAt).toBeLessThan(PROMPTLY_MS);
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: "" });
      await expectStoppedCleanly(db, pids);
    },
  );

  it("closed by the MCP SDK's client, which SIGTERMs after 2 s and SIGKILLs after 4 s", async () => {
    const { policy, db, server, pidsFile } = setup();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [
        bin,
        "record",
        "--policy",
        policy,
        "--db",
        db,
        "--",
        process.execPath,
        server,
        pidsFile,
      ],
      stderr: "ignore",
    });
    const client = new Client({ name: "test-agent", version: "1.0.0" });
    await client.connect(transport);
    const pids = readPids(pidsFile);
    const closing = Date.now();
    await client.close();
    // Well before the SIGKILL, which would have left the recording open (in WAL, -wal beside it).
    expect(Date.now() - closing).toBeLessThan(PROMPTLY_MS);
    await expectStoppedCleanly(db, pids);
  });
});

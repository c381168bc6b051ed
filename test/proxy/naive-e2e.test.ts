// Through the real `record` command over stdio, in front of the naive server fixture (which runs
// every tools/call it receives): only decided, allowed calls ever run.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
const bin = join(root, "bin/policy-replay.js");
const naive = join(root, "fixtures/servers/naive-server.mjs");
const dir = mkdtempSync(join(tmpdir(), "policy-replay-naive-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("record in front of a naive server", () => {
  it("a notification-form call and an array-named call never reach it", async () => {
    const policy = join(dir, "policy.json");
    writeFileSync(
      policy,
      JSON.stringify({ version: "1", default: "allow", tools: { denied: { action: "deny" } } }),
    );
    const log = join(dir, "ran.jsonl");
    const child = spawn(
      process.execPath,
      [
        bin,
        "record",
        "--policy",
        policy,
        "--db",
        join(dir, "rec.sqlite"),
        "--",
        process.execPath,
        naive,
      ],
      { env: { ...process.env, NAIVE_SERVER_LOG: log }, stdio: ["pipe", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const answered = (id: number): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (out.includes(`"id":${id},`) || out.includes(`"id":${id}}`)) {
            child.stdout.off("data", check);
            resolve();
          }
        };
        child.stdout.on("data", check);
        check();
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
    await answered(0);
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send({ jsonrpc: "2.0", method: "tools/call", params: { name: "denied" } });
    send({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: ["denied"] } });
    send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "denied" } });
    send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "safe" } });
    await answered(3);
    child.stdin.end();
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(0);
    const ran = existsSync(log)
      ? readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { name: string })
      : [];
    expect(ran.map((r) => r.name)).toEqual(["safe"]);
    const answers = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { id: number; error?: { code: number } });
    expect(answers.find((a) => a.id === 1)?.error?.code).toBe(-32602);
  });
});

// End to end: the real CLI (`policy-replay record`) between the SDK's real Client and a real
// server over stdio, then the SQLite file read back as replay and the UI will read it.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import { once } from "node:events";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
const bin = join(root, "bin/policy-replay.js");
const everything = createRequire(import.meta.url).resolve(
  "@modelcontextprotocol/server-everything/dist/index.js",
);
const fixtureServer = join(root, "dist/scripts/fixture-server.js");

function setup(policy: object) {
  const dir = mkdtempSync(join(tmpdir(), "policy-replay-record-"));
  const policyFile = join(dir, "policy.json");
  writeFileSync(policyFile, JSON.stringify(policy));
  return { dir, policyFile, db: join(dir, "rec.sqlite") };
}

async function connect(args: string[]): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [bin, "record", ...args],
    stderr: "pipe",
  });
  let err = "";
  transport.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const client = new Client({ name: "e2e-agent", version: "1.0.0" }, { capabilities: {} });
  await client.connect(transport);
  return { client, stderr: () => err };
}

describe("policy-replay record (stdio)", () => {
  it("relays server-everything under the policy and records every message and decision", async () => {
    const { policyFile, db } = setup({
      version: "1",
      default: "allow",
      hide: ["get-env"],
      tools: {
        echo: { limits: [{ counter: "echo", window: "minute", max: 30, scope: "grant" }] },
        "get-sum": { action: "deny", reason: "no sums" },
      },
    });
    const { client } = await connect([
      "--policy",
      policyFile,
      "--db",
      db,
      "--identity",
      "agent-a",
      "--",
      process.execPath,
      everything,
      "stdio",
    ]);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).not.toContain("get-env");
    for (let i = 0; i < 30; i++)
      await client.callTool({ name: "echo", arguments: { message: `${i}` } });
    const limited = await client.callTool({ name: "echo", arguments: { message: "31st" } });
    expect(limited.isError).toBe(true);
    const denied = await client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    expect(denied.isError).toBe(true);
    await client.close();
    await new Promise((r) => setTimeout(r, 300)); // the proxy flushes and closes on disconnect

    expect(statSync(db).mode & 0o777).toBe(0o600);
    const sql = new Database(db, { readonly: true });
    const sessions = sql.prepare("SELECT identity, transport, mode, ended_at FROM sessions").all();
    expect(sessions).toEqual([
      { identity: "agent-a", transport: "stdio", mode: "enforce", ended_at: expect.any(Number) },
    ]);
    const calls = sql.prepare("SELECT tool, code FROM calls ORDER BY id").all() as {
      tool: string;
      code: string;
    }[];
    expect(calls).toHaveLength(32);
    expect(calls.slice(-2)).toEqual([
      { tool: "echo", code: "rate_limited" },
      { tool: "get-sum", code: "rule_deny" },
    ]);
    const seqs = (
      sql.prepare("SELECT seq FROM messages ORDER BY seq").all() as { seq: number }[]
    ).map((r) => r.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(seqs.length).toBeGreaterThan(32 * 2);
    sql.close();
  });

  it("stores secret-looking argument values as keyed hashes, never in clear", async () => {
    const { policyFile, db } = setup({ version: "1", default: "allow" });
    const { client } = await connect([
      "--policy",
      policyFile,
      "--db",
      db,
      "--",
      process.execPath,
      fixtureServer,
    ]);
    const secret = "hunter2-correct-horse-battery-staple";
    const r = await client.callTool({
      name: "fleet_secrets_set",
      arguments: { team: "payments", name: "DB_PASSWORD", value: secret },
    });
    expect(r.isError).toBeFalsy();
    await client.close();
    await new Promise((r) => setTimeout(r, 300));
    for (const file of [db, `${db}-wal`]) {
      try {
        expect(readFileSync(file).includes(Buffer.from(secret))).toBe(false);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    const sql = new Database(db, { readonly: true });
    const { arguments: args } = sql.prepare("SELECT arguments FROM calls").get() as {
      arguments: string;
    };
    expect(JSON.parse(args)).toMatchObject({
      team: "payments",
      value: { $redacted: expect.stringMatching(/^hmac-sha256:/) },
    });
    sql.close();
    expect(statSync(`${db}.key`).mode & 0o777).toBe(0o600);
  });

  it("serves Streamable HTTP with --listen, identity from a bearer token, until SIGTERM", async () => {
    const { dir, policyFile, db } = setup({
      version: "1",
      default: "allow",
      tools: { "get-sum": { action: "deny" } },
    });
    const tokens = join(dir, "tokens.json");
    writeFileSync(tokens, JSON.stringify({ "tok-ci-123": "ci-bot" }));
    const proc = spawn(
      process.execPath,
      [
        bin,
        "record",
        "--policy",
        policyFile,
        "--db",
        db,
        "--listen",
        "127.0.0.1:0",
        "--tokens",
        tokens,
        "--",
        process.execPath,
        everything,
        "stdio",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    const url = await new Promise<string>((resolve, reject) => {
      proc.stderr.on("data", (d: Buffer) => {
        err += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]!);
      });
      proc.once("exit", () => reject(new Error(`exited early: ${err}`)));
    });
    const client = new Client({ name: "http-agent", version: "1.0.0" }, { capabilities: {} });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: "Bearer tok-ci-123" } },
      }),
    );
    const r = await client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    expect(r.isError).toBe(true);
    await client.close();
    proc.kill("SIGTERM");
    const [code] = (await once(proc, "exit")) as [number | null];
    expect(code).toBe(0);
    const sql = new Database(db, { readonly: true });
    expect(sql.prepare("SELECT identity, transport FROM sessions").all()).toEqual([
      { identity: "ci-bot", transport: "http" },
    ]);
    expect(sql.prepare("SELECT tool, code FROM calls").all()).toEqual([
      { tool: "get-sum", code: "rule_deny" },
    ]);
    expect(readFileSync(db).includes(Buffer.from("tok-ci-123"))).toBe(false);
    sql.close();
  });

  it("on a non-loopback --listen: refuses anonymous access unless told, then checks Host", async () => {
    const { policyFile, db } = setup({ version: "1", default: "allow" });
    const args = ["record", "--policy", policyFile, "--db", db, "--listen", "0.0.0.0:0"];
    const server = ["--", process.execPath, everything, "stdio"];
    const refused = spawn(process.execPath, [bin, ...args, ...server], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let refusal = "";
    refused.stderr.on("data", (d: Buffer) => (refusal += d.toString()));
    const [refusedCode] = (await once(refused, "exit")) as [number | null];
    expect(refusedCode).toBe(2);
    expect(refusal).toBe(
      "policy-replay: record: --listen 0.0.0.0:0 is reachable from other machines: add --tokens FILE --require-token, or --allow-anonymous to let anyone in\n",
    );

    const proc = spawn(process.execPath, [bin, ...args, "--allow-anonymous", ...server], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    const url = await new Promise<string>((resolve, reject) => {
      proc.stderr.on("data", (d: Buffer) => {
        err += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]!);
      });
      proc.once("exit", () => reject(new Error(`exited early: ${err}`)));
    });
    const port = new URL(url).port;
    const post = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          `http://127.0.0.1:${port}/mcp`,
          { method: "POST", headers: { host, "content-type": "application/json" } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end("{}");
      });
    expect(await post("evil.example")).toBe(403);
    // Past the Host check: turned away only for not being an initialize.
    expect(await post(`127.0.0.1:${port}`)).toBe(400);
    proc.kill("SIGTERM");
    const [code] = (await once(proc, "exit")) as [number | null];
    expect(code).toBe(0);
  });
});

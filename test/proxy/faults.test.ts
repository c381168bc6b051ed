// Faults from bad input, through the real CLI (`policy-replay record` over stdio):
// the proxy killed mid-burst, bad lines from either side, a message over the size limit, a
// server that crashes mid-call, an agent that goes away mid-call. Each time the proxy says so
// on stderr, records what happened, answers what it can, and keeps going or ends cleanly.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { readRecording } from "../../src/replay/recording.js";
import { openStore } from "../../src/store/sqlite.js";

const root = join(import.meta.dirname, "../..");
const bin = join(root, "bin/policy-replay.js");
const fixtureServer = join(root, "dist/scripts/fixture-server.js");
const node = process.execPath;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(policy: object = { version: "1", default: "allow" }) {
  const dir = mkdtempSync(join(tmpdir(), "policy-replay-faults-"));
  dirs.push(dir);
  const policyFile = join(dir, "policy.json");
  writeFileSync(policyFile, JSON.stringify(policy));
  const fake = join(dir, "fake-server.mjs");
  writeFileSync(fake, FAKE_SERVER);
  return { dir, policyFile, db: join(dir, "rec.sqlite"), fake };
}

/**
 * A hand-written MCP server over stdio that misbehaves on request: a stray line on its stdout
 * at start, then tools that print garbage, cut an answer short, answer with more than the
 * proxy takes, take their time, or crash mid-call. It leaves when its stdin ends.
 */
const FAKE_SERVER = String.raw`
import { createInterface } from "node:readline";
const out = (text) => process.stdout.write(text + "\n");
const send = (m) => out(JSON.stringify(m));
out("fake server starting (a stray log line on stdout)");
createInterface({ input: process.stdin })
  .on("line", (line) => {
    const m = JSON.parse(line);
    if (m.id === undefined) return;
    const result = (result) => send({ jsonrpc: "2.0", id: m.id, result });
    const text = (t) => result({ content: [{ type: "text", text: t }] });
    if (m.method === "initialize")
      return result({
        protocolVersion: m.params.protocolVersion,
        capabilities: { tools: {} },
        serverInfo: { name: "fake", version: "1.0.0" },
      });
    if (m.method !== "tools/call")
      return send({ jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "no" } });
    const args = m.params.arguments ?? {};
    switch (m.params.name) {
      case "echo":
        return text("echo: " + args.text);
      case "garble":
        out("{garbage from the server");
        return text("after the garbage");
      case "cut_short":
        return out('{"jsonrpc":"2.0","id":' + JSON.stringify(m.id) + ',"result":{"content":[');
      case "huge":
        return text("x".repeat(11 * 1024 * 1024));
      case "slow":
        return setTimeout(() => text("slow done"), args.ms);
      case "crash":
        return setTimeout(() => process.kill(process.pid, "SIGKILL"), 50);
    }
  })
  .on("close", () => process.exit(0));
`;

/** The agent's side as raw bytes: the proxy spawned with pipes, its answers parsed by line. */
class RawAgent {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly received: Record<string, unknown>[] = [];
  stderr = "";
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];

  constructor(args: string[]) {
    this.proc = spawn(node, [bin, "record", ...args]);
    let buf = "";
    this.proc.stdout.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) !== -1) {
        this.received.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        buf = buf.slice(nl + 1);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    this.proc.stderr.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.exit = new Promise((resolve) =>
      this.proc.once("exit", (code, signal) => resolve({ code, signal })),
    );
  }

  write(raw: string): void {
    this.proc.stdin.write(raw);
  }

  send(message: object): void {
    this.write(JSON.stringify(message) + "\n");
  }

  /** The first answer with this id (waits for it). */
  async answer(id: string | number | null, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find((m) => "id" in m && m.id === id && !("method" in m));
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no answer for id ${id}; got ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async initialize(): Promise<void> {
    this.send({
      jsonrpc: "2.0",
      id: "init",
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "raw-agent", version: "1.0.0" },
      },
    });
    await this.answer("init");
    this.send({ jsonrpc: "2.0", method: "notifications/initialized" });
  }

  call(id: number, name: string, args: Record<string, unknown> = {}): void {
    this.send({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface MessageRow {
  seq: number;
  direction: number;
  method: string | null;
  jsonrpc_id: string | null;
  body: string;
}

function messages(db: string): MessageRow[] {
  const sql = new Database(db, { readonly: true });
  try {
    return sql
      .prepare("SELECT seq, direction, method, jsonrpc_id, body FROM messages ORDER BY seq")
      .all() as MessageRow[];
  } finally {
    sql.close();
  }
}

function query<T>(db: string, text: string): T[] {
  const sql = new Database(db, { readonly: true });
  try {
    return sql.prepare(text).all() as T[];
  } finally {
    sql.close();
  }
}

const text = (r: Record<string, unknown>): string =>
  ((r.content as { text?: string }[] | undefined) ?? []).map((c) => c.text ?? "").join("");

describe("faults through policy-replay record", () => {
  it("SIGKILL mid-burst: the file opens intact and holds a decision for every answered call", async () => {
    const { policyFile, db } = setup({
      version: "1",
      default: "allow",
      tools: {
        move: { action: "deny", reason: "no games at work" },
        fleet_deploy: {
          limits: [{ counter: "deploys", window: "minute", max: 40, scope: "session" }],
        },
      },
    });
    const transport = new StdioClientTransport({
      command: node,
      args: [bin, "record", "--policy", policyFile, "--db", db, "--", node, fixtureServer],
      stderr: "pipe",
    });
    const client = new Client({ name: "burst-agent", version: "1.0.0" }, { capabilities: {} });
    await client.connect(transport);
    const pid = transport.pid!;

    // Every call carries a unique mark, so an answered call can be found in the recording.
    // They mix forwarded calls, denied ones and (past 40 deploys) rate-limited ones.
    const answered = new Set<string>();
    const call = async (i: number): Promise<void> => {
      const mark = `m${i}`;
      const [name, args] =
        i % 3 === 0
          ? ["move", { direction: mark }]
          : i % 3 === 1
            ? ["fleet_hosts_list", { team: mark }]
            : ["fleet_deploy", { env: mark, build: "b1" }];
      try {
        await client.callTool({ name, arguments: args });
        answered.add(mark);
      } catch {
        // Cut off by the kill: no answer, so nothing is owed.
      }
    };
    const inflight = new Set<Promise<void>>();
    let next = 0;
    while (answered.size < 300) {
      while (inflight.size < 16) {
        const p: Promise<void> = call(next++).finally(() => inflight.delete(p));
        inflight.add(p);
      }
      await Promise.race(inflight);
    }
    process.kill(pid, "SIGKILL"); // 16 calls in flight
    await Promise.allSettled([...inflight]);
    await client.close();
    expect(answered.size).toBeGreaterThanOrEqual(300);

    // Open read-write first, as the next `record` would: that recovers the WAL.
    const sql = new Database(db);
    expect(sql.pragma("integrity_check", { simple: true })).toBe("ok");
    const rows = sql.prepare("SELECT arguments, code, outcome FROM calls").all() as {
      arguments: string;
      code: string;
      outcome: string | null;
    }[];
    const sessions = sql.prepare("SELECT ended_at FROM sessions").all();
    sql.close();
    expect(sessions).toEqual([{ ended_at: null }]); // it never got to say goodbye
    const recorded = new Map(
      rows.map((r) => {
        const args = JSON.parse(r.arguments) as Record<string, string>;
        return [args.direction ?? args.team ?? args.env, r.code];
      }),
    );
    for (const mark of answered) expect(recorded.has(mark), mark).toBe(true);
    const codes = new Set(recorded.values());
    expect(codes).toEqual(new Set(["rule_deny", "default_allow", "rule_allow", "rate_limited"]));

    // Replay reads it, and the next recording appends to it.
    expect([...readRecording(db)].length).toBe(rows.length);
    openStore(db).close();
  });

  it("a malformed line from the agent: parse error, recorded, said on stderr, and the session goes on", async () => {
    const { policyFile, db } = setup();
    const agent = new RawAgent(["--policy", policyFile, "--db", db, "--", node, fixtureServer]);
    agent.write("{not json}\n");
    // JSON-RPC 2.0: an unreadable request is answered with a parse error and id null.
    expect(await agent.answer(null)).toEqual({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32700, message: expect.stringContaining("Parse error") as unknown },
    });
    await agent.initialize();
    // JSON, but not a JSON-RPC request (params must be an object): Invalid Request, its id.
    agent.write('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":"fleet_status"}\n');
    expect(await agent.answer(7)).toMatchObject({ error: { code: -32600 } });
    // Cut short, with a secret in it: answered by its id, and the secret stays off the disk.
    const secret = "hunter2-correct-horse-battery-staple";
    agent.write(
      `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"set_secret","arguments":{"name":"DB","value":"${secret}"}}\n`,
    );
    expect(await agent.answer(8)).toMatchObject({ error: { code: -32700 } });
    agent.write("\n"); // a blank line is no message at all
    agent.call(9, "fleet_status");
    expect(text((await agent.answer(9)).result as Record<string, unknown>)).toContain("fleet ok");

    agent.proc.stdin.end();
    expect(await agent.exit).toEqual({ code: 0, signal: null });
    expect(agent.stderr).toContain(
      "the agent sent a malformed message (10 bytes: not JSON (Expected property name",
    );
    expect(agent.stderr.match(/the agent sent a malformed message/g)).toHaveLength(3);
    expect(agent.stderr).not.toContain(secret);

    const rows = messages(db);
    const bad = rows.filter((r) => r.direction === 0 && r.method === null);
    expect(bad.map((r) => JSON.parse(r.body) as unknown)).toEqual([
      {
        $malformed: "{not json}",
        reason: expect.stringMatching(/^not JSON/) as unknown,
        bytes: 10,
      },
      {
        $malformed: '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":"fleet_status"}',
        reason: "not a JSON-RPC 2.0 message",
        bytes: 70,
      },
      {
        $malformed: expect.stringContaining('"value":"$redacted"') as unknown,
        reason: expect.stringMatching(/^not JSON/) as unknown,
        bytes: expect.any(Number) as unknown,
      },
    ]);
    expect(bad.map((r) => r.jsonrpc_id)).toEqual([null, "7", "8"]);
    // Each is followed by the proxy's answer to the agent (direction 2).
    for (const r of bad) expect(rows.find((a) => a.seq === r.seq + 1)!.direction).toBe(2);
    // None of them reached the policy: the only decided call is the good one.
    expect(query(db, "SELECT tool, code FROM calls")).toEqual([
      { tool: "fleet_status", code: "default_allow" },
    ]);
    for (const file of [db, `${db}-wal`]) {
      if (existsSync(file)) expect(readFileSync(file).includes(Buffer.from(secret))).toBe(false);
    }
  });

  it("a message over the size limit from the agent: turned away by its id, and the session goes on", async () => {
    const { policyFile, db } = setup();
    const agent = new RawAgent(["--policy", policyFile, "--db", db, "--", node, fixtureServer]);
    await agent.initialize();
    const pad = "x".repeat(5 * 1024 * 1024);
    // The SDK writes the id last; others write it first. Either way it is found.
    agent.send({
      method: "tools/call",
      params: { name: "fleet_status", arguments: { pad } },
      jsonrpc: "2.0",
      id: 21,
    });
    agent.send({
      jsonrpc: "2.0",
      id: "twenty-two",
      method: "tools/call",
      params: { name: "fleet_status", arguments: { pad } },
    });
    for (const id of [21, "twenty-two"]) {
      expect(await agent.answer(id)).toMatchObject({
        error: {
          code: -32600,
          message: expect.stringContaining("over the limit of 4194304 bytes"),
        },
      });
    }
    agent.call(23, "fleet_status");
    expect(text((await agent.answer(23)).result as Record<string, unknown>)).toContain("fleet ok");
    agent.proc.stdin.end();
    expect(await agent.exit).toEqual({ code: 0, signal: null });
    expect(agent.stderr).toMatch(/the agent sent an oversized message \(\d+ bytes: over the limit/);

    const bad = messages(db).filter((r) => r.direction === 0 && r.method === null);
    expect(bad.map((r) => r.jsonrpc_id)).toEqual(["21", '"twenty-two"']);
    for (const r of bad) {
      const body = JSON.parse(r.body) as { $malformed: string; bytes: number };
      expect(body.bytes).toBeGreaterThan(5 * 1024 * 1024);
      expect(body.$malformed).toHaveLength(200);
    }
    // Turned away unheld: the recording is nowhere near the 10 MB it was sent.
    const size = statSync(db).size + (existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0);
    expect(size).toBeLessThan(1024 * 1024);
    expect(query(db, "SELECT jsonrpc_id FROM calls")).toEqual([{ jsonrpc_id: "23" }]);
  });

  it("arguments nested 100,000 deep: turned away by id before parsing, and the session goes on", async () => {
    const { policyFile, db } = setup();
    const agent = new RawAgent(["--policy", policyFile, "--db", db, "--", node, fixtureServer]);
    await agent.initialize();
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    agent.write(
      `{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"fleet_status","arguments":{"a":${deep}}}}\n`,
    );
    expect(await agent.answer(31)).toMatchObject({
      error: { code: -32600, message: expect.stringContaining("nested deeper than 256 levels") },
    });
    agent.call(32, "fleet_status");
    expect(text((await agent.answer(32)).result as Record<string, unknown>)).toContain("fleet ok");
    agent.proc.stdin.end();
    expect(await agent.exit).toEqual({ code: 0, signal: null });
    expect(agent.stderr).toMatch(/the agent sent a malformed message \(\d+ bytes: nested deeper/);
    expect(query(db, "SELECT end_reason FROM sessions")).toEqual([
      { end_reason: "client_disconnected" },
    ]);
    const bad = messages(db).filter((r) => r.direction === 0 && r.method === null);
    expect(bad.map((r) => r.jsonrpc_id)).toEqual(["31"]);
    expect(query(db, "SELECT jsonrpc_id FROM calls")).toEqual([{ jsonrpc_id: "32" }]);
  });

  it("bad lines from the server: a stray line is recorded and skipped; an unreadable answer fails only its call", async () => {
    const { policyFile, db, fake } = setup();
    const transport = new StdioClientTransport({
      command: node,
      args: [bin, "record", "--policy", policyFile, "--db", db, "--", node, fake],
      stderr: "pipe",
    });
    let stderr = "";
    transport.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const client = new Client({ name: "agent", version: "1.0.0" }, { capabilities: {} });
    await client.connect(transport);

    const garbled = await client.callTool({ name: "garble", arguments: {} });
    expect(text(garbled)).toBe("after the garbage");
    // An answer cut short, and one over the server-side limit (10 MiB): the agent gets an
    // error for that call instead of waiting forever.
    await expect(client.callTool({ name: "cut_short", arguments: {} })).rejects.toMatchObject({
      code: -32603,
      message: expect.stringContaining("the MCP server's answer could not be passed on"),
    });
    await expect(client.callTool({ name: "huge", arguments: {} })).rejects.toMatchObject({
      code: -32603,
      message: expect.stringContaining("over the limit of 10485760 bytes"),
    });
    const echo = await client.callTool({ name: "echo", arguments: { text: "still here" } });
    expect(text(echo)).toBe("echo: still here");
    await client.close();

    expect(stderr.match(/the MCP server sent a malformed message/g)).toHaveLength(3);
    expect(stderr).toMatch(/the MCP server sent an oversized message/);
    const bad = messages(db).filter((r) => r.direction === 1 && r.method === null && !r.jsonrpc_id);
    expect(bad.map((r) => (JSON.parse(r.body) as { $malformed: string }).$malformed)).toEqual([
      "fake server starting (a stray log line on stdout)",
      "{garbage from the server",
    ]);
    expect(
      query(db, "SELECT tool, outcome FROM calls ORDER BY id").map((r) => Object.values(r!)),
    ).toEqual([
      ["garble", "result"],
      ["cut_short", "error"],
      ["huge", "error"],
      ["echo", "result"],
    ]);
  });

  it("the server crashes mid-call: the agent gets an error, the session records it, the proxy exits", async () => {
    const { policyFile, db, fake } = setup();
    const agent = new RawAgent(["--policy", policyFile, "--db", db, "--", node, fake]);
    await agent.initialize();
    agent.call(1, "crash");
    expect(await agent.answer(1)).toMatchObject({
      error: { code: -32000, message: "policy-replay: the MCP server exited" },
    });
    expect(await agent.exit).toEqual({ code: 0, signal: null });
    expect(agent.stderr).toContain("the MCP server exited; answered 1 pending request(s)");
    expect(query(db, "SELECT end_reason, ended_at IS NOT NULL AS ended FROM sessions")).toEqual([
      { end_reason: "server_exited", ended: 1 },
    ]);
    expect(query(db, "SELECT tool, outcome FROM calls")).toEqual([
      { tool: "crash", outcome: "no_answer" },
    ]);
  });

  it("the agent disconnects mid-call: the session ends, the call has no answer, the proxy exits 0", async () => {
    const { policyFile, db, fake } = setup();
    const agent = new RawAgent(["--policy", policyFile, "--db", db, "--", node, fake]);
    await agent.initialize();
    agent.call(1, "slow", { ms: 30_000 });
    await sleep(200);
    agent.proc.stdin.end();
    expect(await agent.exit).toEqual({ code: 0, signal: null });
    expect(agent.stderr).not.toContain("internal error");
    expect(query(db, "SELECT end_reason, ended_at >= started_at AS ended FROM sessions")).toEqual([
      { end_reason: "client_disconnected", ended: 1 },
    ]);
    expect(query(db, "SELECT tool, outcome FROM calls")).toEqual([
      { tool: "slow", outcome: "no_answer" },
    ]);
  });

  it("an agent that stops reading: the failed write ends the session cleanly, not the process", async () => {
    const { policyFile, db, fake } = setup();
    const agent = new RawAgent(["--policy", policyFile, "--db", db, "--", node, fake]);
    await agent.initialize();
    agent.call(1, "slow", { ms: 300 });
    agent.proc.stdout.destroy(); // its answer will meet a closed pipe (EPIPE)
    expect(await agent.exit).toEqual({ code: 0, signal: null });
    // The session's end is on record: the process did not just vanish on EPIPE.
    expect(query(db, "SELECT end_reason FROM sessions")).toEqual([
      { end_reason: "client_disconnected" },
    ]);
    expect(agent.stderr).toContain("EPIPE");
  });

  it("a server command that cannot start: a plain message, exit 2, no recording made", async () => {
    const { policyFile, db } = setup();
    const agent = new RawAgent(["--policy", policyFile, "--db", db, "--", "no-such-mcp-server"]);
    expect(await agent.exit).toEqual({ code: 2, signal: null });
    expect(agent.stderr).toBe(
      'policy-replay: record: could not start the MCP server "no-such-mcp-server": spawn no-such-mcp-server ENOENT\n',
    );
    // A session that never started: nothing for a later replay to pick up.
    expect(existsSync(db)).toBe(false);
  });
});

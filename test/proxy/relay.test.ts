// The relay against the real reference server (server-everything over stdio), driven by the
// SDK's real Client; only the agent's side of the wire is in memory.
import { MemoryCounters } from "../../src/proxy/counters.js";
import { createRequire } from "node:module";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  type ClientCapabilities,
} from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it } from "vitest";
import { compile } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import { relay } from "../../src/proxy/relay.js";
import type { Mode } from "../../src/store/types.js";
import type { Timers } from "../../src/proxy/timers.js";
import { MemoryStore } from "./memory-store.js";
import { ManualTimers, until } from "./manual-timers.js";

const everything = createRequire(import.meta.url).resolve(
  "@modelcontextprotocol/server-everything/dist/index.js",
);

const POLICY = {
  version: "1",
  default: "allow",
  hide: ["get-env"],
  tools: {
    echo: { limits: [{ counter: "echo", window: "minute", max: 30, scope: "session" }] },
    "get-sum": { action: "deny", reason: "no arithmetic today" },
    "get-tiny-image": { action: "require_approval", reason: "images cost money" },
    "get-structured-content": { action: "deny" },
  },
};

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function start(opts: {
  mode?: Mode;
  capabilities?: ClientCapabilities;
  approve?: boolean;
  approvalTimeoutMs?: number;
  requestTimeoutMs?: number;
  timers?: Timers;
  /** An agent that was connected before (it keeps what it learnt from tools/list). */
  client?: Client;
}) {
  const compiled = compile(parsePolicyText(JSON.stringify(POLICY)).policy);
  const store = new MemoryStore();
  const logs: string[] = [];
  const [agentSide, proxySide] = InMemoryTransport.createLinkedPair();
  const upstream = new StdioClientTransport({
    command: process.execPath,
    args: [everything, "stdio"],
    stderr: "pipe",
  });
  store.startSession({
    id: "s1",
    identity: "agent-a",
    transport: "stdio",
    mode: opts.mode ?? "enforce",
    policyHash: "h",
    startedAt: Date.now(),
  });
  const { closed } = await relay({
    client: proxySide,
    server: upstream,
    compiled,
    counters: new MemoryCounters(compiled),
    clock: { now: () => Date.now() },
    session: { id: "s1", identity: "agent-a" },
    mode: opts.mode ?? "enforce",
    store,
    redactor: { redact: (v) => v },
    approvalTimeoutMs: opts.approvalTimeoutMs ?? 5_000,
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
    ...(opts.timers ? { timers: opts.timers } : {}),
    log: (l) => logs.push(l),
  });
  const client =
    opts.client ??
    new Client({ name: "test-agent", version: "1.0.0" }, { capabilities: opts.capabilities ?? {} });
  if (opts.capabilities?.elicitation) {
    client.setRequestHandler(ElicitRequestSchema, () =>
      opts.approve === undefined
        ? new Promise(() => {}) // never answers
        : { action: "accept", content: { approve: opts.approve } },
    );
  }
  if (opts.capabilities?.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, () => ({
      model: "test-model",
      role: "assistant",
      content: { type: "text", text: "sampled!" },
    }));
  }
  await client.connect(agentSide);
  closers.push(async () => {
    await client.close();
    await closed;
  });
  return { client, store, logs, closed, upstream };
}

const text = (r: Record<string, unknown>): string =>
  ((r.content as { type: string; text?: string }[] | undefined) ?? [])
    .map((c) => c.text ?? "")
    .join("");

describe("relay over stdio to server-everything", () => {
  it("hides hidden tools from tools/list and answers them as unknown", async () => {
    const { client } = await start({});
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toContain("echo");
    expect(names).not.toContain("get-env");
    await expect(client.callTool({ name: "get-env", arguments: {} })).rejects.toMatchObject({
      code: -32602,
    });
  });

  it("forwards allowed calls and rate-limits the 31st echo in a minute", async () => {
    const { client, store } = await start({});
    for (let i = 0; i < 30; i++) {
      const r = await client.callTool({ name: "echo", arguments: { message: `m${i}` } });
      expect(text(r)).toBe(`Echo: m${i}`);
    }
    const r = await client.callTool({ name: "echo", arguments: { message: "one too many" } });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/rate-limited.*rate_limited.*retried in \d+ s/);
    expect(r._meta).toMatchObject({
      "policy-replay/decision": {
        decision: "deny",
        code: "rate_limited",
        rule: "echo",
        counter: "echo",
      },
    });
    expect(store.decisions.map((d) => d.decision.code).slice(-2)).toEqual([
      "rule_allow",
      "rate_limited",
    ]);
    expect(store.decisions.at(-1)!.outcome?.outcome).toBe("denied");
    expect(store.decisions[0]!.outcome?.outcome).toBe("result");
    // Each decision row keeps what the limit counted before the call; no sequence in memory.
    const limit = { counter: "echo", scope: "session", algorithm: "sliding", window_ms: 60_000 };
    expect(store.decisions.map((d) => d.counts?.[0]?.count)).toEqual([...Array(31).keys()]);
    expect(store.decisions.at(-1)!.counts).toEqual([{ ...limit, max: 30, count: 30 }]);
    expect(store.decisions.every((d) => d.counterSeq === null)).toBe(true);
  });

  it("answers a denied call itself, with the reason, and never forwards it", async () => {
    const { client, store } = await start({});
    const r = await client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("no arithmetic today");
    const forwarded = store.messages.filter(
      (m) => m.direction === "client_to_server" && m.method === "tools/call",
    );
    expect(forwarded).toHaveLength(1);
    // The only answer came from the proxy.
    const answers = store.messages.filter(
      (m) => m.jsonrpcId === forwarded[0]!.jsonrpcId && !m.method,
    );
    expect(answers.map((m) => m.direction)).toEqual(["proxy_to_client"]);
  });

  // The SDK's Client checks structuredContent against a tool's outputSchema whenever it has
  // one from a tools/list, isError or not, and a client may know it from an earlier session.
  describe("a denial's structuredContent, which the proxy sends only for tools it knows", () => {
    const denied = { name: "get-structured-content", arguments: { location: "New York" } };

    it("leaves it out for a tool with an outputSchema, listed first or not", async () => {
      const { client } = await start({});
      const unlisted = await client.callTool(denied);
      await client.listTools(); // the client learns the tool's outputSchema
      const listed = await client.callTool(denied);
      for (const r of [unlisted, listed]) {
        expect(r.isError).toBe(true);
        expect(r.structuredContent).toBeUndefined();
        expect(text(r)).toContain("rule_deny");
        expect(r._meta).toMatchObject({ "policy-replay/decision": { code: "rule_deny" } });
      }
      expect(Object.keys(listed)).toEqual(Object.keys(unlisted));
    });

    it("leaves it out for a tool the session has not listed, which the client may know", async () => {
      const first = await start({});
      await first.client.listTools();
      await first.client.close();
      await first.closed;
      // The same client, in a new session: it kept the outputSchema, the proxy never saw it.
      const { client } = await start({ client: first.client });
      const r = await client.callTool(denied);
      expect(r.isError).toBe(true);
      expect(r.structuredContent).toBeUndefined();
      expect(r._meta).toMatchObject({ "policy-replay/decision": { code: "rule_deny" } });
    });

    it("sends it for a listed tool that declares no outputSchema", async () => {
      const { client } = await start({});
      const args = { name: "get-sum", arguments: { a: 1, b: 2 } };
      const unlisted = await client.callTool(args);
      expect(unlisted.structuredContent).toBeUndefined();
      await client.listTools();
      const listed = await client.callTool(args);
      expect(listed.structuredContent).toMatchObject({
        policy: { decision: "deny", code: "rule_deny", reason: "no arithmetic today" },
      });
      expect(listed._meta).toEqual(unlisted._meta);
    });
  });

  it("denies require_approval when the client cannot be asked", async () => {
    const { client, store } = await start({});
    const r = await client.callTool({ name: "get-tiny-image", arguments: {} });
    expect(r.isError).toBe(true);
    expect(r._meta).toMatchObject({ "policy-replay/decision": { code: "approval_required" } });
    expect(store.decisions[0]!.approval).toBe("unavailable");
  });

  it("asks the human through elicitation and forwards an approved call", async () => {
    const { client, store } = await start({ capabilities: { elicitation: {} }, approve: true });
    const r = await client.callTool({ name: "get-tiny-image", arguments: {} });
    expect(r.isError).toBeFalsy();
    expect(store.decisions[0]!.approval).toBe("approved");
    expect(store.decisions[0]!.outcome?.outcome).toBe("result");
  });

  it("denies a rejected or unanswered approval", async () => {
    const rejected = await start({ capabilities: { elicitation: {} }, approve: false });
    const r1 = await rejected.client.callTool({ name: "get-tiny-image", arguments: {} });
    expect(r1.isError).toBe(true);
    expect(rejected.store.decisions[0]!.approval).toBe("rejected");

    const silent = await start({ capabilities: { elicitation: {} }, approvalTimeoutMs: 200 });
    const r2 = await silent.client.callTool({ name: "get-tiny-image", arguments: {} });
    expect(r2.isError).toBe(true);
    expect(silent.store.decisions[0]!.approval).toBe("timeout");
  });

  it("relays progress notifications and server-to-client sampling requests", async () => {
    const { client, store } = await start({ capabilities: { sampling: {} } });
    const progress: number[] = [];
    await client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    // All three went through the relay, in order, before the result. (The SDK client may drop
    // the last if it settles the request first: that race is the client's, not the relay's.)
    const relayed = store.messages.filter((m) => m.method === "notifications/progress");
    expect(
      relayed.map((m) => (m.message as { params: { progress: number } }).params.progress),
    ).toEqual([1, 2, 3]);
    expect(relayed.every((m) => m.direction === "server_to_client")).toBe(true);
    const resultSeq = store.messages.find(
      (m) => m.direction === "server_to_client" && !m.method && m.seq > relayed[2]!.seq,
    );
    expect(resultSeq).toBeDefined();
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const r = await client.callTool({
      name: "trigger-sampling-request",
      arguments: { prompt: "hello", maxTokens: 10 },
    });
    expect(text(r)).toContain("sampled!");
    expect(store.messages.some((m) => m.method === "sampling/createMessage")).toBe(true);
    expect(store.messages.some((m) => m.method === "notifications/progress")).toBe(true);
  });

  it("a server that does not answer in time: the agent gets -32001, the server a cancellation", async () => {
    // The request timeout runs on timers the test drives, so machine speed does not matter.
    const timers = new ManualTimers();
    const { client, store, logs } = await start({ requestTimeoutMs: 1_000, timers });
    const pending = client
      .callTool(
        { name: "trigger-long-running-operation", arguments: { duration: 2.5, steps: 1 } },
        undefined,
        { timeout: 60_000 },
      )
      .catch((e: unknown) => e);
    await until(() => timers.running() === 1);
    timers.fireAll();
    expect(((await pending) as { code?: unknown }).code).toBe(-32001);
    expect(logs.join("\n")).toMatch(/did not answer tools\/call .* within 1s/);
    const cancel = store.messages.find((m) => m.method === "notifications/cancelled");
    expect(cancel?.direction).toBe("proxy_to_server");
    expect(store.decisions[0]?.outcome?.outcome).toBe("no_answer");
    // The session goes on; progress restarts the clock, so a slow call that reports progress
    // more often than the timeout gets through.
    const refreshed = timers.refreshes;
    const r = await client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 0.5, steps: 5 } },
      undefined,
      { onprogress: () => {}, timeout: 60_000 },
    );
    expect(text(r)).toContain("completed");
    expect(timers.refreshes - refreshed).toBeGreaterThanOrEqual(4);
  });

  it("records every message in order, with a decision for every tools/call", async () => {
    const { client, store } = await start({});
    await client.listTools();
    await client.callTool({ name: "echo", arguments: { message: "x" } });
    await client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    const seqs = store.messages.map((m) => m.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const ts = store.messages.map((m) => m.ts);
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    expect(store.messages[0]!.method).toBe("initialize");
    expect(store.decisions.map((d) => d.tool)).toEqual(["echo", "get-sum"]);
  });

  it("in observe mode forwards everything and records what the policy would have done", async () => {
    const { client, store } = await start({ mode: "observe" });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("get-env");
    const r = await client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    expect(r.isError).toBeFalsy();
    expect(text(r)).toContain("3");
    expect(store.decisions[0]!.decision.code).toBe("rule_deny");
    expect(store.decisions[0]!.outcome?.outcome).toBe("result");
  });

  it("answers pending requests with an error when the server dies", async () => {
    const { client, upstream, store, logs } = await start({});
    const pending = client.callTool({
      name: "trigger-long-running-operation",
      arguments: { duration: 5, steps: 5 },
    });
    await new Promise((r) => setTimeout(r, 200));
    process.kill(upstream.pid!, "SIGKILL");
    await expect(pending).rejects.toMatchObject({ code: -32000 });
    expect(logs.join("\n")).toContain("the MCP server exited");
    expect(store.sessions.get("s1")!.endReason).toBe("server_exited");
    expect(store.decisions[0]!.outcome?.outcome).toBe("no_answer");
  });
});

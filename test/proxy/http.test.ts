// Streamable HTTP mode end to end: the SDK's real Client over StreamableHTTPClientTransport,
// the proxy's node:http server, and the real server-everything behind it (spawned over stdio
// per session, or one streamableHttp server), all on 127.0.0.1 with ephemeral ports.
import { MemoryCounters } from "../../src/proxy/counters.js";
import { type ChildProcess, spawn } from "node:child_process";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  CreateMessageRequestSchema,
  LATEST_PROTOCOL_VERSION,
} from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { compile } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import { serveHttp } from "../../src/proxy/http.js";
import { Shadow } from "../../src/proxy/shadow.js";
import { StdioServerProcess } from "../../src/proxy/stdio.js";
import { MemoryStore } from "./memory-store.js";
import { alive, readPids, writeStubbornServer } from "./stubborn-server.js";

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
  },
};

/** Run last-in first-out: clients before the proxy they talk to. */
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

interface StartOptions {
  policy?: object;
  tokens?: Record<string, string>;
  requireToken?: boolean;
  allowedOrigins?: string[];
  maxBodyBytes?: number;
  idleTimeoutMs?: number;
  upstream?: () => Transport;
  host?: string;
  allowedHosts?: string[];
  allowAnonymous?: boolean;
  /** A shadow policy, decided beside the enforced one and recorded. */
  shadow?: object;
}

async function startProxy(o: StartOptions = {}) {
  const loaded = parsePolicyText(JSON.stringify(o.policy ?? POLICY));
  const compiled = compile(loaded.policy);
  const shadowLoaded = o.shadow ? parsePolicyText(JSON.stringify(o.shadow)) : null;
  const shadow = shadowLoaded ? new Shadow(compile(shadowLoaded.policy), shadowLoaded.hash) : null;
  const store = new MemoryStore();
  const logs: string[] = [];
  const upstreams: StdioClientTransport[] = [];
  const proxy = await serveHttp({
    port: 0,
    host: o.host,
    allowedHosts: o.allowedHosts,
    allowAnonymous: o.allowAnonymous,
    upstream:
      o.upstream ??
      (() => {
        const t = new StdioClientTransport({
          command: process.execPath,
          args: [everything, "stdio"],
          stderr: "pipe",
        });
        upstreams.push(t);
        return t;
      }),
    compiled,
    policyHash: loaded.hash,
    counters: new MemoryCounters(compiled, undefined, shadow),
    mode: "enforce",
    store,
    redactor: { redact: (v) => v },
    approvalTimeoutMs: 5_000,
    tokens: o.tokens,
    requireToken: o.requireToken,
    allowedOrigins: o.allowedOrigins,
    maxBodyBytes: o.maxBodyBytes,
    idleTimeoutMs: o.idleTimeoutMs,
    log: (l) => logs.push(l),
  });
  closers.push(() => proxy.close());
  return { ...proxy, store, logs, upstreams };
}

async function connect(url: string, token?: string) {
  const transport = new StreamableHTTPClientTransport(
    new URL(url),
    token === undefined
      ? undefined
      : { requestInit: { headers: { authorization: `Bearer ${token}` } } },
  );
  const client = new Client(
    { name: "http-agent", version: "1.0.0" },
    { capabilities: { sampling: {} } },
  );
  client.setRequestHandler(CreateMessageRequestSchema, () => ({
    model: "test-model",
    role: "assistant",
    content: { type: "text", text: "sampled!" },
  }));
  await client.connect(transport);
  closers.push(() => client.close());
  return { client, transport, sessionId: transport.sessionId! };
}

const text = (r: Record<string, unknown>): string =>
  ((r.content as { type: string; text?: string }[] | undefined) ?? [])
    .map((c) => c.text ?? "")
    .join("");

const INIT = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: "raw", version: "0" },
  },
});

/** One HTTP request with node:http, so Host and Origin are exactly what the test says. */
function raw(
  url: string,
  o: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; json: () => unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: o.method ?? "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...o.headers,
        },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body) as unknown,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}

/** The messages of one session, checking they were recorded in order. */
function sessionMessages(store: MemoryStore, id: string) {
  const messages = store.messages.filter((m) => m.session === id);
  expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1));
  const ts = messages.map((m) => m.ts);
  expect([...ts].sort((a, b) => a - b)).toEqual(ts);
  expect(messages[0]!.method).toBe("initialize");
  return messages;
}

describe("serveHttp with a spawned stdio server per session", () => {
  it("hides tools, forwards allowed calls, denies denied ones, and records it all in order", async () => {
    const proxy = await startProxy();
    expect(proxy.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const { client, transport, sessionId } = await connect(proxy.url);
    // The SDK client sends MCP-Protocol-Version from here on; the proxy's transport checks it.
    expect(transport.protocolVersion).toBe(LATEST_PROTOCOL_VERSION);

    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("echo");
    expect(tools.map((t) => t.name)).not.toContain("get-env");
    const ok = await client.callTool({ name: "echo", arguments: { message: "hi" } });
    expect(text(ok)).toBe("Echo: hi");
    const denied = await client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    expect(denied.isError).toBe(true);
    expect(text(denied)).toContain("no arithmetic today");

    expect(proxy.store.sessions.get(sessionId)).toMatchObject({
      id: sessionId,
      transport: "http",
      identity: "anonymous",
      mode: "enforce",
      counters: "memory",
      protocolVersion: LATEST_PROTOCOL_VERSION,
      clientInfo: { name: "http-agent" },
    });
    const messages = sessionMessages(proxy.store, sessionId);
    expect(messages.filter((m) => m.direction === "client_to_server").map((m) => m.method)).toEqual(
      ["initialize", "notifications/initialized", "tools/list", "tools/call", "tools/call"],
    );
    // The denied call's only answer came from the proxy.
    const sumId = messages.filter((m) => m.method === "tools/call")[1]!.jsonrpcId;
    expect(
      messages.filter((m) => m.jsonrpcId === sumId && !m.method).map((m) => m.direction),
    ).toEqual(["proxy_to_client"]);
    expect(proxy.store.decisions.map((d) => [d.tool, d.decision.code, d.outcome?.outcome])).toEqual(
      [
        ["echo", "rule_allow", "result"],
        ["get-sum", "rule_deny", "denied"],
      ],
    );
  });

  it("with a shadow policy, records its decision beside the enforced one; the agent sees the enforced", async () => {
    const shadowPolicy = {
      version: "1",
      default: "allow",
      tools: { echo: { limits: [{ counter: "e", window: "minute", max: 1, scope: "session" }] } },
    };
    const proxy = await startProxy({ shadow: shadowPolicy });
    const { client, sessionId } = await connect(proxy.url);
    for (const m of ["one", "two"]) {
      const r = await client.callTool({ name: "echo", arguments: { message: m } });
      expect(text(r)).toBe(`Echo: ${m}`);
    }
    const denied = await client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    expect(text(denied)).toContain("no arithmetic today");
    expect(proxy.store.sessions.get(sessionId)?.shadowPolicyHash).toBe(
      parsePolicyText(JSON.stringify(shadowPolicy)).hash,
    );
    expect(
      proxy.store.decisions.map((d) => [d.tool, d.decision.code, d.shadow?.decision.code]),
    ).toEqual([
      ["echo", "rule_allow", "rule_allow"],
      ["echo", "rule_allow", "rate_limited"],
      ["get-sum", "rule_deny", "default_allow"],
    ]);
  });

  it("rate-limits the 31st echo in a minute", async () => {
    const proxy = await startProxy();
    const { client } = await connect(proxy.url);
    for (let i = 0; i < 30; i++) {
      const r = await client.callTool({ name: "echo", arguments: { message: `m${i}` } });
      expect(text(r)).toBe(`Echo: m${i}`);
    }
    const r = await client.callTool({ name: "echo", arguments: { message: "one too many" } });
    expect(r.isError).toBe(true);
    expect(r._meta).toMatchObject({
      "policy-replay/decision": { decision: "deny", code: "rate_limited", counter: "echo" },
    });
    expect(proxy.store.decisions).toHaveLength(31);
  });

  it("relays progress notifications on the call's SSE stream, and a sampling request", async () => {
    const proxy = await startProxy();
    const { client, sessionId } = await connect(proxy.url);
    const progress: number[] = [];
    const r = await client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(text(r)).toContain("completed");
    // On the request's own stream, before its response: all three arrive, in order.
    expect(progress).toEqual([1, 2, 3]);
    const sampled = await client.callTool({
      name: "trigger-sampling-request",
      arguments: { prompt: "hello", maxTokens: 10 },
    });
    expect(text(sampled)).toContain("sampled!");
    const methods = sessionMessages(proxy.store, sessionId).map((m) => m.method);
    expect(methods.filter((m) => m === "notifications/progress")).toHaveLength(3);
    expect(methods).toContain("sampling/createMessage");

    // On the wire: a POST's own SSE stream carries its progress (matched by progressToken)
    // and then its result, even with the agent's GET stream open beside it.
    const sse = await raw(proxy.url, {
      headers: { "mcp-session-id": sessionId, "mcp-protocol-version": LATEST_PROTOCOL_VERSION },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: "raw-call",
        method: "tools/call",
        params: {
          name: "trigger-long-running-operation",
          arguments: { duration: 0.3, steps: 3 },
          _meta: { progressToken: "raw-token" },
        },
      }),
    });
    expect(sse.headers["content-type"]).toContain("text/event-stream");
    const events = sse.body
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => JSON.parse(l.slice(6)) as { method?: string; id?: string; params?: unknown });
    expect(events.map((e) => e.method ?? e.id)).toEqual([
      "notifications/progress",
      "notifications/progress",
      "notifications/progress",
      "raw-call",
    ]);
    expect(events[0]!.params).toMatchObject({ progressToken: "raw-token", progress: 1 });
  });

  it("keeps session counters per session and grant counters per identity across sessions", async () => {
    const proxy = await startProxy({
      policy: {
        version: "1",
        default: "allow",
        tools: {
          echo: {
            limits: [
              { counter: "per-session", window: "minute", max: 3, scope: "session" },
              { counter: "per-identity", window: "minute", max: 5, scope: "grant" },
            ],
          },
        },
      },
      tokens: { "tok-alice-laptop": "alice", "tok-alice-ci": "alice", "tok-bob": "bob" },
    });
    // Four sessions open at once: alice twice, bob, and one without a token.
    const [a1, a2, bob, anon] = await Promise.all([
      connect(proxy.url, "tok-alice-laptop"),
      connect(proxy.url, "tok-alice-ci"),
      connect(proxy.url, "tok-bob"),
      connect(proxy.url),
    ]);
    const echo = async (c: Client) => {
      const r = await c.callTool({ name: "echo", arguments: { message: "x" } });
      return r.isError
        ? (r._meta as Record<string, { counter: string }>)["policy-replay/decision"]!.counter
        : "ok";
    };
    const calls = async (c: Client, n: number) => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push(await echo(c));
      return out;
    };
    expect(await calls(a1.client, 4)).toEqual(["ok", "ok", "ok", "per-session"]);
    // alice's second session has its own session count, but only 2 left of alice's 5.
    expect(await calls(a2.client, 3)).toEqual(["ok", "ok", "per-identity"]);
    // bob and anonymous are other identities: their own grant counters.
    expect(await calls(bob.client, 4)).toEqual(["ok", "ok", "ok", "per-session"]);
    expect(await calls(anon.client, 4)).toEqual(["ok", "ok", "ok", "per-session"]);

    const identities = [a1, a2, bob, anon].map((s) => proxy.store.sessions.get(s.sessionId)!);
    expect(identities.map((s) => s.identity)).toEqual(["alice", "alice", "bob", "anonymous"]);
    for (const s of [a1, a2, bob, anon]) {
      const messages = sessionMessages(proxy.store, s.sessionId);
      expect(messages.filter((m) => m.method === "tools/call").length).toBe(
        proxy.store.decisions.filter((d) => d.session === s.sessionId).length,
      );
    }
    // Tokens are looked up, never kept.
    const kept = JSON.stringify([
      [...proxy.store.sessions.values()],
      proxy.store.messages,
      proxy.store.decisions,
      proxy.logs,
    ]);
    expect(kept).not.toContain("tok-");
  });

  it("with requireToken, refuses unknown tokens; a session stays with its identity", async () => {
    const proxy = await startProxy({
      tokens: { "tok-a": "alice", "tok-b": "bob" },
      requireToken: true,
    });
    const none = await raw(proxy.url, { body: INIT });
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(none.json()).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 } });
    const wrong = await raw(proxy.url, { body: INIT, headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);

    const { client, sessionId } = await connect(proxy.url, "tok-a");
    await client.listTools();
    expect(proxy.store.sessions.get(sessionId)!.identity).toBe("alice");
    expect(proxy.upstreams).toHaveLength(1); // the refused ones spawned nothing
    const stolen = await raw(proxy.url, {
      body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }),
      headers: { "mcp-session-id": sessionId, authorization: "Bearer tok-b" },
    });
    expect(stolen.status).toBe(403);
  });

  it("rejects foreign Origins and Hosts, accepts loopback and listed origins", async () => {
    const proxy = await startProxy({ allowedOrigins: ["https://app.example"] });
    const evil = await raw(proxy.url, { body: INIT, headers: { origin: "http://evil.example" } });
    expect(evil.status).toBe(403);
    expect(evil.json()).toMatchObject({ error: { code: -32000 } });
    const nullOrigin = await raw(proxy.url, { body: INIT, headers: { origin: "null" } });
    expect(nullOrigin.status).toBe(403);
    const rebound = await raw(proxy.url, { body: INIT, headers: { host: "evil.example:80" } });
    expect(rebound.status).toBe(403);
    expect(proxy.upstreams).toHaveLength(0);

    for (const origin of ["http://localhost:5173", "http://[::1]:1234", "https://app.example"]) {
      const ok = await raw(proxy.url, { body: INIT, headers: { origin } });
      expect(ok.status).toBe(200);
      expect(ok.headers["access-control-allow-origin"]).toBe(origin);
      expect(ok.headers["mcp-session-id"]).toBeTruthy();
    }
    const preflight = await raw(proxy.url, {
      method: "OPTIONS",
      headers: { origin: "http://localhost:5173" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-headers"]).toContain("mcp-session-id");
  });

  it("answers bad requests: unknown session 404, bad JSON 400, too large 413, no session 400", async () => {
    const proxy = await startProxy({ maxBodyBytes: 64 * 1024 });
    const { sessionId } = await connect(proxy.url);
    const list = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" });

    const unknown = await raw(proxy.url, {
      body: list,
      headers: { "mcp-session-id": "no-such-session" },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toEqual({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32001, message: "Session not found" },
    });
    for (const headers of [{}, { "mcp-session-id": sessionId }] as Record<string, string>[]) {
      const bad = await raw(proxy.url, { body: "{not json", headers });
      expect(bad.status).toBe(400);
      expect(bad.json()).toMatchObject({ error: { code: -32700 } });
    }
    const big = JSON.stringify({
      jsonrpc: "2.0",
      id: 8,
      method: "ping",
      params: { pad: "x".repeat(100_000) },
    });
    // Declared in Content-Length, or only found out while reading a chunked body.
    for (const extra of [{}, { "transfer-encoding": "chunked" }] as Record<string, string>[]) {
      const tooLarge = await raw(proxy.url, {
        body: big,
        headers: { "mcp-session-id": sessionId, ...extra },
      });
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.json()).toMatchObject({ error: { code: -32000 } });
    }
    expect(proxy.store.messages.some((m) => m.method === "ping" && m.session === sessionId)).toBe(
      false,
    );
    // The bodies turned away within the session are recorded there, as stdio's bad lines are.
    const turnedAway = proxy.store.messages
      .filter(
        (m) => m.session === sessionId && m.method === null && "$malformed" in Object(m.message),
      )
      .map((m) => m.message as { $malformed: string; reason: string; bytes: number });
    expect(turnedAway.map((m) => m.reason.split(":")[0])).toEqual([
      "not JSON",
      "an HTTP body over the 65536-byte limit",
      "an HTTP body over the 65536-byte limit",
    ]);
    expect(turnedAway[0]?.$malformed).toBe("{not json");
    expect(turnedAway[1]?.bytes).toBe(Buffer.byteLength(big));
    const noSession = await raw(proxy.url, { body: list });
    expect(noSession.status).toBe(400);
    const elsewhere = await raw(proxy.url.replace(/\/mcp$/, "/other"), { body: INIT });
    expect(elsewhere.status).toBe(404);

    // MCP-Protocol-Version is the SDK transport's to check: unknown versions are refused.
    const headers = { "mcp-session-id": sessionId, "mcp-protocol-version": "1999-01-01" };
    const badVersion = await raw(proxy.url, { body: list, headers });
    expect(badVersion.status).toBe(400);
    expect(badVersion.body).toContain("Unsupported protocol version");
    headers["mcp-protocol-version"] = LATEST_PROTOCOL_VERSION;
    const good = await raw(proxy.url, { body: list, headers });
    expect(good.status).toBe(200);
    expect(good.headers["content-type"]).toContain("text/event-stream");
    expect(good.body).toContain('"tools"');
    // "/" serves MCP too.
    const root = await raw(proxy.url.replace(/\/mcp$/, "/"), { body: list, headers });
    expect(root.status).toBe(200);
    // Only the one good session exists: nothing above started another.
    expect(proxy.store.sessions.size).toBe(1);

    // An initialize the SDK transport turns away (here: Accept without SSE) ends at once.
    const refused = await raw(proxy.url, { body: INIT, headers: { accept: "application/json" } });
    expect(refused.status).toBe(406);
    const ended = [...proxy.store.sessions.values()].find((s) => s.id !== sessionId);
    // Written once its server has stopped (server-everything takes a moment to leave).
    await vi.waitFor(() => expect(ended).toMatchObject({ endReason: "not_initialized" }), {
      timeout: 10_000,
    });
    expect(proxy.store.messages.filter((m) => m.session === ended!.id)).toEqual([]);
  });

  it("turns away a body nested deeper than 256 levels with -32600 for its id; the session goes on", async () => {
    const proxy = await startProxy();
    const { client, sessionId } = await connect(proxy.url);
    const headers = {
      "mcp-session-id": sessionId,
      "mcp-protocol-version": LATEST_PROTOCOL_VERSION,
    };
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const body = `{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"echo","arguments":{"message":${deep}}}}`;
    const bad = await raw(proxy.url, { body, headers });
    expect(bad.status).toBe(400);
    expect(bad.json()).toEqual({
      jsonrpc: "2.0",
      id: 41,
      error: { code: -32600, message: "Invalid Request: nested deeper than 256 levels" },
    });
    // Its id written last, or an initialize without a session: the same.
    const last = await raw(proxy.url, {
      body: `{"jsonrpc":"2.0","method":"ping","params":${deep},"id":"p"}`,
      headers,
    });
    expect(last.json()).toMatchObject({ id: "p", error: { code: -32600 } });
    const noSession = await raw(proxy.url, { body: `[${INIT},${deep}]` });
    expect(noSession.status).toBe(400);
    expect(noSession.json()).toMatchObject({ id: null, error: { code: -32600 } });

    const turnedAway = proxy.store.messages
      .filter((m) => m.session === sessionId && "$malformed" in Object(m.message))
      .map((m) => [m.jsonrpcId, (m.message as { reason: string }).reason]);
    expect(turnedAway).toEqual([
      ["41", "nested deeper than 256 levels"],
      ['"p"', "nested deeper than 256 levels"],
    ]);
    const r = await client.callTool({ name: "echo", arguments: { message: "still here" } });
    expect(text(r)).toContain("still here");
  });

  it("turns away a message nested too deep from an HTTP upstream; its call fails, the session goes on", async () => {
    // An upstream whose answer to "deep" nests 300 levels, as the SDK's HTTP client hands it on.
    let deep: unknown = "bottom";
    for (let i = 0; i < 300; i++) deep = [deep];
    const upstream = (): Transport => {
      const t: Transport = {
        start: () => Promise.resolve(),
        close: () => Promise.resolve(t.onclose?.()),
        send: (m) => {
          const req = m as {
            id?: number;
            method?: string;
            params?: { name?: string; protocolVersion?: string };
          };
          if (req.id === undefined) return Promise.resolve();
          const result =
            req.method === "initialize"
              ? {
                  protocolVersion: req.params?.protocolVersion,
                  capabilities: { tools: {} },
                  serverInfo: { name: "deep", version: "1" },
                }
              : req.params?.name === "deep"
                ? { content: [{ type: "text", text: "x" }], deep }
                : { content: [{ type: "text", text: "fine" }] };
          queueMicrotask(() => t.onmessage?.({ jsonrpc: "2.0", id: req.id!, result } as never));
          return Promise.resolve();
        },
      };
      return t;
    };
    const proxy = await startProxy({ upstream });
    const { client, sessionId } = await connect(proxy.url);
    await expect(client.callTool({ name: "deep", arguments: {} })).rejects.toThrow(
      /could not be passed on \(malformed: nested deeper than 256 levels\)/,
    );
    expect(text(await client.callTool({ name: "other", arguments: {} }))).toBe("fine");
    const bad = proxy.store.messages.filter(
      (m) => m.session === sessionId && "$malformed" in Object(m.message),
    );
    expect(bad.map((m) => (m.message as { reason: string }).reason)).toEqual([
      "nested deeper than 256 levels",
    ]);
  });

  it("ends a session on DELETE and when its server exits; the others keep working", async () => {
    const proxy = await startProxy();
    // One after the other, so upstreams[i] serves the i-th session.
    const a = await connect(proxy.url);
    const b = await connect(proxy.url);
    const c = await connect(proxy.url);
    const list = JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" });

    await a.transport.terminateSession();
    const afterDelete = await raw(proxy.url, {
      body: list,
      headers: { "mcp-session-id": a.sessionId },
    });
    expect(afterDelete.status).toBe(404);
    await vi.waitFor(() =>
      expect(proxy.store.sessions.get(a.sessionId)).toMatchObject({
        endReason: "closed",
        endedAt: expect.any(Number) as number,
      }),
    );

    // b's server dies mid-call: b's call is answered with an error and b is gone.
    const pending = b.client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 5, steps: 25 } },
      undefined,
      { onprogress: () => {} },
    );
    await vi.waitFor(() =>
      expect(
        proxy.store.messages.some(
          (m) => m.session === b.sessionId && m.method === "notifications/progress",
        ),
      ).toBe(true),
    );
    process.kill(proxy.upstreams[1]!.pid!, "SIGKILL");
    await expect(pending).rejects.toMatchObject({ code: -32000 });
    await vi.waitFor(() =>
      expect(proxy.store.sessions.get(b.sessionId)!.endReason).toBe("server_exited"),
    );
    const afterExit = await raw(proxy.url, {
      body: list,
      headers: { "mcp-session-id": b.sessionId },
    });
    expect(afterExit.status).toBe(404);

    // c never noticed.
    const r = await c.client.callTool({ name: "echo", arguments: { message: "still here" } });
    expect(text(r)).toBe("Echo: still here");
    expect(proxy.store.sessions.get(c.sessionId)!.endedAt).toBeUndefined();

    // close() ends what is left, and the server.
    await proxy.close();
    expect(proxy.store.sessions.get(c.sessionId)).toMatchObject({ endReason: "proxy_closed" });
    await expect(raw(proxy.url, { body: INIT })).rejects.toThrow();
  });
});

describe("serveHttp closing", () => {
  it("stops every session's server with all it started, promptly", async () => {
    const dir = mkdtempSync(join(tmpdir(), "policy-replay-http-close-"));
    closers.unshift(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    const { server } = writeStubbornServer(dir);
    const pidsFiles: string[] = [];
    const proxy = await startProxy({
      // Servers that ignore their stdin ending and SIGTERM, each with a grandchild.
      upstream: () => {
        const pidsFile = join(dir, `pids-${pidsFiles.length}.json`);
        pidsFiles.push(pidsFile);
        return new StdioServerProcess({
          command: process.execPath,
          args: [server, pidsFile],
          stderr: "ignore",
          stopGraceMs: 50,
        });
      },
    });
    await connect(proxy.url);
    await connect(proxy.url);
    const pids = pidsFiles.flatMap(readPids);
    expect(pids).toHaveLength(4);
    expect(pids.every(alive)).toBe(true);
    const closing = Date.now();
    await proxy.close();
    expect(Date.now() - closing).toBeLessThan(3_000);
    // SIGKILL has been sent to each group; the kernel takes a moment to finish them.
    await vi.waitFor(() => expect(pids.filter(alive)).toEqual([]));
    expect([...proxy.store.sessions.values()].map((s) => s.endReason)).toEqual([
      "proxy_closed",
      "proxy_closed",
    ]);
  });
});

describe("serveHttp idle sessions", () => {
  it("ends a session the agent left without DELETE, but not one with a GET stream open", async () => {
    const proxy = await startProxy({ idleTimeoutMs: 400 });
    const left = await raw(proxy.url, { body: INIT });
    const leftId = left.headers["mcp-session-id"] as string;
    const kept = await connect(proxy.url);
    await vi.waitFor(
      () => expect(proxy.store.sessions.get(leftId)).toMatchObject({ endReason: "idle" }),
      { timeout: 5_000 },
    );
    expect(proxy.logs.join("\n")).toMatch(/idle for \d+s; ending it/);
    const after = await raw(proxy.url, {
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
      headers: { "mcp-session-id": leftId },
    });
    expect(after.status).toBe(404);
    // The SDK client holds a GET stream open: its session lives on.
    const r = await kept.client.callTool({ name: "echo", arguments: { message: "awake" } });
    expect(text(r)).toBe("Echo: awake");
  });
});

describe("serveHttp with a Streamable HTTP upstream", () => {
  it("relays to server-everything's streamableHttp server", async (ctx) => {
    const upstream = await startEverythingHttp();
    if (typeof upstream === "string") return ctx.skip(upstream);
    closers.push(upstream.stop);
    const sent: Headers[] = [];
    const proxy = await startProxy({
      tokens: { "tok-up": "carol" },
      upstream: () =>
        new StreamableHTTPClientTransport(new URL(upstream.url), {
          // Watch what the proxy sends upstream.
          fetch: (url, init) => {
            sent.push(new Headers(init?.headers));
            return fetch(url, init);
          },
        }),
    });
    const { client, transport, sessionId } = await connect(proxy.url, "tok-up");
    expect(proxy.store.sessions.get(sessionId)!.identity).toBe("carol");
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("echo");
    expect(tools.map((t) => t.name)).not.toContain("get-env");
    expect(text(await client.callTool({ name: "echo", arguments: { message: "up" } }))).toBe(
      "Echo: up",
    );
    const denied = await client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    expect(denied.isError).toBe(true);
    const progress: number[] = [];
    await client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(progress).toEqual([1, 2, 3]);
    const sampled = await client.callTool({
      name: "trigger-sampling-request",
      arguments: { prompt: "hello", maxTokens: 10 },
    });
    expect(text(sampled)).toContain("sampled!");
    sessionMessages(proxy.store, sessionId);
    expect(proxy.store.sessions.get(sessionId)!.protocolVersion).toBe(LATEST_PROTOCOL_VERSION);
    // Upstream, the proxy is the client: after initialize it says the negotiated version, and
    // the agent's bearer token never travels on.
    expect(sent[0]!.get("mcp-protocol-version")).toBeNull();
    expect(sent.slice(1).map((h) => h.get("mcp-protocol-version"))).toEqual(
      sent.slice(1).map(() => LATEST_PROTOCOL_VERSION),
    );
    expect(sent.every((h) => h.get("authorization") === null)).toBe(true);

    // DELETE from the agent ends the upstream session too.
    await transport.terminateSession();
    await vi.waitFor(() => expect(upstream.output()).toContain("Received session termination"));

    // An upstream that goes away is a server that exited: the call is answered, the session ends.
    const other = await connect(proxy.url);
    await other.client.listTools(); // the upstream session is up and in use
    await upstream.stop();
    const failed = await other.client
      .callTool({ name: "echo", arguments: { message: "anyone?" } })
      .then(
        () => null,
        (err: { code?: unknown }) => err.code,
      );
    // -32000 when this call is what finds the upstream gone (the relay answers it); 404 if an
    // earlier message the proxy forwarded found it first and the session had already ended.
    expect([-32000, 404]).toContain(failed);
    await vi.waitFor(() =>
      expect(proxy.store.sessions.get(other.sessionId)!.endReason).toBe("server_exited"),
    );
    expect(proxy.logs.join("\n")).toContain("the upstream MCP server is gone");
  });
});

/** A free TCP port on loopback (there is a small race until the server binds it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * server-everything's streamableHttp transport listens on process.env.PORT (default 3001) on
 * every interface, and only says which port it was asked for, so PORT=0 would leave us not
 * knowing the real one: take a free port first and pass it. Resolves with a skip reason if it
 * cannot start.
 */
async function startEverythingHttp(): Promise<
  { url: string; stop: () => Promise<void>; output: () => string } | string
> {
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(process.execPath, [everything, "streamableHttp"], {
      env: { ...process.env, PORT: String(port) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const started = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      const check = (): void => {
        if (out.includes("listening on port")) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      child.stdout!.on("data", check);
      child.stderr!.on("data", check);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (started) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      return {
        url: `http://127.0.0.1:${port}/mcp`,
        output: () => out,
        stop: () => {
          child.kill("SIGKILL");
          return exited;
        },
      };
    }
    lastError = out.trim().split("\n").slice(-1)[0] ?? "no output";
    child.kill("SIGKILL");
  }
  return `server-everything streamableHttp could not listen on a free port: ${lastError}`;
}

describe("serveHttp on a non-loopback address", () => {
  it("refuses to start letting anyone in unless told to", async () => {
    await expect(startProxy({ host: "0.0.0.0" })).rejects.toMatchObject({ code: "usage" });
  });

  it("answers only Host headers it knows: loopback, its own addresses and --allow-host", async () => {
    const proxy = await startProxy({
      host: "0.0.0.0",
      allowAnonymous: true,
      allowedHosts: ["mcp.example"],
    });
    const port = new URL(proxy.url).port;
    const url = `http://127.0.0.1:${port}/mcp`;
    for (const host of ["evil.example", `evil.example:${port}`, "mcp.example.evil"]) {
      const r = await raw(url, { body: INIT, headers: { host } });
      expect([host, r.status]).toEqual([host, 403]);
    }
    expect(proxy.upstreams).toHaveLength(0);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "MCP.example:443"]) {
      const r = await raw(url, { body: INIT, headers: { host } });
      expect([host, r.status]).toEqual([host, 200]);
    }
  });
});

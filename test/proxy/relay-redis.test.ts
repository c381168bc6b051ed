// The relay with counters outside the process: the agent's messages keep their order while a
// decision is pending, and with the counters in Redis (the real one) limited calls are decided
// there, or denied counters_unavailable when it does not answer.
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, describe, expect, it } from "vitest";
import { compile, type Decision } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import {
  type Counters,
  type DecidedCall,
  type LookedUp,
  MemoryCounters,
} from "../../src/proxy/counters.js";
import { RedisCounters, RedisRelayCounters } from "../../src/proxy/redis-counters.js";
import { relay } from "../../src/proxy/relay.js";
import { MemoryStore } from "./memory-store.js";
import { deletePrefix, REDIS_URL, redisUp } from "./redis-available.js";

const PREFIX = `test-policy-replay-relay:${process.pid}`;

const compiled = compile(
  parsePolicyText(
    JSON.stringify({
      version: "1",
      default: "allow",
      tools: { limited: { limits: [{ counter: "c", window: "hour", max: 1, scope: "global" }] } },
    }),
  ).policy,
);

/** A relay between raw in-memory ends: what the server got, what the agent got. */
async function start(counters: Counters) {
  const store = new MemoryStore();
  const [agent, proxyAgentSide] = InMemoryTransport.createLinkedPair();
  const [server, proxyServerSide] = InMemoryTransport.createLinkedPair();
  const atServer: JSONRPCMessage[] = [];
  const atAgent: JSONRPCMessage[] = [];
  server.onmessage = (m) => {
    atServer.push(m);
    if ("id" in m && "method" in m) {
      void server.send({ jsonrpc: "2.0", id: m.id, result: { content: [] } } as JSONRPCMessage);
    }
  };
  agent.onmessage = (m) => atAgent.push(m);
  await server.start();
  await agent.start();
  const logs: string[] = [];
  store.startSession({
    id: "s1",
    identity: "a",
    transport: "stdio",
    mode: "enforce",
    policyHash: "h",
    startedAt: 0,
  });
  await relay({
    client: proxyAgentSide,
    server: proxyServerSide,
    compiled,
    counters,
    clock: { now: () => 1_000 },
    session: { id: "s1", identity: "a" },
    mode: "enforce",
    store,
    redactor: { redact: (v) => v },
    approvalTimeoutMs: 1_000,
    log: (l) => logs.push(l),
  });
  const send = (m: object): Promise<void> => agent.send(m as JSONRPCMessage);
  return { store, atServer, atAgent, send, logs, close: () => agent.close() };
}

const call = (id: number, name: string) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: {} },
});

/** Counters whose lookups settle when the test says so; the decision is then made in memory. */
class SlowCounters implements Counters {
  readonly where = "redis";
  readonly inner = new MemoryCounters(compiled);
  readonly waiting: (() => void)[] = [];
  lookup(): Promise<LookedUp> {
    return new Promise((resolve) =>
      this.waiting.push(() => resolve({ decision: ALLOWED, ts: 0, seq: null, counts: null })),
    );
  }
  decide(...[c, arrival, store, row]: Parameters<Counters["decide"]>): DecidedCall {
    return this.inner.decide(c, arrival, store, row);
  }
}

const ALLOWED: Decision = {
  decision: "allow",
  code: "default_allow",
  rule: null,
  reason: null,
  retry_after_ms: null,
  limit: null,
  inexact: false,
};

/** Wait, in turns of the event loop and never by the clock, until `done` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !done(); i++) await new Promise((r) => setImmediate(r));
  expect(done()).toBe(true);
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

describe("a pending decision", () => {
  it("holds the agent's later messages, and passes them on in order once it is made", async () => {
    const slow = new SlowCounters();
    const r = await start(slow);
    const ids = (ms: JSONRPCMessage[]): unknown[] => ms.map((m) => ("id" in m ? m.id : "note"));
    await r.send(call(1, "limited"));
    await r.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    await r.send(call(2, "free"));
    await r.send({ jsonrpc: "2.0", id: 3, method: "ping" });
    await settle();
    expect(r.atServer).toEqual([]);
    expect(slow.waiting).toHaveLength(1);
    slow.waiting.shift()!();
    await settle();
    // The second call's lookup now holds what came after it.
    expect(ids(r.atServer)).toEqual([1, "note"]);
    expect(slow.waiting).toHaveLength(1);
    slow.waiting.shift()!();
    await settle();
    expect(ids(r.atServer)).toEqual([1, "note", 2, 3]);
    const fromAgent = r.store.messages.filter((m) => m.direction === "client_to_server");
    expect(fromAgent.map((m) => m.jsonrpcId)).toEqual(["1", null, "2", "3"]);
    expect(fromAgent.map((m) => m.seq)).toEqual(
      [...fromAgent.map((m) => m.seq)].sort((a, b) => a - b),
    );
    await r.close();
  });
});

const opened: RedisCounters[] = [];
afterAll(async () => {
  for (const c of opened) c.close();
  if (redisUp) await deletePrefix(PREFIX);
});

function redisCounters(url: string, logs: string[]): RedisRelayCounters {
  const rc = new RedisCounters(compiled, {
    url,
    prefix: `${PREFIX}:${opened.length}`,
    onStatus: (up) => logs.push(up ? "up" : "down"),
  });
  opened.push(rc);
  return new RedisRelayCounters(rc);
}

const answers = (ms: JSONRPCMessage[]) =>
  ms.map((m) => {
    const r = (m as { result?: { _meta?: Record<string, { code?: string }> } }).result;
    return r?._meta?.["policy-replay/decision"]?.code ?? "answered";
  });

describe.skipIf(!redisUp)(`the relay with counters in Redis at ${REDIS_URL}`, () => {
  it("decides limited calls in Redis and records them at Redis's time", async () => {
    const status: string[] = [];
    const counters = redisCounters(REDIS_URL, status);
    expect(await counters.redis.connect()).toBe(true);
    const r = await start(counters);
    await r.send(call(1, "limited"));
    await r.send(call(2, "limited"));
    await r.send(call(3, "free"));
    await r.send({ jsonrpc: "2.0", id: 4, method: "ping" });
    await until(() => r.atAgent.length === 4);
    expect(answers(r.atAgent)).toEqual(["answered", "rate_limited", "answered", "answered"]);
    expect(r.atServer.map((m) => ("id" in m ? m.id : null))).toEqual([1, 3, 4]);
    const [first, second, third] = r.store.decisions;
    // Redis's clock, not the relay's (1000), for the calls decided there.
    expect(first!.ts).toBeGreaterThan(1_000_000);
    expect(second!.ts).toBeGreaterThanOrEqual(first!.ts);
    expect(third!.ts).toBe(1_000);
    // Redis's sequence and what the limit counted, for the calls decided there only.
    expect(second!.counterSeq).toBe(first!.counterSeq! + 1);
    expect([first, second].map((d) => d!.counts?.map((h) => [h.count, h.max]))).toEqual([
      [[0, 1]],
      [[1, 1]],
    ]);
    expect([third!.counts, third!.counterSeq]).toEqual([null, null]);
    expect(status).toEqual(["up"]);
    await r.close();
  });
});

describe("the relay with Redis unreachable", () => {
  it("denies limited calls counters_unavailable and passes the others on", async () => {
    const status: string[] = [];
    const counters = redisCounters("redis://127.0.0.1:1", status);
    expect(await counters.redis.connect()).toBe(false);
    const r = await start(counters);
    await r.send(call(1, "limited"));
    await r.send(call(2, "free"));
    await r.send(call(3, "limited"));
    await until(() => r.atAgent.length === 3);
    expect(answers(r.atAgent)).toEqual([
      "counters_unavailable",
      "answered",
      "counters_unavailable",
    ]);
    expect(r.atServer.map((m) => ("id" in m ? m.id : null))).toEqual([2]);
    expect(r.store.decisions.map((d) => d.decision.code)).toEqual([
      "counters_unavailable",
      "default_allow",
      "counters_unavailable",
    ]);
    expect(status).toEqual(["down"]);
    await r.close();
  });
});

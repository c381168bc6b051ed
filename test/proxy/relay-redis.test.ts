// The relay with counters outside the process: the agent's messages keep their order while a
// decision is pending, and with the counters in Redis (the real one) limited calls are decided
// there, or denied counters_unavailable when it does not answer.
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, describe, expect, it } from "vitest";
import { type Call, compile, type Decision } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import {
  type Counters,
  type DecidedCall,
  type LookedUp,
  MemoryCounters,
} from "../../src/proxy/counters.js";
import { RedisCounters, RedisRelayCounters } from "../../src/proxy/redis-counters.js";
import type { FlowControl } from "../../src/proxy/backpressure.js";
import { relay } from "../../src/proxy/relay.js";
import { MAX_QUEUED } from "../../src/proxy/relay-session.js";
import { MAX_LOOKUPS_OUT } from "../../src/proxy/session-queue.js";
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
  const { closed } = await relay({
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
  return {
    store,
    atServer,
    atAgent,
    send,
    logs,
    closed,
    agentSide: proxyAgentSide as typeof proxyAgentSide & Partial<FlowControl>,
    serverSide: proxyServerSide as typeof proxyServerSide & { writesBlocked?: boolean },
    close: () => agent.close(),
  };
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
  readonly waiting: { tool: string; answer: (d?: Decision) => void; fail: () => void }[] = [];
  lookup(call: Omit<Call, "ts">): Promise<LookedUp> | null {
    if (call.tool === "free") return null;
    return new Promise((resolve, reject) =>
      this.waiting.push({
        tool: call.tool,
        answer: (decision = ALLOWED) => resolve({ decision, ts: 0, seq: null, counts: null }),
        fail: () => reject(new Error("lookup lost")),
      }),
    );
  }
  decide(...[c, arrival, store, row, looked]: Parameters<Counters["decide"]>): DecidedCall {
    if (looked === undefined) return this.inner.decide(c, arrival, store, row);
    return {
      decision: looked.decision,
      ts: arrival,
      callId: store.recordDecision(row(arrival, looked.decision, null, null)),
    };
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

const ids = (ms: JSONRPCMessage[]): unknown[] => ms.map((m) => ("id" in m ? m.id : "note"));

const DENIED: Decision = {
  ...ALLOWED,
  decision: "deny",
  code: "rate_limited",
  reason: "too many",
};

describe("pending decisions", () => {
  it("are all asked as their calls arrive, and the agent's messages go on in its order", async () => {
    const slow = new SlowCounters();
    const r = await start(slow);
    await r.send(call(1, "limited"));
    await r.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    await r.send(call(2, "free"));
    await r.send(call(3, "limited"));
    await r.send({ jsonrpc: "2.0", id: 4, method: "ping" });
    await settle();
    expect(r.atServer).toEqual([]);
    // Both lookups out at once, in the agent's order.
    expect(slow.waiting.map((w) => w.tool)).toEqual(["limited", "limited"]);
    // The later call's answer first: it waits for the one before it.
    slow.waiting[1]!.answer();
    await settle();
    expect(r.atServer).toEqual([]);
    slow.waiting[0]!.answer();
    await settle();
    expect(ids(r.atServer)).toEqual([1, "note", 2, 3, 4]);
    const fromAgent = r.store.messages.filter((m) => m.direction === "client_to_server");
    expect(fromAgent.map((m) => m.jsonrpcId)).toEqual(["1", null, "2", "3", "4"]);
    expect(fromAgent.map((m) => m.seq)).toEqual(
      [...fromAgent.map((m) => m.seq)].sort((a, b) => a - b),
    );
    expect(r.store.decisions.map((d) => d.jsonrpcId)).toEqual(["1", "2", "3"]);
    await r.close();
  });

  it("keep the agent's order through a denial and a failed lookup in the middle", async () => {
    const slow = new SlowCounters();
    const r = await start(slow);
    await r.send(call(1, "limited"));
    await r.send(call(2, "limited"));
    await r.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    await r.send(call(3, "limited"));
    await r.send({ jsonrpc: "2.0", id: 4, method: "ping" });
    await r.send(call(5, "limited"));
    await settle();
    const [one, two, three, five] = slow.waiting;
    five!.answer();
    three!.fail();
    two!.answer(DENIED);
    await settle();
    expect(r.atServer).toEqual([]);
    one!.answer();
    await settle();
    expect(ids(r.atServer)).toEqual([1, "note", 4, 5]);
    // The agent is answered for the denied call and, fail closed, for the one not looked up.
    const byId = new Map(r.atAgent.map((m) => ["id" in m ? m.id : null, m]));
    expect(answers([byId.get(2)!])).toEqual(["rate_limited"]);
    expect((byId.get(3) as { error?: { code: number } }).error?.code).toBe(-32000);
    expect(r.store.decisions.map((d) => [d.jsonrpcId, d.decision.code])).toEqual([
      ["1", "default_allow"],
      ["2", "rate_limited"],
      ["5", "default_allow"],
    ]);
    expect(r.logs.some((l) => l.includes("lookup lost"))).toBe(true);
    const fromAgent = r.store.messages.filter((m) => m.direction === "client_to_server");
    expect(fromAgent.map((m) => m.jsonrpcId)).toEqual(["1", "2", null, "3", "4", "5"]);
    expect(fromAgent.map((m) => m.seq)).toEqual(
      [...fromAgent.map((m) => m.seq)].sort((a, b) => a - b),
    );
    await r.close();
  });

  it("still out when the session ends are recorded before it is closed, and nothing goes on", async () => {
    const slow = new SlowCounters();
    const r = await start(slow);
    await r.send(call(1, "limited"));
    await r.send({ jsonrpc: "2.0", id: 2, method: "ping" });
    await r.send(call(3, "free"));
    await r.send(call(4, "limited"));
    await settle();
    expect(slow.waiting).toHaveLength(2);
    await r.close();
    let closed = false;
    void r.closed.then(() => (closed = true));
    await settle();
    // Counted at the service, not yet recorded: the session waits for them.
    expect(closed).toBe(false);
    slow.waiting[1]!.answer();
    slow.waiting[0]!.answer(DENIED);
    await r.closed;
    expect(r.atServer).toEqual([]);
    expect(r.atAgent).toEqual([]);
    // Every message from the agent is recorded, each counted call with its decision.
    const fromAgent = r.store.messages.filter((m) => m.direction === "client_to_server");
    expect(fromAgent.map((m) => m.jsonrpcId)).toEqual(["1", "2", "3", "4"]);
    expect(r.store.decisions.map((d) => [d.jsonrpcId, d.decision.code])).toEqual([
      ["1", "rate_limited"],
      ["4", "default_allow"],
    ]);
    expect(r.store.decisions.map((d) => d.outcome?.outcome)).toEqual(["no_answer", "no_answer"]);
  });

  it(`stop the agent being read past ${MAX_QUEUED} messages behind them, until half have gone`, async () => {
    const slow = new SlowCounters();
    const r = await start(slow);
    const flow: string[] = [];
    r.agentSide.pauseReading = () => flow.push("pause");
    r.agentSide.resumeReading = () => flow.push("resume");
    await r.send(call(1, "limited"));
    for (let i = 0; i < MAX_QUEUED - 1; i++)
      await r.send({ jsonrpc: "2.0", id: `p${i}`, method: "ping" });
    expect(flow).toEqual([]);
    await r.send({ jsonrpc: "2.0", id: "last", method: "ping" });
    expect(flow).toEqual(["pause"]);
    await r.send(call(2, "limited"));
    await r.send({ jsonrpc: "2.0", id: "after", method: "ping" });
    slow.waiting[0]!.answer();
    await settle();
    // Read again once half had gone, and everything up to the next pending call went on.
    expect(flow).toEqual(["pause", "pause", "pause", "resume"]);
    expect(r.atServer).toHaveLength(MAX_QUEUED + 1);
    slow.waiting[1]!.answer();
    await until(() => r.atServer.length === MAX_QUEUED + 3);
    await r.close();
  });

  it("leave the agent unread after catching up while the server is not reading", async () => {
    const slow = new SlowCounters();
    const r = await start(slow);
    const flow: string[] = [];
    r.agentSide.pauseReading = () => flow.push("pause");
    r.agentSide.resumeReading = () => flow.push("resume");
    r.serverSide.writesBlocked = true;
    await r.send(call(1, "limited"));
    for (let i = 0; i < MAX_QUEUED; i++)
      await r.send({ jsonrpc: "2.0", id: `p${i}`, method: "ping" });
    expect(flow).toEqual(["pause"]);
    slow.waiting[0]!.answer();
    await settle();
    // Everything went on, yet the agent is not read while the server's writes are backed up.
    expect(r.atServer).toHaveLength(MAX_QUEUED + 1);
    expect(flow).toEqual(["pause"]);
    await r.close();
  });

  it(`are at most ${MAX_LOOKUPS_OUT} out at once; the rest are asked in order as they answer`, async () => {
    const slow = new SlowCounters();
    const r = await start(slow);
    const n = MAX_LOOKUPS_OUT + 10;
    for (let i = 1; i <= n; i++) await r.send(call(i, "limited"));
    await settle();
    expect(slow.waiting).toHaveLength(MAX_LOOKUPS_OUT);
    for (let i = 0; i < 10; i++) slow.waiting[i]!.answer();
    await settle();
    expect(slow.waiting).toHaveLength(n);
    for (let i = 10; i < n; i++) slow.waiting[i]!.answer();
    await until(() => r.atServer.length === n);
    expect(ids(r.atServer)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
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

describe.skipIf(!redisUp)(`a burst of calls with counters in Redis at ${REDIS_URL}`, () => {
  it("is counted in the agent's order, with the session's lookups out together", async () => {
    const counters = redisCounters(REDIS_URL, []);
    expect(await counters.redis.connect()).toBe(true);
    const r = await start(counters);
    const sent: unknown[] = [];
    for (let i = 1; i <= 40; i++) {
      void r.send(call(i, i % 3 === 0 ? "free" : "limited"));
      if (i % 10 === 0) void r.send({ jsonrpc: "2.0", method: "notifications/initialized" });
      sent.push(i % 3 === 0 || i === 1 ? i : null, ...(i % 10 === 0 ? ["note"] : []));
    }
    await until(() => r.atAgent.length === 40);
    // Only the first limited call fits its limit; the server sees the rest in the agent's order.
    expect(ids(r.atServer)).toEqual(sent.filter((x) => x !== null));
    const limited = r.store.decisions.filter((d) => d.tool === "limited");
    expect(limited.map((d) => d.decision.code)).toEqual([
      "rule_allow",
      ...Array<string>(limited.length - 1).fill("rate_limited"),
    ]);
    // Redis's sequence follows the agent's order.
    const seqs = limited.map((d) => d.counterSeq!);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    expect(limited.map((d) => Number(d.jsonrpcId))).toEqual(
      [...limited.map((d) => Number(d.jsonrpcId))].sort((a, b) => a - b),
    );
    await r.close();
  });

  it("commits the rows of the calls whose answers came together as one group", async () => {
    const counters = redisCounters(REDIS_URL, []);
    expect(await counters.redis.connect()).toBe(true);
    const r = await start(counters);
    const groups: number[] = [];
    const recordDecisions = r.store.recordDecisions.bind(r.store);
    r.store.recordDecisions = (ds) => {
      groups.push(ds.length);
      return recordDecisions(ds);
    };
    for (let i = 1; i <= 30; i++) void r.send(call(i, "limited"));
    await until(() => r.atAgent.length === 30);
    expect(groups.some((n) => n > 1)).toBe(true);
    expect(r.store.decisions.map((d) => d.jsonrpcId)).toEqual(
      Array.from({ length: 30 }, (_, i) => String(i + 1)),
    );
    await r.close();
  });

  it("fails every call of a group that cannot be written closed, and counts none", async () => {
    const counters = redisCounters(REDIS_URL, []);
    expect(await counters.redis.connect()).toBe(true);
    const r = await start(counters);
    r.store.failWith("store_busy");
    for (let i = 1; i <= 5; i++) void r.send(call(i, "limited"));
    await until(() => r.atAgent.length === 5);
    expect(r.atAgent.map((m) => (m as { error?: { code: number } }).error?.code)).toEqual(
      Array<number>(5).fill(-32000),
    );
    expect(r.atServer).toEqual([]);
    r.store.fault = null;
    // Nothing stayed counted: the limit's one unit is still there.
    await r.send(call(6, "limited"));
    await until(() => r.atAgent.length === 6);
    expect(ids(r.atServer)).toEqual([6]);
    await r.close();
  });

  it("ends with a decision recorded for every call Redis counted", async () => {
    const counters = redisCounters(REDIS_URL, []);
    expect(await counters.redis.connect()).toBe(true);
    const r = await start(counters);
    for (let i = 1; i <= 20; i++) void r.send(call(i, "limited"));
    await r.close();
    await r.closed;
    expect(r.store.decisions).toHaveLength(20);
    expect(r.store.decisions.map((d) => d.counterSeq)).not.toContain(null);
    expect(r.store.messages.filter((m) => m.direction === "client_to_server")).toHaveLength(20);
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

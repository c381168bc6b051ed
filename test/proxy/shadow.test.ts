// Shadow decisions through the real relay: for random enforced and candidate policies and
// random traffic over one or more proxies on one recording (counters in memory, shared
// through the file, or in a real Redis under one prefix: the shadow's counters too), the recorded shadow decisions are the candidate's decisions over the
// calls in clear, and a replay of the candidate over the recording agrees with them up to the
// first call it cannot decide exactly (an argument stored redacted). The enforced decisions,
// and what the agent saw, are those of the enforced policy alone.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisCounters } from "../../src/proxy/redis-counters.js";
import { RedisShadowCounters } from "../../src/proxy/redis-shadow.js";
import {
  type Call,
  compile,
  type CompiledPolicy,
  createState,
  decide,
  limitCounts,
} from "../../src/engine/index.js";
import { type Counters, MemoryCounters, RecordingCounters } from "../../src/proxy/counters.js";
import type { DenialFacts } from "../../src/proxy/denial.js";
import { relay } from "../../src/proxy/relay.js";
import { Shadow } from "../../src/proxy/shadow.js";
import { readRecordings } from "../../src/replay/recording.js";
import { createReplayer } from "../../src/replay/replay.js";
import { createRedactor } from "../../src/store/redact.js";
import { openStore, openStoreReadOnly } from "../../src/store/sqlite.js";
import type { RecordedCall, RecordingStore } from "../../src/store/types.js";
import {
  load,
  type PolicyObj,
  policyArb,
  policyWindows,
  startArb,
  toCalls,
  traceArb,
} from "../engine/support.js";
import { deletePrefix, REDIS_URL, redisUp } from "./redis-available.js";

const dir = mkdtempSync(join(tmpdir(), "policy-replay-shadow-"));
const ROOT = `test-policy-replay-shadow:${process.pid}`;
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (redisUp) await deletePrefix(ROOT);
});
let runs = 0;

/** The candidate sometimes denies on `token`, an argument the recording keeps only hashed. */
const candidateArb: fc.Arbitrary<PolicyObj> = fc
  .tuple(policyArb(), fc.boolean())
  .map(([p, onToken]) => {
    if (!onToken) return p;
    const tools = { ...p.tools };
    const [pattern] = Object.keys(tools);
    const rule = pattern === undefined ? {} : tools[pattern]!;
    const deny_if = [...(rule.deny_if ?? []), { path: "args.token", op: "eq", value: "t1" }];
    tools[pattern ?? "*"] = { ...rule, deny_if };
    return { ...p, tools };
  });

/** Per call: a `token` argument (stored redacted), or none. */
const tokensArb = fc.array(fc.constantFrom<string | undefined>(undefined, "t1", "t2"), {
  maxLength: 60,
});

type Where = "memory" | "recording" | "redis";

interface Proxy {
  store: RecordingStore;
  counters: Counters;
  /** Waits for what the counters still have to write, and lets go of them. */
  settled?: () => Promise<void>;
  close?: () => void;
}

/** A proxy's Redis counters, with the shadow's, under `prefix` (shared by the run's proxies). */
async function redisCounters(
  enforced: CompiledPolicy,
  candidate: CompiledPolicy,
  prefix: string,
  log: (line: string) => void,
): Promise<Pick<Proxy, "counters" | "settled" | "close">> {
  // Decided at each call's arrival, so that the reference's times are the proxies'. A loaded
  // machine can take longer than the proxy's 0.5 s; a timeout would change the decisions.
  const redis = new RedisCounters(enforced, {
    url: REDIS_URL,
    prefix,
    clock: "arrival",
    commandTimeoutMs: 10_000,
  });
  expect(await redis.connect()).toBe(true);
  const counters = new RedisShadowCounters(redis, candidate, "c0ffee".repeat(8), log);
  return { counters, settled: () => counters.settled(), close: () => redis.close() };
}

/** Decide `calls` under `compiled` in order, in clear, on a fresh state: what a live one does. */
function reference(compiled: CompiledPolicy, calls: readonly Call[]) {
  const state = createState(compiled);
  return calls.map((c) => {
    const d = decide(compiled, c, state);
    return { d, counts: limitCounts(compiled, c, d, state) };
  });
}

async function record(
  where: Where,
  proxies: number,
  enforced: CompiledPolicy,
  candidate: CompiledPolicy,
  calls: readonly Call[],
): Promise<{ file: string; seen: (JSONRPCMessage | undefined)[] }> {
  const file = join(dir, `r${++runs}.sqlite`);
  const logs: string[] = [];
  const log = (l: string): void => void logs.push(l);
  const prefix = `${ROOT}:${runs}`;
  const open = async (): Promise<Proxy> => {
    const shadow = new Shadow(candidate, "candidate-hash", log);
    const store = openStore(file);
    if (where === "redis")
      return { store, ...(await redisCounters(enforced, candidate, prefix, log)) };
    return {
      store,
      counters:
        where === "memory"
          ? new MemoryCounters(enforced, undefined, shadow)
          : new RecordingCounters(enforced, shadow),
    };
  };
  const ps: Proxy[] = [];
  for (let i = 0; i < proxies; i++) ps.push(await open());
  const redactor = createRedactor({ keyFile: `${file}.key`, enabled: true });
  let now = 0;
  const clock = { now: () => now };
  const seen: (JSONRPCMessage | undefined)[] = calls.map(() => undefined);
  // Each call is sent once the one before was answered and its shadow written: in the order
  // of `calls`, whichever proxy it goes to.
  let answered = (): void => {};
  const agents = new Map<
    string,
    { send: (m: JSONRPCMessage) => Promise<void>; end: () => Promise<void>; proxy: Proxy }
  >();
  const agentFor = async (c: Call) => {
    const known = agents.get(c.session);
    if (known) return known;
    const p = ps[agents.size % ps.length]!;
    const session = { id: c.session, identity: c.identity };
    p.store.startSession({
      ...session,
      transport: "stdio",
      mode: "enforce",
      policyHash: "enforced-hash",
      startedAt: now,
      counters: p.counters.where,
      shadowPolicyHash: "candidate-hash",
    });
    const [agentSide, proxySide] = InMemoryTransport.createLinkedPair();
    const [serverSide, serverPeer] = InMemoryTransport.createLinkedPair();
    // The server answers every request at once.
    serverPeer.onmessage = (m) => {
      if ("id" in m && "method" in m)
        void serverPeer.send({ jsonrpc: "2.0", id: m.id, result: { content: [] } });
    };
    await serverPeer.start();
    agentSide.onmessage = (m) => {
      if ("id" in m && typeof m.id === "number" && !("method" in m)) {
        seen[m.id] = m;
        answered();
      }
    };
    const { closed } = await relay({
      client: proxySide,
      server: serverSide,
      compiled: enforced,
      counters: p.counters,
      clock,
      session,
      mode: "enforce",
      store: p.store,
      redactor,
      approvalTimeoutMs: 1_000,
      requestTimeoutMs: 0,
      log,
    });
    await agentSide.start();
    const agent = {
      send: (m: JSONRPCMessage) => agentSide.send(m),
      end: async () => {
        await agentSide.close();
        await closed;
      },
    };
    agents.set(c.session, { ...agent, proxy: p });
    return { ...agent, proxy: p };
  };
  try {
    for (const [i, c] of calls.entries()) {
      const agent = await agentFor(c);
      now = c.ts;
      const answer = new Promise<void>((done) => (answered = done));
      await agent.send({
        jsonrpc: "2.0",
        id: i,
        method: "tools/call",
        params: { name: c.tool, ...(c.arguments !== undefined ? { arguments: c.arguments } : {}) },
      });
      await answer;
      await agent.proxy.settled?.();
    }
    for (const a of agents.values()) await a.end();
  } finally {
    for (const p of ps) {
      await p.settled?.();
      p.close?.();
      p.store.close();
    }
  }
  expect(logs).toEqual([]);
  return { file, seen };
}

function recordedCalls(file: string): RecordedCall[] {
  const reader = openStoreReadOnly(file);
  try {
    return [...reader.calls()];
  } finally {
    reader.close();
  }
}

const outcome = (d: {
  decision: string;
  code: string;
  rule: string | null;
  retry_after_ms: number | null;
}) => ({ decision: d.decision, code: d.code, rule: d.rule, retry_after_ms: d.retry_after_ms });

describe("shadow decisions", () => {
  it("equal the candidate live, and a replay of it up to its first inexact difference", async () => {
    await fc.assert(property(["memory", 1], ["recording", 1], ["recording", 2]), {
      // Each run opens real recordings: bounded in time, whatever the machine.
      numRuns: 30,
      interruptAfterTimeLimit: 6_000,
    });
  }, 30_000);

  it.skipIf(!redisUp)(
    "equal the candidate live with Redis counters, over proxies sharing a prefix",
    async () => {
      await fc.assert(property(["redis", 1], ["redis", 2], ["redis", 3]), {
        numRuns: 30,
        interruptAfterTimeLimit: 6_000,
      });
    },
    30_000,
  );
});

/**
 * A whole day, at least an hour ahead of Redis's clock. Redis expires counter keys in its own
 * time, a window past the decision's; arrival times behind its clock would see their counts
 * expire while the run's own time has hardly moved. Whole days keep fixed windows' edges where
 * the generated times put them.
 */
async function aheadOfRedis(): Promise<number> {
  const c = new Redis(REDIS_URL);
  try {
    const [seconds] = await c.time();
    const day = 86_400_000;
    return Math.ceil((Number(seconds) * 1000 + 3_600_000) / day) * day;
  } finally {
    c.disconnect();
  }
}

function property(...setups: [Where, number][]) {
  return fc.asyncProperty(
    policyArb(),
    candidateArb,
    startArb,
    traceArb,
    tokensArb,
    fc.constantFrom(...setups),
    async (enforcedObj, candidateObj, start, specs, tokens, [where, proxies]) => {
      const enforced = compile(load(enforcedObj));
      const candidate = compile(load(candidateObj));
      const windows = [...policyWindows(enforcedObj), ...policyWindows(candidateObj)];
      const ahead = where === "redis" ? await aheadOfRedis() : 0;
      const calls = toCalls(specs, start, windows).map((c, i) => {
        const token = tokens[i];
        const at = { ...c, ts: c.ts + ahead };
        return token === undefined ? at : { ...at, arguments: { ...(c.arguments ?? {}), token } };
      });
      const { file, seen } = await record(where, proxies, enforced, candidate, calls);
      const rows = recordedCalls(file);
      expect(rows).toHaveLength(calls.length);

      // Recorded in the order decided: the shadow is the candidate live, over the clear calls.
      const live = reference(candidate, calls);
      const enforcedLive = reference(enforced, calls);
      rows.forEach((row, i) => {
        const where = `call ${i} (${row.tool} at ${row.ts})`;
        expect(row.shadow, where).not.toBeNull();
        const { d, counts } = live[i]!;
        expect(row.shadow, where).toEqual({
          ...outcome(d),
          reason: d.reason,
          counts,
        });
        expect(outcome(row), where).toEqual(outcome(enforcedLive[i]!.d));
        // The agent saw the enforced decision, never the shadow's.
        const answer = seen[Number(row.jsonrpcId)] as
          | { result?: { _meta?: Record<string, DenialFacts> }; error?: { code: number } }
          | undefined;
        if (row.decision === "allow") expect(answer?.result?._meta, where).toBeUndefined();
        else if (row.code === "hidden") expect(answer?.error?.code, where).toBe(-32602);
        else
          expect(answer?.result?._meta?.["policy-replay/decision"], where).toMatchObject(
            outcome(row),
          );
      });

      // A replay of the candidate: the same, until a call it cannot decide exactly.
      const step = createReplayer({ candidate, file });
      const replayed = [...readRecordings([file])].map(step);
      const firstApart = replayed.findIndex(
        (r, i) => JSON.stringify(outcome(r.decision)) !== JSON.stringify(outcome(rows[i]!.shadow!)),
      );
      if (firstApart >= 0) expect(replayed[firstApart]!.inexact).toBe(true);
      if (replayed.every((r) => !r.inexact)) expect(firstApart).toBe(-1);
    },
  );
}

// The counters in Redis against the engine, on the real Redis: the same decisions as one engine
// deciding every call in order, for one proxy or several sharing a prefix.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  type Call,
  compile,
  type CompiledPolicy,
  createState,
  type Decision,
  decide,
  limitCounts,
  type LimitHit,
} from "../../src/engine/index.js";
import { Redis } from "ioredis";
import { RedisCounters, type RedisCountersOptions } from "../../src/proxy/redis-counters.js";
import {
  IDENTITIES,
  load,
  policyArb,
  type PolicyObj,
  policyWindows,
  startArb,
  toCalls,
  traceArb,
} from "../engine/support.js";
import { deletePrefix, REDIS_URL, redisUp } from "./redis-available.js";

const URL = REDIS_URL;
const ROOT = `test-policy-replay:${process.pid}`;

let prefixes = 0;
const opened: RedisCounters[] = [];

/** A fresh prefix of this run's own, so that tests never see each other's keys. */
function freshPrefix(): string {
  return `${ROOT}:${prefixes++}`;
}

async function counters(
  compiled: CompiledPolicy,
  prefix: string,
  opts: Partial<RedisCountersOptions> = {},
): Promise<RedisCounters> {
  // A loaded machine can take longer than the proxy's 0.5 s: these tests compare decisions,
  // and a timeout would turn one into counters_unavailable.
  const c = new RedisCounters(compiled, {
    url: URL,
    prefix,
    clock: "arrival",
    commandTimeoutMs: 10_000,
    ...opts,
  });
  opened.push(c);
  expect(await c.connect()).toBe(true);
  return c;
}

afterAll(async () => {
  for (const c of opened) c.close();
  if (redisUp) await deletePrefix(ROOT);
});

/** The engine's decisions for `calls`, one state, in order. */
function engine(compiled: CompiledPolicy, calls: readonly Call[]): Decision[] {
  return engineCounting(compiled, calls).map((d) => d.decision);
}

/** The engine's decisions for `calls`, with what each one's limits counted (limitCounts). */
function engineCounting(
  compiled: CompiledPolicy,
  calls: readonly Call[],
): { decision: Decision; counts: LimitHit[] | null }[] {
  const state = createState(compiled);
  return calls.map((c) => {
    const decision = decide(compiled, c, state);
    return { decision, counts: limitCounts(compiled, c, decision, state) };
  });
}

const describeRedis = redisUp ? describe : describe.skip;

/**
 * Days ahead of Redis's clock. A key expires by Redis's clock a window after the latest time
 * decided on it, or after Redis's now when that is later: calls decided at given times in the
 * past could find a key gone (Redis's clock moved on) whose window is still open at their time.
 * A whole number of days keeps the generated start times' alignment to windows of a day.
 */
const DAY = 86_400_000;
const AHEAD = (Math.floor(Date.now() / DAY) + 2) * DAY;

describeRedis(`RedisCounters on ${URL}`, () => {
  it("decide as the engine does, given the same times", async () => {
    await fc.assert(
      fc.asyncProperty(policyArb(), traceArb, startArb, async (p, specs, start) => {
        const compiled = compile(load(p));
        const calls = toCalls(specs, AHEAD + start, policyWindows(p));
        const rc = await counters(compiled, freshPrefix());
        const want = engineCounting(compiled, calls);
        let seq = 0;
        for (const [i, call] of calls.entries()) {
          const got = await rc.decide(call, call.ts);
          expect(got.decision).toEqual(want[i]!.decision);
          // Counted in Redis as the engine counts, for the recording (null: not asked).
          if (got.seq !== null) expect(got.counts).toEqual(want[i]!.counts);
          else expect(got.counts).toBeNull();
          expect(got.ts).toBe(call.ts);
          if (got.seq !== null) expect(got.seq).toBe(++seq);
        }
        rc.close();
      }),
      { numRuns: 200 },
    );
  });

  it("decide as one engine does when several proxies share a prefix, one call after another", async () => {
    await fc.assert(
      fc.asyncProperty(
        policyArb(),
        traceArb,
        startArb,
        fc.array(fc.nat({ max: 2 }), { minLength: 60, maxLength: 60 }),
        async (p, specs, start, proxyOf) => {
          const compiled = compile(load(p));
          const calls = toCalls(specs, AHEAD + start, policyWindows(p));
          const prefix = freshPrefix();
          const proxies = [
            await counters(compiled, prefix),
            await counters(compiled, prefix),
            await counters(compiled, prefix),
          ];
          const want = engine(compiled, calls);
          for (const [i, call] of calls.entries()) {
            const got = await proxies[proxyOf[i]!]!.decide(call, call.ts);
            expect(got.decision).toEqual(want[i]);
          }
          for (const rc of proxies) rc.close();
        },
      ),
      { numRuns: 50 },
    );
  });

  it("decide calls sent at once by several proxies in the order and at the times Redis gave", async () => {
    await fc.assert(
      fc.asyncProperty(policyArb(), traceArb, async (p, specs) => {
        const compiled = compile(load(p));
        const calls = toCalls(specs, 0, policyWindows(p));
        const prefix = freshPrefix();
        const proxies = [
          await counters(compiled, prefix, { clock: "redis" }),
          await counters(compiled, prefix, { clock: "redis" }),
          await counters(compiled, prefix, { clock: "redis" }),
        ];
        const got = await Promise.all(calls.map((c, i) => proxies[i % 3]!.decide(c, 0)));
        const sent = got
          .map((g, i) => ({ g, call: calls[i]! }))
          .filter(({ g }) => g.seq !== null)
          .sort((a, b) => a.g.seq! - b.g.seq!);
        const state = createState(compiled);
        for (const { g, call } of sent) {
          const at = { ...call, ts: g.ts };
          const decision = decide(compiled, at, state);
          expect(g.decision).toEqual(decision);
          expect(g.counts).toEqual(limitCounts(compiled, at, decision, state));
        }
        for (const rc of proxies) rc.close();
      }),
      { numRuns: 30 },
    );
  });

  it("never let two proxies take the last unit", async () => {
    const compiled = compile(
      load({
        version: "1",
        tools: { t: { limits: [{ counter: "c", window: "hour", max: 3, scope: "global" }] } },
      }),
    );
    const prefix = freshPrefix();
    const proxies = [
      await counters(compiled, prefix, { clock: "redis" }),
      await counters(compiled, prefix, { clock: "redis" }),
    ];
    const got = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        proxies[i % 2]!.decide({ tool: "t", identity: "a", session: `s${i}` }, 0),
      ),
    );
    expect(got.filter((g) => g.decision.code === "rule_allow")).toHaveLength(3);
    expect(got.filter((g) => g.decision.code === "rate_limited")).toHaveLength(17);
    expect(new Set(got.map((g) => g.seq)).size).toBe(20);
  });

  it("count a window's edges as the engine does", async () => {
    const compiled = compile(
      load({
        version: "1",
        tools: {
          s: { limits: [{ counter: "s", window: 1, max: 1 }] },
          f: { limits: [{ counter: "f", window: 1, max: 1, algorithm: "fixed" }] },
        },
      }),
    );
    const rc = await counters(compiled, freshPrefix());
    const at = (tool: string, ts: number): Call => ({ tool, identity: "a", session: "s", ts });
    // Sliding (t - W, t]: a call exactly W later passes. Fixed [kW, t]: a new window at kW.
    const calls = [
      at("s", 5_000),
      at("f", 5_999),
      at("s", 5_999),
      at("f", 5_999),
      at("f", 6_000),
      at("s", 6_000),
      at("s", 6_000),
    ];
    const want = engine(compiled, calls);
    const got = [];
    for (const call of calls) got.push((await rc.decide(call, call.ts)).decision);
    expect(got).toEqual(want);
    expect(got.map((d) => [d.code, d.retry_after_ms])).toEqual([
      ["rule_allow", null],
      ["rule_allow", null],
      ["rate_limited", 1],
      ["rate_limited", 1],
      ["rule_allow", null],
      ["rule_allow", null],
      ["rate_limited", 1000],
    ]);
  });

  it("keep a private shorthand counter apart from a counter of the same name", async () => {
    const policy: PolicyObj = {
      version: "1",
      tools: {
        t: { rate_limit: { max: 1, window: "minute" } },
        u: { limits: [{ counter: "rate_limit(t)", window: "minute", max: 1 }] },
        "v:w": { limits: [{ counter: "a:grant:b", window: "minute", max: 1 }] },
      },
    };
    const compiled = compile(load(policy));
    const rc = await counters(compiled, freshPrefix());
    const calls: Call[] = ["t", "u", "t", "u", "v:w"].map((tool, i) => ({
      tool,
      identity: IDENTITIES[0],
      session: "s",
      ts: 1_000 + i,
    }));
    const want = engine(compiled, calls);
    for (const [i, call] of calls.entries()) {
      expect((await rc.decide(call, call.ts)).decision).toEqual(want[i]);
    }
    expect(want.map((d) => d.code)).toEqual([
      "rule_allow",
      "rule_allow",
      "rate_limited",
      "rate_limited",
      "rule_allow",
    ]);
  });

  it("expire keys after the counter's longest window, and drop consumptions past it", async () => {
    const compiled = compile(
      load({
        version: "1",
        tools: {
          t: {
            limits: [
              { counter: "c", window: 2, max: 5, scope: "global" },
              { counter: "c", window: 1, max: 5, scope: "global" },
            ],
          },
        },
      }),
    );
    const prefix = freshPrefix();
    const rc = await counters(compiled, prefix);
    const call = { tool: "t", identity: "a", session: "s" };
    await rc.decide(call, 10_000);
    await rc.decide(call, 12_001);
    const key = `${prefix}:c:global:`;
    const ttl = await rc.client.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2_000);
    expect(await rc.client.zrange(key, 0, -1)).toEqual(["12001-2"]);
  });

  it("keep time from going backwards on a prefix", async () => {
    const compiled = compile(
      load({ version: "1", tools: { t: { limits: [{ counter: "c", window: 1, max: 9 }] } } }),
    );
    const rc = await counters(compiled, freshPrefix());
    const call = { tool: "t", identity: "a", session: "s" };
    expect((await rc.decide(call, 5_000)).ts).toBe(5_000);
    expect(await rc.decide(call, 4_000)).toMatchObject({ ts: 5_000, seq: 2 });
  });
});

describe("RedisCounters with Redis unreachable", () => {
  it("deny counters_unavailable a call whose rule has limits, and decide the others here", async () => {
    const compiled = compile(
      load({
        version: "1",
        tools: {
          limited: { reason: "r", limits: [{ counter: "c", window: "minute", max: 5 }] },
          free: {},
        },
      }),
    );
    const statuses: boolean[] = [];
    const rc = new RedisCounters(compiled, {
      url: "redis://127.0.0.1:1",
      prefix: freshPrefix(),
      onStatus: (up) => statuses.push(up),
    });
    opened.push(rc);
    expect(await rc.connect()).toBe(false);
    const call = { identity: "a", session: "s" };
    expect(await rc.decide({ ...call, tool: "limited" }, 7)).toEqual({
      decision: {
        decision: "deny",
        code: "counters_unavailable",
        rule: "limited",
        reason: null,
        retry_after_ms: 1000,
        limit: null,
        inexact: false,
      },
      ts: 7,
      seq: null,
      counts: null,
    });
    expect(await rc.decide({ ...call, tool: "free" }, 8)).toMatchObject({
      decision: { decision: "allow", code: "rule_allow" },
      ts: 8,
      seq: null,
    });
    expect(await rc.decide({ ...call, tool: "other" }, 9)).toMatchObject({
      decision: { code: "default_deny" },
    });
    expect(statuses).toEqual([false]);
    rc.close();
  });
});

/** A port nobody listens on now. */
async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address() as { port: number };
  srv.close();
  await once(srv, "close");
  return port;
}

const haveRedisServer = spawnSync("redis-server", ["--version"]).status === 0;

describe.skipIf(!haveRedisServer)("RedisCounters when Redis comes and goes", () => {
  it("starts without Redis, recovers when it comes up, and fails closed when it goes", async () => {
    const compiled = compile(
      load({ version: "1", tools: { t: { limits: [{ counter: "c", window: 1, max: 9 }] } } }),
    );
    const port = await freePort();
    const statuses: boolean[] = [];
    let wake = (): void => {};
    const rc = new RedisCounters(compiled, {
      url: `redis://127.0.0.1:${port}`,
      prefix: freshPrefix(),
      onStatus: (up) => {
        statuses.push(up);
        wake();
      },
    });
    opened.push(rc);
    const next = (): Promise<void> => new Promise((r) => (wake = r));
    const call = { tool: "t", identity: "a", session: "s" };
    expect(await rc.connect()).toBe(false);
    expect((await rc.decide(call, 1)).decision.code).toBe("counters_unavailable");

    const up = next();
    const server = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    try {
      await up;
      expect((await rc.decide(call, 2)).decision.code).toBe("rule_allow");
    } finally {
      server.kill("SIGTERM");
      await once(server, "exit");
    }
    const down = (await rc.decide(call, 3)).decision.code;
    if (statuses.length < 3) await next();
    expect(down).toBe("counters_unavailable");
    expect(statuses).toEqual([false, true, false]);
  });
});

describe.skipIf(!haveRedisServer)("RedisCounters and the script in Redis", () => {
  it("sends the script's body once, then its SHA, and again when Redis has lost it", async () => {
    const compiled = compile(
      load({ version: "1", tools: { t: { limits: [{ counter: "c", window: 1, max: 9 }] } } }),
    );
    const port = await freePort();
    const server = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    // A Redis of this test's own: flushing its scripts touches no other test.
    const admin = new Redis(`redis://127.0.0.1:${port}`, { retryStrategy: () => 100 });
    admin.on("error", () => {}); // refused until the server listens; it retries
    try {
      await admin.ping();
      const rc = await counters(compiled, freshPrefix(), { url: `redis://127.0.0.1:${port}` });
      const call = { tool: "t", identity: "a", session: "s" };
      const ran = async (): Promise<{ eval: number; evalsha: number }> => {
        const info = await admin.info("commandstats");
        const calls = (name: string): number =>
          Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
        return { eval: calls("eval"), evalsha: calls("evalsha") };
      };
      for (let i = 1; i <= 3; i++) expect(await rc.decide(call, i)).toMatchObject({ seq: i });
      expect(await ran()).toEqual({ eval: 1, evalsha: 2 });
      await admin.script("FLUSH");
      for (let i = 4; i <= 5; i++)
        expect(await rc.decide(call, i)).toMatchObject({
          decision: { code: "rule_allow" },
          seq: i,
          counts: [{ count: i - 1 }],
        });
      // The flushed script's EVALSHA failed without running; its body ran in its place.
      expect(await ran()).toEqual({ eval: 2, evalsha: 4 });
    } finally {
      admin.disconnect();
      server.kill("SIGTERM");
      await once(server, "exit");
    }
  });
});

describe.skipIf(!haveRedisServer)("RedisCounters over a Unix socket", () => {
  it("decides through unix:///PATH?db=N, keeping its keys in that database", async () => {
    const compiled = compile(
      load({ version: "1", tools: { t: { limits: [{ counter: "c", window: 1, max: 2 }] } } }),
    );
    const dir = mkdtempSync(join(tmpdir(), "policy-replay-socket-"));
    const socket = join(dir, "redis.sock");
    // A Redis of this test's own, listening on its socket only.
    const server = spawn(
      "redis-server",
      ["--port", "0", "--unixsocket", socket, "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    const admin = new Redis({ path: socket, db: 3, retryStrategy: () => 100 });
    admin.on("error", () => {}); // refused until the server listens; it retries
    try {
      await admin.ping();
      const prefix = freshPrefix();
      const rc = await counters(compiled, prefix, { url: `unix://${socket}?db=3` });
      const call = { tool: "t", identity: "a", session: "s" };
      const codes: string[] = [];
      for (let i = 1; i <= 3; i++) codes.push((await rc.decide(call, i)).decision.code);
      expect(codes).toEqual(["rule_allow", "rule_allow", "rate_limited"]);
      expect(await admin.hget(`${prefix}:~clock`, "seq")).toBe("3");
    } finally {
      admin.disconnect();
      server.kill("SIGTERM");
      await once(server, "exit");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// `npm run bench`, second part: the recording proxy's speed targets, measured on this
// machine and printed against them. Not a test: figures vary with the machine.
//
// 1. Added latency per tools/call over stdio: the SDK's Client calls server-everything's `echo`
//    directly, and through `policy-replay record` (a real process, a real SQLite file), in the
//    same run. The variants take turns in blocks of calls, so that the machine's speed drifting
//    over the run (it does, by up to 2x) hits them all alike. Two more variants show where the
//    time goes: a byte pipe (a node process that only copies bytes, the floor of any proxy in a
//    process of its own) and the relay in this process (agent side in memory: the relay's and
//    the store's own cost, without the extra pipe hops), with counters in memory, shared
//    through the recording, and in Redis (a real one, BENCH_REDIS_URL, default
//    redis://127.0.0.1:6379, on a key prefix of the run's own, deleted at the end; when it does
//    not answer, that case is skipped and the report says why), beside Redis's bare round trip.
// 2. Sustained recording: the store alone, messages and decisions as fast as it takes them,
//    then every row counted; and end to end, many calls in flight through the proxy process
//    (the SDK's client and the fixture server, then a raw client and a near-free server so
//    that the proxy is what is measured), every message looked up in the file afterwards.
import { type Counters, MemoryCounters, RecordingCounters } from "../src/proxy/counters.js";
import { Shadow } from "../src/proxy/shadow.js";
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import Database from "better-sqlite3";
import { compile, type Decision } from "../src/engine/index.js";
import { loadPolicyFile } from "../src/policy/load.js";
import { monotonicClock, relay } from "../src/proxy/relay.js";
import { createRedactor } from "../src/store/redact.js";
import { openStore } from "../src/store/sqlite.js";
import type { Direction, MessageRecord, Store } from "../src/store/types.js";
import { BenchRedis } from "./redis.js";
import { RedisShadowCounters } from "../src/proxy/redis-shadow.js";

const root = process.cwd();
const bin = join(root, "bin", "policy-replay.js");
const everything = createRequire(import.meta.url).resolve(
  "@modelcontextprotocol/server-everything/dist/index.js",
);
const fixtureServer = join(root, "dist", "scripts", "fixture-server.js");
const CALLS = Number(process.env.BENCH_PROXY_CALLS ?? 3_000);
const WARMUP = 300;
const BLOCK = 100;
const STORE_SECONDS = Number(process.env.BENCH_STORE_SECONDS ?? 2.5);
const E2E_SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 3);
const IN_FLIGHT = 64;

const benchDir = join(root, ".bench");
mkdirSync(benchDir, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), "policy-replay-bench-"));

// Allow everything, with one rate limit on echo that never trips: the engine counts every call.
const policyFile = join(tmp, "allow-all.json");
writeFileSync(
  policyFile,
  JSON.stringify({
    version: "1",
    default: "allow",
    tools: {
      echo: {
        action: "allow",
        limits: [{ counter: "echo_rate", window: "minute", max: 1_000_000_000, scope: "session" }],
      },
      fleet_status: {
        action: "allow",
        limits: [{ counter: "status_rate", window: "minute", max: 1_000_000_000, scope: "global" }],
      },
    },
  }),
);

const rows: { what: string; value: string; target: string; ok: boolean | null }[] = [];
const report = (what: string, value: string, target: string, ok: boolean | null) => {
  rows.push({ what, value, target, ok });
  process.stderr.write(`${what}: ${value}\n`);
};

const us = (ns: number): string => `${(ns / 1000).toFixed(0)} µs`;
const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const nowNs = (): number => Number(process.hrtime.bigint());

/** Nearest-rank percentile of an ascending array. */
const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
const median = (xs: number[]): number =>
  pct(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();
/**
 * CPU time (user + system) a process (all its threads) has used so far, in ns, or with
 * `mainThread` its main thread only; null if /proc cannot tell.
 */
function cpuNs(pid: number | null | undefined, mainThread = false): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}${mainThread ? `/task/${pid}` : ""}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1e9;
  } catch {
    return null;
  }
}

const stdio = (command: string, args: string[]) =>
  new StdioClientTransport({ command, args, stderr: "ignore" });

const newClient = () => new Client({ name: "bench-agent", version: "1.0.0" }, { capabilities: {} });

/** A store that times what the relay asks of it, on the relay's own thread. */
function timedStore(inner: Store, t: { decisionNs: number[]; messageNs: number }): Store {
  return {
    putPolicy: (h, text) => inner.putPolicy(h, text),
    startSession: (s) => inner.startSession(s),
    updateSession: (id, p) => inner.updateSession(id, p),
    recordMessage: (m) => {
      const t0 = nowNs();
      inner.recordMessage(m);
      t.messageNs += nowNs() - t0;
    },
    recordDecision: (d) => {
      const t0 = nowNs();
      const id = inner.recordDecision(d);
      t.decisionNs.push(nowNs() - t0);
      return id;
    },
    recordDecisionShared: (since, step) => {
      const t0 = nowNs();
      const id = inner.recordDecisionShared!(since, step);
      t.decisionNs.push(nowNs() - t0);
      return id;
    },
    recordApproval: (id, a) => inner.recordApproval(id, a),
    recordOutcome: (id, o) => inner.recordOutcome(id, o),
    flush: () => inner.flush(),
    close: () => inner.close(),
    calls: () => inner.calls(),
  };
}

/** A store that keeps nothing: the relay's cost without SQLite's. */
function nullStore(): Store {
  let id = 0;
  return {
    putPolicy() {},
    startSession() {},
    updateSession() {},
    recordMessage() {},
    recordDecision: () => ++id,
    recordApproval() {},
    recordOutcome() {},
    flush() {},
    close() {},
    calls: () => [][Symbol.iterator](),
  };
}

// ---------------------------------------------------------------------------------------------
// 1. Added latency per tools/call

interface Variant {
  label: string;
  /** One timed operation: an echo call, or a bare Redis round trip. */
  run: () => Promise<void>;
  times: number[];
  /** Per measured block, that block's median: for pairing with the other variants' blocks. */
  blockMedians: number[];
  close: () => Promise<void>;
  pid?: number | null;
}

/** An echo call through `client`, failing loudly when it comes back as an error. */
const echo = (label: string, client: Client) => async (): Promise<void> => {
  const r = await client.callTool({ name: "echo", arguments: { message: "hello, bench" } });
  if (r.isError) throw new Error(`${label}: echo failed: ${JSON.stringify(r)}`);
};

async function inProcessRelay(
  label: string,
  store: Store,
  counters: (compiled: ReturnType<typeof compile>) => Counters | Promise<Counters> = (c) =>
    new MemoryCounters(c),
): Promise<Variant> {
  const { policy } = loadPolicyFile(policyFile);
  const compiled = compile(policy);
  const [agentSide, proxySide] = InMemoryTransport.createLinkedPair();
  const session = { id: `inproc-${label}`, identity: "bench" };
  store.startSession({
    ...session,
    transport: "stdio",
    mode: "enforce",
    policyHash: "bench",
    startedAt: Date.now(),
  });
  const { closed } = await relay({
    client: proxySide,
    server: stdio(process.execPath, [everything, "stdio"]),
    compiled,
    counters: await counters(compiled),
    clock: monotonicClock(),
    session,
    mode: "enforce",
    store,
    redactor: createRedactor({ keyFile: join(tmp, `${label}.key`), enabled: true }),
    approvalTimeoutMs: 5_000,
    log: (line) => void process.stderr.write(`relay: ${line}\n`),
  });
  const client = newClient();
  await client.connect(agentSide);
  return {
    label,
    run: echo(label, client),
    times: [],
    blockMedians: [],
    close: async () => {
      await client.close();
      await closed;
      store.close();
    },
  };
}

async function overStdio(label: string, command: string, args: string[]): Promise<Variant> {
  const transport = stdio(command, args);
  const client = newClient();
  await client.connect(transport);
  return {
    label,
    run: echo(label, client),
    times: [],
    blockMedians: [],
    close: () => client.close(),
    pid: transport.pid,
  };
}

// A process that only copies bytes both ways: what any proxy in its own process costs at least.
const BYTE_PIPE = `
const { spawn } = require("node:child_process");
const c = spawn(process.argv[1], process.argv.slice(2), { stdio: ["pipe", "pipe", "ignore"] });
process.stdin.pipe(c.stdin);
c.stdout.pipe(process.stdout);
c.on("exit", () => process.exit(0));
`;

async function latency(): Promise<void> {
  const redis = await BenchRedis.open();
  if (!(redis instanceof BenchRedis)) return latencyRounds(null, redis.reason);
  try {
    await latencyRounds(redis);
  } finally {
    await redis.close();
  }
}

/** A variant that times something other than an echo call. */
const probe = (label: string, run: () => Promise<void>): Variant => ({
  label,
  run,
  times: [],
  blockMedians: [],
  close: async () => {},
});

const IN_REDIS = "relay+sqlite, counters in Redis";
const PROXY_REDIS = "proxy, counters in Redis";
const REDIS_SHADOW = "relay+sqlite, counters in Redis, shadow policy";
const PROXY_REDIS_SHADOW = "proxy, counters in Redis, --shadow";
const SHARED = "relay+sqlite, shared counters";
const SHADOWED = "relay+sqlite, shared counters, shadow policy";
const PROXY_SHADOW = "proxy --shadow";

/** The latency rounds; with `redis` null, the Redis case is skipped for `skipped`. */
async function latencyRounds(redis: BenchRedis | null, skipped = ""): Promise<void> {
  const latencyDb = join(tmp, "latency.sqlite");
  const storeDb = join(tmp, "latency-inproc.sqlite");
  const store = { decisionNs: [] as number[], messageNs: 0 };
  const shared = { decisionNs: [] as number[], messageNs: 0 };
  const variants: Variant[] = [
    await overStdio("direct", process.execPath, [everything, "stdio"]),
    await overStdio("proxy", process.execPath, [
      bin,
      "record",
      "--policy",
      policyFile,
      "--db",
      latencyDb,
      "--",
      process.execPath,
      everything,
      "stdio",
    ]),
    await overStdio("byte pipe", process.execPath, [
      "-e",
      BYTE_PIPE,
      process.execPath,
      everything,
      "stdio",
    ]),
    await inProcessRelay("relay+sqlite", timedStore(openStore(storeDb), store)),
    await inProcessRelay(
      "relay+sqlite, shared counters",
      timedStore(openStore(join(tmp, "latency-shared.sqlite")), shared),
      (c) => new RecordingCounters(c),
    ),
    await inProcessRelay("relay, no store", nullStore()),
    // The same, deciding each call under a shadow policy too (the same policy: the same work).
    await inProcessRelay(
      SHADOWED,
      openStore(join(tmp, "latency-shadow.sqlite")),
      (c) => new RecordingCounters(c, new Shadow(c, "bench-shadow")),
    ),
    await overStdio(PROXY_SHADOW, process.execPath, [
      bin,
      "record",
      "--policy",
      policyFile,
      "--shadow",
      policyFile,
      "--db",
      join(tmp, "latency-shadow-proxy.sqlite"),
      "--",
      process.execPath,
      everything,
      "stdio",
    ]),
  ];
  // Redis's bare round trips, timed in the same rounds as the calls they are held against.
  const probes: Variant[] = [];
  if (redis) {
    variants.push(
      await inProcessRelay(IN_REDIS, openStore(join(tmp, "latency-redis.sqlite")), (c) =>
        redis.relayCounters(c),
      ),
      await overStdio(PROXY_REDIS, process.execPath, [
        bin,
        "record",
        "--policy",
        policyFile,
        "--db",
        join(tmp, "latency-redis-proxy.sqlite"),
        "--counters",
        redis.url,
        "--counters-prefix",
        redis.prefix,
        "--",
        process.execPath,
        everything,
        "stdio",
      ]),
      // The same with a shadow policy, its counters in Redis too (the same policy: each call
      // is decided under both in the one script run).
      await inProcessRelay(
        REDIS_SHADOW,
        openStore(join(tmp, "latency-redis-shadow.sqlite")),
        async (c) =>
          new RedisShadowCounters(await redis.counters(c), c, "bench-shadow".padEnd(64, "0")),
      ),
      await overStdio(PROXY_REDIS_SHADOW, process.execPath, [
        bin,
        "record",
        "--policy",
        policyFile,
        "--shadow",
        policyFile,
        "--db",
        join(tmp, "latency-redis-shadow-proxy.sqlite"),
        "--counters",
        redis.url,
        "--counters-prefix",
        redis.prefix,
        "--",
        process.execPath,
        everything,
        "stdio",
      ]),
    );
    const decider = await redis.counters(compile(loadPolicyFile(policyFile).policy));
    const limited = { tool: "echo", identity: "bench", session: "bench-decide-script" };
    probes.push(
      probe("PING", () => redis.ping()),
      probe("EVALSHA of a trivial script", () => redis.trivialScript()),
      probe("the decide script", () => BenchRedis.decide(decider, limited)),
    );
  }
  const call = async (v: Variant): Promise<number> => {
    const t0 = nowNs();
    await v.run();
    return nowNs() - t0;
  };
  const all = [...variants, ...probes];
  for (const v of all) for (let i = 0; i < WARMUP; i++) await call(v);
  store.decisionNs.length = 0;
  store.messageNs = 0;
  shared.decisionNs.length = 0;
  const proxy = variants[1]!;
  const cpu0 = cpuNs(proxy.pid);
  // Blocks in turn; each round starts with the next variant, so no variant always goes first.
  // This process's CPU during each variant's blocks: what an in-process relay costs beyond
  // waiting for the others (worker threads included; the spawned server is not).
  const ownCpu = new Map<string, number>();
  for (let round = 0; round * BLOCK < CALLS; round++) {
    for (let k = 0; k < all.length; k++) {
      const v = all[(round + k) % all.length]!;
      const block: number[] = [];
      const c0 = cpuNs(process.pid);
      for (let i = 0; i < BLOCK; i++) block.push(await call(v));
      const c1 = cpuNs(process.pid);
      if (c0 !== null && c1 !== null) ownCpu.set(v.label, (ownCpu.get(v.label) ?? 0) + c1 - c0);
      v.times.push(...block);
      v.blockMedians.push(median(block));
    }
  }
  const cpu1 = cpuNs(proxy.pid);
  for (const v of variants) await v.close();

  // Every call made it into the proxy's file, decision first.
  const db = new Database(latencyDb, { readonly: true });
  const recorded = db
    .prepare<[], { n: number }>("SELECT count(*) AS n FROM calls WHERE tool = 'echo'")
    .get()!.n;
  db.close();
  const expected = WARMUP + proxy.times.length;
  if (recorded !== expected)
    throw new Error(`proxy recorded ${recorded} echo calls, expected ${expected}`);

  const sorted = new Map(all.map((v) => [v.label, [...v.times].sort((a, b) => a - b)]));
  const direct = sorted.get("direct")!;
  const n = direct.length;
  process.stderr.write(`(${n.toLocaleString()} measured calls per variant, blocks of ${BLOCK})\n`);
  for (const v of variants) {
    const s = sorted.get(v.label)!;
    report(
      `echo round trip, ${v.label}: p50 / p90 / p99`,
      `${us(pct(s, 0.5))} / ${us(pct(s, 0.9))} / ${us(pct(s, 0.99))}`,
      "",
      null,
    );
  }
  const added = (label: string, p: number): number => pct(sorted.get(label)!, p) - pct(direct, p);
  const a50 = added("proxy", 0.5);
  const a99 = added("proxy", 0.99);
  report(
    "added latency, proxy process, p50 (proxy p50 - direct p50)",
    us(a50),
    "<= 100 µs",
    a50 <= 100_000,
  );
  report("added latency, proxy process, p90", us(added("proxy", 0.9)), "(no target)", null);
  report(
    "added latency, proxy process, p99 (proxy p99 - direct p99)",
    us(a99),
    "<= 500 µs",
    a99 <= 500_000,
  );
  // Each proxy block against the direct block of the same round: robust to drift.
  const paired = proxy.blockMedians.map((m, i) => m - variants[0]!.blockMedians[i]!);
  report("  same p50, paired by round (median of block differences)", us(median(paired)), "", null);
  report(
    "  floor: byte-pipe process added p50 / p99",
    `${us(added("byte pipe", 0.5))} / ${us(added("byte pipe", 0.99))}`,
    "",
    null,
  );
  // The proxy over the byte pipe of the same rounds: what the proxy costs above any process relay.
  const overFloor = (p: number): number =>
    pct(sorted.get("proxy")!, p) - pct(sorted.get("byte pipe")!, p);
  report("  proxy p50 - byte-pipe p50", us(overFloor(0.5)), "<= 50 µs", overFloor(0.5) <= 50_000);
  report(
    "  proxy p99 - byte-pipe p99",
    us(overFloor(0.99)),
    "<= 300 µs",
    overFloor(0.99) <= 300_000,
  );
  report(
    "  relay in this process + SQLite, added p50 / p99",
    `${us(added("relay+sqlite", 0.5))} / ${us(added("relay+sqlite", 0.99))}`,
    "",
    null,
  );
  const sharedAdded =
    pct(sorted.get("relay+sqlite, shared counters")!, 0.5) - pct(sorted.get("relay+sqlite")!, 0.5);
  report(
    "  counters shared through the recording: p50 over counters in memory",
    us(sharedAdded),
    "<= 30 µs",
    sharedAdded <= 30_000,
  );
  const sharedDec = [...shared.decisionNs].sort((a, b) => a - b);
  report(
    "  decide-and-write in one transaction (shared counters) p50 / p99",
    `${us(pct(sharedDec, 0.5))} / ${us(pct(sharedDec, 0.99))}`,
    "",
    null,
  );
  report(
    "  relay in this process, no store, added p50 / p99",
    `${us(added("relay, no store", 0.5))} / ${us(added("relay, no store", 0.99))}`,
    "",
    null,
  );
  const dec = [...store.decisionNs].sort((a, b) => a - b);
  report(
    "  write-ahead recordDecision (commit) p50 / p99",
    `${us(pct(dec, 0.5))} / ${us(pct(dec, 0.99))}`,
    "",
    null,
  );
  report(
    "  recordMessage per tools/call (2 messages, queued)",
    us(store.messageNs / dec.length),
    "",
    null,
  );
  if (cpu0 !== null && cpu1 !== null)
    report(
      "  proxy process CPU per call (user + sys, /proc)",
      us((cpu1 - cpu0) / proxy.times.length),
      "",
      null,
    );
  const shadowAdded = pct(sorted.get(SHADOWED)!, 0.5) - pct(sorted.get(SHARED)!, 0.5);
  report(
    "  a shadow policy (record --shadow): p50 over shared counters without one",
    us(shadowAdded),
    "",
    null,
  );
  report(
    "  proxy process with --shadow: added p50 / p99 over direct",
    `${us(added(PROXY_SHADOW, 0.5))} / ${us(added(PROXY_SHADOW, 0.99))}`,
    "",
    null,
  );
  if (redis) reportRedis(sorted, added, variants, ownCpu);
  else report(`counters in Redis: case skipped: ${skipped}`, "", "", null);
}

/** The Redis case: the relay's added latency with counters in Redis, and Redis's own. */
function reportRedis(
  sorted: Map<string, number[]>,
  added: (label: string, p: number) => number,
  variants: Variant[],
  ownCpu: Map<string, number>,
): void {
  const a50 = added(IN_REDIS, 0.5);
  report(
    "added latency, counters in Redis (relay in this process + SQLite), p50 over direct",
    us(a50),
    "<= 250 µs",
    a50 <= 250_000,
  );
  const byLabel = (label: string): Variant => variants.find((v) => v.label === label)!;
  const direct = byLabel("direct").blockMedians;
  const paired = byLabel(IN_REDIS).blockMedians.map((m, i) => m - direct[i]!);
  report("  same p50, paired by round (median of block differences)", us(median(paired)), "", null);
  report("  same, p99 over direct p99", us(added(IN_REDIS, 0.99)), "", null);
  const overMemory = pct(sorted.get(IN_REDIS)!, 0.5) - pct(sorted.get("relay+sqlite")!, 0.5);
  report("  counters in Redis: p50 over counters in memory", us(overMemory), "", null);
  const shadowOver = pct(sorted.get(REDIS_SHADOW)!, 0.5) - pct(sorted.get(IN_REDIS)!, 0.5);
  report(
    "  a shadow policy with counters in Redis: p50 over without one",
    us(shadowOver),
    "",
    null,
  );
  report(
    "  proxy process with --counters redis --shadow: added p50 / p99 over direct",
    `${us(added(PROXY_REDIS_SHADOW, 0.5))} / ${us(added(PROXY_REDIS_SHADOW, 0.99))}`,
    "",
    null,
  );
  const perCall = (label: string): string => {
    const ns = ownCpu.get(label);
    return ns === undefined ? "?" : us(ns / byLabel(label).times.length);
  };
  report(
    "  this process's CPU per call, relay + SQLite: counters in memory / in Redis",
    `${perCall("relay+sqlite")} / ${perCall(IN_REDIS)}`,
    "",
    null,
  );
  report(
    "  proxy process with --counters redis: added p50 / p99 over direct",
    `${us(added(PROXY_REDIS, 0.5))} / ${us(added(PROXY_REDIS, 0.99))}`,
    "",
    null,
  );
  for (const [label, what] of [
    ["PING", "Redis round trip alone: PING"],
    ["EVALSHA of a trivial script", "Redis round trip alone: EVALSHA of a trivial script"],
    ["the decide script", "the decide script alone, one call (RedisCounters.decide)"],
  ] as const) {
    const s = sorted.get(label)!;
    report(`  ${what}, p50 / p99`, `${us(pct(s, 0.5))} / ${us(pct(s, 0.99))}`, "", null);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Sustained recording, the store alone

/** Bodies of realistic size: progress and log notifications, tools/call answers (~600 bytes). */
function messagePool(
  session: string,
): { direction: Direction; method: string | null; message: unknown }[] {
  const hosts = ["web-1", "web-2", "db-1", "laptop-ana", "build-7"];
  const pool: { direction: Direction; method: string | null; message: unknown }[] = [];
  for (let i = 0; i < 64; i++) {
    pool.push({
      direction: "server_to_client",
      method: "notifications/progress",
      message: {
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: {
          progressToken: `${session}-${i}`,
          progress: i,
          total: 64,
          message: `step ${i} of 64`,
        },
      },
    });
    pool.push({
      direction: "server_to_client",
      method: "notifications/message",
      message: {
        jsonrpc: "2.0",
        method: "notifications/message",
        params: {
          level: "info",
          logger: "fleet",
          data: `host ${hosts[i % 5]} checked in after ${i * 17} ms`,
        },
      },
    });
    pool.push({
      direction: "server_to_client",
      method: null,
      message: {
        jsonrpc: "2.0",
        id: i,
        result: {
          content: [
            {
              type: "text",
              text: JSON.stringify(
                hosts.map((h, j) => ({
                  host: h,
                  team: "payments",
                  online: (i + j) % 3 !== 0,
                  os: "ubuntu 24.04",
                  last_seen: 1_760_000_000_000 + i * 1000 + j,
                })),
              ),
            },
          ],
        },
      },
    });
  }
  return pool;
}

function storeThroughput(label: string, decisionEvery: number, seconds: number): void {
  const file = join(tmp, `store-${decisionEvery}.sqlite`);
  let lost = 0;
  const store = openStore(file, {
    onError: (err) => {
      lost++;
      process.stderr.write(`store: ${err.message}\n`);
    },
  });
  const session = randomUUID();
  store.putPolicy("bench", readFileSync(policyFile, "utf8"));
  store.startSession({
    id: session,
    identity: "bench",
    transport: "stdio",
    mode: "enforce",
    policyHash: "bench",
    startedAt: Date.now(),
  });
  const pool = messagePool(session);
  const decision: Decision = {
    decision: "allow",
    code: "rule_allow",
    rule: "fleet_*_list",
    reason: null,
    limit: null,
    retry_after_ms: null,
    inexact: false,
  };
  let seq = 0;
  let messages = 0;
  let decisions = 0;
  let call = 0;
  const record = (m: Omit<MessageRecord, "session" | "seq" | "ts">, ts: number): void => {
    store.recordMessage({ session, seq: ++seq, ts, ...m });
    messages++;
  };
  const cpu0 = cpuNs(process.pid, true);
  const t0 = nowNs();
  const deadline = t0 + seconds * 1e9;
  let ts = Date.now();
  while (nowNs() < deadline) {
    for (let i = 0; i < 200; i++) {
      ts++;
      // One tools/call: request, write-ahead decision, answer, outcome.
      const id = ++call;
      const args = { team: "payments", status: "online", page: id % 7 };
      record(
        {
          direction: "client_to_server",
          method: "tools/call",
          jsonrpcId: String(id),
          message: {
            jsonrpc: "2.0",
            id,
            method: "tools/call",
            params: { name: "fleet_hosts_list", arguments: args },
          },
        },
        ts,
      );
      const callId = store.recordDecision({
        session,
        seq,
        ts,
        identity: "bench",
        tool: "fleet_hosts_list",
        arguments: args,
        jsonrpcId: String(id),
        mode: "enforce",
        decision,
      });
      decisions++;
      const answer = pool[(id * 3 + 2) % pool.length]!;
      record(
        {
          direction: "server_to_client",
          method: null,
          jsonrpcId: String(id),
          message: { ...(answer.message as object), id },
        },
        ts,
      );
      store.recordOutcome(callId, { outcome: "result", latencyMs: 3 });
      // The other messages of the mix: progress and log notifications.
      for (let k = 2; k < decisionEvery; k++) {
        const m = pool[(seq * 3 + (k & 1)) % pool.length]!;
        record(
          { direction: m.direction, method: m.method, jsonrpcId: null, message: m.message },
          ts,
        );
      }
    }
  }
  store.flush();
  const elapsedS = (nowNs() - t0) / 1e9;
  const cpu1 = cpuNs(process.pid, true);
  store.close();
  const db = new Database(file, { readonly: true });
  const count = (sql: string): number => db.prepare<[], { n: number }>(sql).get()!.n;
  const storedMessages = count("SELECT count(*) AS n FROM messages");
  const storedCalls = count("SELECT count(*) AS n FROM calls WHERE outcome = 'result'");
  const maxSeq = count("SELECT max(seq) AS n FROM messages");
  db.close();
  const complete =
    storedMessages === messages && maxSeq === seq && storedCalls === decisions && lost === 0;
  const rate = messages / elapsedS;
  report(
    `store: messages/s, 1 decision per ${decisionEvery} messages (${seconds} s)${label}`,
    int(rate),
    decisionEvery === 10 ? ">= 50,000" : "(no target)",
    decisionEvery === 10 ? rate >= 50_000 && complete : null,
  );
  if (cpu0 !== null && cpu1 !== null)
    report(
      "  same, per second of the writing thread's CPU (a core to itself)",
      int(messages / ((cpu1 - cpu0) / 1e9)),
      "",
      null,
    );
  report(
    `  stored / sent: messages, decisions with outcome`,
    `${int(storedMessages)}/${int(messages)}, ${int(storedCalls)}/${int(decisions)}`,
    "none lost",
    complete,
  );
  rmSync(file, { force: true });
}

// ---------------------------------------------------------------------------------------------
// 3. Sustained recording end to end, through the proxy process

async function endToEnd(): Promise<void> {
  const file = join(tmp, "e2e.sqlite");
  const transport = stdio(process.execPath, [
    bin,
    "record",
    "--policy",
    policyFile,
    "--db",
    file,
    "--",
    process.execPath,
    fixtureServer,
  ]);
  const client = newClient();
  await client.connect(transport);
  for (let i = 0; i < 200; i++) await client.callTool({ name: "fleet_status", arguments: {} });
  const pid = transport.pid;
  const cpu0 = cpuNs(pid);
  const t0 = nowNs();
  const deadline = t0 + E2E_SECONDS * 1e9;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (nowNs() < deadline) {
      const r = await client.callTool({ name: "fleet_status", arguments: {} });
      if (r.isError) throw new Error(`fleet_status failed: ${JSON.stringify(r)}`);
      done++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const elapsedS = (nowNs() - t0) / 1e9;
  const cpu1 = cpuNs(pid);
  await client.close();
  const db = new Database(file, { readonly: true });
  const count = (sql: string): number => db.prepare<[], { n: number }>(sql).get()!.n;
  const calls = 200 + done;
  const requests = count("SELECT count(*) AS n FROM messages WHERE method = 'tools/call'");
  // The answers: server messages with the id of a call that got its result.
  const answers = count(
    `SELECT count(*) AS n FROM messages WHERE direction = 1 AND jsonrpc_id IN
       (SELECT jsonrpc_id FROM calls WHERE outcome = 'result')`,
  );
  const decided = count("SELECT count(*) AS n FROM calls WHERE tool = 'fleet_status'");
  const gaps = count(
    "SELECT count(*) - (max(seq) - min(seq) + 1) AS n FROM messages GROUP BY session",
  );
  db.close();
  const complete = requests === calls && answers === calls && decided === calls && gaps === 0;
  const rate = (2 * done) / elapsedS;
  report(
    `end to end: SDK client, ${IN_FLIGHT} calls in flight, proxy + fixture server, msgs/s recorded`,
    int(rate),
    "(no target)",
    null,
  );
  report(`  tools/call per s (${int(done)} in ${E2E_SECONDS} s)`, int(done / elapsedS), "", null);
  report(
    "  in the file: requests, answers, decisions / calls made",
    `${int(requests)}, ${int(answers)}, ${int(decided)} / ${int(calls)}`,
    "none lost",
    complete,
  );
  if (cpu0 !== null && cpu1 !== null)
    report(
      "  proxy process CPU per message (user + sys, /proc)",
      us((cpu1 - cpu0) / (2 * done)),
      "",
      null,
    );
  rmSync(file, { force: true });
}

// A minimal MCP server for the raw run: answers initialize, and each tools/call with K progress
// notifications and then the result, all in one write. Almost free, so the proxy is what is
// measured. K comes as the first argument.
const RAW_SERVER = `
const K = Number(process.argv[1]);
let buf = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => {
  buf += d;
  let out = "";
  let i;
  while ((i = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    if (m.id === undefined) continue;
    if (m.method === "initialize") {
      out += JSON.stringify({ jsonrpc: "2.0", id: m.id, result: { protocolVersion: m.params.protocolVersion,
        capabilities: { tools: {} }, serverInfo: { name: "raw-bench-server", version: "1.0.0" } } }) + "\\n";
      continue;
    }
    for (let k = 1; k <= K; k++)
      out += JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress",
        params: { progressToken: m.id, progress: k, total: K, message: "step " + k + " of " + K } }) + "\\n";
    out += JSON.stringify({ jsonrpc: "2.0", id: m.id,
      result: { content: [{ type: "text", text: "fleet ok: 4 hosts online" }] } }) + "\\n";
  }
  if (out) process.stdout.write(out);
});
process.stdin.on("end", () => process.exit(0));
`;

/**
 * The proxy process between a raw client (lines written and counted here, no SDK) and
 * RAW_SERVER: the proxy's own ceiling, with `notifications` server messages per tools/call.
 */
async function rawEndToEnd(notifications: number, seconds: number): Promise<void> {
  const file = join(tmp, `raw-${notifications}.sqlite`);
  const child = spawn(
    process.execPath,
    [
      bin,
      "record",
      "--policy",
      policyFile,
      "--db",
      file,
      "--",
      process.execPath,
      "-e",
      RAW_SERVER,
      String(notifications),
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  // What the proxy says on stderr, each distinct line once.
  const said = new Set<string>();
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text: string) => {
    for (const line of text.split("\n")) if (line.trim()) said.add(line);
  });
  const exited = new Promise<number | null>((done) => child.on("close", (code) => done(code)));
  const perCall = notifications + 2;
  let sent = 0;
  let answered = 0;
  let lines = 0;
  let carry = "";
  let t0 = 0;
  let tEnd = 0;
  let deadline = Infinity;
  let ready: () => void = () => {};
  const initialized = new Promise<void>((done) => (ready = done));
  const finished = new Promise<void>((done) => {
    const send = (n: number): void => {
      let out = "";
      for (let i = 0; i < n; i++) {
        sent++;
        out += `{"jsonrpc":"2.0","id":${sent},"method":"tools/call","params":{"name":"fleet_status","arguments":{}}}\n`;
      }
      if (out) child.stdin.write(out);
    };
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const text = carry + chunk;
      const end = text.lastIndexOf("\n");
      carry = text.slice(end + 1);
      let answers = 0;
      for (let i = text.indexOf("\n"); i !== -1 && i <= end; i = text.indexOf("\n", i + 1)) lines++;
      // Answers are the lines with a result; the rest are notifications.
      for (
        let i = text.indexOf('"result"');
        i !== -1 && i < end;
        i = text.indexOf('"result"', i + 1)
      )
        answers++;
      if (t0 === 0) {
        // The initialize answer: start the session, then keep IN_FLIGHT calls going.
        child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
        ready();
        return;
      }
      answered += answers;
      if (nowNs() < deadline) send(answers);
      else if (answered === sent) {
        tEnd = nowNs();
        done();
      }
    });
  });
  child.stdin.write(
    '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw-bench","version":"1.0.0"}}}\n',
  );
  await initialized;
  const cpu0 = cpuNs(child.pid);
  t0 = nowNs();
  deadline = t0 + seconds * 1e9;
  let out = "";
  for (let i = 0; i < IN_FLIGHT; i++) {
    sent++;
    out += `{"jsonrpc":"2.0","id":${sent},"method":"tools/call","params":{"name":"fleet_status","arguments":{}}}\n`;
  }
  child.stdin.write(out);
  await finished;
  const cpu1 = cpuNs(child.pid);
  child.stdin.end();
  const code = await exited;
  for (const line of said) process.stderr.write(`proxy (raw run): ${line}\n`);
  if (code !== 0) throw new Error(`raw run: the proxy exited with ${code}`);
  const elapsedS = (tEnd - t0) / 1e9;
  const db = new Database(file, { readonly: true });
  const count = (sql: string): number => db.prepare<[], { n: number }>(sql).get()!.n;
  const stored = count("SELECT count(*) AS n FROM messages");
  const decided = count("SELECT count(*) AS n FROM calls WHERE outcome = 'result'");
  const gaps = count("SELECT count(*) - (max(seq) - min(seq) + 1) AS n FROM messages");
  db.close();
  // initialize, its answer, notifications/initialized, then each call's messages.
  const expected = 3 + sent * perCall;
  const complete =
    stored === expected && decided === sent && gaps === 0 && lines === 1 + sent * (perCall - 1);
  const rate = (sent * perCall) / elapsedS;
  report(
    `end to end, raw client and server, proxy process, 1 tools/call per ${perCall} msgs: msgs/s`,
    int(rate),
    "(no target)",
    null,
  );
  report(
    `  tools/call per s; in the file: messages, decisions / expected`,
    `${int(sent / elapsedS)}; ${int(stored)}, ${int(decided)} / ${int(expected)}, ${int(sent)}`,
    "none lost",
    complete,
  );
  if (cpu0 !== null && cpu1 !== null)
    report(
      "  proxy process CPU per message (user + sys, /proc)",
      us((cpu1 - cpu0) / (sent * perCall)),
      "",
      null,
    );
  rmSync(file, { force: true });
}

// ---------------------------------------------------------------------------------------------

const section = async (name: string, run: () => unknown): Promise<void> => {
  const t = nowNs();
  await run();
  process.stderr.write(`[${name}: ${((nowNs() - t) / 1e9).toFixed(1)} s]\n`);
};
const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
// BENCH_PROXY_ONLY=latency runs the latency rounds alone: for comparing two builds in turn.
const only = process.env.BENCH_PROXY_ONLY;
try {
  await section("latency", latency);
  if (only !== "latency") {
    await section("store", () => {
      storeThroughput("", 10, STORE_SECONDS);
      storeThroughput(", every message pair a tools/call", 2, 1.5);
    });
    await section("end to end, SDK", endToEnd);
    await section("end to end, raw", async () => {
      await rawEndToEnd(8, E2E_SECONDS);
      await rawEndToEnd(0, E2E_SECONDS);
    });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const cpu = execFileSync("sh", ["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"])
  .toString()
  .trim();
console.log(
  `\npolicy-replay proxy benchmark — node ${process.version}, ${cpu}, ${cpus().length} CPUs, load average before ${load}\n`,
);
for (const r of rows) {
  const mark = r.ok === null ? "  " : r.ok ? "ok" : "!!";
  const target = r.target ? `   target ${r.target}` : "";
  console.log(`${mark}  ${r.what.padEnd(88)} ${r.value.padStart(18)}${target}`);
}
writeFileSync(
  join(benchDir, "proxy-results.json"),
  JSON.stringify({ node: process.version, cpu, load, rows }, null, 2),
);

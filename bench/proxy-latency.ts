// The proxy benchmark's latency rounds (bench/proxy.ts, part 1): every variant in turn, in
// blocks, then the added latency of each over the direct path, Redis's case included.
import Database from "better-sqlite3";
import { join } from "node:path";
import { compile } from "../src/engine/index.js";
import { loadPolicyFile } from "../src/policy/load.js";
import { RecordingCounters } from "../src/proxy/counters.js";
import { RedisShadowCounters } from "../src/proxy/redis-shadow.js";
import { Shadow } from "../src/proxy/shadow.js";
import { openStore } from "../src/store/sqlite.js";
import {
  BLOCK,
  bin,
  CALLS,
  cpuNs,
  everything,
  median,
  nowNs,
  pct,
  policyFile,
  report,
  tmp,
  us,
  WARMUP,
} from "./proxy-common.js";
import {
  BYTE_PIPE,
  inProcessRelay,
  nullStore,
  overStdio,
  probe,
  timedStore,
  type Variant,
} from "./proxy-harness.js";
import { BenchRedis } from "./redis.js";

export async function latency(): Promise<void> {
  const redis = await BenchRedis.open();
  if (!(redis instanceof BenchRedis)) return latencyRounds(null, redis.reason);
  try {
    await latencyRounds(redis);
  } finally {
    await redis.close();
  }
}

const IN_REDIS = "relay+sqlite, counters in Redis";
const PROXY_REDIS = "proxy, counters in Redis";
const IN_REDIS_SOCKET = "relay+sqlite, counters in Redis over its Unix socket";
const PROXY_REDIS_SOCKET = "proxy, counters in Redis over its Unix socket";
/** The benchmark's Redis's Unix socket, if it listens on one: its path. */
const REDIS_SOCKET = process.env.BENCH_REDIS_SOCKET;
const REDIS_FLOOR = "relay+sqlite, counters in memory after a Redis PING";
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
      await inProcessRelay(REDIS_FLOOR, openStore(join(tmp, "latency-redis-floor.sqlite")), (c) =>
        redis.pingThenMemory(c),
      ),
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
    // The same Redis over its Unix socket, when BENCH_REDIS_SOCKET names it.
    if (REDIS_SOCKET)
      variants.push(
        await inProcessRelay(IN_REDIS_SOCKET, openStore(join(tmp, "latency-socket.sqlite")), (c) =>
          redis.relayCounters(c, { url: `unix://${REDIS_SOCKET}` }),
        ),
        await overStdio(PROXY_REDIS_SOCKET, process.execPath, [
          bin,
          "record",
          "--policy",
          policyFile,
          "--db",
          join(tmp, "latency-socket-proxy.sqlite"),
          "--counters",
          `unix://${REDIS_SOCKET}`,
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
  const perCall = (label: string): string => {
    const ns = ownCpu.get(label);
    return ns === undefined ? "?" : us(ns / byLabel(label).times.length);
  };
  const paired = byLabel(IN_REDIS).blockMedians.map((m, i) => m - direct[i]!);
  report("  same p50, paired by round (median of block differences)", us(median(paired)), "", null);
  report("  same, p99 over direct p99", us(added(IN_REDIS, 0.99)), "", null);
  const floorPaired = byLabel(REDIS_FLOOR).blockMedians.map((m, i) => m - direct[i]!);
  report(
    "  floor: counters in memory after a bare Redis PING in the call's path, p50 / paired",
    `${us(added(REDIS_FLOOR, 0.5))} / ${us(median(floorPaired))}`,
    "",
    null,
  );
  const overFloor = pct(sorted.get(IN_REDIS)!, 0.5) - pct(sorted.get(REDIS_FLOOR)!, 0.5);
  report("  counters in Redis: p50 over that floor", us(overFloor), "", null);
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
  report(
    "  this process's CPU per call, relay + SQLite: counters in memory / that floor / in Redis",
    `${perCall("relay+sqlite")} / ${perCall(REDIS_FLOOR)} / ${perCall(IN_REDIS)}`,
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
  if (!REDIS_SOCKET) return;
  const socketPaired = byLabel(IN_REDIS_SOCKET).blockMedians.map((m, i) => m - direct[i]!);
  report(
    "  over Redis's Unix socket (unix://): relay + SQLite added p50 / paired; CPU per call",
    `${us(added(IN_REDIS_SOCKET, 0.5))} / ${us(median(socketPaired))}; ${perCall(IN_REDIS_SOCKET)}`,
    "",
    null,
  );
  report(
    "  over Redis's Unix socket: proxy process added p50 / p99 over direct",
    `${us(added(PROXY_REDIS_SOCKET, 0.5))} / ${us(added(PROXY_REDIS_SOCKET, 0.99))}`,
    "",
    null,
  );
}

// The Redis pieces of the proxy benchmark (bench/proxy.ts): whether Redis answers, counters on
// a key prefix of the run's own (every key under it deleted at the end), and Redis's bare round
// trips to hold the relay's cost against.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type { Call, CompiledPolicy, Decision } from "../src/engine/index.js";
import { type Counters, type LookedUp, MemoryCounters } from "../src/proxy/counters.js";
import {
  RedisCounters,
  type RedisCountersOptions,
  RedisRelayCounters,
} from "../src/proxy/redis-counters.js";

/** Where the benchmark looks for Redis: BENCH_REDIS_URL, else the local default port. */
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

const TRIVIAL_SCRIPT = "return 1";

/** What the floor's lookup passes on; decide() decides again in memory and ignores it. */
const allowed: Decision = {
  decision: "allow",
  code: "rule_allow",
  rule: "echo",
  reason: null,
  limit: null,
  retry_after_ms: null,
  inexact: false,
};

/** A connection to the benchmark's Redis and the counters it made there; close() cleans up. */
export class BenchRedis {
  /** Every key the run makes starts with `<prefix>:`. */
  readonly prefix = `policy-replay-bench-${randomUUID()}`;
  private readonly made: RedisCounters[] = [];

  private constructor(
    readonly url: string,
    private readonly client: Redis,
    private readonly trivialSha: string,
  ) {}

  /**
   * Connect, or say why not: `{ reason }` when Redis does not answer a PING within a second
   * (not running, refused, wrong address).
   */
  static async open(url = REDIS_URL): Promise<BenchRedis | { reason: string }> {
    const client = new Redis(url, {
      lazyConnect: true,
      connectTimeout: 1000,
      commandTimeout: 1000,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    let lastError: Error | null = null;
    client.on("error", (err: Error) => (lastError = err));
    try {
      await client.connect();
      if ((await client.ping()) !== "PONG") throw new Error("PING not answered with PONG");
      const sha = (await client.script("LOAD", TRIVIAL_SCRIPT)) as string;
      return new BenchRedis(url, client, sha);
    } catch (err) {
      client.disconnect();
      const why = (lastError ?? (err as Error)).message || String(err);
      return { reason: `Redis at ${url} does not answer (${why})` };
    }
  }

  /** Counters in Redis on this run's prefix, connected, as the relay takes them. */
  async relayCounters(
    compiled: CompiledPolicy,
    extra: Partial<RedisCountersOptions> = {},
  ): Promise<RedisRelayCounters> {
    return new RedisRelayCounters(await this.counters(compiled, extra));
  }

  /** The counters alone: decide() is one run of the decide script, as the relay's lookup. */
  async counters(
    compiled: CompiledPolicy,
    extra: Partial<RedisCountersOptions> = {},
  ): Promise<RedisCounters> {
    const c = new RedisCounters(compiled, { url: this.url, prefix: this.prefix, ...extra });
    this.made.push(c);
    if (!(await c.connect())) throw new Error(`Redis at ${this.url} stopped answering`);
    return c;
  }

  /**
   * Counters in memory with a bare PING in each call's path where the lookup would be: the
   * floor of any counters in Redis, one round trip and no script, no key, no argument built.
   */
  pingThenMemory(compiled: CompiledPolicy): Counters {
    const memory = new MemoryCounters(compiled);
    const found: LookedUp = { decision: allowed, ts: 0, seq: null, counts: null };
    return {
      where: "memory",
      lookup: () => this.client.ping().then(() => found),
      decide: (call, arrival, store, row) => memory.decide(call, arrival, store, row),
    };
  }

  /** One PING: a round trip and nothing else. */
  async ping(): Promise<void> {
    await this.client.ping();
  }

  /** One EVALSHA of a script that returns 1: a round trip through Lua, touching no key. */
  async trivialScript(): Promise<void> {
    await this.client.evalsha(this.trivialSha, 0);
  }

  /** Decide one call through `counters`, failing loudly if Redis did not answer. */
  static async decide(counters: RedisCounters, call: Omit<Call, "ts">): Promise<void> {
    const r = await counters.decide(call, Date.now());
    if (r.decision.code === "counters_unavailable") throw new Error("Redis stopped answering");
  }

  /** Delete every key under the prefix, then disconnect everything. */
  async close(): Promise<void> {
    try {
      let cursor = "0";
      do {
        const [next, keys] = await this.client.scan(
          cursor,
          "MATCH",
          `${this.prefix}:*`,
          "COUNT",
          1000,
        );
        if (keys.length > 0) await this.client.del(...keys);
        cursor = next;
      } while (cursor !== "0");
    } finally {
      for (const c of this.made) c.close();
      this.client.disconnect();
    }
  }
}

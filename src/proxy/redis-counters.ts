import { createHash } from "node:crypto";
import type { Socket as NetStream } from "node:net";
import { Command, Redis, type RedisOptions } from "ioredis";
import {
  type Call,
  type CompiledPolicy,
  countersUnavailable,
  countsOf,
  decidePrelimit,
  type FoundLimit,
  isPending,
  limitDecision,
  type PendingLimits,
} from "../engine/index.js";
import type { CompiledRule } from "../engine/index.js";
import type { Store } from "../store/types.js";
import type { BatchCall, Counters, DecidedCall, DecisionRow, LookedUp } from "./counters.js";

/**
 * The two steps every decide script takes on a section of limits, as Lua functions; they read
 * and write the script's locals `out` (what it returns) and `real` (Redis's own time), so they
 * come after both. check(at, k0, a, o): count each limit of the section whose ARGV starts at
 * `a` (n, then 4 per limit) on KEYS[k0 + index], append each count to `out`, and note the first
 * full one at out[o], out[o+1], out[o+2] (index, count, retry ms or -1); returns where the
 * section's horizons start. consume(at, seq, k0, nk, h0): one member for this call on each of the
 * nk keys after KEYS[k0], dropping what is past each key's horizon (ARGV[h0..]).
 */
export const LIMIT_FUNCTIONS = `
local function check(at, k0, a, o)
  local n = tonumber(ARGV[a])
  local hi = string.format('%d', at)
  for i = 0, n - 1 do
    local b = a + 1 + i * 4
    local key = KEYS[k0 + tonumber(ARGV[b])]
    local w = tonumber(ARGV[b + 1])
    local max = tonumber(ARGV[b + 2])
    local fixed = ARGV[b + 3] == '1'
    local start = math.floor(at / w) * w
    local lo
    if fixed then lo = string.format('%d', start) else lo = string.format('(%d', at - w) end
    local count = redis.call('ZCOUNT', key, lo, hi)
    out[#out + 1] = count
    if count >= max and out[o] < 0 then
      local retry = -1
      if max > 0 then
        if fixed then
          retry = start + w - at
        else
          local r = redis.call('ZRANGEBYSCORE', key, lo, hi, 'WITHSCORES', 'LIMIT', count - max, 1)
          retry = tonumber(r[2]) + w - at
        end
      end
      out[o] = i
      out[o + 1] = count
      out[o + 2] = retry
    end
  end
  return a + 1 + n * 4
end
local function consume(at, seq, k0, nk, h0)
  local member = string.format('%d-%d', at, seq)
  local extra = 0
  if at > real then extra = at - real end
  for j = 1, nk do
    local horizon = tonumber(ARGV[h0 + j - 1])
    redis.call('ZREMRANGEBYSCORE', KEYS[k0 + j], '-inf', string.format('%d', at - horizon))
    redis.call('ZADD', KEYS[k0 + j], at, member)
    redis.call('PEXPIRE', KEYS[k0 + j], horizon + extra)
  end
end
`;

/**
 * Decide-and-consume for one call, atomic in Redis (SPEC section 2, step 5, and "one state per
 * deployment"): the time is Redis's own (or ARGV[1] when given), never earlier than the latest
 * decided on this prefix; every call takes the next sequence number.
 *
 * KEYS[1]: the prefix's clock hash (fields ts, seq); KEYS[2..]: the distinct keys to consume.
 * ARGV[1]: a time in ms, or '' for Redis's clock; ARGV[2]: n, the number of limits; then n
 * times (index into KEYS[2..] from 1, window ms, max, 1 if fixed); then each key's horizon ms.
 * Returns {ts, seq, index of the first full limit from 0 or -1, its count, retry ms or -1},
 * then each limit's count before this call, in order (what the recording keeps of it).
 */
export const DECIDE_SCRIPT = `
local t = redis.call('TIME')
local real = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now = real
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) end
local last = tonumber(redis.call('HGET', KEYS[1], 'ts'))
if last and last > now then now = last end
redis.call('HSET', KEYS[1], 'ts', string.format('%d', now))
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local out = {now, seq, -1, 0, -1}
${LIMIT_FUNCTIONS}
local h = check(now, 1, 2, 3)
if out[3] < 0 then consume(now, seq, 1, #KEYS - 1, h) end
return out
`;

const DECIDE_SHA = createHash("sha1").update(DECIDE_SCRIPT).digest("hex");

/**
 * What a rule's calls send, worked out once per rule: each consumed key but its scope value,
 * which scope value completes it, and the script's arguments after the clock.
 */
export interface Plan {
  numKeys: string;
  keyHeads: string[];
  scopes: (0 | 1 | 2)[];
  tail: string[];
}

/**
 * A call decided against the shared counters: its decision, the time it was decided at
 * (Redis's, or the arrival when Redis was not asked), and Redis's sequence number for the
 * prefix (null when Redis was not asked or did not answer).
 */
export type RedisDecided = LookedUp;

export interface RedisCountersOptions {
  /** `redis://HOST:PORT[/DB]`, or `unix:///PATH[?db=N]` for a Redis on this machine's socket. */
  url: string;
  /** Every key starts with `<prefix>:`; proxies that share counters share the prefix. */
  prefix?: string;
  /** How long a command may take before the call is denied counters_unavailable. */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** The retry hint of a counters_unavailable denial. */
  retryHintMs?: number;
  /** "arrival": decide at the arrival time given (tests); "redis": at Redis's clock. */
  clock?: "redis" | "arrival";
  /** Told when the counters become unavailable, and when they answer again. */
  onStatus?: (up: boolean, err?: Error) => void;
}

const SCOPE_KINDS = ["grant", "session", "global"] as const;

/**
 * A `unix:///PATH[?db=N]` URL as ioredis's socket options; null for any other URL, which
 * ioredis reads itself. A local socket skips the TCP stack on both sides of every lookup.
 */
export function unixSocket(url: string): { path: string; db: number } | null {
  if (!url.startsWith("unix:")) return null;
  const u = new URL(url);
  return { path: decodeURIComponent(u.pathname), db: Number(u.searchParams.get("db") ?? 0) };
}

/** Colons and percents escaped, so that a key reads back into one counter and one scope. */
function escapeName(name: string): string {
  return name.replace(/%/g, "%25").replace(/:/g, "%3A");
}

/**
 * The counters in Redis, shared by every proxy given the same URL and prefix, on any machine.
 * A call whose rule has limits costs one round trip (one script, by its SHA); other calls are
 * decided here. When Redis does not answer at once, limited calls are denied
 * counters_unavailable (fail closed) while the client reconnects in the background.
 */
export class RedisCounters {
  readonly where = "redis";
  readonly client: Redis;
  readonly prefix: string;
  readonly clockKey: string;
  readonly plans: KeyPlans;
  readonly retryHintMs: number;
  readonly clock: "redis" | "arrival";
  private readonly onStatus: ((up: boolean, err?: Error) => void) | undefined;
  /** Whether the last thing we heard from Redis was good; null before anything was heard. */
  private up: boolean | null = null;
  /**
   * The scripts run on this connection, by SHA: until then a call sends a script's body (EVAL,
   * which also caches it in Redis), then only its SHA. A new connection may reach a new Redis.
   */
  private readonly scriptsSent = new Set<string>();
  /** Whether this turn's commands are being gathered into one write. */
  private corked = false;

  constructor(
    readonly compiled: CompiledPolicy,
    opts: RedisCountersOptions,
  ) {
    this.prefix = opts.prefix ?? "policy-replay";
    this.clockKey = `${this.prefix}:~clock`;
    this.retryHintMs = opts.retryHintMs ?? 1000;
    this.clock = opts.clock ?? "redis";
    this.onStatus = opts.onStatus;
    this.plans = new KeyPlans(compiled, this.prefix);
    const options: RedisOptions = {
      // Fail at once while disconnected rather than queue: a pending call holds its session.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: opts.connectTimeoutMs ?? 1000,
      commandTimeout: opts.commandTimeoutMs ?? 500,
      retryStrategy: (times) => Math.min(50 * times, 2000),
    };
    const socket = unixSocket(opts.url);
    this.client = socket ? new Redis({ ...socket, ...options }) : new Redis(opts.url, options);
    this.client.on("error", (err: Error) => this.status(false, err));
    this.client.on("ready", () => this.status(true));
    this.client.on("close", () => this.scriptsSent.clear());
  }

  /** Wait until Redis is ready, or has failed once: true when it is ready. Never throws. */
  async connect(): Promise<boolean> {
    if (this.client.status === "ready") return true;
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        this.client.off("ready", onReady);
        this.client.off("error", onError);
        this.client.off("end", onError);
        resolve(ok);
      };
      const onReady = (): void => done(true);
      const onError = (): void => done(false);
      this.client.once("ready", onReady);
      this.client.once("error", onError);
      this.client.once("end", onError);
    });
  }

  /**
   * Decide `call`, which arrived at `arrival`. A rule with limits is decided in Redis, at Redis's
   * time; anything else here, at `arrival`. Never rejects: when Redis fails, the call is denied
   * counters_unavailable. A script that ran but answered too late has counted the call anyway:
   * that errs on the safe side, one unit taken that nobody used.
   */
  decide(call: Omit<Call, "ts">, arrival: number): Promise<RedisDecided> {
    const pre = decidePrelimit(this.compiled, call);
    if (!isPending(pre))
      return Promise.resolve({ decision: pre, ts: arrival, seq: null, counts: null });
    return this.decidePending(call, pre, arrival);
  }

  /**
   * decide() for a call whose decidePrelimit() left `pending`: one script run, and the call's
   * decision from its answer, or counters_unavailable. Never rejects.
   */
  decidePending(
    call: Omit<Call, "ts">,
    pending: PendingLimits,
    arrival: number,
  ): Promise<RedisDecided> {
    let sent: Promise<unknown>;
    try {
      sent = this.send(this.scriptArgs(call, pending.rule, arrival));
    } catch (err) {
      return Promise.resolve(this.unavailable(pending, arrival, err));
    }
    return sent.then(
      (out) => {
        this.status(true);
        return this.decided(pending, out as number[]);
      },
      (err: unknown) => this.unavailable(pending, arrival, err),
    );
  }

  /** Whether deciding `call` needs Redis: its rule has limits left to check. */
  needsLookup(call: Omit<Call, "ts">): boolean {
    return isPending(decidePrelimit(this.compiled, call));
  }

  /**
   * Decide `call` without Redis: final when its rule needs no counting, else denied
   * counters_unavailable (a caller that skipped lookup() gets the fail-closed answer).
   */
  decideHere(call: Omit<Call, "ts">, arrival: number): RedisDecided {
    const pre = decidePrelimit(this.compiled, call);
    const decision = isPending(pre) ? countersUnavailable(pre, this.retryHintMs) : pre;
    return { decision, ts: arrival, seq: null, counts: null };
  }

  /** Close the connection; later calls with limits are denied counters_unavailable. */
  close(): void {
    this.client.disconnect();
  }

  /**
   * EVALSHA's arguments after the SHA: the number of keys, the keys, then ARGV. One array built
   * in place, the rule's fixed part copied from its plan.
   */
  private scriptArgs(call: Omit<Call, "ts">, rule: CompiledRule, arrival: number): string[] {
    const plan = this.plans.plan(rule);
    const args: string[] = [plan.numKeys, this.clockKey];
    this.plans.pushKeys(args, call, plan);
    args.push(this.clock === "arrival" ? String(arrival) : "");
    for (const a of plan.tail) args.push(a);
    return args;
  }

  /**
   * Run the decide script: EVAL with its body until this connection has run it, then EVALSHA;
   * if Redis lost it meanwhile (NOSCRIPT: it did not run), once more with its body.
   */
  private send(args: string[]): Promise<unknown> {
    return this.run(DECIDE_SCRIPT, DECIDE_SHA, args);
  }

  /** Run `script` (whose SHA is `sha`) with `args`, as send() runs the decide script. */
  run(script: string, sha: string, args: string[]): Promise<unknown> {
    if (!this.scriptsSent.has(sha)) return this.evalBody(script, sha, args);
    return this.command("evalsha", [sha, ...args]).catch((err: unknown) => {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return this.evalBody(script, sha, args);
    });
  }

  private evalBody(script: string, sha: string, args: string[]): Promise<unknown> {
    return this.command("eval", [script, ...args]).then((out) => {
      this.scriptsSent.add(sha);
      return out;
    });
  }

  /**
   * One command, without the client's per-name wrappers (argument flattening, callbacks). The
   * commands of one turn of the event loop (a chunk of calls from a pipe) leave in one write.
   */
  private command(name: string, args: string[]): Promise<unknown> {
    if (!this.corked) {
      const stream = this.client.stream as NetStream | undefined;
      if (stream !== undefined) {
        stream.cork();
        this.corked = true;
        queueMicrotask(() => {
          this.corked = false;
          stream.uncork();
        });
      }
    }
    return this.client.sendCommand(new Command(name, args)) as Promise<unknown>;
  }

  decided(pending: PendingLimits, out: number[]): RedisDecided {
    const [ts, seq, index, count, retry] = out as [number, number, number, number, number];
    const found: FoundLimit | null =
      index < 0 ? null : { index, count, retryAfterMs: retry < 0 ? null : retry };
    const counts = countsOf(pending, out.slice(5));
    return { decision: limitDecision(pending, found), ts, seq, counts };
  }

  unavailable(pending: PendingLimits, arrival: number, err: unknown): RedisDecided {
    this.status(false, err instanceof Error ? err : new Error(String(err)));
    const decision = countersUnavailable(pending, this.retryHintMs);
    return { decision, ts: arrival, seq: null, counts: null };
  }

  /**
   * Take back what an allowed call consumed (its row could not be written, so it must not
   * count). Best effort: when Redis does not answer, the unit stays taken until it expires.
   */
  async uncount(call: Omit<Call, "ts">, decided: RedisDecided): Promise<void> {
    const pre = decidePrelimit(this.compiled, call);
    if (!isPending(pre) || decided.seq === null || decided.decision.decision !== "allow") return;
    await this.zrem(
      this.plans.keys(call, this.plans.plan(pre.rule)),
      `${decided.ts}-${decided.seq}`,
    );
  }

  /** Take `member` out of `keys`. Best effort, as uncount(). */
  async zrem(keys: string[], member: string): Promise<void> {
    try {
      await Promise.all(keys.map((k) => this.client.zrem(k, member)));
    } catch {
      // Said when the status changed; nothing more to do here.
    }
  }

  status(up: boolean, err?: Error): void {
    if (this.up === up) return;
    this.up = up;
    this.onStatus?.(up, err);
  }
}

/** The keys of one policy's counters under one prefix, and what each rule's calls send. */
export class KeyPlans {
  private readonly counterSegs: string[];
  /** Each counter's horizon, in ms: how long its key must keep a consumption. */
  readonly horizons: string[];
  /** Per rule: what its calls send, built once. */
  private readonly plans = new WeakMap<CompiledRule, Plan>();

  constructor(
    compiled: CompiledPolicy,
    readonly prefix: string,
  ) {
    // A private shorthand counter is marked so that no user-named counter can share its key.
    this.counterSegs = compiled.counters.map((c) => (c.isPrivate ? "%p" : "") + escapeName(c.name));
    this.horizons = compiled.counters.map((c) => String(Math.max(1, c.horizonMs)));
  }

  /**
   * A key is `<prefix>:<counter>:<scope kind>:<scope value>`, the value last, so that it needs
   * no escaping; everything but the value is the same for every call of the rule.
   */
  plan(rule: CompiledRule): Plan {
    let p = this.plans.get(rule);
    if (p === undefined) {
      const tail = [String(rule.limits.length)];
      for (const l of rule.limits) {
        const k = rule.consumes.findIndex(
          (c) => c.counter === l.counter && c.scopeIndex === l.scopeIndex,
        );
        tail.push(String(k + 1), String(l.windowMs), String(l.max), l.fixed ? "1" : "0");
      }
      for (const c of rule.consumes) tail.push(this.horizons[c.counter]!);
      p = {
        numKeys: String(1 + rule.consumes.length),
        keyHeads: rule.consumes.map(
          (c) => `${this.prefix}:${this.counterSegs[c.counter]!}:${SCOPE_KINDS[c.scopeIndex]}:`,
        ),
        scopes: rule.consumes.map((c) => c.scopeIndex),
        tail,
      };
      this.plans.set(rule, p);
    }
    return p;
  }

  /** Append the keys `call` consumes under `plan` to `args`. */
  pushKeys(args: string[], call: Omit<Call, "ts">, plan: Plan): void {
    for (let i = 0; i < plan.keyHeads.length; i++) {
      args.push(plan.keyHeads[i]! + scopeValue(call, plan.scopes[i]!));
    }
  }

  keys(call: Omit<Call, "ts">, plan: Plan): string[] {
    const out: string[] = [];
    this.pushKeys(out, call, plan);
    return out;
  }
}

function scopeValue(call: Omit<Call, "ts">, scopeIndex: 0 | 1 | 2): string {
  return scopeIndex === 0 ? call.identity : scopeIndex === 1 ? call.session : "";
}

/**
 * The relay's side of RedisCounters: each call of a rule with limits is decided in Redis
 * (lookup), then its row is written here; any other call is decided here at once.
 */
export class RedisRelayCounters implements Counters {
  readonly where = "redis";

  constructor(readonly redis: RedisCounters) {}

  lookup(call: Omit<Call, "ts">, arrival: number): Promise<LookedUp> | null {
    const pre = decidePrelimit(this.redis.compiled, call);
    return isPending(pre) ? this.redis.decidePending(call, pre, arrival) : null;
  }

  decide(
    call: Omit<Call, "ts">,
    arrival: number,
    store: Store,
    row: DecisionRow,
    looked?: LookedUp,
  ): DecidedCall {
    const d = looked ?? this.redis.decideHere(call, arrival);
    try {
      return {
        decision: d.decision,
        ts: d.ts,
        callId: store.recordDecision(row(d.ts, d.decision, d.counts, d.seq)),
      };
    } catch (err) {
      void this.redis.uncount(call, d);
      throw err;
    }
  }

  /** The rows of calls whose lookups answered in one turn, in one commit. */
  decideBatch(calls: readonly BatchCall[], store: Store): DecidedCall[] | null {
    if (!store.recordDecisions) return null;
    const ds = calls.map((c) => c.looked ?? this.redis.decideHere(c.call, c.arrival));
    try {
      const ids = store.recordDecisions(
        calls.map((c, i) => c.row(ds[i]!.ts, ds[i]!.decision, ds[i]!.counts, ds[i]!.seq)),
      );
      return ds.map((d, i) => ({ decision: d.decision, ts: d.ts, callId: ids[i]! }));
    } catch (err) {
      for (let i = 0; i < calls.length; i++) void this.redis.uncount(calls[i]!.call, ds[i]!);
      throw err;
    }
  }
}

import { createHash } from "node:crypto";
import {
  type Call,
  type CompiledPolicy,
  countsOf,
  type Decision,
  decidePrelimit,
  type FoundLimit,
  isPending,
  limitDecision,
  type PendingLimits,
} from "../engine/index.js";
import type { ShadowRecord, Store } from "../store/types.js";
import type { Counters, DecidedCall, DecisionRow, LookedUp } from "./counters.js";
import { KeyPlans, LIMIT_FUNCTIONS, type RedisCounters } from "./redis-counters.js";

/**
 * The decide script with a shadow policy beside the enforced one: both are decided in one
 * atomic run at one time. The enforced part does exactly what DECIDE_SCRIPT does, on the same
 * keys; the shadow has a clock (time, sequence) and counters of its own under its own prefix,
 * and consumes when it allows, whatever was enforced.
 *
 * KEYS[1]: the enforced clock; KEYS[2]: the shadow's clock; then the ne enforced keys, then the
 * ns shadow keys. ARGV[1]: a time in ms, or '' for Redis's clock; ARGV[2]: ne; ARGV[3]: ns;
 * then, when ne > 0, the enforced section as DECIDE_SCRIPT's ARGV[2..] (n, 4 per limit, each
 * key's horizon); then, when ns > 0, the shadow's longest horizon and its section alike. A
 * section left out (its rule has no limits) is neither decided nor counted: ne = 0 leaves the
 * enforced clock and sequence alone.
 * Returns {ts, seq, shadow ts, shadow seq, the enforced first full limit, count, retry, the
 * shadow's alike; -1 where a section was left out}, then the enforced limits' counts, then the
 * shadow's.
 */
export const SHADOW_DECIDE_SCRIPT = `
local t = redis.call('TIME')
local real = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now = real
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) end
local ne = tonumber(ARGV[2])
local ns = tonumber(ARGV[3])
local out = {now, -1, now, -1, -1, 0, -1, -1, 0, -1}
${LIMIT_FUNCTIONS}
local a = 4
if ne > 0 then
  local last = tonumber(redis.call('HGET', KEYS[1], 'ts'))
  if last and last > now then now = last end
  redis.call('HSET', KEYS[1], 'ts', string.format('%d', now))
  out[1] = now
  out[2] = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  local h = check(now, 2, a, 5)
  if out[5] < 0 then consume(now, out[2], 2, ne, h) end
  a = h + ne
end
if ns > 0 then
  local snow = now
  local slast = tonumber(redis.call('HGET', KEYS[2], 'ts'))
  if slast and slast > snow then snow = slast end
  redis.call('HSET', KEYS[2], 'ts', string.format('%d', snow))
  out[3] = snow
  out[4] = redis.call('HINCRBY', KEYS[2], 'seq', 1)
  local extra = 0
  if snow > real then extra = snow - real end
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[a]) + extra)
  local h = check(snow, 2 + ne, a + 1, 8)
  if out[8] < 0 then consume(snow, out[4], 2 + ne, ns, h) end
end
return out
`;

const SHADOW_DECIDE_SHA = createHash("sha1").update(SHADOW_DECIDE_SCRIPT).digest("hex");

/** The keys a shadow decision consumed, and its member in them: what taking it back removes. */
interface Consumed {
  keys: string[];
  member: string;
}

/** What lookup() found: the enforced decision as RedisCounters finds it, and the shadow's. */
interface ShadowLookedUp extends LookedUp {
  shadowed: ShadowRecord | null;
  consumed: Consumed | null;
}

/**
 * Redis counters with a shadow policy (`record --shadow` with `--counters`): the candidate's
 * counters live in Redis too, under `<prefix>:~shadow:<its hash, 16 hex>:`, so every proxy
 * with the same prefix and candidate shares them and a restart resumes them, and no two
 * candidates share a state. A call of an enforced rule with limits is decided under both in
 * the one script run it costs today. A call the enforced policy decides at once but the
 * candidate's limits must count is decided, recorded and forwarded at once; its shadow is
 * decided in Redis after (one run, for the shadow only) and added to its row then. The
 * enforced decision never waits on the shadow nor fails because of it: when Redis does not
 * answer, the call is recorded without a shadow decision, and stderr says so once.
 */
export class RedisShadowCounters implements Counters {
  readonly where = "redis";
  readonly shadow: { readonly policyHash: string };
  private readonly plans: KeyPlans;
  private readonly clockKey: string;
  private readonly longestHorizon: string;
  /** Shadow decisions on their way to the recording. */
  private readonly writing = new Set<Promise<void>>();
  /** Whether Redis failed the shadow's last run: said once until a run succeeds again. */
  private failing = false;
  /** Whether the candidate failed to decide a call: said once. */
  private faulted = false;

  constructor(
    readonly redis: RedisCounters,
    readonly candidate: CompiledPolicy,
    /** sha256 of the candidate's text, hex. */
    policyHash: string,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.shadow = { policyHash };
    const prefix = `${redis.prefix}:~shadow:${policyHash.slice(0, 16)}`;
    this.plans = new KeyPlans(candidate, prefix);
    this.clockKey = `${prefix}:~clock`;
    this.longestHorizon = String(Math.max(1, ...candidate.counters.map((c) => c.horizonMs)));
  }

  lookup(call: Omit<Call, "ts">, arrival: number): Promise<LookedUp> | null {
    const pre = decidePrelimit(this.redis.compiled, call);
    if (!isPending(pre)) return null;
    const spre = this.prelimit(call);
    const shadowPending = spre !== null && isPending(spre) ? spre : null;
    let sent: Promise<unknown>;
    try {
      sent = this.send(call, pre, shadowPending, arrival);
    } catch (err) {
      return Promise.resolve(this.unavailable(pre, arrival, err));
    }
    return sent.then(
      (raw) => {
        this.redis.status(true);
        this.failing = false;
        const out = raw as number[];
        const n = pre.rule.limits.length;
        const enforced = this.redis.decided(pre, [
          ...out.slice(0, 2),
          ...out.slice(4, 7),
          ...out.slice(10, 10 + n),
        ]);
        const { shadowed, consumed } =
          shadowPending === null
            ? {
                shadowed: spre === null ? null : { decision: spre as Decision, counts: null },
                consumed: null,
              }
            : this.shadowOf(call, shadowPending, out, 10 + n);
        return { ...enforced, shadowed, consumed } satisfies ShadowLookedUp;
      },
      (err: unknown) => this.unavailable(pre, arrival, err),
    );
  }

  decide(
    call: Omit<Call, "ts">,
    arrival: number,
    store: Store,
    row: DecisionRow,
    looked?: LookedUp,
  ): DecidedCall {
    if (looked !== undefined) {
      const l = looked as ShadowLookedUp;
      const record = row(l.ts, l.decision, l.counts, l.seq);
      record.shadow = l.shadowed;
      try {
        return { decision: l.decision, ts: l.ts, callId: store.recordDecision(record) };
      } catch (err) {
        void this.redis.uncount(call, l);
        if (l.consumed) void this.redis.zrem(l.consumed.keys, l.consumed.member);
        throw err;
      }
    }
    const d = this.redis.decideHere(call, arrival);
    const spre = this.prelimit(call);
    const record = row(d.ts, d.decision, d.counts, d.seq);
    record.shadow = spre === null || isPending(spre) ? null : { decision: spre, counts: null };
    const callId = store.recordDecision(record);
    if (spre !== null && isPending(spre)) this.shadowLater(call, spre, arrival, store, callId);
    return { decision: d.decision, ts: d.ts, callId };
  }

  /** Resolves once every shadow decision decided after its call is written (or given up). */
  async settled(): Promise<void> {
    while (this.writing.size > 0) await Promise.all([...this.writing]);
  }

  /** The shadow-only run for a call already recorded, and its row completed when it answers. */
  private shadowLater(
    call: Omit<Call, "ts">,
    spre: PendingLimits,
    arrival: number,
    store: Store,
    callId: number,
  ): void {
    let sent: Promise<unknown>;
    try {
      sent = this.send(call, null, spre, arrival);
    } catch (err) {
      this.failedOnce(err);
      return;
    }
    const done = sent.then(
      (raw) => {
        const { shadowed, consumed } = this.shadowOf(call, spre, raw as number[], 10);
        try {
          if (!store.recordShadow) throw new Error("the store cannot add a shadow decision");
          store.recordShadow(callId, shadowed!);
          this.failing = false;
        } catch (err) {
          if (consumed) void this.redis.zrem(consumed.keys, consumed.member);
          this.failedOnce(err);
        }
      },
      (err: unknown) => this.failedOnce(err),
    );
    this.writing.add(done);
    void done.finally(() => this.writing.delete(done));
  }

  /** The script's arguments after its SHA for either or both policies' pending limits. */
  private send(
    call: Omit<Call, "ts">,
    pre: PendingLimits | null,
    spre: PendingLimits | null,
    arrival: number,
  ): Promise<unknown> {
    const { redis } = this;
    const plan = pre === null ? null : redis.plans.plan(pre.rule);
    const splan = spre === null ? null : this.plans.plan(spre.rule);
    const ne = plan?.keyHeads.length ?? 0;
    const ns = splan?.keyHeads.length ?? 0;
    const args = [String(2 + ne + ns), redis.clockKey, this.clockKey];
    if (plan) redis.plans.pushKeys(args, call, plan);
    if (splan) this.plans.pushKeys(args, call, splan);
    args.push(redis.clock === "arrival" ? String(arrival) : "", String(ne), String(ns));
    if (plan) for (const a of plan.tail) args.push(a);
    if (splan) {
      args.push(this.longestHorizon);
      for (const a of splan.tail) args.push(a);
    }
    return redis.run(SHADOW_DECIDE_SCRIPT, SHADOW_DECIDE_SHA, args);
  }

  /** The shadow's decision from the script's answer; its counts start at `at`. */
  private shadowOf(
    call: Omit<Call, "ts">,
    spre: PendingLimits,
    out: number[],
    at: number,
  ): { shadowed: ShadowRecord | null; consumed: Consumed | null } {
    const [sts, sseq, index, count, retry] = out.slice(2, 4).concat(out.slice(7, 10)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    const found: FoundLimit | null =
      index < 0 ? null : { index, count, retryAfterMs: retry < 0 ? null : retry };
    const shadowed = {
      decision: limitDecision(spre, found),
      counts: countsOf(spre, out.slice(at)),
    };
    const consumed =
      found === null
        ? { keys: this.plans.keys(call, this.plans.plan(spre.rule)), member: `${sts}-${sseq}` }
        : null;
    return { shadowed, consumed };
  }

  /** The candidate's decision without counters, or its pending limits; null when it failed. */
  private prelimit(call: Omit<Call, "ts">): Decision | PendingLimits | null {
    try {
      return decidePrelimit(this.candidate, call);
    } catch (err) {
      if (!this.faulted) this.say(err);
      this.faulted = true;
      return null;
    }
  }

  private unavailable(pre: PendingLimits, arrival: number, err: unknown): ShadowLookedUp {
    this.failedOnce(err);
    return { ...this.redis.unavailable(pre, arrival, err), shadowed: null, consumed: null };
  }

  private failedOnce(err: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.say(err);
  }

  private say(err: unknown): void {
    this.log(
      `shadow policy: ${err instanceof Error ? err.message : String(err)}; calls go on, recorded without a shadow decision until the shadow can be decided again`,
    );
  }
}

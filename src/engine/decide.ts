import type { CompiledLimit, CompiledPolicy, CompiledRule, Resolution } from "./compile.js";
import { type CompiledCondition, Truth } from "./conditions.js";
import { Consumptions, type CounterState, TimeOrderError } from "./state.js";
import { plain } from "./plain.js";
import type { Call, Decision, LimitHit } from "./types.js";

const EMPTY = new Consumptions();

// Decisions that depend on nothing but the rule are made once and shared, frozen: most calls
// of a replay end here, and a million identical small objects would only feed the GC.
const HIDDEN = Object.freeze(plain("deny", "hidden", null, null, false));
const DEFAULTS = {
  allow: Object.freeze(plain("allow", "default_allow", null, null, false)),
  deny: Object.freeze(plain("deny", "default_deny", null, null, false)),
  require_approval: Object.freeze(
    plain("approval_required", "default_approval", null, null, false),
  ),
} as const;
function scopeValue(call: Call, scopeIndex: number): string {
  return scopeIndex === 0 ? call.identity : scopeIndex === 1 ? call.session : "";
}

const HELD = 1;
const UNKNOWN = 2;

/**
 * deny_if: HELD when any condition holds. UNKNOWN only when the answer hangs on an opaque value:
 * one condition that certainly holds settles it, whatever the others would say.
 */
function anyHolds(conds: CompiledCondition[], args: unknown): number {
  let unknown = 0;
  for (const c of conds) {
    const r = c(args);
    if (r === Truth.True) return HELD;
    if (r === Truth.Unknown) unknown = UNKNOWN;
  }
  return unknown;
}

/**
 * require: HELD when all hold. One that certainly fails settles it; otherwise an unknown one
 * cannot be shown to hold, so the requirement fails and the answer is UNKNOWN.
 */
function allHold(conds: CompiledCondition[], args: unknown): number {
  let unknown = 0;
  for (const c of conds) {
    const r = c(args);
    if (r === Truth.False) return 0;
    if (r === Truth.Unknown) unknown = UNKNOWN;
  }
  return unknown === 0 ? HELD : UNKNOWN;
}

/**
 * Decide one call (SPEC section 2) and, when it is allowed, record its consumption in `state`.
 * Pure apart from that update: no clock, no I/O; the same inputs always give the same decision.
 * Calls must come in non-decreasing `ts` per state, else TimeOrderError. The returned object
 * may be shared between calls: treat it as read-only.
 */
export function decide(compiled: CompiledPolicy, call: Call, state: CounterState): Decision {
  return decideResolved(compiled, call, state, resolve(compiled, call.identity, call.tool));
}

/**
 * SPEC section 2 steps 1-2 for an identity and a tool: hidden, the rule that governs the tool,
 * or the policy's default. Depends on nothing else, so a caller that meets the same identity
 * and tool again may keep the answer and pass it to decideResolved().
 */
export function resolve(compiled: CompiledPolicy, identity: string, tool: string): Resolution {
  return (compiled.grants.get(identity) ?? compiled.base).resolve(tool);
}

/**
 * decide(), for a call whose resolve(compiled, call.identity, call.tool) is `res` (passing any
 * other resolution decides the call by the wrong rule).
 */
export function decideResolved(
  compiled: CompiledPolicy,
  call: Call,
  state: CounterState,
  res: Resolution,
): Decision {
  if (state.compiled !== compiled) {
    throw new Error("decide: the state was made for another compiled policy");
  }
  const ts = call.ts;
  if (ts < state.lastTs) throw new TimeOrderError(ts, state.lastTs);
  state.lastTs = ts;

  if (res.kind === "hidden") return HIDDEN;
  if (res.kind === "default") return DEFAULTS[res.action];
  const rule = res.rule;
  if (rule.action !== "allow") return rule.fixed;

  let inexact = false;
  if (rule.denyIf.length > 0) {
    const r = anyHolds(rule.denyIf, call.arguments);
    inexact = (r & UNKNOWN) !== 0;
    if (r & HELD) return plain("deny", "condition_deny", rule.pattern, rule.reason, inexact);
  }
  if (rule.require.length > 0) {
    const r = allHold(rule.require, call.arguments);
    inexact ||= (r & UNKNOWN) !== 0;
    if (!(r & HELD)) return plain("deny", "requirement_failed", rule.pattern, rule.reason, inexact);
  }

  if (rule.limits.length > 0) {
    const denied = checkLimits(rule, call, state, inexact);
    if (denied) return denied;
    for (const c of rule.consumes) {
      state.key(c.counter, c.scopeIndex, scopeValue(call, c.scopeIndex)).push(ts);
    }
  }
  return inexact ? plain("allow", "rule_allow", rule.pattern, null, true) : rule.fixed;
}

/** A call that passed SPEC section 2 steps 1-4 and whose rule has limits left to check. */
export interface PendingLimits {
  readonly rule: CompiledRule;
  /** Whether a condition already looked at a value the recording does not hold in clear. */
  readonly inexact: boolean;
}

/** What a counter service found for a rule's limits: the first full one, or null. */
export interface FoundLimit {
  /** The index of the full limit in `rule.limits`. */
  index: number;
  /** The calls it counted in the window. */
  count: number;
  /** As decide() computes it: ms until the count drops below max; null when it never will. */
  retryAfterMs: number | null;
}

/**
 * SPEC section 2 steps 1-4 without the counters: the final decision, or the rule whose limits
 * must still be checked (only when it has any), for a counter service outside this process.
 * decide() keeps its own copy of these steps, the replay's hot path; tests hold them equal.
 */
export function decidePrelimit(
  compiled: CompiledPolicy,
  call: Omit<Call, "ts">,
  res: Resolution = resolve(compiled, call.identity, call.tool),
): Decision | PendingLimits {
  if (res.kind === "hidden") return HIDDEN;
  if (res.kind === "default") return DEFAULTS[res.action];
  const rule = res.rule;
  if (rule.action !== "allow") return rule.fixed;
  let inexact = false;
  if (rule.denyIf.length > 0) {
    const r = anyHolds(rule.denyIf, call.arguments);
    inexact = (r & UNKNOWN) !== 0;
    if (r & HELD) return plain("deny", "condition_deny", rule.pattern, rule.reason, inexact);
  }
  if (rule.require.length > 0) {
    const r = allHold(rule.require, call.arguments);
    inexact ||= (r & UNKNOWN) !== 0;
    if (!(r & HELD)) return plain("deny", "requirement_failed", rule.pattern, rule.reason, inexact);
  }
  if (rule.limits.length === 0) {
    return inexact ? plain("allow", "rule_allow", rule.pattern, null, true) : rule.fixed;
  }
  return { rule, inexact };
}

/** Whether decidePrelimit() left limits to check. */
export function isPending(r: Decision | PendingLimits): r is PendingLimits {
  return !("decision" in r);
}

/**
 * SPEC section 2 step 5's outcome from what a counter service found: `found` null allows (and
 * the service has consumed), else rate_limited as decide() would have denied.
 */
export function limitDecision(pending: PendingLimits, found: FoundLimit | null): Decision {
  const { rule, inexact } = pending;
  if (found === null) {
    return inexact ? plain("allow", "rule_allow", rule.pattern, null, true) : rule.fixed;
  }
  const limit = rule.limits[found.index];
  if (limit === undefined) throw new RangeError(`limitDecision: no limit #${found.index}`);
  return limited(rule, limit, found.count, found.retryAfterMs, inexact);
}

/**
 * The counters could not be read or written (SPEC section 2): the call of a rule with limits is
 * denied, fail closed. `retryMs` is a hint of when they may answer again.
 */
export function countersUnavailable(pending: PendingLimits, retryMs: number): Decision {
  return {
    decision: "deny",
    code: "counters_unavailable",
    rule: pending.rule.pattern,
    reason: null,
    retry_after_ms: retryMs,
    limit: null,
    inexact: pending.inexact,
  };
}

/**
 * Count a call that was decided elsewhere (another proxy sharing the same counters) into
 * `state`, as decide() would have counted it: an allowed call consumes on every key its rule's
 * limits name, at its time; any other decision consumes nothing. The call's time becomes the
 * state's latest, so later calls are decided after it.
 */
export function countDecided(
  compiled: CompiledPolicy,
  call: Call,
  decision: Decision["decision"],
  state: CounterState,
): void {
  if (state.compiled !== compiled) {
    throw new Error("countDecided: the state was made for another compiled policy");
  }
  if (call.ts < state.lastTs) throw new TimeOrderError(call.ts, state.lastTs);
  state.lastTs = call.ts;
  if (decision !== "allow") return;
  const res = resolve(compiled, call.identity, call.tool);
  if (res.kind !== "rule") return;
  for (const c of res.rule.consumes) {
    state.key(c.counter, c.scopeIndex, scopeValue(call, c.scopeIndex)).push(call.ts);
  }
}

/**
 * Take back what decide() just counted for `call` (it was allowed, and nothing was decided in
 * `state` since): for a decision that could not be written, which must not count.
 */
export function uncount(compiled: CompiledPolicy, call: Call, state: CounterState): void {
  const res = resolve(compiled, call.identity, call.tool);
  if (res.kind !== "rule") return;
  for (const c of res.rule.consumes) {
    state.peek(c.counter, c.scopeIndex, scopeValue(call, c.scopeIndex))?.times.pop();
  }
}

/**
 * What each of `call`'s limits counted when it was decided (SPEC section 2, step 5): the calls
 * consumed on its key within its window before this one, as the engine describes a limit
 * (LimitHit). Only for a call that reached its rule's limits (allowed by a rule with limits, or
 * denied rate_limited); null for any other. Read from `state` right after decide() decided
 * `call` in it (an allowed call's own consumption is not counted); changes nothing.
 */
export function limitCounts(
  compiled: CompiledPolicy,
  call: Call,
  decision: Decision,
  state: CounterState,
): LimitHit[] | null {
  if (decision.rule === null) return null;
  if (decision.decision !== "allow" && decision.code !== "rate_limited") return null;
  const res = resolve(compiled, call.identity, call.tool);
  if (res.kind !== "rule" || res.rule.limits.length === 0) return null;
  const own = decision.decision === "allow" ? 1 : 0;
  return res.rule.limits.map((limit) => {
    const key =
      state.peek(limit.counter, limit.scopeIndex, scopeValue(call, limit.scopeIndex)) ?? EMPTY;
    const count = key.times.length - key.firstAfter(windowStart(limit, call.ts)) - own;
    return hit(limit, count);
  });
}

/**
 * The counts a counter service found for a rule's limits, one per limit in order, as
 * limitCounts() describes them.
 */
export function countsOf(pending: PendingLimits, counts: readonly number[]): LimitHit[] {
  return pending.rule.limits.map((limit, i) => hit(limit, counts[i] ?? 0));
}

/** Consumptions at times after this one are in the limit's window at `ts`. */
function windowStart(limit: CompiledLimit, ts: number): number {
  return limit.fixed ? Math.floor(ts / limit.windowMs) * limit.windowMs - 1 : ts - limit.windowMs;
}

function checkLimits(
  rule: CompiledRule,
  call: Call,
  state: CounterState,
  inexact: boolean,
): Decision | null {
  const ts = call.ts;
  const counters = state.compiled.counters;
  for (const limit of rule.limits) {
    // Checking must not create keys: a flood of denied sessions would otherwise grow the state.
    const key =
      state.peek(limit.counter, limit.scopeIndex, scopeValue(call, limit.scopeIndex)) ?? EMPTY;
    if (key !== EMPTY) key.evictThrough(ts - counters[limit.counter]!.horizonMs);
    // Consumptions are in time order and none is later than ts, so the count is a suffix.
    const first = key.firstAfter(windowStart(limit, ts));
    const count = key.times.length - first;
    if (count >= limit.max) {
      return limited(rule, limit, count, retryAfter(limit, key, first, count, ts), inexact);
    }
  }
  return null;
}

/** Earliest time the count drops below max, minus ts; null when it never can (max 0). */
function retryAfter(
  limit: CompiledLimit,
  key: Consumptions,
  first: number,
  count: number,
  ts: number,
): number | null {
  if (limit.max === 0) return null;
  if (limit.fixed) return (Math.floor(ts / limit.windowMs) + 1) * limit.windowMs - ts;
  // The count falls below max once the oldest (count - max + 1) consumptions leave the window.
  return key.times[first + count - limit.max]! + limit.windowMs - ts;
}

function limited(
  rule: CompiledRule,
  limit: CompiledLimit,
  count: number,
  retry: number | null,
  inexact: boolean,
): Decision {
  return {
    decision: "deny",
    code: "rate_limited",
    rule: rule.pattern,
    reason: rule.reason,
    retry_after_ms: retry,
    limit: hit(limit, count),
    inexact,
  };
}

function hit(limit: CompiledLimit, count: number): LimitHit {
  return {
    counter: limit.counterName,
    scope: limit.scope,
    algorithm: limit.fixed ? "fixed" : "sliding",
    window_ms: limit.windowMs,
    max: limit.max,
    count,
  };
}

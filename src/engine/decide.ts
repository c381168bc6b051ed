import type { CompiledLimit, CompiledPolicy, CompiledRule } from "./compile.js";
import { type CompiledCondition, Truth } from "./conditions.js";
import { Consumptions, type CounterState, TimeOrderError } from "./state.js";

const EMPTY = new Consumptions();
import type { Call, Decision, DecisionCode, DecisionKind, LimitHit } from "./types.js";

function plain(
  decision: DecisionKind,
  code: DecisionCode,
  rule: string | null,
  reason: string | null,
  inexact: boolean,
): Decision {
  return { decision, code, rule, reason, retry_after_ms: null, limit: null, inexact };
}

function scopeValue(call: Call, scopeIndex: number): string {
  return scopeIndex === 0 ? call.identity : scopeIndex === 1 ? call.session : "";
}

/** Evaluate conditions; returns [any held, any unknown]. Unknown counts as not holding. */
function anyHolds(conds: CompiledCondition[], args: unknown): [boolean, boolean] {
  let unknown = false;
  for (const c of conds) {
    const r = c(args);
    if (r === Truth.True) return [true, unknown];
    if (r === Truth.Unknown) unknown = true;
  }
  return [false, unknown];
}

function allHold(conds: CompiledCondition[], args: unknown): [boolean, boolean] {
  let unknown = false;
  for (const c of conds) {
    const r = c(args);
    if (r === Truth.False) return [false, unknown];
    if (r === Truth.Unknown) unknown = true;
  }
  // An unknown requirement cannot be shown to hold: the call is denied, and marked inexact.
  return [!unknown, unknown];
}

/**
 * Decide one call (SPEC section 2) and, when it is allowed, record its consumption in `state`.
 * Pure apart from that update: no clock, no I/O; the same inputs always give the same decision.
 * Calls must come in non-decreasing `ts` per state, else TimeOrderError.
 */
export function decide(compiled: CompiledPolicy, call: Call, state: CounterState): Decision {
  if (state.compiled !== compiled)
    throw new Error("decide: the state was made for another compiled policy");
  const ts = call.ts;
  if (ts < state.lastTs) throw new TimeOrderError(ts, state.lastTs);
  state.lastTs = ts;

  const resolver = compiled.grants.get(call.identity) ?? compiled.base;
  const res = resolver.resolve(call.tool);
  if (res.kind === "hidden") return plain("deny", "hidden", null, null, false);
  if (res.kind === "default") {
    if (res.action === "allow") return plain("allow", "default_allow", null, null, false);
    if (res.action === "deny") return plain("deny", "default_deny", null, null, false);
    return plain("approval_required", "default_approval", null, null, false);
  }
  const rule = res.rule;
  if (rule.action === "deny") return plain("deny", "rule_deny", rule.pattern, rule.reason, false);
  if (rule.action === "require_approval") {
    return plain("approval_required", "approval_required", rule.pattern, rule.reason, false);
  }

  let inexact = false;
  if (rule.denyIf.length > 0) {
    const [held, unknown] = anyHolds(rule.denyIf, call.arguments);
    inexact ||= unknown;
    if (held) return plain("deny", "condition_deny", rule.pattern, rule.reason, inexact);
  }
  if (rule.require.length > 0) {
    const [held, unknown] = allHold(rule.require, call.arguments);
    inexact ||= unknown;
    if (!held) return plain("deny", "requirement_failed", rule.pattern, rule.reason, inexact);
  }

  if (rule.limits.length > 0) {
    const denied = checkLimits(rule, call, state);
    if (denied) return denied(inexact);
    for (const c of rule.consumes)
      state.key(c.counter, c.scopeIndex, scopeValue(call, c.scopeIndex)).push(ts);
  }
  return plain("allow", "rule_allow", rule.pattern, null, inexact);
}

function checkLimits(
  rule: CompiledRule,
  call: Call,
  state: CounterState,
): ((inexact: boolean) => Decision) | null {
  const ts = call.ts;
  const counters = state.compiled.counters;
  for (const limit of rule.limits) {
    // Checking must not create keys: a flood of denied sessions would otherwise grow the state.
    const key =
      state.peek(limit.counter, limit.scopeIndex, scopeValue(call, limit.scopeIndex)) ?? EMPTY;
    if (key !== EMPTY) key.evictThrough(ts - counters[limit.counter]!.horizonMs);
    const windowStart = limit.fixed
      ? Math.floor(ts / limit.windowMs) * limit.windowMs - 1
      : ts - limit.windowMs;
    // Consumptions are in time order and none is later than ts, so the count is a suffix.
    const first = key.firstAfter(windowStart);
    const count = key.times.length - first;
    if (count >= limit.max) {
      const retry = retryAfter(limit, key, first, count, ts);
      return (inexact) => ({
        decision: "deny",
        code: "rate_limited",
        rule: rule.pattern,
        reason: rule.reason,
        retry_after_ms: retry,
        limit: hit(limit, count),
        inexact,
      });
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

// decidePrelimit() and limitDecision(), the engine's decision split for a counter service
// outside the process, against decide() over random policies and traces. The limit step is
// done here by a plain model of SPEC section 2 step 5, as a counter service would do it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Call,
  compile,
  type CompiledPolicy,
  countersUnavailable,
  createState,
  type Decision,
  decide,
  decidePrelimit,
  type FoundLimit,
  isPending,
  limitDecision,
  type PendingLimits,
} from "../../src/engine/index.js";
import { load, policyArb, policyWindows, startArb, toCalls, traceArb } from "./support.js";

/** Consumption times per (counter, scope kind, scope value), oldest first; never evicted. */
type Model = Map<string, number[]>;

function keyOf(call: Omit<Call, "ts">, counter: number, scopeIndex: number): string {
  const value = scopeIndex === 0 ? call.identity : scopeIndex === 1 ? call.session : "";
  return `${counter}/${scopeIndex}/${value}`;
}

/** SPEC section 2 step 5, written out plainly: count, find the first full limit, or consume. */
function modelLimits(model: Model, p: PendingLimits, call: Call): FoundLimit | null {
  const t = call.ts;
  for (const [index, limit] of p.rule.limits.entries()) {
    const times = model.get(keyOf(call, limit.counter, limit.scopeIndex)) ?? [];
    const start = limit.fixed ? Math.floor(t / limit.windowMs) * limit.windowMs : null;
    const inWindow = times.filter((x) =>
      start === null ? x > t - limit.windowMs && x <= t : x >= start && x <= t,
    );
    if (inWindow.length >= limit.max) {
      let retryAfterMs: number | null = null;
      if (limit.max > 0) {
        retryAfterMs =
          start !== null
            ? start + limit.windowMs - t
            : inWindow[inWindow.length - limit.max]! + limit.windowMs - t;
      }
      return { index, count: inWindow.length, retryAfterMs };
    }
  }
  for (const c of p.rule.consumes) {
    const k = keyOf(call, c.counter, c.scopeIndex);
    model.set(k, [...(model.get(k) ?? []), t]);
  }
  return null;
}

function splitDecide(compiled: CompiledPolicy, model: Model, call: Call): Decision {
  const r = decidePrelimit(compiled, call);
  return isPending(r) ? limitDecision(r, modelLimits(model, r, call)) : r;
}

describe("decidePrelimit + limitDecision", () => {
  it("decide exactly as decide() does, for random policies and traces", () => {
    fc.assert(
      fc.property(policyArb(), traceArb, startArb, (p, specs, start) => {
        const compiled = compile(load(p));
        const calls = toCalls(specs, start, policyWindows(p));
        const state = createState(compiled);
        const model: Model = new Map();
        for (const call of calls) {
          expect(splitDecide(compiled, model, call)).toEqual(decide(compiled, call, state));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("leave limits pending only for an allowed rule that has some", () => {
    const compiled = compile(
      load({
        version: "1",
        tools: {
          a: { limits: [{ counter: "c", window: "minute", max: 1 }] },
          b: {},
          d: { action: "deny", limits: [{ counter: "c", window: "minute", max: 1 }] },
        },
      }),
    );
    const call = { identity: "i", session: "s" };
    expect(isPending(decidePrelimit(compiled, { ...call, tool: "a" }))).toBe(true);
    expect(decidePrelimit(compiled, { ...call, tool: "b" })).toMatchObject({ code: "rule_allow" });
    expect(decidePrelimit(compiled, { ...call, tool: "d" })).toMatchObject({ code: "rule_deny" });
    expect(decidePrelimit(compiled, { ...call, tool: "x" })).toMatchObject({
      code: "default_deny",
    });
  });

  it("deny counters_unavailable with the rule and the retry hint", () => {
    const compiled = compile(
      load({
        version: "1",
        tools: { a: { reason: "r", limits: [{ counter: "c", window: "minute", max: 1 }] } },
      }),
    );
    const pending = decidePrelimit(compiled, { tool: "a", identity: "i", session: "s" });
    if (!isPending(pending)) throw new Error("expected pending limits");
    expect(countersUnavailable(pending, 1000)).toEqual({
      decision: "deny",
      code: "counters_unavailable",
      rule: "a",
      reason: null,
      retry_after_ms: 1000,
      limit: null,
      inexact: false,
    });
    expect(() => limitDecision(pending, { index: 3, count: 1, retryAfterMs: 1 })).toThrow(
      RangeError,
    );
  });
});

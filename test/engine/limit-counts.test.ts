// What a call's limits counted when it was decided, as the recording keeps it: against a
// naive count of the earlier consumptions in each limit's window.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compile,
  countsOf,
  createState,
  decide,
  decidePrelimit,
  isPending,
  limitCounts,
  resolve,
} from "../../src/engine/index.js";
import { load, policyArb, policyWindows, startArb, toCalls, traceArb } from "./support.js";

describe("limitCounts", () => {
  it("counts, per limit, the calls consumed on its key in its window before this one", () => {
    fc.assert(
      fc.property(policyArb(), startArb, traceArb, (policy, start, specs) => {
        const compiled = compile(load(policy));
        const state = createState(compiled);
        // Every consumption so far: (counter, scope index, scope value, time).
        const consumed: [number, number, string, number][] = [];
        const value = (c: { identity: string; session: string }, scope: number): string =>
          scope === 0 ? c.identity : scope === 1 ? c.session : "";
        for (const call of toCalls(specs, start, policyWindows(policy))) {
          const decision = decide(compiled, call, state);
          const counts = limitCounts(compiled, call, decision, state);
          const res = resolve(compiled, call.identity, call.tool);
          const limited = res.kind === "rule" && res.rule.limits.length > 0;
          const reached = decision.decision === "allow" || decision.code === "rate_limited";
          if (!limited || !reached) {
            expect(counts).toBeNull();
            continue;
          }
          const rule = res.rule;
          const want = rule.limits.map((l) => {
            const from = l.fixed
              ? Math.floor(call.ts / l.windowMs) * l.windowMs
              : call.ts - l.windowMs + 1;
            return consumed.filter(
              ([c, s, v, t]) =>
                c === l.counter && s === l.scopeIndex && v === value(call, s) && t >= from,
            ).length;
          });
          expect(counts!.map((h) => h.count)).toEqual(want);
          expect(counts!.map((h) => [h.counter, h.scope, h.max])).toEqual(
            rule.limits.map((l) => [l.counterName, l.scope, l.max]),
          );
          if (decision.decision === "allow") {
            expect(counts!.every((h) => h.count < h.max)).toBe(true);
            for (const c of rule.consumes)
              consumed.push([c.counter, c.scopeIndex, value(call, c.scopeIndex), call.ts]);
          } else {
            // The limit that denied is the first full one, as the decision names it.
            expect(counts!.find((h) => h.count >= h.max)).toEqual(decision.limit);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("countsOf describes a counter service's counts the same way", () => {
    const compiled = compile(
      load({
        version: "1",
        tools: {
          ab: {
            limits: [
              { counter: "c1", window: "minute", max: 3, scope: "grant" },
              { counter: "c1", window: "hour", max: 10, scope: "grant", algorithm: "fixed" },
            ],
          },
        },
      }),
    );
    const pending = decidePrelimit(compiled, { tool: "ab", identity: "alice", session: "s" });
    expect(isPending(pending)).toBe(true);
    if (!isPending(pending)) return;
    expect(countsOf(pending, [2, 7])).toEqual([
      { counter: "c1", scope: "grant", algorithm: "sliding", window_ms: 60_000, max: 3, count: 2 },
      {
        counter: "c1",
        scope: "grant",
        algorithm: "fixed",
        window_ms: 3_600_000,
        max: 10,
        count: 7,
      },
    ]);
  });
});

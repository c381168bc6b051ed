// Counters shared by several deciders: a decider that counts the others' decisions with
// countDecided() decides every call of its own exactly as one decider seeing every call would.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile, countDecided, createState, decide } from "../../src/engine/index.js";
import { load, policyArb, policyWindows, startArb, toCalls, traceArb } from "./support.js";

describe("countDecided", () => {
  it("two deciders that count each other's decisions decide as one", () => {
    fc.assert(
      fc.property(
        policyArb(),
        startArb,
        traceArb,
        fc.array(fc.boolean(), { maxLength: 60 }),
        (policy, start, specs, owners) => {
          const compiled = compile(load(policy));
          const calls = toCalls(specs, start, policyWindows(policy));
          const one = createState(compiled);
          const expected = calls.map((c) => decide(compiled, c, one).decision);
          // Each call is decided by one of two proxies; the other only counts its decision.
          const states = [createState(compiled), createState(compiled)];
          const got = calls.map((c, i) => {
            const owner = owners[i] ? 1 : 0;
            const d = decide(compiled, c, states[owner]!).decision;
            countDecided(compiled, c, d, states[1 - owner]!);
            return d;
          });
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("counts nothing for a denied or approval-required call, and keeps time moving forward", () => {
    const compiled = compile(
      load({
        version: "1",
        default: "deny",
        tools: { ab: { limits: [{ counter: "c1", window: "minute", max: 1, scope: "grant" }] } },
      }),
    );
    const state = createState(compiled);
    const call = { tool: "ab", identity: "alice", session: "s", ts: 1_000 };
    countDecided(compiled, call, "deny", state);
    expect(decide(compiled, { ...call, ts: 1_001 }, state).decision).toBe("allow");
    countDecided(compiled, { ...call, ts: 1_002 }, "allow", state);
    expect(decide(compiled, { ...call, ts: 1_003 }, state).code).toBe("rate_limited");
    expect(() => countDecided(compiled, { ...call, ts: 5 }, "allow", state)).toThrow(/backwards/);
  });
});

// Properties of SPEC section 2's rate limits and of decide() as a function, checked with
// fast-check over random limits, random policies and random traces.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Call, compile, createState, type Decision, decide } from "../../src/engine/index.js";
import {
  type CallSpec,
  load,
  policyArb,
  type PolicyObj,
  policyWindows,
  resolveStep,
  runTrace,
  type ScopeName,
  startArb,
  stepArb,
  toCalls,
  traceArb,
  windowArb,
  windowToMs,
  type WindowSpec,
} from "./support.js";

// ---------------------------------------------------------------------------------------------
// One limit on one tool, called by a couple of identities in a couple of sessions each.

interface OneLimit {
  window: WindowSpec;
  max: number;
  /** The `rate_limit` shorthand (sliding, session scope) instead of a `limits` entry. */
  shorthand: boolean;
  scope: ScopeName;
}

function oneLimitPolicy(l: OneLimit, algorithm: "sliding" | "fixed" | undefined): PolicyObj {
  if (l.shorthand) {
    return { version: "1", tools: { t: { rate_limit: { max: l.max, window: l.window } } } };
  }
  const limit = { counter: "c", window: l.window, max: l.max, scope: l.scope };
  return {
    version: "1",
    tools: { t: { limits: [algorithm === undefined ? limit : { ...limit, algorithm }] } },
  };
}

const oneLimitArb = (shorthandOk: boolean): fc.Arbitrary<OneLimit> =>
  fc.record({
    window: windowArb,
    max: fc.integer({ min: 0, max: 6 }),
    shorthand: shorthandOk ? fc.boolean() : fc.constant(false),
    scope: fc.constantFrom<ScopeName>("grant", "session", "global"),
  });

const IDS = ["i0", "i1"] as const;

/** A trace on tool t: steps that hit window edges, and who calls. */
const oneToolTraceArb = fc.array(
  fc.record({ step: stepArb, who: fc.nat({ max: 1 }), sess: fc.nat({ max: 1 }) }),
  { maxLength: 100, size: "max" },
);

function oneToolCalls(
  trace: { step: CallSpec["step"]; who: number; sess: number }[],
  start: number,
  W: number,
): Call[] {
  let t = start;
  return trace.map(({ step, who, sess }) => {
    t += resolveStep(step, t, [W]);
    const identity = IDS[who]!;
    return { tool: "t", identity, session: `${identity}/s${sess}`, ts: t };
  });
}

/** The scope key a call consumes on (SPEC section 2, step 5). */
function scopeKey(l: OneLimit, c: Call): string {
  const scope = l.shorthand ? "session" : l.scope;
  return scope === "grant" ? c.identity : scope === "session" ? c.session : "";
}

interface Seen {
  call: Call;
  d: Decision;
  /** The key's allowed calls' times; those before this call are the first `before`. */
  allowed: number[];
  before: number;
}

/** Per scope key: the times of the allowed calls, in order, and every call with its decision. */
function byKey(l: OneLimit, calls: Call[], decisions: Decision[]) {
  const keys = new Map<string, Seen[]>();
  const allowed = new Map<string, number[]>();
  calls.forEach((call, i) => {
    const k = scopeKey(l, call);
    const times = allowed.get(k) ?? [];
    allowed.set(k, times);
    const list = keys.get(k) ?? [];
    keys.set(k, list);
    const d = decisions[i]!;
    list.push({ call, d, allowed: times, before: times.length });
    if (d.decision === "allow") times.push(call.ts);
  });
  return { keys, allowed };
}

/** How many of the first n times lie in [from, to]. */
function countIn(times: readonly number[], n: number, from: number, to: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (times[i]! >= from && times[i]! <= to) k++;
  return k;
}

/**
 * Collects violations as text (one expect() per run, not per call: thousands of expect() calls
 * per run would dominate the suite's time) and reports them all at the end.
 */
class Problems {
  readonly list: string[] = [];
  check(ok: boolean, what: () => string): void {
    if (!ok) this.list.push(what());
  }
}

describe("sliding limits", () => {
  it("never let a key consume more than max in any interval (t - W, t], and are exact", () => {
    fc.assert(
      fc.property(oneLimitArb(true), startArb, oneToolTraceArb, (l, start, trace) => {
        const W = windowToMs(l.window);
        const calls = oneToolCalls(trace, start, W);
        const decisions = runTrace(oneLimitPolicy(l, l.shorthand ? undefined : "sliding"), calls);
        const { keys, allowed } = byKey(l, calls, decisions);
        const p = new Problems();
        for (const times of allowed.values()) {
          // The count over (t - W, t] is largest with t at a consumption: check each one.
          for (const a of times) {
            const n = countIn(times, times.length, a - W + 1, a);
            p.check(n <= l.max, () => `${n} consumed in (${a - W}, ${a}], max ${l.max}`);
          }
        }
        for (const list of keys.values()) {
          for (const { call, d, allowed: times, before } of list) {
            const t = call.ts;
            const count = countIn(times, before, t - W + 1, t);
            const at = `call at ${t} (${d.code}, count ${count}, max ${l.max})`;
            if (d.decision === "allow") {
              p.check(count < l.max, () => `${at}: allowed though full`);
              continue;
            }
            p.check(d.code === "rate_limited", () => `${at}: denied as ${d.code}`);
            p.check(count >= l.max, () => `${at}: denied though not full`);
            p.check(d.limit?.count === count, () => `${at}: limit.count ${d.limit?.count}`);
            if (l.max === 0) {
              p.check(
                d.retry_after_ms === null,
                () => `${at}: retry ${d.retry_after_ms}, not null`,
              );
              continue;
            }
            // At t + retry the count (of what has consumed so far) is below max, and not before.
            const retry = d.retry_after_ms ?? NaN;
            const tau = t + retry;
            p.check(
              retry > 0 &&
                retry <= W &&
                countIn(times, before, tau - W + 1, tau) < l.max &&
                countIn(times, before, tau - W, tau - 1) >= l.max,
              () => `${at}: retry_after_ms ${d.retry_after_ms} is not the earliest time`,
            );
          }
        }
        expect(p.list).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("fixed limits", () => {
  it("never allow more than max per aligned window [k*W, (k+1)*W), and are exact", () => {
    fc.assert(
      fc.property(oneLimitArb(false), startArb, oneToolTraceArb, (l, start, trace) => {
        const W = windowToMs(l.window);
        const calls = oneToolCalls(trace, start, W);
        const decisions = runTrace(oneLimitPolicy(l, "fixed"), calls);
        const { keys, allowed } = byKey(l, calls, decisions);
        const p = new Problems();
        for (const times of allowed.values()) {
          const perWindow = new Map<number, number>();
          for (const a of times) {
            const k = Math.floor(a / W);
            perWindow.set(k, (perWindow.get(k) ?? 0) + 1);
          }
          for (const [k, n] of perWindow) {
            p.check(n <= l.max, () => `${n} consumed in [${k * W}, ${(k + 1) * W}), max ${l.max}`);
          }
        }
        for (const list of keys.values()) {
          for (const { call, d, allowed: times, before } of list) {
            const t = call.ts;
            const windowStart = Math.floor(t / W) * W;
            const count = countIn(times, before, windowStart, t);
            const at = `call at ${t} (${d.code}, count ${count}, max ${l.max})`;
            if (d.decision === "allow") {
              p.check(count < l.max, () => `${at}: allowed though full`);
              continue;
            }
            p.check(d.code === "rate_limited", () => `${at}: denied as ${d.code}`);
            p.check(count >= l.max, () => `${at}: denied though not full`);
            p.check(
              d.limit?.algorithm === "fixed" &&
                d.limit.window_ms === W &&
                d.limit.max === l.max &&
                d.limit.count === count,
              () => `${at}: limit ${JSON.stringify(d.limit)}`,
            );
            // Retry at the next window's start; never, when max is 0.
            const retry = l.max === 0 ? null : windowStart + W - t;
            p.check(
              d.retry_after_ms === retry,
              () => `${at}: retry ${d.retry_after_ms}, not ${retry}`,
            );
          }
        }
        expect(p.list).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("lowering a sliding limit's max", () => {
  it("never turns a denied call into an allowed one", () => {
    fc.assert(
      fc.property(
        oneLimitArb(true).filter((l) => l.max >= 1),
        fc.nat(),
        startArb,
        oneToolTraceArb,
        (l, lowerBy, start, trace) => {
          const lower = { ...l, max: l.max - 1 - (lowerBy % l.max) };
          const W = windowToMs(l.window);
          const calls = oneToolCalls(trace, start, W);
          const a = runTrace(oneLimitPolicy(l, "sliding"), calls);
          const b = runTrace(oneLimitPolicy(lower, "sliding"), calls);
          a.forEach((d, i) => {
            if (d.decision !== "allow") expect(b[i]!.decision).toBe("deny");
          });
        },
      ),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Scopes, over random policies whose every limit has one scope.

/** The calls of `calls` (with their indexes) for which key(call) is k, for each k. */
function groupBy(calls: Call[], key: (c: Call) => string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  calls.forEach((c, i) => {
    const k = key(c);
    out.set(k, [...(out.get(k) ?? []), i]);
  });
  return out;
}

/** Deciding each group's calls alone, in a fresh state, gives the same as the whole trace. */
function expectIsolated(policy: PolicyObj, calls: Call[], key: (c: Call) => string): void {
  const whole = runTrace(policy, calls);
  for (const idx of groupBy(calls, key).values()) {
    const alone = runTrace(
      policy,
      idx.map((i) => calls[i]!),
    );
    expect(alone).toEqual(idx.map((i) => whole[i]!));
  }
}

function callsFor(policy: PolicyObj, specs: CallSpec[], start: number): Call[] {
  return toCalls(specs, start, policyWindows(policy));
}

describe("scopes isolate", () => {
  it("session-scoped counters are per session", () => {
    fc.assert(
      fc.property(policyArb({ scope: "session" }), startArb, traceArb, (policy, start, specs) => {
        expectIsolated(policy, callsFor(policy, specs, start), (c) => c.session);
      }),
      { numRuns: 300 },
    );
  });

  it("grant-scoped counters are per identity, shared by its sessions", () => {
    fc.assert(
      fc.property(policyArb({ scope: "grant" }), startArb, traceArb, (policy, start, specs) => {
        const calls = callsFor(policy, specs, start);
        expectIsolated(policy, calls, (c) => c.identity);
        // Which of its sessions an identity calls from changes nothing.
        const oneSession = calls.map((c) => ({ ...c, session: `${c.identity}/only` }));
        expect(runTrace(policy, oneSession)).toEqual(runTrace(policy, calls));
      }),
      { numRuns: 300 },
    );
  });

  it("global counters are shared by every identity and session", () => {
    // A grant-scoped limit would be per identity: with global ones, moving calls between the
    // sessions of an identity, or between identities without grants, changes nothing.
    fc.assert(
      fc.property(
        policyArb({ scope: "global" }).map((p) => ({ ...p, grants: {} })),
        startArb,
        traceArb,
        (policy, start, specs) => {
          const calls = callsFor(policy, specs, start);
          const everyone = calls.map((c) => ({ ...c, identity: "x", session: "x/1" }));
          expect(runTrace(policy, everyone)).toEqual(runTrace(policy, calls));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("a grant-scoped and a session-scoped limit on one counter name never share a key", () => {
    fc.assert(
      fc.property(
        windowArb,
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        startArb,
        oneToolTraceArb,
        (window, gMax, sMax, start, trace) => {
          const W = windowToMs(window);
          const calls = oneToolCalls(trace, start, W).map((c, i) => ({
            ...c,
            tool: i % 2 === 0 ? "g" : "s",
          }));
          const limit = (max: number, scope: ScopeName) => ({
            limits: [{ counter: "c", window, max, scope }],
          });
          const shared: PolicyObj = {
            version: "1",
            tools: { g: limit(gMax, "grant"), s: limit(sMax, "session") },
          };
          expectIsolated(shared, calls, (c) => c.tool);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a counter name shared by two tools adds up across them; distinct names do not", () => {
    fc.assert(
      fc.property(
        oneLimitArb(false),
        fc.constantFrom("sliding" as const, "fixed" as const),
        startArb,
        fc.array(fc.boolean(), { maxLength: 100, size: "max" }),
        oneToolTraceArb,
        (l, algorithm, start, useY, trace) => {
          const W = windowToMs(l.window);
          const calls = oneToolCalls(trace, start, W).map((c, i) => ({
            ...c,
            tool: useY[i] === true ? "y" : "x",
          }));
          const limit = (counter: string) => ({
            limits: [{ counter, window: l.window, max: l.max, scope: l.scope, algorithm }],
          });
          const shared: PolicyObj = { version: "1", tools: { x: limit("c"), y: limit("c") } };
          const apart: PolicyObj = { version: "1", tools: { x: limit("cx"), y: limit("cy") } };
          // Shared: exactly as if every call were to x.
          const asOneTool = runTrace(
            shared,
            calls.map((c) => ({ ...c, tool: "x" })),
          );
          const mixed = runTrace(shared, calls);
          expect(mixed.map((d) => ({ ...d, rule: "x" }))).toEqual(asOneTool);
          // Distinct counters: each tool as if alone.
          expectIsolated(apart, calls, (c) => c.tool);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe("decide() as a function", () => {
  it("shifting every timestamp by one offset changes no sliding decision", () => {
    fc.assert(
      fc.property(
        policyArb({ slidingOnly: true }),
        startArb,
        traceArb,
        fc.integer({ min: -1_000_000_000_000, max: 1_000_000_000_000 }),
        (policy, start, specs, offset) => {
          const calls = callsFor(policy, specs, start);
          const shifted = calls.map((c) => ({ ...c, ts: c.ts + offset }));
          expect(runTrace(policy, shifted)).toEqual(runTrace(policy, calls));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("is deterministic: the same trace twice, with fresh states, decides the same", () => {
    fc.assert(
      fc.property(policyArb(), startArb, traceArb, (policy, start, specs) => {
        const calls = callsFor(policy, specs, start);
        const compiled = compile(load(policy));
        const first = createState(compiled);
        const once = calls.map((c) => decide(compiled, c, first));
        // The same compiled policy with another fresh state.
        const second = createState(compiled);
        expect(calls.map((c) => decide(compiled, c, second))).toEqual(once);
        // A fresh compile of the same policy, and a fresh state.
        expect(runTrace(policy, calls)).toEqual(once);
      }),
      { numRuns: 300 },
    );
  });
});

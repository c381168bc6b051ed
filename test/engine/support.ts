// Shared arbitraries and helpers for the engine's property tests (not a test file itself).
import fc from "fast-check";
import { type Call, compile, createState, type Decision, decide } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import type { Policy } from "../../src/policy/schema.js";

// ---------------------------------------------------------------------------------------------
// Plain policy objects (SPEC section 1), built by the arbitraries and validated by the loader.

export type ActionName = "allow" | "deny" | "require_approval";
export type ScopeName = "grant" | "session" | "global";
export type WindowSpec = "second" | "minute" | "hour" | "day" | number;

export interface LimitObj {
  counter: string;
  window: WindowSpec;
  max: number;
  scope?: ScopeName;
  algorithm?: "sliding" | "fixed";
}

export interface ConditionObj {
  path: string;
  op: string;
  value: unknown;
}

export interface RuleObj {
  action?: ActionName;
  reason?: string;
  deny_if?: ConditionObj[];
  require?: ConditionObj[];
  limits?: LimitObj[];
  rate_limit?: { max: number; window: WindowSpec };
}

export interface GrantObj {
  default?: ActionName;
  tools?: Record<string, RuleObj>;
  hide?: string[];
}

export interface PolicyObj {
  version: "1";
  default?: ActionName;
  tools?: Record<string, RuleObj>;
  hide?: string[];
  grants?: Record<string, GrantObj>;
}

/** Validate a plain policy object through the real loader, so tests only ever use valid ones. */
export function load(obj: PolicyObj): Policy {
  return parsePolicyText(JSON.stringify(obj)).policy;
}

/** Decide a whole trace with a fresh compile and a fresh, empty state. */
export function runTrace(policy: PolicyObj, calls: readonly Call[]): Decision[] {
  const compiled = compile(load(policy));
  const state = createState(compiled);
  return calls.map((c) => decide(compiled, c, state));
}

/** SPEC section 1: a named window or a number of seconds, in integer milliseconds. */
export function windowToMs(w: WindowSpec): number {
  switch (w) {
    case "second":
      return 1_000;
    case "minute":
      return 60_000;
    case "hour":
      return 3_600_000;
    case "day":
      return 86_400_000;
    default:
      return Math.round(w * 1000);
  }
}

/** Every window (in ms) any limit or rate_limit of the policy names. */
export function policyWindows(p: PolicyObj): number[] {
  const out = new Set<number>();
  const rules = (m: Record<string, RuleObj> | undefined): void => {
    for (const r of Object.values(m ?? {})) {
      for (const l of r.limits ?? []) out.add(windowToMs(l.window));
      if (r.rate_limit) out.add(windowToMs(r.rate_limit.window));
    }
  };
  rules(p.tools);
  for (const g of Object.values(p.grants ?? {})) rules(g.tools);
  return [...out].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// Windows and time steps.

/** Small windows (1 ms to 5 s), odd ones, and the named ones. */
export const windowArb: fc.Arbitrary<WindowSpec> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<WindowSpec>(0.001, 0.002, 0.005, 1, 1.5, 2, 3, 5, 60) },
  { weight: 2, arbitrary: fc.constantFrom<WindowSpec>("second", "minute", "hour", "day") },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 5000 }).map((ms) => ms / 1000) },
);

/**
 * A time step, resolved against the current time t and a window W once both are known: equal
 * timestamps, 1 ms, W-1, W, W+1, exactly onto the next aligned window start (k*W) or 1 ms
 * before it, or a fraction (0..2) of W.
 */
export type Step =
  | { kind: "0" | "1" | "W-1" | "W" | "W+1" | "edge" | "edge-1"; w: number }
  | { kind: "frac"; w: number; permille: number };

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Step>({ kind: "0", w: 0 }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constantFrom("1", "W-1", "W", "W+1", "edge", "edge-1" as const),
      w: fc.nat({ max: 7 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("frac" as const),
      w: fc.nat({ max: 7 }),
      permille: fc.integer({ min: 0, max: 2000 }),
    }),
  },
);

/** The step's dt in ms at time t, W picked among `windows` (1 s when there are none). */
export function resolveStep(step: Step, t: number, windows: readonly number[]): number {
  const W = windows.length === 0 ? 1000 : windows[step.w % windows.length]!;
  const toEdge = (Math.floor(t / W) + 1) * W - t;
  switch (step.kind) {
    case "0":
      return 0;
    case "1":
      return 1;
    case "W-1":
      return W - 1;
    case "W":
      return W;
    case "W+1":
      return W + 1;
    case "edge":
      return toEdge;
    case "edge-1":
      return toEdge - 1;
    case "frac":
      return Math.floor((W * step.permille) / 1000);
  }
}

/** Start times: the epoch, a recent epoch time, and times on or near a day boundary. */
export const startArb: fc.Arbitrary<number> = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
  fc
    .tuple(fc.integer({ min: 18_000, max: 22_000 }), fc.integer({ min: -2, max: 2 }))
    .map(([day, d]) => day * 86_400_000 + d),
);

// ---------------------------------------------------------------------------------------------
// Random policies over a small universe of tools, patterns, identities and counters.

export const TOOLS = ["ab", "abc", "abd", "ba", "bc", "c"] as const;
export const GLOBS = ["*", "a*", "ab?", "a?c", "*c", "?b*", "b*", "*a*", "??", "a*c"] as const;
export const IDENTITIES = ["alice", "bob", "ci-bot", "anonymous"] as const;
export const COUNTERS = ["c1", "c2", "c3"] as const;

export interface PolicyOptions {
  /** Every limit is sliding (no `algorithm: "fixed"`). */
  slidingOnly?: boolean;
  /** Every limit has this scope; rate_limit shorthands (always session) only when "session". */
  scope?: ScopeName;
}

const actionArb = fc.constantFrom<ActionName>("allow", "deny", "require_approval");
const patternArb = fc.oneof(fc.constantFrom(...TOOLS), fc.constantFrom(...GLOBS));

function limitArb(o: PolicyOptions): fc.Arbitrary<LimitObj> {
  return fc
    .record(
      {
        counter: fc.constantFrom(...COUNTERS),
        window: windowArb,
        max: fc.oneof(
          { weight: 1, arbitrary: fc.constant(0) },
          { weight: 12, arbitrary: fc.integer({ min: 1, max: 3 }) },
        ),
        scope: fc.constantFrom<ScopeName>("grant", "session", "global"),
        algorithm: o.slidingOnly
          ? fc.constant("sliding" as const)
          : fc.constantFrom("sliding" as const, "fixed" as const),
      },
      { requiredKeys: ["counter", "window", "max"] },
    )
    .map((l) => (o.scope === undefined ? l : { ...l, scope: o.scope }));
}

/** `arb` with weight `present`, else undefined with weight `absent`. */
export function maybe<T>(
  arb: fc.Arbitrary<T>,
  present: number,
  absent: number,
): fc.Arbitrary<T | undefined> {
  return fc.oneof(
    { weight: present, arbitrary: arb },
    { weight: absent, arbitrary: fc.constant(undefined) },
  );
}

/** Drop keys whose value is undefined, so the JSON and the object say the same thing. */
export function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function ruleArb(o: PolicyOptions): fc.Arbitrary<RuleObj> {
  const allowShorthand = o.scope === undefined || o.scope === "session";
  return fc
    .record({
      // Mostly the implicit allow, so that limits get exercised.
      action: maybe(fc.oneof(actionArb, fc.constant("allow" as const)), 2, 5),
      reason: maybe(fc.constantFrom("r1", "r2"), 1, 1),
      deny_if: maybe(
        fc.integer({ min: 0, max: 3 }).map((v) => [{ path: "args.n", op: "gt", value: v }]),
        1,
        4,
      ),
      require: maybe(fc.constant([{ path: "args.ok", op: "eq", value: true }]), 1, 5),
      limits: maybe(fc.array(limitArb(o), { minLength: 1, maxLength: 3 }), 4, 1),
      rate_limit: allowShorthand
        ? maybe(fc.record({ max: fc.integer({ min: 0, max: 3 }), window: windowArb }), 1, 3)
        : fc.constant(undefined),
    })
    .map((r) => compact(r) as RuleObj);
}

function rulesArb(o: PolicyOptions, maxLength: number): fc.Arbitrary<Record<string, RuleObj>> {
  return fc
    .uniqueArray(fc.tuple(patternArb, ruleArb(o)), { selector: ([p]) => p, maxLength })
    .map((entries) => Object.fromEntries(entries));
}

const hideArb = fc.array(patternArb, { minLength: 1, maxLength: 2 });

function grantArb(o: PolicyOptions): fc.Arbitrary<GrantObj> {
  return fc
    .record({
      default: maybe(actionArb, 1, 1),
      tools: maybe(rulesArb(o, 3), 3, 1),
      hide: maybe(hideArb, 1, 5),
    })
    .map((g) => compact(g) as GrantObj);
}

/** A random valid policy: a few exact and glob rules, hides, grants, limits of every kind. */
export function policyArb(o: PolicyOptions = {}): fc.Arbitrary<PolicyObj> {
  return fc
    .record({
      default: maybe(actionArb, 1, 1),
      tools: rulesArb(o, 6),
      hide: maybe(hideArb, 1, 5),
      grants: fc
        .uniqueArray(fc.tuple(fc.constantFrom(...IDENTITIES), grantArb(o)), {
          selector: ([i]) => i,
          maxLength: 2,
        })
        .map((entries) => Object.fromEntries(entries)),
    })
    .map((p) => compact({ version: "1" as const, ...p }) as PolicyObj);
}

// ---------------------------------------------------------------------------------------------
// Traces.

/** The arguments a generated call carries; the generated rules' conditions look at n and ok. */
export const argsArb: fc.Arbitrary<Record<string, unknown> | undefined> = fc.option(
  fc.record({ n: fc.integer({ min: 0, max: 4 }), ok: fc.boolean() }, { requiredKeys: [] }),
  { nil: undefined, freq: 4 },
);

export interface CallSpec {
  tool: string;
  identity: string;
  /** Sessions belong to identities: session k of identity I is named `I/s<k>`. */
  sessionNo: number;
  step: Step;
  args: Record<string, unknown> | undefined;
}

export const callSpecArb: fc.Arbitrary<CallSpec> = fc.record({
  tool: fc.constantFrom(...TOOLS),
  identity: fc.constantFrom(...IDENTITIES),
  sessionNo: fc.nat({ max: 1 }),
  step: stepArb,
  args: argsArb,
});

export function sessionName(identity: string, sessionNo: number): string {
  return `${identity}/s${sessionNo}`;
}

/** Turn call specs into calls with non-decreasing timestamps from `start`. */
export function toCalls(
  specs: readonly CallSpec[],
  start: number,
  windows: readonly number[],
): Call[] {
  let t = start;
  return specs.map((s) => {
    t += resolveStep(s.step, t, windows);
    const call: Call = {
      tool: s.tool,
      identity: s.identity,
      session: sessionName(s.identity, s.sessionNo),
      ts: t,
    };
    if (s.args !== undefined) call.arguments = s.args;
    return call;
  });
}

export const traceArb: fc.Arbitrary<CallSpec[]> = fc.array(callSpecArb, {
  maxLength: 60,
  size: "max",
});

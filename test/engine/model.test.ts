// Model-based test: a naive reading of SPEC section 2, written from the spec's words alone,
// against the engine, over random policies and random command sequences (fc.commands).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Call,
  compile,
  type CompiledPolicy,
  createState,
  type CounterState,
  decide,
} from "../../src/engine/index.js";
import {
  type ActionName,
  argsArb,
  type ConditionObj,
  IDENTITIES,
  load,
  policyArb,
  type PolicyObj,
  policyWindows,
  resolveStep,
  type RuleObj,
  type ScopeName,
  sessionName,
  startArb,
  type Step,
  stepArb,
  TOOLS,
  windowToMs,
} from "./support.js";

// ---------------------------------------------------------------------------------------------
// The model.

/** Glob match (SPEC section 1.1): `*` any run of characters (also none), `?` exactly one. */
function globMatch(pattern: string, name: string): boolean {
  const p = [...pattern];
  const s = [...name];
  const go = (i: number, j: number): boolean => {
    if (i === p.length) return j === s.length;
    const c = p[i];
    if (c === "*") {
      for (let k = j; k <= s.length; k++) if (go(i + 1, k)) return true;
      return false;
    }
    if (j === s.length) return false;
    return (c === "?" || c === s[j]) && go(i + 1, j + 1);
  };
  return go(0, 0);
}

const isWildcard = (pattern: string): boolean => pattern.includes("*") || pattern.includes("?");
const nonWildcardChars = (pattern: string): number =>
  [...pattern].filter((c) => c !== "*" && c !== "?").length;

/** Step 2 within one map: an exact name beats any glob; most non-wildcard chars; first written. */
function findRule(
  rules: Record<string, RuleObj>,
  tool: string,
): { pattern: string; rule: RuleObj } | null {
  const entries = Object.entries(rules);
  for (const [pattern, rule] of entries) {
    if (!isWildcard(pattern) && pattern === tool) return { pattern, rule };
  }
  let best: { pattern: string; rule: RuleObj } | null = null;
  for (const [pattern, rule] of entries) {
    if (!isWildcard(pattern) || !globMatch(pattern, tool)) continue;
    // Strictly more: on a tie the one written first (already in `best`) stays.
    if (best === null || nonWildcardChars(pattern) > nonWildcardChars(best.pattern)) {
      best = { pattern, rule };
    }
  }
  return best;
}

/** Conditions the generated rules use: `args.n gt v` and `args.ok eq true`. */
function conditionHolds(c: ConditionObj, args: unknown): boolean {
  const key = c.path.slice("args.".length);
  if (args === null || typeof args !== "object" || !Object.hasOwn(args, key)) return false;
  const v = (args as Record<string, unknown>)[key];
  if (c.op === "gt") return typeof v === "number" && typeof c.value === "number" && v > c.value;
  if (c.op === "eq") return v === c.value;
  throw new Error(`model: op ${c.op} not modelled`);
}

interface ModelLimit {
  /** Identifies the counter: a user name, or a rule's private shorthand counter. */
  counterId: string;
  /** The name the engine reports, for user-named counters; null for private ones. */
  counterName: string | null;
  scope: ScopeName;
  fixed: boolean;
  W: number;
  max: number;
}

interface Model {
  policy: PolicyObj;
  windows: number[];
  t: number;
  /** Per counter key (counter, scope kind, scope value): the times it consumed, in order. */
  consumed: Map<string, number[]>;
}

interface Expected {
  decision: "allow" | "deny" | "approval_required";
  code: string;
  rule: string | null;
  reason: string | null;
  retry_after_ms: number | null;
  limit: {
    counter?: string;
    scope: ScopeName;
    algorithm: "sliding" | "fixed";
    window_ms: number;
    max: number;
    count: number;
  } | null;
  inexact: boolean;
}

function keyOf(l: ModelLimit, call: Call): string {
  const scopeValue =
    l.scope === "grant" ? call.identity : l.scope === "session" ? call.session : "";
  return JSON.stringify([l.counterId, l.scope, scopeValue]);
}

/** The count a limit sees at t: consumptions in (t - W, t], or [floor(t/W)*W, t] when fixed. */
function countAt(l: ModelLimit, times: readonly number[], t: number): number {
  const from = l.fixed ? Math.floor(t / l.W) * l.W : t - l.W + 1;
  return times.filter((x) => x >= from && x <= t).length;
}

/** Earliest time >= t at which the count drops below max (no later consumptions), minus t. */
function retryAfter(l: ModelLimit, times: readonly number[], t: number): number | null {
  if (l.max === 0) return null;
  if (l.fixed) return (Math.floor(t / l.W) + 1) * l.W - t;
  // The count only changes when a consumption leaves the window, at its time + W.
  const candidates = times
    .map((x) => x + l.W)
    .filter((x) => x >= t)
    .sort((a, b) => a - b);
  for (const tau of candidates) if (countAt(l, times, tau) < l.max) return tau - t;
  throw new Error("model: the count never drops below max");
}

function plainDecision(
  decision: Expected["decision"],
  code: string,
  rule: string | null,
  reason: string | null,
): Expected {
  return { decision, code, rule, reason, retry_after_ms: null, limit: null, inexact: false };
}

/** SPEC section 2, steps 1-6, for one call at model time; updates the model's counters. */
function modelDecide(m: Model, call: Call): Expected {
  const p = m.policy;
  const grant =
    p.grants !== undefined && Object.hasOwn(p.grants, call.identity)
      ? p.grants[call.identity]
      : undefined;

  // 1. Hidden: top-level hide or the grant's hide.
  const hides = [...(p.hide ?? []), ...(grant?.hide ?? [])];
  if (hides.some((h) => globMatch(h, call.tool)))
    return plainDecision("deny", "hidden", null, null);

  // 2. Rule: the grant's tools first, then the top-level tools.
  const maps: { owner: string; rules: Record<string, RuleObj> }[] = [];
  if (grant?.tools) maps.push({ owner: `grant ${call.identity}`, rules: grant.tools });
  if (p.tools) maps.push({ owner: "top", rules: p.tools });
  let found: { owner: string; pattern: string; rule: RuleObj } | null = null;
  for (const { owner, rules } of maps) {
    const r = findRule(rules, call.tool);
    if (r) {
      found = { owner, ...r };
      break;
    }
  }
  if (found === null) {
    const action: ActionName = grant?.default ?? p.default ?? "deny";
    if (action === "allow") return plainDecision("allow", "default_allow", null, null);
    if (action === "deny") return plainDecision("deny", "default_deny", null, null);
    return plainDecision("approval_required", "default_approval", null, null);
  }

  // 3. Action.
  const { rule, pattern } = found;
  const reason = rule.reason ?? null;
  if (rule.action === "deny") return plainDecision("deny", "rule_deny", pattern, reason);
  if (rule.action === "require_approval") {
    return plainDecision("approval_required", "approval_required", pattern, reason);
  }

  // 4. Conditions.
  if ((rule.deny_if ?? []).some((c) => conditionHolds(c, call.arguments))) {
    return plainDecision("deny", "condition_deny", pattern, reason);
  }
  if (!(rule.require ?? []).every((c) => conditionHolds(c, call.arguments))) {
    return plainDecision("deny", "requirement_failed", pattern, reason);
  }

  // 5. Limits, in order; the rate_limit shorthand last, on a counter private to this rule.
  const limits: ModelLimit[] = (rule.limits ?? []).map((l) => ({
    counterId: `named ${l.counter}`,
    counterName: l.counter,
    scope: l.scope ?? "session",
    fixed: l.algorithm === "fixed",
    W: windowToMs(l.window),
    max: l.max,
  }));
  if (rule.rate_limit) {
    limits.push({
      counterId: `private ${found.owner} ${pattern}`,
      counterName: null,
      scope: "session",
      fixed: false,
      W: windowToMs(rule.rate_limit.window),
      max: rule.rate_limit.max,
    });
  }
  for (const l of limits) {
    const times = m.consumed.get(keyOf(l, call)) ?? [];
    const count = countAt(l, times, call.ts);
    if (count >= l.max) {
      return {
        decision: "deny",
        code: "rate_limited",
        rule: pattern,
        reason,
        retry_after_ms: retryAfter(l, times, call.ts),
        limit: {
          ...(l.counterName === null ? {} : { counter: l.counterName }),
          scope: l.scope,
          algorithm: l.fixed ? "fixed" : "sliding",
          window_ms: l.W,
          max: l.max,
          count,
        },
        inexact: false,
      };
    }
  }

  // Allowed: one consumption on every distinct key, however many limits name it.
  for (const key of new Set(limits.map((l) => keyOf(l, call)))) {
    const times = m.consumed.get(key) ?? [];
    times.push(call.ts);
    m.consumed.set(key, times);
  }
  return plainDecision("allow", "rule_allow", pattern, null);
}

// ---------------------------------------------------------------------------------------------
// Commands.

interface Real {
  compiled: CompiledPolicy;
  state: CounterState;
}

class CallCommand implements fc.Command<Model, Real> {
  /** The last time this command ran at, for the counterexample's report. */
  private at: number | null = null;

  constructor(
    readonly tool: string,
    readonly identity: string,
    readonly sessionNo: number,
    readonly step: Step,
    readonly args: Record<string, unknown> | undefined,
  ) {}

  check(): boolean {
    return true;
  }

  run(m: Model, r: Real): void {
    m.t += resolveStep(this.step, m.t, m.windows);
    this.at = m.t;
    const call: Call = {
      tool: this.tool,
      identity: this.identity,
      session: sessionName(this.identity, this.sessionNo),
      ts: m.t,
    };
    if (this.args !== undefined) call.arguments = this.args;
    const want = modelDecide(m, call);
    const got = decide(r.compiled, call, r.state);
    // A private shorthand counter's display name is the engine's choice; the rest must match.
    const comparable =
      want.limit !== null && want.limit.counter === undefined && got.limit !== null
        ? { ...got, limit: { ...got.limit, counter: undefined } }
        : got;
    expect(comparable).toEqual(want);
  }

  toString(): string {
    const args = this.args === undefined ? "" : ` ${JSON.stringify(this.args)}`;
    const at = this.at === null ? "" : ` @${this.at}`;
    return `call ${this.tool} as ${this.identity} in s${this.sessionNo} +${JSON.stringify(this.step)}${at}${args}`;
  }
}

const commandArb: fc.Arbitrary<fc.Command<Model, Real>> = fc
  .record({
    tool: fc.constantFrom(...TOOLS),
    identity: fc.constantFrom(...IDENTITIES),
    sessionNo: fc.nat({ max: 1 }),
    step: stepArb,
    args: argsArb,
  })
  .map((c) => new CallCommand(c.tool, c.identity, c.sessionNo, c.step, c.args));

// ---------------------------------------------------------------------------------------------

describe("engine against a naive model of SPEC section 2", () => {
  it("matches the model on random policies and call sequences", () => {
    fc.assert(
      fc.property(
        policyArb(),
        startArb,
        fc.commands([commandArb], { maxCommands: 60 }),
        (policy, start, cmds) => {
          const compiled = compile(load(policy));
          fc.modelRun(
            () => ({
              model: { policy, windows: policyWindows(policy), t: start, consumed: new Map() },
              real: { compiled, state: createState(compiled) },
            }),
            cmds,
          );
        },
      ),
      { numRuns: 600 },
    );
  });

  it("the model's counts are not vacuous: it sees allows, rate limits and retries", () => {
    // A fixed, hand-checked run through the model and the engine together.
    const policy: PolicyObj = {
      version: "1",
      tools: {
        "a*": {
          limits: [
            { counter: "c", window: 1, max: 2, scope: "grant" },
            { counter: "c", window: "minute", max: 3, scope: "grant" },
          ],
        },
        ab: { limits: [{ counter: "c", window: 1, max: 2, scope: "grant", algorithm: "fixed" }] },
      },
    };
    const compiled = compile(load(policy));
    const state = createState(compiled);
    const m: Model = { policy, windows: policyWindows(policy), t: 0, consumed: new Map() };
    const calls: [string, string, number][] = [
      ["abc", "s1", 0],
      ["abc", "s2", 0],
      ["abc", "s1", 999],
      ["ab", "s1", 1000],
      ["abc", "s1", 1000],
      ["abc", "s1", 1999],
    ];
    const got = calls.map(([tool, session, ts]) => {
      const call = { tool, identity: "alice", session, ts };
      const want = modelDecide(m, call);
      const d = decide(compiled, call, state);
      expect(d).toEqual(want);
      return [d.code, d.retry_after_ms];
    });
    expect(got).toEqual([
      ["rule_allow", null],
      ["rule_allow", null],
      ["rate_limited", 1], // (−1000, 999] holds 2: the one at 0 leaves at 1000
      ["rule_allow", null], // fixed window [1000, 2000) is empty
      ["rate_limited", 59_000], // the minute holds 3: drops to 2 when 0 leaves at 60000
      ["rate_limited", 58_001],
    ]);
  });
});

describe("shorthand counters are private to their rule", () => {
  // SPEC 1: `rate_limit` is "one limit with scope session and a counter private to that rule".
  // A top-level pattern that spells a grant's display name ("grants.a:x") once shared the
  // grant rule's count, because private counters were keyed by that string.
  it("two rules' rate_limit shorthands never share a count", () => {
    const policy: PolicyObj = {
      version: "1",
      tools: { "grants.a:x": { rate_limit: { max: 1, window: 60 } } },
      grants: { a: { tools: { x: { rate_limit: { max: 1, window: 60 } } } } },
    };
    const compiled = compile(load(policy));
    const state = createState(compiled);
    const first = decide(
      compiled,
      { tool: "grants.a:x", identity: "a", session: "s", ts: 0 },
      state,
    );
    const second = decide(compiled, { tool: "x", identity: "a", session: "s", ts: 1 }, state);
    expect([first.code, second.code]).toEqual(["rule_allow", "rule_allow"]);
  });
});

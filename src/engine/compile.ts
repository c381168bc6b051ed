import type { Action, Limit, Policy, Rule, WindowSpec } from "../policy/schema.js";
import { type CompiledCondition, compileCondition } from "./conditions.js";
import { compileGlob, type Glob, isGlob, specificity } from "./glob.js";
import { plain } from "./plain.js";
import type { Decision, Scope } from "./types.js";

const WINDOW_MS: Record<string, number> = {
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

/** A window spec in integer milliseconds. */
export function windowMs(w: WindowSpec): number {
  return typeof w === "string" ? WINDOW_MS[w]! : Math.round(w * 1000);
}

export const SCOPE_INDEX = { grant: 0, session: 1, global: 2 } as const;

export interface CompiledLimit {
  /** Index into the policy's counters (and the state's per-counter slots). */
  counter: number;
  counterName: string;
  scope: Scope;
  scopeIndex: 0 | 1 | 2;
  windowMs: number;
  max: number;
  fixed: boolean;
}

export interface CompiledRule {
  pattern: string;
  action: Action;
  reason: string | null;
  denyIf: CompiledCondition[];
  require: CompiledCondition[];
  limits: CompiledLimit[];
  /** The distinct (counter, scope) keys an allowed call consumes on, once each. */
  consumes: { counter: number; scopeIndex: 0 | 1 | 2 }[];
  /**
   * The decision this rule gives whatever the call (its deny, its approval, or its exact
   * allow), made once and shared, frozen: most calls end here, and a million identical small
   * objects would only feed the garbage collector.
   */
  fixed: Readonly<Decision>;
}

interface RuleMap {
  exact: Map<string, CompiledRule>;
  /** Globs, most specific first; ties keep the order written (SPEC section 2, step 2). */
  globs: { re: Glob; rule: CompiledRule }[];
}

interface HideSet {
  exact: Set<string>;
  globs: Glob[];
}

/** What a tool name resolves to for one grant (or for identities without a grant). */
export type Resolution =
  { kind: "hidden" } | { kind: "rule"; rule: CompiledRule } | { kind: "default"; action: Action };

/** Resolutions are cached per tool name; past this many names a map stops growing. */
const CACHE_LIMIT = 50_000;

export class Resolver {
  private readonly cache = new Map<string, Resolution>();
  constructor(
    private readonly maps: RuleMap[],
    private readonly hides: HideSet[],
    private readonly defaultAction: Action,
  ) {}

  /** The hidden flag, rule or default that SPEC section 2 steps 1-2 give for a tool. */
  resolve(tool: string): Resolution {
    let r = this.cache.get(tool);
    if (r === undefined) {
      r = this.compute(tool);
      if (this.cache.size < CACHE_LIMIT) this.cache.set(tool, r);
    }
    return r;
  }

  private compute(tool: string): Resolution {
    for (const h of this.hides) {
      if (h.exact.has(tool) || h.globs.some((re) => re.test(tool))) return HIDDEN_RESOLUTION;
    }
    for (const m of this.maps) {
      const exact = m.exact.get(tool);
      if (exact) return ruleResolution(exact);
      for (const g of m.globs) if (g.re.test(tool)) return ruleResolution(g.rule);
    }
    return DEFAULT_RESOLUTION[this.defaultAction];
  }
}

// One Resolution object per outcome, however many tools and grants resolve to it: a replay
// keeps one per group of calls, and a few hundred shared objects stay in the CPU's cache where
// one per tool and grant would not.
// Not frozen: a frozen object has a hidden class of its own, and decide()'s loads of `kind`
// would see more shapes. Treat them as read-only.
const HIDDEN_RESOLUTION: Resolution = { kind: "hidden" };
const DEFAULT_RESOLUTION: Record<Action, Resolution> = {
  allow: { kind: "default", action: "allow" },
  deny: { kind: "default", action: "deny" },
  require_approval: { kind: "default", action: "require_approval" },
};
const RULE_RESOLUTIONS = new WeakMap<CompiledRule, Resolution>();
function ruleResolution(rule: CompiledRule): Resolution {
  let r = RULE_RESOLUTIONS.get(rule);
  if (r === undefined) {
    r = { kind: "rule", rule };
    RULE_RESOLUTIONS.set(rule, r);
  }
  return r;
}

export interface CounterInfo {
  name: string;
  /** The longest window of any limit on this counter: older consumptions can never count. */
  horizonMs: number;
  /** A rule's `rate_limit` shorthand counter, which no other rule shares whatever its name. */
  isPrivate: boolean;
}

/** A policy prepared for fast decisions; build once with compile(), share freely. */
export interface CompiledPolicy {
  policy: Policy;
  counters: CounterInfo[];
  /** For identities that have no grant. */
  base: Resolver;
  grants: Map<string, Resolver>;
  /** Some rule has conditions: only then can a decision depend on a call's arguments. */
  needsArguments: boolean;
}

/** Prepare a validated policy for decide(): patterns, conditions and counters resolved once. */
export function compile(policy: Policy): CompiledPolicy {
  const counters: CounterInfo[] = [];
  const counterIds = new Map<string, number>();
  let privateCounters = 0;
  // `key` identifies the count: a user-named counter by its name, a rule's private shorthand
  // counter by a serial number no name can spell, so no two rules ever share one.
  let needsArguments = false;
  const counterId = (key: string, name: string, ms: number, isPrivate: boolean): number => {
    let id = counterIds.get(key);
    if (id === undefined) {
      id = counters.length;
      counterIds.set(key, id);
      counters.push({ name, horizonMs: ms, isPrivate });
    } else {
      const info = counters[id]!;
      if (ms > info.horizonMs) info.horizonMs = ms;
    }
    return id;
  };

  const compileLimit = (l: Limit, isPrivate: boolean): CompiledLimit => {
    const ms = windowMs(l.window);
    const scope = l.scope ?? "session";
    const key = isPrivate ? `\u0000private#${privateCounters++}` : `name:${l.counter}`;
    return {
      counter: counterId(key, l.counter, ms, isPrivate),
      counterName: l.counter,
      scope,
      scopeIndex: SCOPE_INDEX[scope],
      windowMs: ms,
      max: l.max,
      fixed: l.algorithm === "fixed",
    };
  };

  const compileRule = (pattern: string, rule: Rule, owner: string): CompiledRule => {
    const limits = (rule.limits ?? []).map((l) => compileLimit(l, false));
    if (rule.rate_limit) {
      const name = `rate_limit(${owner}${pattern})`;
      limits.push(
        compileLimit(
          {
            counter: name,
            window: rule.rate_limit.window,
            max: rule.rate_limit.max,
            scope: "session",
          },
          true,
        ),
      );
    }
    const consumes: CompiledRule["consumes"] = [];
    for (const l of limits) {
      if (!consumes.some((c) => c.counter === l.counter && c.scopeIndex === l.scopeIndex)) {
        consumes.push({ counter: l.counter, scopeIndex: l.scopeIndex });
      }
    }
    const action = rule.action ?? "allow";
    const reason = rule.reason ?? null;
    if (rule.deny_if?.length || rule.require?.length) needsArguments = true;
    const fixed = Object.freeze(
      action === "deny"
        ? plain("deny", "rule_deny", pattern, reason, false)
        : action === "require_approval"
          ? plain("approval_required", "approval_required", pattern, reason, false)
          : plain("allow", "rule_allow", pattern, null, false),
    );
    return {
      pattern,
      fixed,
      action,
      reason,
      denyIf: (rule.deny_if ?? []).map(compileCondition),
      require: (rule.require ?? []).map(compileCondition),
      limits,
      consumes,
    };
  };

  const compileMap = (tools: Record<string, Rule> | undefined, owner: string): RuleMap => {
    const exact = new Map<string, CompiledRule>();
    const globs: { re: Glob; rule: CompiledRule; spec: number; order: number }[] = [];
    let order = 0;
    for (const [pattern, rule] of Object.entries(tools ?? {})) {
      const compiled = compileRule(pattern, rule, owner);
      if (isGlob(pattern))
        globs.push({
          re: compileGlob(pattern),
          rule: compiled,
          spec: specificity(pattern),
          order: order++,
        });
      else exact.set(pattern, compiled);
    }
    globs.sort((a, b) => b.spec - a.spec || a.order - b.order);
    return { exact, globs: globs.map(({ re, rule }) => ({ re, rule })) };
  };

  const compileHide = (patterns: string[] | undefined): HideSet => {
    const exact = new Set<string>();
    const globs: Glob[] = [];
    for (const p of patterns ?? []) {
      if (isGlob(p)) globs.push(compileGlob(p));
      else exact.add(p);
    }
    return { exact, globs };
  };

  const topRules = compileMap(policy.tools, "");
  const topHide = compileHide(policy.hide);
  const topDefault = policy.default ?? "deny";
  const grants = new Map<string, Resolver>();
  for (const [identity, grant] of Object.entries(policy.grants ?? {})) {
    grants.set(
      identity,
      new Resolver(
        [compileMap(grant.tools, `grants.${identity}:`), topRules],
        [topHide, compileHide(grant.hide)],
        grant.default ?? topDefault,
      ),
    );
  }
  return {
    policy,
    counters,
    base: new Resolver([topRules], [topHide], topDefault),
    grants,
    needsArguments,
  };
}

import type { CompiledPolicy } from "../engine/index.js";
import { isGlob, specificity } from "../engine/glob.js";
import { formatPath, type LoadedPolicy, policyLocator } from "../policy/load.js";
import type { Action } from "../policy/schema.js";
import { matches } from "./patterns.js";

/** One rule (`tools` entry) or hide entry of the policy, and where it sits in the file. */
export interface RuleRef {
  kind: "rule" | "hide";
  pattern: string;
  /** The grant's identity, or null for the top level. */
  grant: string | null;
  /** JSON path: `tools.fleet_*`, `grants.ci-bot.tools.fleet_*`, `hide[0]`. */
  path: string;
  line: number | null;
  column: number | null;
}

/** A grant, and where it sits in the file. */
export interface GrantRef {
  identity: string;
  path: string;
  line: number | null;
  column: number | null;
  /** How many rules and hide entries it holds. */
  entries: number;
}

/**
 * Who would decide a call of one tool for one viewer (SPEC section 2 steps 1-2): the hide
 * entries that match it (all of them: hiding has no precedence), the rule that wins, or the
 * default.
 */
export type Taker =
  | { kind: "hide"; refs: RuleRef[] }
  | { kind: "rule"; ref: RuleRef }
  | { kind: "default"; action: Action };

/**
 * Whose view of the policy a call gets: null for identities without a grant, else the grant's
 * identity (its rules and hide entries, then the top level's).
 */
export type Viewer = string | null;

/**
 * The policy's rules as addressable things: their positions, their precedence, and who takes a
 * tool for a viewer. Deciding who takes a tool goes through the compiled policy, so precedence
 * is the engine's own, never a second implementation of it.
 */
export class PolicyIndex {
  /** Every rule and hide entry in file order: top level first, then each grant. */
  readonly refs: RuleRef[] = [];
  readonly grants: GrantRef[] = [];
  private readonly rulesByOwner = new Map<Viewer, Map<string, RuleRef>>();
  private readonly hidesByOwner = new Map<Viewer, RuleRef[]>();
  /** Globs of each map in the engine's order: most specific first, ties as written. */
  private readonly globOrder = new Map<Viewer, RuleRef[]>();

  constructor(
    readonly loaded: LoadedPolicy,
    readonly compiled: CompiledPolicy,
  ) {
    const at = policyLocator(loaded.text);
    const place = (path: (string | number)[], onKey: boolean) => {
      const pos = at(path, onKey);
      return { path: formatPath(path), line: pos.line ?? null, column: pos.column ?? null };
    };
    const policy = loaded.policy;
    const addOwner = (
      grant: string | null,
      prefix: string[],
      tools: Record<string, unknown> | undefined,
      hide: string[] | undefined,
    ): number => {
      const rules = new Map<string, RuleRef>();
      const globs: { ref: RuleRef; order: number }[] = [];
      for (const pattern of Object.keys(tools ?? {})) {
        const ref: RuleRef = {
          kind: "rule",
          pattern,
          grant,
          ...place([...prefix, "tools", pattern], true),
        };
        rules.set(pattern, ref);
        this.refs.push(ref);
        if (isGlob(pattern)) globs.push({ ref, order: globs.length });
      }
      globs.sort(
        (a, b) => specificity(b.ref.pattern) - specificity(a.ref.pattern) || a.order - b.order,
      );
      const hides = (hide ?? []).map((pattern, i): RuleRef => ({
        kind: "hide",
        pattern,
        grant,
        ...place([...prefix, "hide", i], false),
      }));
      this.refs.push(...hides);
      this.rulesByOwner.set(grant, rules);
      this.hidesByOwner.set(grant, hides);
      this.globOrder.set(
        grant,
        globs.map((g) => g.ref),
      );
      return rules.size + hides.length;
    };
    addOwner(null, [], policy.tools, policy.hide);
    for (const [identity, grant] of Object.entries(policy.grants ?? {})) {
      const entries = addOwner(identity, ["grants", identity], grant.tools, grant.hide);
      this.grants.push({ identity, entries, ...place(["grants", identity], true) });
    }
  }

  /** The viewer a call of this identity gets. */
  viewerOf(identity: string): Viewer {
    return this.compiled.grants.has(identity) ? identity : null;
  }

  /** The viewers a rule or hide entry applies to: its grant's, or (top level) every one. */
  viewersOf(ref: RuleRef): Viewer[] {
    return ref.grant !== null ? [ref.grant] : [null, ...this.grants.map((g) => g.identity)];
  }

  /** The rules of the top level (null) or of one grant, by pattern. */
  rulesOf(owner: Viewer): ReadonlyMap<string, RuleRef> {
    return this.rulesByOwner.get(owner) ?? new Map();
  }

  /** The hide entries that apply to a viewer: the top level's, then its grant's. */
  hidesFor(viewer: Viewer): RuleRef[] {
    const top = this.hidesByOwner.get(null) ?? [];
    return viewer === null ? top : [...top, ...(this.hidesByOwner.get(viewer) ?? [])];
  }

  /** The globs of one map that the engine tries before `ref` (which must be a glob there). */
  globsBefore(ref: RuleRef): RuleRef[] {
    const order = this.globOrder.get(ref.grant) ?? [];
    return order.slice(0, order.indexOf(ref));
  }

  /**
   * The rule that decided a call, from its decision's pattern: a grant's rule when the caller's
   * grant has one so named (the grant's map is tried first, and within one map a pattern is
   * unique), else the top level's.
   */
  ruleFor(viewer: Viewer, pattern: string): RuleRef | undefined {
    if (viewer !== null) {
      const own = this.rulesOf(viewer).get(pattern);
      if (own) return own;
    }
    return this.rulesOf(null).get(pattern);
  }

  /** Who decides a call of `tool` for `viewer`, as the engine resolves it. */
  taker(viewer: Viewer, tool: string): Taker {
    const resolver =
      viewer === null
        ? this.compiled.base
        : (this.compiled.grants.get(viewer) ?? this.compiled.base);
    const res = resolver.resolve(tool);
    if (res.kind === "hidden") {
      return { kind: "hide", refs: this.hidesFor(viewer).filter((h) => matches(h.pattern, tool)) };
    }
    if (res.kind === "default") return { kind: "default", action: res.action };
    const ref = this.ruleFor(viewer, res.rule.pattern);
    // Unreachable for a policy compiled from the same file; a bug if it ever happens.
    if (!ref)
      throw new Error(`check: the engine chose a rule "${res.rule.pattern}" not in the file`);
    return { kind: "rule", ref };
  }

  /** The default action a viewer gets: its grant's, else the top level's. */
  defaultFor(viewer: Viewer): Action {
    const top = this.loaded.policy.default ?? "deny";
    const grants = this.loaded.policy.grants ?? {};
    if (viewer === null || !Object.hasOwn(grants, viewer)) return top;
    return grants[viewer]?.default ?? top;
  }
}

/** `fleet_*`, `fleet_* (grant ci-bot)`, `hide fleet_secrets_* (grant anonymous)`. */
export function describeRef(ref: RuleRef): string {
  const what = ref.kind === "hide" ? `hide ${ref.pattern}` : ref.pattern;
  return ref.grant === null ? what : `${what} (grant ${ref.grant})`;
}

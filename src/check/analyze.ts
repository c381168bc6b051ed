import { isGlob } from "../engine/glob.js";
import type { Action } from "../policy/schema.js";
import type { Evidence, RuleTally } from "./evidence.js";
import { covers, isCatchAll, matches } from "./patterns.js";
import type { GrantRef, PolicyIndex, RuleRef, Taker, Viewer } from "./policy-index.js";
import { type UnsharedCounters, unsharedCounters } from "./shared-state.js";

// The checks. Definitions (the README's `check` section says the same for users):
//
// - A rule *reached* a call when it is the rule that decided it: the engine's step 2 chose it,
//   whatever the outcome (allow, its deny, a failed condition, a rate limit). Which rule decides
//   depends only on the tool and the identity, never on counters or arguments; the calls are
//   still replayed with the real engine in recorded order, so the tallies are real decisions. A
//   hide entry reached a call it hid, or a tool it took out of a tools/list answer in a session
//   it applies to. A grant's rules apply only to its identity: a grant whose identity never
//   appears is one finding (unseen identity), not one per rule.
// - The *known tools* are every tool name in any tools/list answer plus every tool called.
// - A rule *can never win* (certain) when, for every identity it applies to, something the
//   engine tries first matches every name it matches: a hide entry, a rule of the caller's grant
//   (for a top-level rule seen through a grant), or an earlier glob of its own map. "Matches
//   every name" is decided symbolically (patterns.covers), so this holds for tools not yet seen.
// - A rule *wins none of the known tools it matches* when it matches some known tools and, for
//   every identity it applies to, each of them is taken by a hide entry or another rule. Not
//   certain: a tool added later could still reach it.
// - A top-level rule that only one grant's view shadows is *overridden* by that grant: a note,
//   since overriding is what grants are for.
// - A listed tool is *unnamed* when no pattern in the policy but a catch-all (one without a
//   literal character, such as `*`) matches it, rules and hide entries of every grant included.
// - A call is *unlisted* when its tool is missing from every tools/list answer of its session;
//   a session with no answer is judged by the answers its server (same name) gave other
//   sessions of the same recording, and one with neither is not judged.
// - Counters are *unshared* when the calls counted on one key of a grant- or global-scoped
//   limit were decided against more than one state of the counters: several proxies each with
//   its own (shared-state.ts says how a session's state is told).

export type Severity = "warning" | "note";
export type Certainty = "certain" | "known_tools";

/** What took a known tool from a shadowed rule. */
export interface TakenTool {
  tool: string;
  by: RuleRef[];
}

export type Finding =
  | {
      kind: "unreached_rule";
      severity: "warning";
      rule: RuleRef;
      /** shadowed: see its shadowed_rule finding; no_known_tool: matches no known tool;
       * not_called: it would decide `would_decide`, but no recorded call was one of those. */
      reason: "shadowed" | "no_known_tool" | "not_called";
      would_decide: string[];
    }
  | { kind: "unseen_identity"; severity: "warning"; grant: GrantRef }
  | {
      kind: "unnamed_tool";
      severity: "warning";
      tool: string;
      sessions: number;
      servers: string[];
      /** Catch-all rules that match it (it is then theirs, not the default's). */
      caught_by: RuleRef[];
    }
  | {
      kind: "shadowed_rule";
      severity: "warning";
      rule: RuleRef;
      certainty: Certainty;
      /** What takes its names: for `certain`, patterns that match every name it matches. */
      by: RuleRef[];
      /** For `known_tools`: each known tool it matches and what takes it. */
      tools: TakenTool[] | null;
    }
  | {
      kind: "overridden_rule";
      severity: "note";
      rule: RuleRef;
      grant: string;
      certainty: Certainty;
      by: RuleRef[];
      tools: TakenTool[] | null;
    }
  | {
      kind: "unlisted_call";
      severity: "warning";
      tool: string;
      calls: number;
      sessions: number;
      identities: string[];
      servers: string[];
      /** The decision codes the checked policy gives these calls. */
      codes: Record<string, number>;
    }
  | ({ kind: "unshared_counters"; severity: "warning" } & UnsharedCounters);

export type FindingKind = Finding["kind"];

/** The order findings are reported in. */
export const FINDING_KINDS: readonly FindingKind[] = [
  "unreached_rule",
  "unseen_identity",
  "shadowed_rule",
  "unnamed_tool",
  "unlisted_call",
  "unshared_counters",
  "overridden_rule",
];

export interface CheckResult {
  findings: Finding[];
  /** Per rule and hide entry, what it decided in the replay (empty without recordings). */
  tallies: { rule: RuleRef; tally: RuleTally }[];
  defaults: { grant: string | null; action: Action }[];
}

interface Shadow {
  certainty: Certainty;
  by: RuleRef[];
  tools: TakenTool[] | null;
}

/**
 * Every finding for the policy, against the recordings' evidence when there is some (null: only
 * the checks that need no recording, i.e. the certain shadowing).
 */
export function analyze(index: PolicyIndex, ev: Evidence | null): CheckResult {
  const findings: Finding[] = [];
  const known = ev ? [...new Set([...ev.listed.keys(), ...ev.called])].sort() : [];
  const unseen = new Set(
    ev ? index.grants.filter((g) => !ev.identities.has(g.identity)).map((g) => g.identity) : [],
  );

  const shadowedForAll = new Set<RuleRef>();
  for (const ref of index.refs) {
    if (ref.kind !== "rule") continue;
    const [home, ...others] = index.viewersOf(ref);
    const own = shadow(index, ref, home!, known);
    if (own) {
      shadowedForAll.add(ref);
      findings.push({ kind: "shadowed_rule", severity: "warning", rule: ref, ...own });
      continue;
    }
    for (const grant of others) {
      const s = shadow(index, ref, grant, known);
      if (s)
        findings.push({
          kind: "overridden_rule",
          severity: "note",
          rule: ref,
          grant: grant!,
          ...s,
        });
    }
  }

  if (ev) {
    for (const g of index.grants) {
      if (unseen.has(g.identity))
        findings.push({ kind: "unseen_identity", severity: "warning", grant: g });
    }
    for (const ref of index.refs) {
      if (ref.grant !== null && unseen.has(ref.grant)) continue;
      if (ref.kind === "rule" && (ev.hits.get(ref)?.calls ?? 0) > 0) continue;
      if (ref.kind === "hide" && ((ev.hits.get(ref)?.calls ?? 0) > 0 || ev.hidFromLists.has(ref)))
        continue;
      const matching = known.filter((t) => matches(ref.pattern, t));
      const would = wouldDecide(index, ref, matching, ev);
      const reason = shadowedForAll.has(ref)
        ? "shadowed"
        : matching.length === 0
          ? "no_known_tool"
          : "not_called";
      findings.push({
        kind: "unreached_rule",
        severity: "warning",
        rule: ref,
        reason,
        would_decide: reason === "not_called" ? would : [],
      });
    }
    for (const [tool, listed] of [...ev.listed].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const naming = index.refs.filter((r) => matches(r.pattern, tool));
      if (naming.some((r) => !isCatchAll(r.pattern))) continue;
      findings.push({
        kind: "unnamed_tool",
        severity: "warning",
        tool,
        sessions: listed.sessions,
        servers: [...listed.servers].sort(),
        caught_by: naming.filter((r) => r.kind === "rule"),
      });
    }
    for (const [tool, u] of [...ev.unlisted].sort(([a], [b]) => (a < b ? -1 : 1))) {
      findings.push({
        kind: "unlisted_call",
        severity: "warning",
        tool,
        calls: u.calls,
        sessions: u.sessions.size,
        identities: [...u.identities].sort(),
        servers: [...u.servers].sort(),
        codes: Object.fromEntries([...u.codes].sort(([, a], [, b]) => b - a)),
      });
    }
    const unshared = unsharedCounters(ev.shared);
    if (unshared) findings.push({ kind: "unshared_counters", severity: "warning", ...unshared });
  }

  findings.sort((a, b) => FINDING_KINDS.indexOf(a.kind) - FINDING_KINDS.indexOf(b.kind));
  return {
    findings,
    tallies: ev
      ? index.refs.flatMap((rule) => {
          const tally = ev.hits.get(rule);
          return tally ? [{ rule, tally }] : [];
        })
      : [],
    defaults: [null, ...index.grants.map((g) => g.identity)]
      .filter((v) => v === null || index.loaded.policy.grants?.[v]?.default !== undefined)
      .map((grant) => ({ grant, action: index.defaultFor(grant) })),
  };
}

/**
 * Whether `ref` can win no call for `viewer`: certainly (a pattern tried first covers it), or on
 * the known tools (each one it matches goes elsewhere). Null when it can win something.
 */
function shadow(index: PolicyIndex, ref: RuleRef, viewer: Viewer, known: string[]): Shadow | null {
  const first: RuleRef[] = [...index.hidesFor(viewer)];
  if (ref.grant === null && viewer !== null) {
    // Through a grant, all of the grant's rules come before every top-level one.
    first.push(...index.rulesOf(viewer).values());
  }
  // Within its own map an exact name beats every glob, so only a glob has rivals there.
  if (isGlob(ref.pattern)) first.push(...index.globsBefore(ref));
  const by = first.filter((r) => covers(r.pattern, ref.pattern));
  if (by.length > 0) return { certainty: "certain", by, tools: null };

  const matching = known.filter((t) => matches(ref.pattern, t));
  if (matching.length === 0) return null;
  const tools: TakenTool[] = [];
  for (const tool of matching) {
    const taker = index.taker(viewer, tool);
    if (taker.kind === "rule" && taker.ref === ref) return null;
    tools.push({ tool, by: takerRefs(taker) });
  }
  const all = [...new Set(tools.flatMap((t) => t.by))];
  return { certainty: "known_tools", by: all, tools };
}

function takerRefs(t: Taker): RuleRef[] {
  return t.kind === "hide" ? t.refs : t.kind === "rule" ? [t.ref] : [];
}

/** The known tools `ref` would decide (a rule) or hide (a hide entry) for a seen viewer. */
function wouldDecide(index: PolicyIndex, ref: RuleRef, matching: string[], ev: Evidence): string[] {
  const viewers = index.viewersOf(ref).filter((v) => v === null || ev.identities.has(v));
  return matching.filter((tool) =>
    viewers.some((v) => {
      const t = index.taker(v, tool);
      return ref.kind === "hide"
        ? t.kind === "hide" && t.refs.includes(ref)
        : t.kind === "rule" && t.ref === ref;
    }),
  );
}

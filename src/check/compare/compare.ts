import {
  type CompiledPolicy,
  compile,
  createState,
  decide,
  type Decision,
  isHidden,
  resolve,
  windowMs,
} from "../../engine/index.js";
import type { Condition, Policy, Rule } from "../../policy/schema.js";
import {
  decideRun,
  describeLimits,
  type Participant,
  ruleOf,
  searchLimits,
  toCalls,
} from "./limits.js";
import { selfCheck } from "./self-check.js";
import {
  CLASS_ORDER,
  type CompareResult,
  EXAMPLE_START,
  type Finding,
  type Outcome,
  sessionOf,
  type Undecided,
} from "./types.js";
import { allPatterns, type Identity, identities, type Tool, toolUniverse } from "./universe.js";
import { argumentSpace, findArguments } from "./witnesses.js";

// What NEW allows that OLD did not, for any call: over every identity either policy names (and
// one for all others), every tool name the patterns tell apart, the arguments their conditions
// tell apart, and runs of calls their limits tell apart.

export interface CompareOptions {
  /** Only these identities (each may be one no grant names). */
  identities?: string[];
  /** The seed of the search for call sequences. */
  seed?: number;
  /** Runs of that search per caller with limits. */
  numRuns?: number;
}

export const DEFAULT_SEED = 42;

const LEVEL = { deny: 0, approval_required: 1, allow: 2 } as const;

const outcome = (d: Decision): Outcome => ({ decision: d.decision, code: d.code, rule: d.rule });

/** Decide one call alone, with fresh counters. */
function decideOne(
  c: CompiledPolicy,
  identity: string,
  tool: string,
  args: Record<string, unknown>,
): Decision {
  return decide(
    c,
    { identity, tool, session: sessionOf(identity), ts: EXAMPLE_START, arguments: args },
    createState(c),
  );
}

/** The rule (as written) that a call of `tool` by `identity` goes to, if it goes to one. */
function writtenRule(c: CompiledPolicy, identity: string, tool: string): Rule | null {
  const res = resolve(c, identity, tool);
  if (res.kind !== "rule") return null;
  const grants = c.policy.grants ?? {};
  const grant = Object.hasOwn(grants, identity) ? grants[identity] : undefined;
  // A grant's map is looked in first, and one pattern decides the same names in either map.
  const own = grant?.tools?.[res.rule.pattern];
  return own ?? c.policy.tools?.[res.rule.pattern] ?? null;
}

const conditionsOf = (r: Rule | null): Condition[] => [
  ...(r?.deny_if ?? []),
  ...(r?.require ?? []),
];

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Compare NEW with OLD: every way NEW gives more, with an example that proves it. */
export function compare(
  oldPolicy: Policy,
  newPolicy: Policy,
  opts: CompareOptions = {},
): CompareResult {
  const seed = opts.seed ?? DEFAULT_SEED;
  const oldC = compile(oldPolicy);
  const newC = compile(newPolicy);
  const universe = toolUniverse(allPatterns([oldPolicy, newPolicy]));
  // A second generated identity only takes part in runs of calls (another caller on a shared
  // count); it decides as the first does, so it is never the subject of a finding.
  const everyone = identities([oldPolicy, newPolicy], 2);
  const subjects: Identity[] = opts.identities
    ? [...new Set(opts.identities)].map((name) => ({
        name,
        other: false,
      }))
    : everyone.slice(0, -1);

  const findings: Finding[] = [];
  const undecided: Undecided[] = [];
  const participants: Participant[] = [];
  const singles = new Set<string>();

  const base = (identity: Identity, tool: Tool) => ({
    identity: identity.name,
    other_identity: identity.other,
    tool: tool.name,
    generated_tool: tool.generated,
    patterns: tool.patterns,
  });

  for (const identity of everyone.concat(
    subjects.filter((s) => !everyone.some((e) => e.name === s.name)),
  )) {
    const isSubject = subjects.some((s) => s.name === identity.name);
    for (const tool of universe.tools) {
      const rOld = writtenRule(oldC, identity.name, tool.name);
      const rNew = writtenRule(newC, identity.name, tool.name);
      const conds = [...conditionsOf(rOld), ...conditionsOf(rNew)];
      const space = argumentSpace(conds);
      const dOld = (a: Record<string, unknown>) => decideOne(oldC, identity.name, tool.name, a);
      const dNew = (a: Record<string, unknown>) => decideOne(newC, identity.name, tool.name, a);
      // Both allow it: a caller for runs of calls.
      const both = findArguments(
        space,
        (a) => dOld(a).decision === "allow" && dNew(a).decision === "allow",
      );
      if (both.args) {
        participants.push({
          identity: identity.name,
          tool: tool.name,
          args: both.args,
          conditioned: conds.length > 0,
        });
      }
      if (!isSubject) continue;

      const more = (want: number) =>
        findArguments(space, (a) => {
          const n = LEVEL[dNew(a).decision];
          return n === want && LEVEL[dOld(a).decision] < n;
        });
      const allowed = more(2);
      const found = allowed.args ? allowed : more(1);
      if (found.args) {
        const o = dOld(found.args);
        const n = dNew(found.args);
        const cls =
          n.decision === "approval_required"
            ? "newly_approvable"
            : o.code === "rate_limited"
              ? "limits_loosened"
              : o.code === "condition_deny" || o.code === "requirement_failed"
                ? "arguments_allowed"
                : "newly_allowed";
        findings.push({
          class: cls,
          ...base(identity, tool),
          old: outcome(o),
          new: outcome(n),
          example: [
            {
              identity: identity.name,
              tool: tool.name,
              session: sessionOf(identity.name),
              offset_ms: 0,
              arguments: found.args,
            },
          ],
          decisive: 0,
          any_arguments: conds.length === 0,
          ...(cls === "limits_loosened"
            ? { limits: limitWords(oldC, newC, identity.name, tool.name) }
            : {}),
        });
        singles.add(`${identity.name}\u0000${tool.name}`);
        continue;
      }
      const unsure = !allowed.exhausted || space.gaps.length > 0;
      if (unsure && rNew && (rNew.action ?? "allow") === "allow" && conds.length > 0) {
        const why = [
          ...space.gaps,
          ...(allowed.exhausted ? [] : ["too many argument combinations to try them all"]),
        ];
        undecided.push({ identity: identity.name, tool: tool.name, why: why.join("; ") });
      }
      if (isHidden(oldC, identity.name, tool.name) && !isHidden(newC, identity.name, tool.name)) {
        const args = both.args ?? {};
        findings.push({
          class: "newly_visible",
          ...base(identity, tool),
          old: outcome(dOld(args)),
          new: outcome(dNew(args)),
          example: [
            {
              identity: identity.name,
              tool: tool.name,
              session: sessionOf(identity.name),
              offset_ms: 0,
              arguments: args,
            },
          ],
          decisive: 0,
          any_arguments: conds.length === 0,
        });
      }
    }
  }

  findings.push(
    ...limitFindings(
      oldC,
      newC,
      subjects,
      universe.tools,
      participants,
      singles,
      seed,
      opts.numRuns ?? 200,
    ),
  );

  const internal: string[] = [];
  const checked = findings.filter((f) => {
    const why = selfCheck(oldC, newC, f);
    if (why !== null) internal.push(`${f.class} ${f.identity} ${f.tool}: ${why}`);
    return why === null;
  });
  const rank = (f: { identity: string }) =>
    everyone.find((e) => e.name === f.identity)?.other ? 1 : 0;
  checked.sort(
    (a, b) =>
      rank(a) - rank(b) ||
      byName(a.identity, b.identity) ||
      byName(a.tool, b.tool) ||
      CLASS_ORDER.indexOf(a.class) - CLASS_ORDER.indexOf(b.class),
  );
  undecided.sort(
    (a, b) => rank(a) - rank(b) || byName(a.identity, b.identity) || byName(a.tool, b.tool),
  );
  return {
    findings: checked,
    undecided,
    identities: subjects.map((s) => s.name),
    tools: universe.tools.length,
    tools_complete: universe.complete,
    seed,
    internal_errors: internal,
  };
}

function limitWords(
  oldC: CompiledPolicy,
  newC: CompiledPolicy,
  identity: string,
  tool: string,
): string[] {
  const p = { identity, tool };
  return [
    `OLD limits: ${describeLimits(ruleOf(oldC, p))}`,
    `NEW limits: ${describeLimits(ruleOf(newC, p))}`,
  ];
}

/** Every limit's window in either policy, in ms. */
function windowsOf(policies: readonly CompiledPolicy[]): number[] {
  const out = new Set<number>();
  const add = (rules: Record<string, Rule> | undefined) => {
    for (const r of Object.values(rules ?? {})) {
      for (const l of r.limits ?? []) out.add(windowMs(l.window));
      if (r.rate_limit) out.add(windowMs(r.rate_limit.window));
    }
  };
  for (const c of policies) {
    add(c.policy.tools);
    for (const g of Object.values(c.policy.grants ?? {})) add(g.tools);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Runs of calls: for each caller both policies allow whose OLD rule has limits, a run NEW allows
 * and OLD does not, among the callers that count on the same counters.
 */
function limitFindings(
  oldC: CompiledPolicy,
  newC: CompiledPolicy,
  subjects: Identity[],
  tools: Tool[],
  participants: Participant[],
  singles: Set<string>,
  seed: number,
  numRuns: number,
): Finding[] {
  const windows = windowsOf([oldC, newC]);
  const out: Finding[] = [];
  const counters = (p: Participant) =>
    new Set((ruleOf(oldC, p)?.limits ?? []).map((l) => l.counter));
  for (const focus of participants) {
    const subject = subjects.find((s) => s.name === focus.identity);
    if (!subject || singles.has(`${focus.identity}\u0000${focus.tool}`)) continue;
    const rule = ruleOf(oldC, focus);
    if (!rule || rule.limits.length === 0) continue;
    const mine = counters(focus);
    // Others counting on one of the focus's counters; one per pair of rules is enough.
    const pool: Participant[] = [focus];
    const seen = new Set<string>();
    for (const p of participants) {
      if (p === focus || pool.length >= 6) continue;
      if (![...counters(p)].some((c) => mine.has(c))) continue;
      const key = `${p.identity}\u0000${ruleOf(oldC, p)?.pattern}\u0000${ruleOf(newC, p)?.pattern}`;
      if (seen.has(key)) continue;
      seen.add(key);
      pool.push(p);
    }
    const largestMax = Math.max(
      ...pool.flatMap((p) => (ruleOf(oldC, p)?.limits ?? []).map((l) => l.max)),
    );
    const found = searchLimits({
      old: oldC,
      new: newC,
      focus,
      pool,
      windows,
      largestMax,
      seed,
      numRuns,
    });
    if (!found) continue;
    const tool = tools.find((t) => t.name === focus.tool)!;
    const dOld = decideRun(oldC, toCalls(found.calls))[found.decisive]!;
    const dNew = decideRun(newC, toCalls(found.calls))[found.decisive]!;
    out.push({
      class: "limits_loosened",
      identity: focus.identity,
      other_identity: subject.other,
      tool: focus.tool,
      generated_tool: tool.generated,
      patterns: tool.patterns,
      old: outcome(dOld),
      new: outcome(dNew),
      example: found.calls,
      decisive: found.decisive,
      any_arguments: !focus.conditioned,
      limits: limitWords(oldC, newC, focus.identity, focus.tool),
    });
  }
  return out;
}

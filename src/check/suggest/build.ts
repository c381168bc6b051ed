import { compile, type CompiledPolicy, createState, decide } from "../../engine/index.js";
import { isGlob } from "../../engine/glob.js";
import { parsePolicyText } from "../../policy/load.js";
import type { Condition, Limit, Policy, Rule } from "../../policy/schema.js";
import {
  eachCall,
  MAX_VALUES,
  type SuggestEvidence,
  type SuggestFilter,
  type SuggestSource,
  type ToolUse,
} from "./evidence.js";
import {
  type Headroom,
  limitFor,
  peak,
  perWindow,
  type WindowName,
  windowMs,
  windowsFor,
} from "./rates.js";

// From evidence to a policy. Per identity, a tool is allowed when some call of it was let
// through (recorded allow, or a human approved it); kept behind approval when every call let
// through was approved by a human; otherwise left to `default: deny`. Rules are exact names
// only, so nothing is allowed that was not called. Limits come last: their peaks are counted
// over the calls the rules (without limits) allow, decided by the engine, not only over the
// calls allowed when recorded — a call refused then and allowed now consumes too.

/** Conditions are suggested only from at least this many allowed calls. */
export const MIN_CALLS_FOR_CONDITIONS = 20;

export interface SuggestOptions {
  headroom: Headroom;
  /** Suggest `require` conditions where the arguments leave no doubt. */
  conditions: boolean;
}

/** Why a tool an identity called is not allowed to it. */
export type NotAllowed =
  /** No call of it was let through. */
  | "never_allowed"
  /** A policy pattern cannot name exactly this tool (empty, `*` or `?` in it, `__proto__`). */
  | "unwritable_tool"
  /** A grant cannot be written for this identity (empty, `__proto__`, broken Unicode). */
  | "unwritable_identity";

/** What the suggestion does with one identity's tool. */
export interface Verdict {
  tool: string;
  use: ToolUse;
  action: "allow" | "require_approval" | null;
  notAllowed: NotAllowed | null;
  require: Condition[];
  /** Per window, the peak and the limit; for allowed tools only. */
  rates: { window: WindowName; peak: number; max: number }[];
  /** Written at the top level (every identity uses it the same way). */
  topLevel: boolean;
}

export interface Suggestion {
  policy: Policy;
  /** The policy's text, as written (validated by the loader). */
  text: string;
  /** Identity -> its tools' verdicts, by tool name. */
  identities: Map<string, Verdict[]>;
  /** Listed tools that no selected call used, hidden. */
  hidden: string[];
  /** Listed and never called, but a pattern cannot name exactly that tool: left to the default. */
  unhideable: string[];
  windows: WindowName[];
}

/** A name a policy can hold as an exact pattern or identity. */
export function writable(name: string): boolean {
  return name !== "" && name !== "__proto__" && wellFormed(name);
}

/** No unpaired surrogate (in `u` mode a class of surrogates matches only unpaired ones). */
function wellFormed(s: string): boolean {
  return !/[\ud800-\udfff]/u.test(s);
}

function writableTool(name: string): boolean {
  return writable(name) && !isGlob(name);
}

/**
 * The suggested policy. `sources` and `filter` are read again for the rates (the calls of the
 * range, and with `since` those of the window before it, which a replay warms up with).
 */
export function buildSuggestion(
  ev: SuggestEvidence,
  sources: readonly SuggestSource[],
  filter: SuggestFilter,
  opts: SuggestOptions,
  schema: string,
  readOpts: Parameters<typeof eachCall>[4] = {},
): Suggestion {
  const identities = new Map<string, Verdict[]>();
  for (const [identity, tools] of [...ev.uses].sort(byKey)) {
    const verdicts: Verdict[] = [];
    for (const [tool, use] of [...tools].sort(byKey))
      verdicts.push(verdict(identity, tool, use, opts));
    identities.set(identity, verdicts);
  }

  const windows = windowsFor(ev.first, ev.last);
  measureRates(identities, sources, filter, windows, opts.headroom, readOpts);

  // A tool goes to the top level when every identity has the same rule for it, and there are
  // several: one identity's tools stay in its grant, away from identities not yet seen.
  const rules = new Map<string, Map<string, Rule>>();
  for (const [identity, verdicts] of identities) {
    const own = new Map<string, Rule>();
    for (const v of verdicts) {
      const rule = ruleOf(v);
      if (rule) own.set(v.tool, rule);
    }
    rules.set(identity, own);
  }
  const top: Record<string, Rule> = {};
  const everyone = [...rules.values()];
  const candidates = new Set(everyone.flatMap((r) => [...r.keys()]));
  for (const tool of everyone.length > 1 ? [...candidates].sort() : []) {
    const first = everyone[0]?.get(tool);
    const text = first && JSON.stringify(first);
    if (!everyone.every((r) => r.has(tool) && JSON.stringify(r.get(tool)) === text)) continue;
    top[tool] = first!;
    for (const r of everyone) r.delete(tool);
    for (const verdicts of identities.values())
      for (const v of verdicts) if (v.tool === tool) v.topLevel = true;
  }

  const called = new Set([...ev.uses.values()].flatMap((t) => [...t.keys()]));
  const uncalled = [...ev.listed.keys()].filter((t) => !called.has(t)).sort();
  const hidden = uncalled.filter(writableTool);
  const unhideable = uncalled.filter((t) => !writableTool(t));

  const grants: Record<string, { tools: Record<string, Rule> }> = {};
  for (const [identity, own] of rules) {
    if (own.size > 0) grants[identity] = { tools: Object.fromEntries(own) };
  }
  const policy: Policy = {
    $schema: schema,
    version: "1",
    default: "deny",
    ...(hidden.length > 0 ? { hide: hidden } : {}),
    ...(Object.keys(top).length > 0 ? { tools: top } : {}),
    ...(Object.keys(grants).length > 0 ? { grants } : {}),
  };
  const text = JSON.stringify(policy, null, 2) + "\n";
  // The loader has the last word: a suggestion it refuses is a bug here, not bad input.
  parsePolicyText(text, "<suggested policy>");
  return { policy, text, identities, hidden, unhideable, windows };
}

function verdict(identity: string, tool: string, use: ToolUse, opts: SuggestOptions): Verdict {
  const v: Verdict = {
    tool,
    use,
    action: null,
    notAllowed: null,
    require: [],
    rates: [],
    topLevel: false,
  };
  const letThrough = use.allowed + use.approved;
  if (letThrough === 0) v.notAllowed = "never_allowed";
  else if (!writableTool(tool)) v.notAllowed = "unwritable_tool";
  else if (!writable(identity)) v.notAllowed = "unwritable_identity";
  // Approval only where every call let through was approved: a call allowed without one would
  // be held for a human in replay, with no recorded answer to apply.
  else if (use.approved > 0 && use.unapproved === 0) v.action = "require_approval";
  else {
    v.action = "allow";
    if (opts.conditions) v.require = conditionsOf(use, letThrough);
  }
  return v;
}

/** `require: in` for each argument that held one of a few plain values in every allowed call. */
function conditionsOf(use: ToolUse, letThrough: number): Condition[] {
  if (letThrough < MIN_CALLS_FOR_CONDITIONS || use.args === null) return [];
  const out: Condition[] = [];
  for (const [key, av] of [...use.args].sort(byKey)) {
    // A path is dot-separated keys: a key with a dot in it cannot be written as one.
    if (key === "" || key.includes(".") || !writable(key)) continue;
    if (av.values === null || av.present !== letThrough || av.values.size > MAX_VALUES) continue;
    const values = [...av.values].sort(byKey).map(([, value]) => value);
    out.push({ path: `args.${key}`, op: "in", value: values });
  }
  return out;
}

/** The rule a verdict writes, or null when the tool is left to the default. */
function ruleOf(v: Verdict): Rule | null {
  if (v.action === "require_approval") {
    return {
      action: "require_approval",
      reason: "a human approved each recorded call of this tool",
    };
  }
  if (v.action !== "allow") return null;
  const rule: Rule = {};
  const limits: Limit[] = v.rates.map((r) => ({
    counter: v.tool,
    window: r.window,
    max: r.max,
    scope: "grant",
    algorithm: "sliding",
  }));
  const said = v.rates.map((r) => `${r.max} ${perWindow(r.window)}`).join(", ");
  if (limits.length > 0) rule.reason = `at most ${said} per identity`;
  if (v.require.length > 0) rule.require = v.require;
  if (limits.length > 0) rule.limits = limits;
  return rule;
}

/**
 * Fill each allowed verdict's rates: replay the selected calls (and, with --since, the window
 * before it) under the rules without limits, and count the calls they allow per identity and
 * tool. Decided by the engine, so conditions count as they will in replay.
 */
function measureRates(
  identities: Map<string, Verdict[]>,
  sources: readonly SuggestSource[],
  filter: SuggestFilter,
  windows: WindowName[],
  headroom: Headroom,
  readOpts: Parameters<typeof eachCall>[4],
): void {
  const grants: Record<string, { tools: Record<string, Rule> }> = {};
  const times = new Map<string, Map<string, number[]>>();
  for (const [identity, verdicts] of identities) {
    const tools: Record<string, Rule> = {};
    for (const v of verdicts) {
      if (v.action !== "allow") continue;
      tools[v.tool] = v.require.length > 0 ? { require: v.require } : {};
      let byTool = times.get(identity);
      if (!byTool) times.set(identity, (byTool = new Map()));
      byTool.set(v.tool, []);
    }
    if (Object.keys(tools).length > 0) grants[identity] = { tools };
  }
  if (times.size === 0) return;
  const compiled: CompiledPolicy = compile({ version: "1", default: "deny", grants });
  const longest = Math.max(...windows.map(windowMs));
  const range = {
    ...(filter.since !== undefined ? { since: filter.since - longest } : {}),
    ...(filter.until !== undefined ? { until: filter.until } : {}),
  };
  // One state per file: each file is read in its own recorded order, and no rule has limits.
  const states = sources.map(() => createState(compiled));
  eachCall(
    sources,
    filter,
    range,
    (c) => {
      const d = decide(compiled, c, states[c.file]!);
      if (d.decision === "allow") times.get(c.identity)!.get(c.tool)!.push(c.ts);
    },
    readOpts,
  );
  for (const [identity, verdicts] of identities) {
    for (const v of verdicts) {
      if (v.action !== "allow") continue;
      const ts = times
        .get(identity)!
        .get(v.tool)!
        .sort((a, b) => a - b);
      v.rates = windows.map((w) => {
        const p = peak(ts, windowMs(w), filter.since);
        // At least 1: a limit of 0 would refuse the tool outright.
        return { window: w, peak: p, max: Math.max(1, limitFor(p, headroom)) };
      });
    }
  }
}

function byKey<T>([a]: [string, T], [b]: [string, T]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

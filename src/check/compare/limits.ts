import fc from "fast-check";
import {
  type Call,
  type CompiledPolicy,
  type CompiledRule,
  createState,
  decide,
  type Decision,
} from "../../engine/index.js";
import { EXAMPLE_START, type ExampleCall, sessionOf } from "./types.js";

// Limits loosened: a run of calls that NEW allows entirely and OLD does not. Found by a
// fast-check search over runs built of bursts (one caller, one session, many calls at one time)
// with gaps between them taken from the policies' windows, seeded with the runs that most
// often tell two limits apart; the run found is shrunk by fast-check, then by taking out single
// calls while it still tells them apart.

/** A caller that both policies allow, alone and with fresh counters, with these arguments. */
export interface Participant {
  identity: string;
  tool: string;
  args: Record<string, unknown>;
  /** Some condition of either policy looks at its arguments. */
  conditioned: boolean;
}

export interface LimitSearch {
  old: CompiledPolicy;
  new: CompiledPolicy;
  /** The caller whose call OLD must be the one to deny. */
  focus: Participant;
  /** Callers whose calls may count on the focus's counters (the focus first). */
  pool: Participant[];
  /** Windows (ms) of every limit of both policies. */
  windows: number[];
  /** The largest max of OLD's limits the pool's calls count on. */
  largestMax: number;
  seed: number;
  numRuns: number;
}

interface Burst {
  who: number;
  session: number;
  repeat: number;
  /** Index into the gap choices: time from the previous burst. */
  gap: number;
}

/** Longest burst tried; limits above it are not searched past (the docs say so). */
export const MAX_BURST = 300;

function gapsOf(windows: readonly number[]): number[] {
  const out = new Set<number>([0, 1]);
  for (const w of windows) for (const d of [w - 1, w, w + 1]) if (d >= 0) out.add(d);
  return [...out].sort((a, b) => a - b);
}

/** The calls of a run of bursts, in time order. */
function expand(s: LimitSearch, start: number, bursts: readonly Burst[], gaps: number[]): Call[] {
  const calls: Call[] = [];
  let t = EXAMPLE_START + start;
  bursts.forEach((b, i) => {
    if (i > 0) t += gaps[b.gap % gaps.length]!;
    const p = s.pool[b.who % s.pool.length]!;
    for (let k = 0; k < b.repeat; k++) {
      calls.push({
        identity: p.identity,
        tool: p.tool,
        session: sessionOf(p.identity, b.session),
        ts: t,
        arguments: p.args,
      });
    }
  });
  return calls;
}

/** An example's calls as the engine takes them. */
export function toCalls(example: readonly ExampleCall[]): Call[] {
  return example.map((c) => ({
    identity: c.identity,
    tool: c.tool,
    session: c.session,
    ts: EXAMPLE_START + c.offset_ms,
    arguments: c.arguments,
  }));
}

/** Decide a run with fresh counters, as replay does. */
export function decideRun(compiled: CompiledPolicy, calls: readonly Call[]): Decision[] {
  const state = createState(compiled);
  return calls.map((c) => decide(compiled, c, state));
}

/**
 * Index of the call OLD denies first, when NEW allows every call, OLD does not, and OLD's
 * first refusal is a call of the focus; else -1.
 */
function decisive(s: LimitSearch, calls: readonly Call[]): number {
  if (calls.length === 0) return -1;
  if (decideRun(s.new, calls).some((d) => d.decision !== "allow")) return -1;
  const old = decideRun(s.old, calls);
  const i = old.findIndex((d) => d.decision !== "allow");
  if (i < 0) return -1;
  const c = calls[i]!;
  return c.identity === s.focus.identity && c.tool === s.focus.tool ? i : -1;
}

/** Take out single calls while the run still tells the policies apart. */
function minimise(s: LimitSearch, calls: Call[]): Call[] {
  let cur = calls;
  for (let changed = true; changed && cur.length <= MAX_BURST;) {
    changed = false;
    for (let i = cur.length - 1; i >= 0; i--) {
      const shorter = [...cur.slice(0, i), ...cur.slice(i + 1)];
      if (decisive(s, shorter) >= 0) {
        cur = shorter;
        changed = true;
      }
    }
  }
  return cur;
}

/** The shortest run found that NEW allows entirely and OLD does not; null when none was. */
export function searchLimits(s: LimitSearch): { calls: ExampleCall[]; decisive: number } | null {
  const gaps = gapsOf(s.windows);
  const starts = [0, ...s.windows.map((w) => w - 1).filter((w) => w > 0)];
  const maxRepeat = Math.min(MAX_BURST, s.largestMax + 1);
  const burst = fc.record({
    who: fc.nat({ max: s.pool.length - 1 }),
    session: fc.integer({ min: 1, max: 2 }),
    repeat: fc.integer({ min: 1, max: maxRepeat }),
    gap: fc.nat({ max: gaps.length - 1 }),
  });
  const run = fc.tuple(
    fc.nat({ max: starts.length - 1 }),
    fc.array(burst, { minLength: 1, maxLength: 4 }),
  );
  // Seeds: the focus alone past its limit; then one more call in another session, by another
  // caller, or one window later: what a raised max, a narrower scope or a shorter window let by.
  const examples: [[number, Burst[]]][] = [];
  const focusRule = ruleOf(s.old, s.focus);
  const maxes = focusRule ? [...new Set(focusRule.limits.map((l) => l.max))] : [];
  for (const m of maxes.filter((m) => m < maxRepeat)) {
    examples.push([[0, [{ who: 0, session: 1, repeat: m + 1, gap: 0 }]]]);
    for (let g = 0; g < gaps.length; g++) {
      examples.push([
        [
          0,
          [
            { who: 0, session: 1, repeat: m, gap: 0 },
            { who: 0, session: 2, repeat: 1, gap: g },
          ],
        ],
      ]);
    }
    for (let who = 1; who < s.pool.length; who++) {
      examples.push([
        [
          0,
          [
            { who, session: 1, repeat: m, gap: 0 },
            { who: 0, session: 1, repeat: 1, gap: 0 },
          ],
        ],
      ]);
    }
    for (let st = 1; st < starts.length; st++) {
      examples.push([
        [
          st,
          [
            { who: 0, session: 1, repeat: m, gap: 0 },
            { who: 0, session: 1, repeat: m, gap: 1 },
          ],
        ],
      ]);
    }
  }
  const property = fc.property(
    run,
    ([start, bursts]) => decisive(s, expand(s, starts[start]!, bursts, gaps)) < 0,
  );
  const details = fc.check(property, {
    seed: s.seed,
    numRuns: s.numRuns,
    examples,
    endOnFailure: false,
  });
  if (!details.failed || !details.counterexample) return null;
  const [start, bursts] = details.counterexample[0];
  const calls = minimise(s, expand(s, starts[start]!, bursts, gaps));
  const at = decisive(s, calls);
  if (at < 0) return null;
  return {
    calls: calls.map((c) => ({
      identity: c.identity,
      tool: c.tool,
      session: c.session,
      offset_ms: c.ts - EXAMPLE_START,
      arguments: (c.arguments ?? {}) as Record<string, unknown>,
    })),
    decisive: at,
  };
}

/** The rule a caller's calls go to, when it is a rule. */
export function ruleOf(
  compiled: CompiledPolicy,
  p: { identity: string; tool: string },
): CompiledRule | null {
  const res = (compiled.grants.get(p.identity) ?? compiled.base).resolve(p.tool);
  return res.kind === "rule" ? res.rule : null;
}

/** A rule's limits in words: `fleet_deploys: 20 a 1h, per grant, sliding`. */
export function describeLimits(rule: CompiledRule | null): string {
  if (!rule || rule.limits.length === 0) return "no limits";
  return rule.limits
    .map((l) => {
      const name = l.counterName.startsWith("rate_limit(") ? "rate_limit" : l.counterName;
      return `${name}: ${l.max} per ${duration(l.windowMs)}, per ${l.scope}${l.fixed ? ", fixed windows" : ""}`;
    })
    .join("; ");
}

export function duration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}min`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

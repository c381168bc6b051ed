import { isGlob } from "../../engine/glob.js";
import type { Policy } from "../../policy/schema.js";
import { matches } from "../patterns.js";

// The identities and tool names over which two policies are compared. Identities: every one
// either policy names a grant for, and one generated name no grant uses (every other identity
// decides alike). Tools: a decision depends on a tool's name only through which patterns match
// it, so one name per set of matching patterns covers every name. The sets are found by a
// search over all the patterns' matchers at once; readable names stand in where one fits.

export interface Identity {
  name: string;
  /** A generated name that stands for every identity no grant of either policy names. */
  other: boolean;
}

export interface Tool {
  name: string;
  /** The patterns of either policy that match it (exact names and globs), sorted. */
  patterns: string[];
  /** A generated name: it stands for every name matched by exactly these patterns. */
  generated: boolean;
}

export interface ToolUniverse {
  tools: Tool[];
  /** The search over names stopped early: some set of patterns may have no tool here. */
  complete: boolean;
}

/** Every pattern (rule keys and hide entries, top level and grants) of the policies, once. */
export function allPatterns(policies: readonly Policy[]): string[] {
  const out = new Set<string>();
  for (const p of policies) {
    for (const k of Object.keys(p.tools ?? {})) out.add(k);
    for (const h of p.hide ?? []) out.add(h);
    for (const g of Object.values(p.grants ?? {})) {
      for (const k of Object.keys(g.tools ?? {})) out.add(k);
      for (const h of g.hide ?? []) out.add(h);
    }
  }
  return [...out].sort();
}

/** Names no pattern uses, for generated identities: `any-other-identity`, `-2`, ... */
export function identities(policies: readonly Policy[], extra = 1): Identity[] {
  const named = new Set<string>();
  for (const p of policies) for (const g of Object.keys(p.grants ?? {})) named.add(g);
  const out: Identity[] = [...named].sort().map((name) => ({ name, other: false }));
  for (let i = 0, n = 0; n < extra; i++) {
    const name = i === 0 ? "any-other-identity" : `any-other-identity-${i + 1}`;
    if (named.has(name)) continue;
    out.push({ name, other: true });
    n++;
  }
  return out;
}

const STAR = -1;
const ONE = -2;

/** A pattern as code points, with -1 for `*` and -2 for `?`. */
const tokensOf = (pattern: string): number[] =>
  Array.from(pattern, (ch) => (ch === "*" ? STAR : ch === "?" ? ONE : ch.codePointAt(0)!));

/** The positions a pattern's matcher can be at, after skipping `*`s (which match nothing). */
function closure(tokens: number[], positions: Iterable<number>): number[] {
  const out = new Set<number>();
  for (let p of positions) {
    out.add(p);
    while (tokens[p] === STAR) out.add(++p);
  }
  return [...out].sort((a, b) => a - b);
}

function advance(tokens: number[], positions: number[], cp: number): number[] {
  const next: number[] = [];
  for (const p of positions) {
    const t = tokens[p];
    if (t === STAR) next.push(p);
    else if (t === ONE || t === cp) next.push(p + 1);
  }
  return closure(tokens, next);
}

/** Past this many states of the name search, it stops and says so. */
const MAX_STATES = 20_000;

/** Readable names first: each exact name, then each glob filled in, then "any other tool". */
function readableCandidates(patterns: readonly string[], fresh: string): string[] {
  const out: string[] = [];
  for (const p of patterns) if (!isGlob(p)) out.push(p);
  for (const p of patterns) {
    if (!isGlob(p)) continue;
    for (const star of [fresh, "", "other"]) {
      const name = p.replace(/\*/g, star).replace(/\?/g, fresh);
      if (name !== "") out.push(name);
    }
  }
  for (let i = 0; i < 5; i++) out.push(i === 0 ? "unlisted_tool" : `unlisted_tool_${i + 1}`);
  return out;
}

/**
 * One tool name per set of patterns that some name is matched by exactly: the readable
 * candidates where they fit, else the shortest name the search found.
 */
export function toolUniverse(patterns: readonly string[]): ToolUniverse {
  const toks = patterns.map(tokensOf);
  // Characters outside every pattern behave alike; one stands for all of them.
  const used = new Set<number>();
  for (const t of toks) for (const c of t) if (c >= 0) used.add(c);
  const freshCp =
    Array.from("xzqjkv0123456789", (c) => c.codePointAt(0)!).find((c) => !used.has(c)) ?? 0x2603;
  const fresh = String.fromCodePoint(freshCp);
  const sigma = [...[...used].sort((a, b) => a - b), freshCp];

  const bySignature = new Map<string, string>();
  const signatureOf = (name: string): string =>
    patterns.map((p) => (matches(p, name) ? "1" : "0")).join("");
  let queue: { name: string; states: number[][] }[] = [
    { name: "", states: toks.map((t) => closure(t, [0])) },
  ];
  const seen = new Set<string>([JSON.stringify(queue[0]!.states)]);
  let complete = true;
  while (queue.length > 0) {
    const next: typeof queue = [];
    for (const s of queue) {
      if (s.name !== "") {
        const sig = s.states.map((st, i) => (st.includes(toks[i]!.length) ? "1" : "0")).join("");
        if (!bySignature.has(sig)) bySignature.set(sig, s.name);
      }
      for (const cp of sigma) {
        const states = s.states.map((st, i) => advance(toks[i]!, st, cp));
        const key = JSON.stringify(states);
        if (seen.has(key)) continue;
        if (seen.size >= MAX_STATES) {
          complete = false;
          continue;
        }
        seen.add(key);
        next.push({ name: s.name + String.fromCodePoint(cp), states });
      }
    }
    queue = next;
  }

  const readable = new Map<string, string>();
  for (const name of readableCandidates(patterns, fresh)) {
    const sig = signatureOf(name);
    if (!readable.has(sig)) readable.set(sig, name);
    // A search cut short may have missed this set; the candidate adds it.
    if (!bySignature.has(sig)) bySignature.set(sig, name);
  }
  const tools: Tool[] = [];
  for (const [sig, found] of bySignature) {
    const name = readable.get(sig) ?? found;
    // Check the claim with the engine's own matcher: these patterns, and no others.
    if (signatureOf(name) !== sig) throw new Error(`compare: "${name}" does not match as found`);
    const matched = patterns.filter((_, i) => sig[i] === "1");
    tools.push({
      name,
      patterns: matched,
      generated: !matched.includes(name),
    });
  }
  tools.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { tools, complete };
}

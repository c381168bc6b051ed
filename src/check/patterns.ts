import { compileGlob, isGlob, specificity } from "../engine/glob.js";

// Reasoning about tool name patterns as sets of names, for the static checks. The engine's own
// matcher (engine/glob.ts) stays the only definition of what a pattern matches; this adds
// "does one pattern match every name another matches", which the engine never needs.

/**
 * A pattern as tokens, one per code point, with each run of wildcards in one canonical order
 * (`?`s first, then at most one `*`): `*?` and `?*` match the same names, `**` as `*`.
 */
function tokens(pattern: string): string[] {
  const out: string[] = [];
  let ones = 0;
  let star = false;
  const endRun = (): void => {
    for (; ones > 0; ones--) out.push("?");
    if (star) out.push("*");
    star = false;
  };
  for (const ch of pattern) {
    if (ch === "*") star = true;
    else if (ch === "?") ones++;
    else {
      endRun();
      out.push(ch);
    }
  }
  endRun();
  return out;
}

/**
 * True when every name `narrow` matches, `broad` matches too. Sound, not complete: true is
 * certain; false may miss an inclusion that only holds through a wildcard-heavy coincidence.
 */
export function covers(broad: string, narrow: string): boolean {
  const g = tokens(broad);
  const r = tokens(narrow);
  // memo[i * (r.length + 1) + j]: 0 unknown, 1 yes, 2 no — g[i..] covers r[j..].
  const memo = new Uint8Array((g.length + 1) * (r.length + 1));
  const go = (i: number, j: number): boolean => {
    const at = i * (r.length + 1) + j;
    if (memo[at] !== 0) return memo[at] === 1;
    let ok: boolean;
    const gi = g[i];
    const rj = r[j];
    if (gi === undefined) ok = rj === undefined;
    else if (gi === "*") ok = go(i + 1, j) || (rj !== undefined && go(i, j + 1));
    // `?` is exactly one character, so it covers a literal or a `?`, never a `*` (none or many).
    else if (gi === "?") ok = rj !== undefined && rj !== "*" && go(i + 1, j + 1);
    else ok = rj === gi && go(i + 1, j + 1);
    memo[at] = ok ? 1 : 2;
    return ok;
  };
  return go(0, 0);
}

/** A pattern without a single literal character (`*`, `?*`): it matches by length alone. */
export function isCatchAll(pattern: string): boolean {
  return isGlob(pattern) && specificity(pattern) === 0;
}

const matchers = new Map<string, (name: string) => boolean>();

/** Whether `pattern` matches the tool name, exactly as the engine matches it. */
export function matches(pattern: string, name: string): boolean {
  let m = matchers.get(pattern);
  if (m === undefined) {
    if (isGlob(pattern)) {
      const re = compileGlob(pattern);
      m = (n) => re.test(n);
    } else {
      m = (n) => n === pattern;
    }
    matchers.set(pattern, m);
  }
  return m(name);
}

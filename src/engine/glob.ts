/** True when the pattern has a wildcard, i.e. it is a glob rather than an exact tool name. */
export function isGlob(pattern: string): boolean {
  return pattern.includes("*") || pattern.includes("?");
}

/** A compiled glob; `test` has RegExp's shape so either can be used where a name is tested. */
export interface Glob {
  test(name: string): boolean;
}

const STAR = -1;
const ONE = -2;
const SURROGATE = /[\ud800-\udfff]/;

/**
 * Anchored matcher for a glob: `*` any run of characters (also none), `?` exactly one code
 * point. Greedy with a return to the last `*` only, which is enough for globs: at most
 * O(pattern x name) steps, where a backtracking RegExp takes polynomially many in the number
 * of `*`s against a long hostile name.
 */
export function compileGlob(pattern: string): Glob {
  const pat = Array.from(pattern, (ch) =>
    ch === "*" ? STAR : ch === "?" ? ONE : ch.codePointAt(0)!,
  );
  // Names are compared code unit by code unit unless they hold a surrogate: then by code point.
  const units = !SURROGATE.test(pattern);
  return {
    test(name: string): boolean {
      if (units && !SURROGATE.test(name)) return match(pat, name.length, (i) => name.charCodeAt(i));
      const cps = Array.from(name, (ch) => ch.codePointAt(0)!);
      return match(pat, cps.length, (i) => cps[i]!);
    },
  };
}

function match(pat: readonly number[], n: number, at: (i: number) => number): boolean {
  let p = 0;
  let s = 0;
  let star = -1;
  let resume = 0;
  while (s < n) {
    const c = pat[p];
    if (c === STAR) {
      star = p++;
      resume = s;
    } else if (c !== undefined && (c === ONE || c === at(s))) {
      p++;
      s++;
    } else if (star >= 0) {
      // Let the last `*` take one more character and retry what follows it.
      p = star + 1;
      s = ++resume;
    } else {
      return false;
    }
  }
  while (pat[p] === STAR) p++;
  return p === pat.length;
}

/** How specific a glob is: its number of non-wildcard characters (SPEC section 2, step 2). */
export function specificity(pattern: string): number {
  let n = 0;
  for (const ch of pattern) if (ch !== "*" && ch !== "?") n++;
  return n;
}

/** True when the pattern has a wildcard, i.e. it is a glob rather than an exact tool name. */
export function isGlob(pattern: string): boolean {
  return pattern.includes("*") || pattern.includes("?");
}

/** Anchored matcher for a glob: `*` any run of characters (also none), `?` exactly one. */
export function globToRegExp(pattern: string): RegExp {
  let src = "^";
  for (const ch of pattern) {
    if (ch === "*") src += "[^]*";
    else if (ch === "?") src += "[^]";
    else src += ch.replace(/[\\^$.|+()[\]{}/]/g, "\\$&");
  }
  return new RegExp(src + "$", "u");
}

/** How specific a glob is: its number of non-wildcard characters (SPEC section 2, step 2). */
export function specificity(pattern: string): number {
  let n = 0;
  for (const ch of pattern) if (ch !== "*" && ch !== "?") n++;
  return n;
}

// Tool name globs (SPEC section 1): `*` any run, `?` one character, matched in O(pattern x name).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile, createState, decide } from "../../src/engine/index.js";
import { compileGlob } from "../../src/engine/glob.js";
import { parsePolicyText } from "../../src/policy/load.js";

/** The glob as the reference RegExp: correct, but backtracking. */
function reference(pattern: string): RegExp {
  let src = "^";
  for (const ch of pattern) {
    if (ch === "*") src += "[^]*";
    else if (ch === "?") src += "[^]";
    else src += ch.replace(/[\\^$.|+()[\]{}/]/g, "\\$&");
  }
  return new RegExp(src + "$", "u");
}

describe("globs", () => {
  it.each([
    ["fleet_*", "fleet_status", true],
    ["fleet_*", "fleet_", true],
    ["fleet_*", "fleet", false],
    ["*_list", "fleet_hosts_list", true],
    ["a?c", "abc", true],
    ["a?c", "ac", false],
    ["a?c", "a😀c", true],
    ["*", "", true],
    ["?", "", false],
    ["a*b*c", "aXbYbZc", true],
    ["a*b*c", "aXbYbZ", false],
    ["x.y", "xzy", false],
    ["(a)", "(a)", true],
  ] as const)("%s on %s: %s", (pattern, name, want) => {
    expect(compileGlob(pattern).test(name)).toBe(want);
  });

  it("agrees with the reference RegExp on random patterns and names", () => {
    const ch = fc.constantFrom("a", "b", "*", "?", "😀", "\ud800", ".");
    const word = (chars: fc.Arbitrary<string>) =>
      fc.array(chars, { maxLength: 8 }).map((xs) => xs.join(""));
    fc.assert(
      fc.property(
        word(ch),
        word(fc.constantFrom("a", "b", "*", "?", "😀", "\ud800", "\udc00")),
        (p, n) => {
          expect(compileGlob(p).test(n)).toBe(reference(p).test(n));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("many stars against a long hostile name take O(pattern x name) steps", () => {
    // The backtracking RegExp takes about (100,000 / 12)^12 steps here.
    const pattern = "*a".repeat(12) + "*b";
    const name = "a".repeat(100_000);
    expect(compileGlob(pattern).test(name)).toBe(false);
    expect(compileGlob(pattern).test(name + "b")).toBe(true);
    const policy = parsePolicyText(
      JSON.stringify({ version: "1", default: "allow", tools: { [pattern]: { action: "deny" } } }),
    ).policy;
    const compiled = compile(policy);
    const call = { tool: name, identity: "i", session: "s", ts: 0 };
    expect(decide(compiled, call, createState(compiled)).code).toBe("default_allow");
  });
});

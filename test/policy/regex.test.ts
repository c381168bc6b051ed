// Policy regex patterns (SPEC section 1.1): the accepted subset, where and why anything else is
// rejected, linear-time matching, and agreement with ECMAScript's RegExp on every accepted one.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile, createState, decide } from "../../src/engine/index.js";
import { PolicyError } from "../../src/errors.js";
import { parsePolicyText } from "../../src/policy/load.js";
import {
  checkPattern,
  compilePattern,
  compilePatternRe2,
  patternEngine,
} from "../../src/policy/regex.js";

function denies(pattern: string, s: string): boolean {
  const policy = {
    version: "1",
    tools: { t: { deny_if: [{ path: "args.s", op: "regex", value: pattern }] } },
  };
  const compiled = compile(parsePolicyText(JSON.stringify(policy)).policy);
  const call = { tool: "t", identity: "i", session: "s", ts: 0, arguments: { s } };
  return decide(compiled, call, createState(compiled)).code === "condition_deny";
}

describe("regex matching takes linear time", () => {
  // A backtracking engine takes about 2^41 steps on the first and 100k^3 on the second: hours.
  it("^(a+)+$ on 41 characters that almost match", () => {
    expect(denies("^(a+)+$", "a".repeat(41) + "!")).toBe(false);
    expect(denies("^(a+)+$", "a".repeat(41))).toBe(true);
  });
  it("(x+x+)+y on 100,000 characters", () => {
    expect(denies("(x+x+)+y", "x".repeat(100_000))).toBe(false);
    expect(denies("(x+x+)+y", "x".repeat(100_000) + "y")).toBe(true);
  });
  it("the unanchored quadratic cases too", () => {
    expect(denies("a*a*a*b", "a".repeat(100_000))).toBe(false);
    expect(denies("\\s*x", " ".repeat(100_000))).toBe(false);
    expect(denies("^[a-z]+[a-z]+$", "a".repeat(100_000) + "!")).toBe(false);
  });

  it.each([
    // No unbounded repeat, few ways through: ECMAScript's engine, bounded per start position.
    ["^prod/", "search"],
    ["https?://", "search"],
    ["PASSWORD|TOKEN|_KEY$", "search"],
    ["^[0-9a-f]{40}$", "search"],
    // One repeat of one character, tried at position 0 only.
    ["^CHG-[0-9]+$", "sticky"],
    ["^(?:tmp|scratch)-\\d+$", "sticky"],
    // Anything else.
    ["^(a+)+$", "linear"],
    ["(x+x+)+y", "linear"],
    ["a*a*a*b", "linear"],
    ["^[a-z]+[a-z]+$", "linear"],
    ["^(?:a[0-9]+){3}", "linear"],
    ["\\s*x", "linear"],
    ["(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)b", "linear"],
  ] as const)("%s runs on the %s matcher", (pattern, engine) => {
    expect(patternEngine(pattern)).toBe(engine);
  });
});

describe("patterns outside the subset are rejected with position and reason", () => {
  it.each([
    ["(a)\\1", 4, /backreferences/],
    ["(?<n>a)\\k<n>", 1, /named groups/],
    ["a\\k<n>", 2, /named backreferences/],
    ["(?=a)", 1, /lookahead/],
    ["x(?!a)", 2, /lookahead/],
    ["(?<=a)b", 1, /lookbehind/],
    ["(?<!a)b", 1, /lookbehind/],
    ["(?i)abc", 1, /inline flags/],
    ["(?P<n>a)", 1, /named groups/],
    ["[[:alpha:]]", 2, /POSIX/],
    ["a\\Qb\\E", 2, /quoting/],
    ["abc\\z", 4, /\^ and \$/],
    ["\\Aabc", 1, /\^ and \$/],
    ["\\C", 1, /unknown escape/],
    ["\\p{L}", 1, /Unicode property/],
    ["\\P{L}", 1, /Unicode property/],
    ["\\u0041", 1, /\\u escapes/],
    ["\\cA", 1, /control escapes/],
    ["a\\012", 2, /octal/],
    ["\\0", 1, /octal/],
    ["\\a", 1, /unknown escape/],
    ["\\-", 1, /only an escape inside/],
    ["[\\b]", 2, /backspace/],
    ["[]a]", 1, /empty class/],
    ["[^]", 1, /empty class/],
    ["[a-c-e]", 5, /must come first or last/],
    ["[\\d-z]", 4, /range cannot/],
    ["[z-a]", 2, /out of order/],
    ["a{2", 2, /escaped as \\\{/],
    ["{", 1, /escaped as \\\{/],
    ["a}", 2, /\\\}/],
    ["a]", 2, /\\\]/],
    ["a{1001}", 2, /above 1000/],
    ["a{3,2}", 2, /out of order/],
    ["(a{100}){100}", 1, /multiply beyond 1000/],
    ["*a", 1, /nothing to repeat/],
    ["a**", 3, /nothing to repeat/],
    ["^*", 2, /cannot be repeated/],
    ["\\b+", 3, /cannot be repeated/],
    ["a)", 2, /unmatched \)/],
    ["((a)", 5, /missing \) for the \( at character 1/],
    ["[ab", 1, /missing \]/],
    ["ab\\", 3, /at the end/],
    ["\\x4", 1, /two hex digits/],
    ["a\ud800", 2, /lone surrogate/],
    ["(".repeat(101) + ")".repeat(101), 101, /nested deeper than 100/],
  ] as const)("%j at %d", (pattern, position, reason) => {
    const fault = checkPattern(pattern);
    expect(fault?.position).toBe(position);
    expect(fault?.reason).toMatch(reason);
  });

  it("a deeply nested pattern is rejected, not a stack overflow", () => {
    const fault = checkPattern("(".repeat(200_000) + "a" + ")".repeat(200_000));
    expect(fault?.position).toBe(101);
  });

  it("the loader says where, in the file and in the pattern", () => {
    const text =
      '{"version": "1",\n "tools": {"t": {"deny_if": [{"path": "args.s", "op": "regex", "value": "(a)\\\\1"}]}}}';
    let err: unknown;
    try {
      parsePolicyText(text, "p.json");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as Error).message).toBe(
      'p.json:2:73: tools.t.deny_if[0].value: "(a)\\\\1" is not an accepted regex: at character 4, \\1: backreferences are not supported',
    );
  });

  it.each([
    "",
    "^prod/",
    "[-a]",
    "[a-]",
    "[\\-a]",
    "[a^]",
    "\\/",
    "a{2,}",
    "a{0}",
    "a*?",
    "(?:)",
    "a|",
    "\\x41\\t\\n\\v\\f\\r",
    "\\bword\\B",
    "[\\d\\W\\S]",
  ])("%j is accepted", (pattern) => {
    expect(checkPattern(pattern)).toBeUndefined();
    expect(() => new RegExp(pattern, "u")).not.toThrow();
  });
});

// --- the accepted subset agrees with ECMAScript (the `u` flag) on every pattern and string ---

/** Characters where the two engines' defaults differ: line ends, spaces, surrogates. */
const CHARS = [
  "a",
  "b",
  "_",
  "0",
  "-",
  " ",
  "\t",
  "\n",
  "\r",
  "\v",
  "\f",
  "\u00a0",
  "\u2028",
  "\u3000",
  "\ufeff",
  "\u0085",
  "é",
  "😀",
  "\ud800",
  "\udc00",
];
const ATOMS = [
  "a",
  "b",
  ".",
  "\\s",
  "\\S",
  "\\d",
  "\\D",
  "\\w",
  "\\W",
  "\\x20",
  "\\t",
  "\\n",
  "\\v",
  "-",
  "é",
  "😀",
  "\\.",
  "[ab]",
  "[^a]",
  "[^\\s]",
  "[\\S]",
  "[a-z]",
  "[^\\n]",
  "[\\d\\s-]",
  "[é-😀]",
];

const pattern: fc.Arbitrary<string> = fc.letrec<{ re: string; seq: string; item: string }>(
  (tie) => ({
    re: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      tie("seq"),
      fc.tuple(tie("seq"), tie("seq")).map(([a, b]) => `${a}|${b}`),
    ),
    seq: fc.array(tie("item"), { maxLength: 4 }).map((xs) => xs.join("")),
    item: fc.oneof(
      { depthSize: "small" },
      fc.constantFrom(...ATOMS),
      fc.constantFrom("^", "$", "\\b", "\\B"),
      fc
        .tuple(
          fc.oneof(
            fc.constantFrom(...ATOMS),
            tie("re").map((r) => `(${r})`),
            tie("re").map((r) => `(?:${r})`),
          ),
          fc.constantFrom("*", "+", "?", "{2}", "{0,2}", "{1,}", "*?", "+?", "??"),
        )
        .map(([a, q]) => a + q),
      tie("re").map((r) => `(${r})`),
    ),
  }),
).re;

const text = fc.array(fc.constantFrom(...CHARS), { maxLength: 8 }).map((xs) => xs.join(""));

/**
 * RegExp(p, "u").test(t), tried only at the boundaries between code points: V8 also starts a
 * search between the two halves of an emoji, where `\B` holds (both halves are "non-word").
 */
function ecmaScriptTest(p: string, t: string): boolean {
  const re = new RegExp(p, "uy");
  for (let i = 0; ; i += t.codePointAt(i)! > 0xffff ? 2 : 1) {
    re.lastIndex = i;
    if (re.test(t)) return true;
    if (i >= t.length) return false;
  }
}

describe("accepted patterns mean what they mean in ECMAScript", () => {
  it("\\B holds only between code points, never inside an emoji", () => {
    for (const match of [compilePattern, compilePatternRe2]) {
      expect(match("\\B")("a😀a")).toBe(false);
      expect(match("\\B")("😀😀")).toBe(true);
    }
    // V8 alone finds the position between the emoji's halves.
    expect(new RegExp("\\B", "u").test("a😀a")).toBe(true);
  });

  it("every generated pattern is accepted, and both matchers agree with RegExp(p, 'u')", () => {
    fc.assert(
      fc.property(pattern, fc.array(text, { minLength: 1, maxLength: 6 }), (p, texts) => {
        expect(checkPattern(p)).toBeUndefined();
        const linear = compilePatternRe2(p);
        const chosen = compilePattern(p);
        for (const t of texts) {
          const want = ecmaScriptTest(p, t);
          expect(linear(t), `${JSON.stringify(p)} on ${JSON.stringify(t)}`).toBe(want);
          expect(chosen(t), `${JSON.stringify(p)} on ${JSON.stringify(t)}`).toBe(want);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

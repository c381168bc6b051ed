import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasTokenShape, looksLikeToken, scanSteps, wordParts } from "../../src/store/token-scan.js";
import { ORACLE_SHAPES, oracleLooksLikeToken, oracleWordParts } from "./token-scan-oracle.js";

// Inputs built to make a backtracking or restarting scan quadratic: repeated prefixes, runs
// that almost complete a shape, long runs of base64 characters, key names of one case.
const adversarial: [string, (n: number) => string][] = [
  ["eyJ- repeated", (n) => "eyJ-".repeat(n)],
  ["eyJ then a run without a dot", (n) => `eyJ${"a".repeat(n)}`],
  ["eyJ run, dot, short tail, repeated", (n) => "eyJabcdefgh.abc ".repeat(n)],
  ["sk- repeated", (n) => "sk-".repeat(n)],
  ["sk- almost long enough, repeated", (n) => `sk-${"a".repeat(15)}!`.repeat(n)],
  ["sk_live_ repeated", (n) => "sk_live_".repeat(n)],
  ["gh then p_ repeated", (n) => `gh${"p_".repeat(n)}`],
  ["ghp_ repeated", (n) => "ghp_".repeat(n)],
  ["github_pat_ repeated", (n) => "github_pat_".repeat(n)],
  ["xoxb- repeated", (n) => "xoxb-".repeat(n)],
  ["AKIA repeated", (n) => "AKIA".repeat(n)],
  ["AIza repeated", (n) => "AIza".repeat(n)],
  ["npm_ repeated", (n) => "npm_".repeat(n)],
  ["-----BEGIN repeated", (n) => "-----BEGIN ".repeat(n)],
  ["-----BEGIN then a long label", (n) => `-----BEGIN ${"A ".repeat(n)}`],
  ["-----BEGIN then PRIVATE KEY without dashes", (n) => `-----BEGIN ${"PRIVATE KEY".repeat(n)}`],
  ["dashes", (n) => "-".repeat(n)],
  ["base64 runs of 31 with separators", (n) => `${"aB3+xY9/".repeat(4).slice(0, 31)} `.repeat(n)],
  ["one long base64 run", (n) => "aB3+xY9/".repeat(n)],
  ["one long word", (n) => "a".repeat(n)],
];
const keyNames: [string, (n: number) => string][] = [
  ["upper case", (n) => "A".repeat(n)],
  ["upper case then a stop", (n) => `${"A".repeat(n)}!`],
  ["alternating case", (n) => "aA".repeat(n)],
  ["capital runs", (n) => "AAb".repeat(n)],
  ["letters and digits", (n) => "a1".repeat(n)],
  ["separators", (n) => "_-".repeat(n)],
];

/** Scanner steps per input character stay under this, whatever the input and its size. */
const PER_CHAR = 64;

describe("linear scans", () => {
  it.each(adversarial)("looksLikeToken: %s", (_name, make) => {
    for (const n of [1 << 8, 1 << 12, 1 << 16]) {
      const s = make(n);
      scanSteps();
      looksLikeToken(s);
      expect(scanSteps(), `${n} repetitions`).toBeLessThanOrEqual(PER_CHAR * s.length);
    }
  });

  it.each(keyNames)("wordParts: %s", (_name, make) => {
    for (const n of [1 << 8, 1 << 12, 1 << 16]) {
      const s = make(n);
      scanSteps();
      wordParts(s);
      expect(scanSteps(), `${n} repetitions`).toBeLessThanOrEqual(PER_CHAR * s.length);
    }
  });

  // The regular expressions these replaced took minutes on a quarter of this: far past the
  // test timeout.
  it("a megabyte of repeated prefixes, or a one-case key name, is scanned at once", () => {
    expect(looksLikeToken("eyJ-".repeat(1 << 18))).toBe(false);
    expect(looksLikeToken(`-----BEGIN ${"A ".repeat(1 << 19)}`)).toBe(false);
    expect(wordParts(`${"A".repeat(1 << 20)}!`)).toHaveLength(1);
  });
});

// Fragments that start, almost finish and break the shapes, to meet them often in short strings.
const fragments = [
  "eyJ",
  "sk-",
  "sk_",
  "rk_",
  "live_",
  "test_",
  "gh",
  "p_",
  "o_",
  "github_pat_",
  "xox",
  "b-",
  "AKIA",
  "ASIA",
  "AIza",
  "npm_",
  "-----BEGIN ",
  "PRIVATE KEY",
  "RSA ",
  "-----",
  ".",
  " ",
  "-",
  "_",
  "!",
  "a",
  "Z",
  "0",
  "x9",
  "QmFzZTY0",
  "é",
];
const pieces = fc.oneof(
  fc.constantFrom(...fragments),
  fc.string({ unit: fc.constantFrom(..."aAzZ09_-.+/ ="), maxLength: 12 }),
  fc.integer({ min: 1, max: 40 }).map((n) => "k7Qx".repeat(n).slice(0, n)),
);
const run = fc.string({ unit: fc.constantFrom(..."aZ09_-"), minLength: 6, maxLength: 40 });
const shaped = fc.oneof(
  fc.array(pieces, { maxLength: 24 }).map((p) => p.join("")),
  // A prefix, a run that may or may not be long enough, maybe a dot and another run.
  fc
    .tuple(fc.constantFrom(...fragments), run, fc.constantFrom("", ".", " ", "-----"), run)
    .map((p) => p.join("")),
);

describe("the scanners agree with the regular expressions they replaced", () => {
  it("hasTokenShape", () => {
    fc.assert(
      fc.property(shaped, (s) => hasTokenShape(s) === ORACLE_SHAPES.test(s)),
      { numRuns: 20_000 },
    );
  });

  it("looksLikeToken", () => {
    fc.assert(
      fc.property(fc.oneof(shaped, fc.string({ maxLength: 80 })), (s) => {
        expect(looksLikeToken(s)).toBe(oracleLooksLikeToken(s));
      }),
      { numRuns: 10_000 },
    );
  });

  it("wordParts", () => {
    const names = fc.string({ unit: fc.constantFrom(..."aAbB19_- .é"), maxLength: 30 });
    fc.assert(
      fc.property(names, (s) => {
        expect(wordParts(s)).toEqual(oracleWordParts(s));
      }),
      { numRuns: 10_000 },
    );
  });

  it("every shape, at the edges of its lengths", () => {
    const cases = [
      ["eyJ" + "a".repeat(8) + "." + "b".repeat(8), true],
      ["eyJ" + "a".repeat(7) + "." + "b".repeat(8), false],
      ["eyJ" + "a".repeat(8) + "." + "b".repeat(7), false],
      ["xeyJ" + "a".repeat(8) + "." + "b".repeat(8), false],
      ["sk_test_" + "a".repeat(16), true],
      ["rk_live_" + "a".repeat(15), false],
      ["AKIA" + "A".repeat(16), true],
      ["AKIA" + "A".repeat(16) + "_", false],
      ["AKIA" + "A".repeat(16) + "-", true],
      ["-----BEGIN PRIVATE KEY-----", true],
      ["-----BEGIN RSA PRIVATE KEY-----", true],
      ["-----BEGIN PRIVATE KEYS-----", false],
      ["xoxr-" + "1".repeat(10), true],
      ["npm_" + "a".repeat(35), false],
      ["github_pat_" + "_".repeat(22), true],
    ] as const;
    for (const [s, expected] of cases) {
      expect(ORACLE_SHAPES.test(s), s).toBe(expected);
      expect(hasTokenShape(s), s).toBe(expected);
    }
  });
});

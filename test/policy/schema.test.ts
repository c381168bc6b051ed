import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parsePolicyText } from "../../src/policy/load.js";
import { checkPattern } from "../../src/policy/regex.js";
import { policyJsonSchema } from "../../src/policy/schema.js";

const root = join(import.meta.dirname, "../..");
const schemaFile = join(root, "schema/policy.schema.json");
const published = JSON.parse(readFileSync(schemaFile, "utf8")) as Record<string, unknown>;

const jsonFiles = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .sort()
    : [];

describe("schema/policy.schema.json", () => {
  it("is up to date with src/policy/schema.ts", () => {
    expect(
      published,
      "schema/policy.schema.json is stale: run `npm run schema` and commit the result",
    ).toEqual(policyJsonSchema());
  });

  it("is a draft 2020-12 schema", () => {
    expect(published["$schema"]).toBe("https://json-schema.org/draft/2020-12/schema");
  });

  it("is where the fixtures' $schema keys point", () => {
    for (const dir of ["fixtures/valid-policies", "fixtures/policies"]) {
      for (const f of jsonFiles(join(root, dir))) {
        const ref = (JSON.parse(readFileSync(join(root, dir, f), "utf8")) as { $schema?: unknown })
          .$schema;
        if (typeof ref !== "string" || /^[a-z]+:/i.test(ref)) continue;
        expect(resolve(join(root, dir), ref), `${dir}/${f}`).toBe(schemaFile);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The published schema and the validator must agree on what is a valid policy.

/**
 * Windows are seconds in whole milliseconds: `multipleOf: 0.001`. Ajv checks that by dividing,
 * and the quotient of a double by 0.001 is rarely a whole number, so Ajv needs a tolerance:
 * |round(w / 0.001) - w / 0.001| <= 1e-5. That is 10 ns; the rounding error of a whole-ms
 * window stays under it up to about 10^8 s (three years), and anything with a fractional
 * millisecond of 8 or fewer decimals (0.0001, 1.0000001, 1e-7) still exceeds it. Ajv and the
 * validator part ways only on windows with 9+ decimals (1.000000001 s), or with whole
 * milliseconds beyond 10^8 s.
 */
const MULTIPLE_OF_PRECISION = 5;

// ajv is CommonJS: under NodeNext its default import is `module.exports`, whose `default` is the
// class (the same object at run time).
const ajv = new Ajv2020.default({
  strict: true,
  allErrors: true,
  multipleOfPrecision: MULTIPLE_OF_PRECISION,
});
// Same test as the validator's: the common subset of ECMAScript and RE2 (SPEC section 1.1). A
// general-purpose validator checks "regex" as any ECMAScript pattern, a looser test.
ajv.addFormat("regex", { type: "string", validate: (s: string) => checkPattern(s) === undefined });
const schemaAccepts = ajv.compile(published);

function validatorAccepts(text: string, file: string): boolean {
  try {
    parsePolicyText(text, file);
    return true;
  } catch {
    return false;
  }
}

const invalidDir = join(root, "fixtures/invalid-policies");

/**
 * Invalid fixtures that never reach schema validation, so the schema has nothing to say about
 * them: text that is not JSON, and a duplicate key (JSON.parse keeps the last value, which is
 * valid; only the loader, reading the text, sees the duplicate).
 */
const NOT_JSON = [
  "empty-file.json",
  "whitespace-only-file.json",
  "not-json-comment.json",
  "not-json-single-quotes.json",
  "not-json-trailing-comma.json",
  "not-json-truncated.json",
  "not-json-two-documents.json",
];
const DUPLICATE_KEY = ["duplicate-key.json"];

/** Conformance vectors whose policy breaks SPEC section 1 (see test/engine/conformance.test.ts). */
const CONFORMANCE_SPEC_VIOLATIONS: string[] = [];

interface Case {
  name: string;
  text: string;
  valid: boolean;
}

function fileCases(dir: string, valid: boolean, exclude: string[] = []): Case[] {
  return jsonFiles(join(root, dir))
    .filter((f) => !exclude.includes(f))
    .map((f) => ({ name: `${dir}/${f}`, text: readFileSync(join(root, dir, f), "utf8"), valid }));
}

const conformanceDir = join(root, "fixtures/conformance");
const conformanceCases: Case[] = jsonFiles(conformanceDir).map((f) => {
  const vector = JSON.parse(readFileSync(join(conformanceDir, f), "utf8")) as { policy: unknown };
  return {
    name: `fixtures/conformance/${f} policy`,
    text: JSON.stringify(vector.policy, null, 2),
    valid: !CONFORMANCE_SPEC_VIOLATIONS.includes(f),
  };
});

const cases: Case[] = [
  ...fileCases("fixtures/invalid-policies", false, [...NOT_JSON, ...DUPLICATE_KEY]),
  ...fileCases("fixtures/valid-policies", true),
  ...fileCases("fixtures/policies", true),
  ...conformanceCases,
];

describe("the published schema (Ajv 2020-12) agrees with the validator", () => {
  it("the exclusions are real", () => {
    const present = jsonFiles(invalidDir);
    for (const f of [...NOT_JSON, ...DUPLICATE_KEY]) expect(present, f).toContain(f);
    for (const f of NOT_JSON) {
      expect(() => JSON.parse(readFileSync(join(invalidDir, f), "utf8")), f).toThrow();
    }
    for (const f of DUPLICATE_KEY) {
      const text = readFileSync(join(invalidDir, f), "utf8");
      // Only the loader catches it: the schema sees the JSON.parse result and accepts it.
      expect(validatorAccepts(text, f)).toBe(false);
      expect(schemaAccepts(JSON.parse(text))).toBe(true);
    }
    expect(jsonFiles(conformanceDir)).toEqual(expect.arrayContaining(CONFORMANCE_SPEC_VIOLATIONS));
  });

  it("covers the fixtures", () => {
    expect(cases.filter((c) => !c.valid).length).toBeGreaterThanOrEqual(40);
    expect(conformanceCases.length).toBeGreaterThanOrEqual(50);
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const value: unknown = JSON.parse(c.text.replace(/^\uFEFF/, ""));
    const byValidator = validatorAccepts(c.text, c.name);
    const bySchema = schemaAccepts(value);
    expect(byValidator, `validator on ${c.name}`).toBe(c.valid);
    expect(bySchema, `schema on ${c.name}: ${ajv.errorsText(schemaAccepts.errors)}`).toBe(c.valid);
  });

  // Windows near the edge of "whole milliseconds", where Ajv's multipleOf needs its tolerance.
  const windows: [window: number, valid: boolean][] = [
    [0.001, true],
    [0.3, true],
    [2.5, true],
    [59.999, true],
    [86400.001, true],
    [2592000.999, true],
    [31536000.001, true], // w / 0.001 = 31536000000.999996
    [123456789.001, true],
    [0.0001, false],
    [0.0005, false],
    [1.0001, false],
    [1.00001, false],
    [1.000001, false],
    [1.0000001, false],
    [1e-7, false], // w / 0.001 = 0.00009999999999999999
    [5e-7, false],
    [0, false],
    [-1, false],
  ];
  it.each(windows)("window %d: valid %s", (window, valid) => {
    const policy = { version: "1", tools: { t: { rate_limit: { max: 1, window } } } };
    expect(validatorAccepts(JSON.stringify(policy), "window.json")).toBe(valid);
    expect(schemaAccepts(policy)).toBe(valid);
  });

  it.each([
    ["^FLEET_", true],
    ["^[0-9a-f]{40}$", true],
    ["(?<year>\\d{4})", false],
    ["(\\d{4})-\\d\\d", true],
    ["(a)\\1", false],
    ["^FLEET_(", false],
    ["(?i)abc", false],
    ["[z-a]", false],
  ] as const)("regex %s: valid %s", (pattern, valid) => {
    const policy = {
      version: "1",
      tools: { t: { deny_if: [{ path: "args.name", op: "regex", value: pattern }] } },
    };
    expect(validatorAccepts(JSON.stringify(policy), "regex.json")).toBe(valid);
    expect(schemaAccepts(policy)).toBe(valid);
  });
});

describe("the published schema's faults, as an editor shows them", () => {
  const withCondition = (condition: unknown) => ({
    version: "1",
    tools: { deploy: { deny_if: [condition] } },
  });

  it("a misspelt op is one fault, on op, naming the operators", () => {
    expect(schemaAccepts(withCondition({ path: "args.env", op: "regx", value: "^p" }))).toBe(false);
    const errors = schemaAccepts.errors ?? [];
    expect(errors).toHaveLength(1);
    expect(errors[0]?.instancePath).toBe("/tools/deploy/deny_if/0/op");
    expect(errors[0]?.params).toMatchObject({ allowedValues: expect.arrayContaining(["regex"]) });
  });

  it("a known op reports only what its own shape lacks", () => {
    expect(schemaAccepts(withCondition({ path: "args.env", op: "in", value: "prod" }))).toBe(false);
    const paths = (schemaAccepts.errors ?? []).map((e) => `${e.instancePath} ${e.keyword}`);
    expect(paths).toContain("/tools/deploy/deny_if/0/value type");
    expect(paths.filter((p) => p.endsWith(" const"))).toEqual([]);
  });
});

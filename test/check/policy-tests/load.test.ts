// Reading policy test files: defaults and times filled in, every fault located as the policy
// loader locates a policy's, and the published JSON Schema made from the same definition.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { loadTestFile, parseTestText } from "../../../src/check/policy-tests/load.js";
import { policyTestJsonSchema } from "../../../src/check/policy-tests/schema.js";
import { InputError } from "../../../src/errors.js";

const root = join(import.meta.dirname, "../../..");

/** The message of the InputError that parsing `text` throws. */
function fault(text: string): string {
  try {
    parseTestText(text, "t.json");
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as InputError).message;
  }
  throw new Error("expected the file to be rejected");
}

const file = (...calls: unknown[]): string =>
  JSON.stringify({ policy: "p.json", cases: [{ name: "c", calls }] }, null, 2);

describe("a valid file", () => {
  it("fills in identities, sessions and the times of each step", () => {
    const t = parseTestText(
      JSON.stringify({
        policy: "../p.json",
        cases: [
          {
            name: "c",
            identity: "agent",
            calls: [
              { tool: "a", repeat: 3, every: "1s", expect: "allow" },
              { tool: "b", identity: "other", session: "s2", expect: "deny:rate_limited" },
              { tool: "c", after: "5m", args: { x: [1] }, expect: "approval_required" },
              { tool: "d", repeat: 2, after: "0ms", expect: "deny" },
            ],
          },
          { name: "d", calls: [{ tool: "a", after: "1h", expect: "allow" }] },
        ],
      }),
      "t.json",
    );
    expect(t.policy).toBe("../p.json");
    const [a, b, c, d] = t.cases[0]!.steps;
    expect(a).toMatchObject({
      identity: "agent",
      session: "session-1",
      repeat: 3,
      everyMs: 1000,
      atMs: 0,
    });
    expect(b).toMatchObject({ identity: "other", session: "s2", atMs: 2001 });
    expect(b!.expect).toEqual({
      decision: "deny",
      code: "rate_limited",
      text: "deny:rate_limited",
    });
    expect(c).toMatchObject({ atMs: 2001 + 300_000, args: { x: [1] } });
    expect(c!.expect).toEqual({
      decision: "approval_required",
      code: null,
      text: "approval_required",
    });
    expect(d).toMatchObject({ atMs: 302_001, repeat: 2, everyMs: 1 });
    // A case's first step starts it, whatever its `after` says.
    expect(t.cases[1]!.steps[0]!.atMs).toBe(0);
    expect(t.cases[1]!.steps[0]!.identity).toBe("anonymous");
  });

  it("knows where each case and step is written", () => {
    const t = parseTestText(
      file({ tool: "a", expect: "allow" }, { tool: "b", expect: "deny" }),
      "t.json",
    );
    expect(t.cases[0]!.line).toBe(4);
    expect(t.cases[0]!.steps.map((s) => [s.line, s.column])).toEqual([
      [7, 9],
      [11, 9],
    ]);
  });

  it("resolves the policy against the test file's directory", () => {
    const t = loadTestFile(join(root, "fixtures/policy-tests/fleet.json"), "fleet.json");
    expect(t.policyPath).toBe(join(root, "fixtures/policies/fleet.json"));
  });
});

describe("faults", () => {
  it.each([
    [
      file({ tool: "a", expct: "allow" }),
      't.json:9:11: cases[0].calls[0].expct: unknown key; did you mean "expect"?',
    ],
    [
      file({ tool: "a", expect: "deny:rate_limit" }),
      't.json:9:21: cases[0].calls[0].expect: must be a decision ("allow", "deny", "approval_required"), optionally with ":code", like "deny:rate_limited", not "deny:rate_limit"; did you mean "deny:rate_limited"?',
    ],
    [
      file({ tool: "a", expect: "allow:rate_limited" }),
      't.json:9:21: cases[0].calls[0].expect: must be a decision ("allow", "deny", "approval_required"), optionally with ":code", like "deny:rate_limited", not "allow:rate_limited"; did you mean "deny:rate_limited"?',
    ],
    [
      file({ tool: "a", after: "1 min", expect: "allow" }),
      't.json:9:20: cases[0].calls[0].after: must be a duration: a whole number and a unit (ms, s, m, h, d), like "250ms", "1s", "5m" or "1d", not "1 min"',
    ],
    [
      file({ tool: "a", after: 60, expect: "allow" }),
      't.json:9:20: cases[0].calls[0].after: must be a duration: a whole number and a unit (ms, s, m, h, d), like "250ms", "1s", "5m" or "1d", not 60',
    ],
    [
      file({ tool: "a", repeat: 0, expect: "allow" }),
      "t.json:9:21: cases[0].calls[0].repeat: must be a whole number from 1 to 100000, not 0",
    ],
    [
      file({ tool: "a", every: "1s", expect: "allow" }),
      "t.json:9:20: cases[0].calls[0].every: needs repeat: it is the time between the repeats of a call",
    ],
    [file({ tool: "a" }), 't.json:7:9: cases[0].calls[0].expect: missing required key "expect"'],
    [
      file({ tool: "a", args: [1], expect: "allow" }),
      "t.json:9:19: cases[0].calls[0].args: must be an object of the call's arguments, not a list",
    ],
    [
      JSON.stringify({ polcy: "p.json", cases: [] }),
      't.json:1:2: polcy: unknown key; did you mean "policy"?\nt.json:1:27: cases: must list at least one case',
    ],
    [
      '{"policy": "p.json", "cases": [],}',
      't.json:1:33: not valid JSON: trailing comma before "}"',
    ],
    ["", "t.json:1:1: not valid JSON: the file is empty"],
    [
      "[]",
      't.json:1:1: must be a test file: a JSON object {"policy": ..., "cases": [...]}, not a list',
    ],
    [
      file({ tool: "a", repeat: 100_000, every: "999999999d", expect: "allow" }),
      "t.json:9:21: cases[0].calls[0].repeat: the case's calls would run past 100000000 days",
    ],
  ])("%s", (text, message) => {
    expect(fault(text)).toBe(message);
  });

  it("lists every fault, in file order", () => {
    const message = fault(
      file({ tol: "a", expect: "alow" }, { tool: "b", every: "x", repeat: 2, expect: "deny" }),
    );
    expect(message.split("\n")).toEqual([
      't.json:8:11: cases[0].calls[0].tol: unknown key; did you mean "tool"?',
      't.json:9:21: cases[0].calls[0].expect: must be a decision ("allow", "deny", "approval_required"), optionally with ":code", like "deny:rate_limited", not "alow"; did you mean "allow"?',
      't.json:13:20: cases[0].calls[1].every: must be a duration: a whole number and a unit (ms, s, m, h, d), like "250ms", "1s", "5m" or "1d", not "x"',
    ]);
  });

  it("names a case whose name another case has", () => {
    const text = JSON.stringify({
      policy: "p.json",
      cases: [1, 2, 3].map((n) => ({
        name: n === 2 ? "b" : "a",
        calls: [{ tool: "t", expect: "allow" }],
      })),
    });
    expect(fault(text)).toBe("t.json:1:143: cases[2].name: another case has this name");
  });

  it("names a file that cannot be read", () => {
    expect(() => loadTestFile(join(root, "nope.json"), "nope.json")).toThrow(
      "nope.json: cannot read the test file (no such file)",
    );
  });
});

describe("schema/policy-test.schema.json", () => {
  const published = JSON.parse(
    readFileSync(join(root, "schema/policy-test.schema.json"), "utf8"),
  ) as Record<string, unknown>;

  it("is up to date with src/check/policy-tests/schema.ts", () => {
    expect(
      published,
      "schema/policy-test.schema.json is stale: run `npm run schema` and commit the result",
    ).toEqual(policyTestJsonSchema());
  });

  it("is where the shipped test files' $schema keys point", () => {
    const dir = join(root, "fixtures/policy-tests");
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".json"))) {
      const ref = (JSON.parse(readFileSync(join(dir, f), "utf8")) as { $schema?: string }).$schema;
      expect(ref && resolve(dir, ref), f).toBe(join(root, "schema/policy-test.schema.json"));
    }
  });

  it("agrees with the loader on examples", () => {
    const accepts = new Ajv2020.default({ strict: true, allErrors: true }).compile(published);
    const examples = [
      readFileSync(join(root, "fixtures/policy-tests/fleet.json"), "utf8"),
      file({ tool: "a", expect: "allow" }),
      file({ tool: "a", expect: "deny:hidden", repeat: 2, every: "250ms", after: "1d" }),
      file({ tool: "a", expect: "deny:nope" }),
      file({ tool: "a", expect: "allow", every: "1s" }),
      file({ tool: "a", expect: "allow", after: "1.5s" }),
      file({ tool: "a", expect: "allow", repeat: 1.5 }),
      file({ tool: "a", expect: "allow", args: null }),
      file({ tool: "", expect: "allow" }),
      file({ tool: "a", expect: "allow", extra: 1 }),
      file(),
      JSON.stringify({ policy: "p.json", cases: [] }),
      JSON.stringify({ cases: [{ name: "c", calls: [{ tool: "a", expect: "allow" }] }] }),
    ];
    for (const text of examples) {
      let loads = true;
      try {
        parseTestText(text, "t.json");
      } catch {
        loads = false;
      }
      expect(accepts(JSON.parse(text)), text).toBe(loads);
    }
  });
});

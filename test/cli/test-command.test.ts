// `policy-replay test`: the shipped policy tests pass through the CLI; a wrong expectation
// fails with exit 1 and says where and why, in every format; a bad file is exit 2 with each
// fault located; --policy runs the same tests against a candidate.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { cli, policyPath, root, tempRoot } from "./support.js";

const temp = tempRoot("policy-tests");
const GAME_TESTS = readFileSync(join(root, "fixtures/policy-tests/game.json"), "utf8");

/** A project with policies/game.json and policy-tests/game.json (its text edited by `edit`). */
function project(edit: (text: string) => string = (t) => t): string {
  const dir = temp();
  mkdirSync(join(dir, "policies"));
  mkdirSync(join(dir, "policy-tests"));
  copyFileSync(policyPath("game"), join(dir, "policies/game.json"));
  writeFileSync(join(dir, "policy-tests/game.json"), edit(GAME_TESTS));
  return dir;
}

/** The second step of "move and jump share 8 actions a second" now expects the wrong thing. */
const wrong = (t: string): string =>
  t.replace(
    '{ "tool": "move", "args": { "direction": "west" }, "expect": "deny:rate_limited" }',
    '{ "tool": "move", "args": { "direction": "west" }, "expect": "allow" }',
  );

/** The CLI with an environment of our choosing. */
async function cliEnv(args: string[], cwd: string, env: Record<string, string>) {
  let stdout = "";
  let stderr = "";
  const code = await run(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    cwd,
    env,
  });
  return { code, stdout, stderr };
}

describe("the shipped policy tests", () => {
  it("pass: exit 0", async () => {
    const r = await cli(["test", "fixtures/policy-tests"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("fixtures/policy-tests/fleet.json (policy fixtures/policies/fleet.json)");
    expect(lines).toContain("  ok   30 secret writes a minute per identity");
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
    expect(r.stdout).not.toMatch(/FAIL|✗/);
  });

  it("fail against a tightened candidate (--policy): exit 1", async () => {
    const r = await cli([
      "test",
      "fixtures/policy-tests/fleet.json",
      "--policy",
      policyPath("fleet.tightened"),
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`(policy ${policyPath("fleet.tightened")})`);
    expect(r.stdout).toContain("  FAIL 30 secret writes a minute per identity\n");
    expect(r.stdout).toContain(
      "step 1, call 11 of 30: fleet_secrets_set as agent-ops, 10s into the case",
    );
  });
});

describe("a wrong expectation", () => {
  it("fails with exit 1, naming the step, the expected and actual decision, the rule and its line", async () => {
    const dir = project(wrong);
    const r = await cli(["test"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("");
    const fail = r.stdout.slice(r.stdout.indexOf("  FAIL"), r.stdout.indexOf("  ok   one jump"));
    expect(fail).toBe(
      [
        "  FAIL move and jump share 8 actions a second",
        "      policy-tests/game.json:30:9: step 3: move as player-1, 62ms into the case",
        "      expected allow, got deny:rate_limited",
        "      decided by rule move at policies/game.json:7",
        "      reason: walk north/south/east/west, at most 5 tiles a call; move and jump share 8 actions a second per session (one server tick)",
        "      retry: after 938ms (counter actions, 8 of 8, scope session)",
        "",
      ].join("\n"),
    );
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("6 passed, 1 failed");
  });

  it("is marked ✗ in colour", async () => {
    const r = await cliEnv(["test"], project(wrong), { FORCE_COLOR: "1" });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("\x1b[31m✗\x1b[39m move and jump share 8 actions a second");
    expect(r.stdout).toContain("\x1b[32m✓\x1b[39m one jump every 2 seconds");
  });

  it("is a failing case in JUnit XML that parses", async () => {
    const r = await cli(["test", "--format", "junit"], project(wrong));
    expect(r.code).toBe(1);
    expect(XMLValidator.validate(r.stdout)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(
      r.stdout,
    ) as {
      testsuites: {
        tests: string;
        failures: string;
        testsuite: {
          name: string;
          testcase: { name: string; failure?: { message: string; "#text": string } }[];
        };
      };
    };
    expect(doc.testsuites).toMatchObject({ tests: "7", failures: "1" });
    const suite = doc.testsuites.testsuite;
    expect(suite.name).toBe("policy-tests/game.json");
    const failed = suite.testcase.filter((c) => c.failure);
    expect(failed.map((c) => c.name)).toEqual(["move and jump share 8 actions a second"]);
    expect(failed[0]!.failure!.message).toBe("step 3: expected allow, got deny:rate_limited");
    expect(failed[0]!.failure!["#text"]).toContain("decided by rule move at policies/game.json:7");
  });

  it("is an error annotation on the step's line for GitHub", async () => {
    const r = await cli(["test", "--format", "github"], project(wrong));
    expect(r.code).toBe(1);
    const errors = r.stdout.split("\n").filter((l) => l.startsWith("::error"));
    expect(errors).toEqual([
      "::error file=policy-tests/game.json,line=30,col=9,title=policy-replay test%3A move and jump share 8 actions a second::step 3: expected allow, got deny:rate_limited, decided by rule move at policies/game.json:7: walk north/south/east/west, at most 5 tiles a call; move and jump share 8 actions a second per session (one server tick)",
    ]);
    expect(r.stdout).toContain("6 passed, 1 failed\n");
  });

  it("is in the JSON report with its call and decision", async () => {
    const r = await cli(["test", "--format", "json"], project(wrong));
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as {
      files: { file: string; cases: { name: string; passed: boolean; failure: unknown }[] }[];
      summary: unknown;
    };
    expect(report.summary).toEqual({ passed: 6, failed: 1 });
    const failed = report.files[0]!.cases.find((c) => !c.passed);
    expect(failed?.failure).toMatchObject({
      step: 3,
      repeat: 1,
      line: 30,
      expected: "allow",
      call: { tool: "move", identity: "player-1", ts: 62 },
      got: {
        decision: "deny",
        code: "rate_limited",
        rule: "move",
        policy: "policies/game.json",
        policy_line: 7,
      },
    });
  });
});

describe("hostile names", () => {
  it("print with control characters as spaces", async () => {
    const dir = project((t) =>
      wrong(t).replace(
        '"name": "move and jump share 8 actions a second"',
        '"name": "move\\u001b]0;pwned\\u0007 and\\njump"',
      ),
    );
    const r = await cli(["test"], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("  FAIL move ]0;pwned  and jump\n");
    // eslint-disable-next-line no-control-regex
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
  });
});

describe("bad input", () => {
  it("a bad test file: every fault located, exit 2, nothing run", async () => {
    const dir = project((t) =>
      t
        .replace('"repeat": 7,', '"repeat": 7, "evry": "10ms",')
        .replace('"after": "1s"', '"after": "1 sec"'),
    );
    const r = await cli(["test"], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      [
        "policy-replay: policy-tests/game.json: 2 faults",
        'policy-tests/game.json:25:24: cases[1].calls[0].evry: unknown key; did you mean "every"?',
        'policy-tests/game.json:31:69: cases[1].calls[3].after: must be a duration: a whole number and a unit (ms, s, m, h, d), like "250ms", "1s", "5m" or "1d", not "1 sec"',
        "",
      ].join("\n"),
    );
  });

  it("a bad expectation gets a suggestion; a GitHub annotation too", async () => {
    const dir = project((t) =>
      t.replace('"expect": "deny:rate_limited"', '"expect": "deny:ratelimited"'),
    );
    const r = await cli(["test", "--format", "github"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^policy-replay: policy-tests\/game\.json:30:\d+: cases\[1\]\.calls\[2\]\.expect: must be a decision .*, not "deny:ratelimited"; did you mean "deny:rate_limited"\?\n$/,
    );
    expect(r.stdout).toMatch(
      /^::error file=policy-tests\/game\.json,line=30,col=\d+,title=policy-replay test%3A bad file::/,
    );
  });

  it("a policy that cannot be read is the test file's fault, at its policy key", async () => {
    const dir = project((t) => t.replace("../policies/game.json", "../policies/gmae.json"));
    const r = await cli(["test"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "policy-replay: policy-tests/game.json:3:13: policy: cannot read policies/gmae.json (no such file)\n",
    );
  });

  it("an invalid policy is named once, however many files use it", async () => {
    const dir = project();
    copyFileSync(join(dir, "policy-tests/game.json"), join(dir, "policy-tests/game2.json"));
    writeFileSync(join(dir, "policies/game.json"), '{"version": "1", "default": "alow"}');
    const r = await cli(["test"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'policy-replay: policies/game.json:1:29: default: must be one of "allow", "deny", "require_approval", not "alow"; did you mean "allow"?\n',
    );
  });

  it("an invalid candidate (--policy): its faults, exit 2, annotated for GitHub", async () => {
    const dir = project();
    writeFileSync(join(dir, "candidate.json"), '{"version": "2"}');
    const r = await cli(["test", "--policy", "candidate.json", "--format", "github"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('policy-replay: candidate.json:1:13: version: must be "1", not "2"\n');
    expect(r.stdout).toBe(
      '::error file=candidate.json,line=1,col=13,title=policy-replay test%3A bad file::version: must be "1", not "2"\n',
    );
  });

  it("no policy-tests/ here: a clear message", async () => {
    const r = await cli(["test"], temp());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^policy-replay: no policy-tests\/ directory here \(.*\): name test files or directories/,
    );
  });

  it("a named path that does not exist, or a directory without tests", async () => {
    const dir = temp();
    expect((await cli(["test", "nope.json"], dir)).stderr).toBe(
      "policy-replay: nope.json: no such file\n",
    );
    mkdirSync(join(dir, "empty"));
    const r = await cli(["test", "empty"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("policy-replay: empty: no test files (*.json) in it\n");
  });
});

describe("policy-replay help test", () => {
  it("is test's --help, with examples and exit codes", async () => {
    const help = await cli(["help", "test"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toBe((await cli(["test", "--help"])).stdout);
    expect(help.stdout).toMatch(/^Usage: policy-replay test /);
    expect(help.stdout).toContain("Examples:\n  $ policy-replay test\n");
    expect(help.stdout).toContain("  1   a case failed");
  });
});

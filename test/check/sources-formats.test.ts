// check reads --db as replay does (files and directories, repeatable), and reports for CI as
// JUnit XML or GitHub workflow commands.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { checkJson, cli, tempDir, writePolicy, writeRecording } from "./support.js";

const dir = tempDir();
let n = 0;

/** A policy with rules a, b and c, and a directory of two recordings made under it. */
function project(): { cwd: string; policy: string } {
  const cwd = join(dir, `project${++n}`);
  mkdirSync(join(cwd, "recorded"), { recursive: true });
  const policy = writePolicy(cwd, "p.json", { tools: { a: {}, b: {}, c: {} } });
  const text = readFileSync(policy, "utf8");
  writeRecording(join(cwd, "recorded/one.sqlite"), text, [
    { id: "s1", identity: "x", listed: ["a", "b", "c", "d"], calls: ["a"] },
  ]);
  writeRecording(join(cwd, "recorded/two.sqlite"), text, [
    { id: "s1", identity: "y", listed: ["a", "b", "c", "d"], calls: ["b"] },
  ]);
  writeFileSync(join(cwd, "recorded/notes.txt"), "not a recording");
  return { cwd, policy };
}

describe("check --db", () => {
  it("a directory is every *.sqlite file in it, in name order", async () => {
    const { cwd } = project();
    const { code, report } = await checkJson(["--policy", "p.json", "--db", "recorded"], cwd);
    expect(code).toBe(0);
    expect(report.recordings).toEqual(["recorded/one.sqlite", "recorded/two.sqlite"]);
    expect(report.scope).toMatchObject({ calls: 2, sessions: 2, identities: ["x", "y"] });
    // Only c went uncalled across both.
    expect(report.findings.filter((f) => f.kind === "unreached_rule")).toHaveLength(1);
  });

  it("is repeatable, files and directories alike; a file named twice is read once", async () => {
    const { cwd } = project();
    const { report } = await checkJson(
      ["--policy", "p.json", "--db", "recorded/two.sqlite", "--db", "recorded/"],
      cwd,
    );
    expect(report.recordings).toEqual(["recorded/two.sqlite", "recorded/one.sqlite"]);
    expect(report.scope).toMatchObject({ calls: 2 });
  });

  it("a directory without recordings: one line, exit 2", async () => {
    const { cwd } = project();
    mkdirSync(join(cwd, "empty"));
    const r = await cli(["check", "--policy", "p.json", "--db", "empty"], cwd);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      "policy-replay: --db empty: no recording (*.sqlite file) in this directory\n",
    );
  });
});

// ---------------------------------------------------------------------------------------------

interface XmlCase {
  "@_classname": string;
  "@_name": string;
  failure?: { "@_type": string; "@_message": string; "#text"?: string };
  "system-out"?: string;
}
interface XmlSuite {
  "@_name": string;
  "@_tests": string;
  "@_failures": string;
  testcase: XmlCase | XmlCase[];
}

const list = <T>(x: T | T[] | undefined): T[] =>
  x === undefined ? [] : Array.isArray(x) ? x : [x];

function parseJunit(xml: string): { root: Record<string, string>; suites: XmlSuite[] } {
  expect(XMLValidator.validate(xml)).toBe(true);
  const doc = new XMLParser({
    ignoreAttributes: false,
    htmlEntities: true,
    parseAttributeValue: false,
    parseTagValue: false,
    trimValues: false,
  }).parse(xml) as { testsuites: Record<string, string> & { testsuite: XmlSuite | XmlSuite[] } };
  return { root: doc.testsuites, suites: list(doc.testsuites.testsuite) };
}

describe("check --format junit", () => {
  it("a summary case holding the text report, then a suite per kind with a case per finding", async () => {
    const { cwd } = project();
    const r = await cli(
      ["check", "--policy", "p.json", "--db", "recorded", "--format", "junit"],
      cwd,
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const { root, suites } = parseJunit(r.stdout);
    expect(suites.map((s) => s["@_name"])).toEqual([
      "policy-replay check",
      "Rules that no recorded call reached",
      "Listed tools that the policy never names",
    ]);
    const text = (await cli(["check", "--policy", "p.json", "--db", "recorded"], cwd)).stdout;
    expect(list(suites[0]!.testcase)[0]!["system-out"]).toBe(text);
    expect(root).toMatchObject({ "@_tests": "3", "@_failures": "0" });
    const [unreached] = list(suites[1]!.testcase);
    expect(unreached).toMatchObject({ "@_classname": "unreached_rule", "@_name": "c" });
    expect(unreached!["system-out"]).toMatch(/^p\.json:\d+:5: c: no call; it would decide c$/);
    const [unnamed] = list(suites[2]!.testcase);
    expect(unnamed).toMatchObject({ "@_classname": "unnamed_tool", "@_name": "d" });
    expect(unnamed!["system-out"]).toBe(
      "p.json: d: listed in 2 sessions by test-server, but no rule or hide entry names it; it gets the default (deny)",
    );
  });

  it("with --strict, each warning is a failure, and the run exits 1", async () => {
    const { cwd } = project();
    const r = await cli(
      ["check", "--policy", "p.json", "--db", "recorded", "--format", "junit", "--strict"],
      cwd,
    );
    expect(r.code).toBe(1);
    const { root, suites } = parseJunit(r.stdout);
    expect(root).toMatchObject({ "@_tests": "3", "@_failures": "2" });
    const failure = list(suites[1]!.testcase)[0]!.failure!;
    expect(failure["@_type"]).toBe("unreached_rule");
    expect(failure["@_message"]).toBe("c: no call; it would decide c");
  });

  it("an invalid policy: one failing case with every fault, exit 2", async () => {
    const cwd = join(dir, `invalid${++n}`);
    mkdirSync(cwd);
    writeFileSync(join(cwd, "bad.json"), '{\n  "version": "1",\n  "default": "dney"\n}\n');
    const r = await cli(["check", "--policy", "bad.json", "--format", "junit"], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("bad.json:3:14: default: must be one of");
    const { root, suites } = parseJunit(r.stdout);
    expect(root).toMatchObject({ "@_tests": "1", "@_failures": "1" });
    const failure = list(suites[0]!.testcase)[0]!.failure!;
    expect(failure["@_type"]).toBe("policy_invalid");
    expect(failure["#text"]).toMatch(/^bad\.json:3:14: default: must be one of/);
  });
});

describe("check --format github", () => {
  it("the text report, a summary annotation, then one annotation per finding on its line", async () => {
    const { cwd, policy } = project();
    const r = await cli(
      ["check", "--policy", "p.json", "--db", "recorded", "--format", "github"],
      cwd,
    );
    expect(r.code).toBe(0);
    const text = (await cli(["check", "--policy", "p.json", "--db", "recorded"], cwd)).stdout;
    expect(r.stdout.startsWith(text)).toBe(true);
    const line =
      readFileSync(policy, "utf8")
        .split("\n")
        .findIndex((l) => l.includes('"c"')) + 1;
    expect(r.stdout.slice(text.length).split("\n")).toEqual([
      "::notice title=policy-replay check::p.json: valid. 2 warnings, 0 notes.",
      `::warning file=p.json,line=${line},col=5,title=policy-replay check%3A Rules that no recorded call reached::c: no call; it would decide c`,
      "::warning file=p.json,title=policy-replay check%3A Listed tools that the policy never names::d: listed in 2 sessions by test-server, but no rule or hide entry names it; it gets the default (deny)",
      "",
    ]);
  });

  it("with --strict, warnings are errors; files are named relative to GITHUB_WORKSPACE", async () => {
    const { cwd } = project();
    let stdout = "";
    const { run } = await import("../../src/cli/main.js");
    const code = await run(
      ["check", "--policy", "p.json", "--db", "recorded", "--format", "github", "--strict"],
      {
        stdout: { write: (s: string) => void (stdout += s) },
        stderr: { write: () => {} },
        cwd,
        env: { GITHUB_WORKSPACE: dir },
      },
    );
    expect(code).toBe(1);
    const commands = stdout.split("\n").filter((l) => l.startsWith("::"));
    expect(commands[0]).toBe(
      "::error title=policy-replay check%3A --strict failed::p.json: 2 warnings, 0 notes.",
    );
    expect(
      commands
        .slice(1)
        .map((c) => c.slice(0, c.indexOf(",")))
        .sort(),
    ).toEqual([`::error file=project${n}/p.json`, `::error file=project${n}/p.json`]);
  });

  it("notes stay in the log: no annotation, and never a failing case", async () => {
    const cwd = join(dir, `notes${++n}`);
    mkdirSync(cwd);
    const policy = writePolicy(cwd, "p.json", {
      tools: { a: {} },
      grants: { x: { tools: { a: {} } } },
    });
    writeRecording(join(cwd, "r.sqlite"), readFileSync(policy, "utf8"), [
      { id: "s1", identity: "x", listed: ["a"], calls: ["a"] },
      { id: "s2", identity: "y", listed: ["a"], calls: ["a"] },
    ]);
    const args = ["check", "--policy", "p.json", "--db", "r.sqlite", "--strict", "--format"];
    const github = await cli([...args, "github"], cwd);
    expect(github.code).toBe(0);
    expect(github.stdout).toContain("Notes: top-level rules that a grant takes over");
    expect(github.stdout.split("\n").filter((l) => l.startsWith("::"))).toEqual([
      "::notice title=policy-replay check::p.json: valid. 0 warnings, 1 note.",
    ]);
    const { root, suites } = parseJunit((await cli([...args, "junit"], cwd)).stdout);
    expect(root).toMatchObject({ "@_tests": "2", "@_failures": "0" });
    expect(list(suites[1]!.testcase)[0]).toMatchObject({
      "@_classname": "overridden_rule",
      "@_name": "a",
      "system-out": "p.json:4:5: a: grant x takes it over for its identity",
    });
  });

  it("an invalid policy: an error annotation on each fault, exit 2", async () => {
    const cwd = join(dir, `invalid${++n}`);
    mkdirSync(cwd);
    writeFileSync(
      join(cwd, "bad.json"),
      '{\n  "version": "1",\n  "default": "dney",\n  "tools": { "a": { "actoin": "deny" } }\n}\n',
    );
    const r = await cli(["check", "--policy", "bad.json", "--format", "github"], cwd);
    expect(r.code).toBe(2);
    expect(r.stdout.split("\n")).toEqual([
      '::error file=bad.json,line=3,col=14,title=policy-replay check%3A invalid policy::default: must be one of "allow", "deny", "require_approval", not "dney"; did you mean "deny"?',
      '::error file=bad.json,line=4,col=21,title=policy-replay check%3A invalid policy::tools.a.actoin: unknown key; did you mean "action"?',
      "",
    ]);
    expect(r.stderr).toContain("bad.json: 2 faults");
  });
});

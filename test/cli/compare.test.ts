// `policy-replay compare`: exit codes, formats, and bad input.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { cli, policyPath, tempRoot } from "./support.js";

const dir = tempRoot("compare");
const run = (variant: string, base: string, ...more: string[]) =>
  cli([
    "compare",
    "--policy",
    policyPath(`${base}.${variant}`),
    "--baseline",
    policyPath(base),
    ...more,
  ]);

describe("policy-replay compare", () => {
  it("exits 0 when NEW grants nothing new", async () => {
    const r = await run("tightened", "secrets");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/No new access/);
    expect(r.stdout).toMatch(/Gate: passed/);
  });

  it("exits 1 with each finding, its decisions and an example call", async () => {
    const r = await run("loosened", "secrets");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("arguments newly allowed: release-bot -> get_secret");
    expect(r.stdout).toContain('example: release-bot calls get_secret with {"name":"staging/"}');
    expect(r.stdout).toContain("OLD: deny (requirement_failed, rule get_secret)");
    expect(r.stdout).toMatch(/11 calls, all allowed by NEW; OLD refuses call 11/);
  });

  it("writes JSON whose findings carry NEW's deciding line", async () => {
    const r = await run("loosened", "game", "--format", "json", "--identity", "moderator");
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as {
      new_access: boolean;
      identities: string[];
      findings: { class: string; tool: string; new_policy_line: number | null }[];
    };
    expect(doc.new_access).toBe(true);
    expect(doc.identities).toEqual(["moderator"]);
    expect(doc.findings.map((f) => [f.class, f.tool])).toEqual([
      ["limits_loosened", "jump"],
      ["arguments_allowed", "move"],
    ]);
    expect(doc.findings.every((f) => typeof f.new_policy_line === "number")).toBe(true);
  });

  it("writes JUnit that parses, a failing case per finding", async () => {
    const r = await run("loosened", "fleet", "--format", "junit");
    expect(XMLValidator.validate(r.stdout)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false }).parse(r.stdout) as {
      testsuites: { "@_tests": string; "@_failures": string };
    };
    expect(doc.testsuites["@_failures"]).toBe("5");
    expect(doc.testsuites["@_tests"]).toBe("6");
  });

  it("annotates NEW's deciding lines for GitHub, and writes Markdown", async () => {
    const gh = await run("loosened", "fleet", "--format", "github", "--identity", "ci-bot");
    // ci-bot's new fleet_secrets_get rule sits on line 74 of fleet.loosened.json.
    expect(gh.stdout).toMatch(/::error file=[^,]*fleet\.loosened\.json,line=74,/);
    const md = await run("loosened", "fleet", "--format", "markdown");
    expect(md.stdout).toMatch(/^\| finding \| identity/m);
    expect(md.stdout).toContain("**Gate: failed.**");
  });

  it("exits 2 on an invalid policy, with its located faults", async () => {
    const bad = join(dir(), "bad.json");
    writeFileSync(bad, '{"version":"1","tools":{"x":{"actoin":"deny"}}}');
    const r = await cli(["compare", "--policy", bad, "--baseline", policyPath("game")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /bad\.json:1:\d+: tools\.x\.actoin: unknown key; did you mean "action"\?/,
    );
    const usage = await cli(["compare", "--policy", policyPath("game")]);
    expect(usage.code).toBe(2);
    const seed = await run("loosened", "game", "--seed", "x");
    expect(seed.code).toBe(2);
  });

  it("has examples and exit codes in its help", async () => {
    const r = await cli(["compare", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Exit codes:[\s\S]*1 +new access/);
  });
});

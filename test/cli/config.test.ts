// A config file (policy-replay.config.json in the working directory, or --config FILE) gives
// replay, check, export, tui, eval, compare, shadow and suggest their policy, recordings, baseline, accept list and --fail-on,
// so that a CI job and a person run the same thing with no flags. Flags override it; paths in
// it are relative to it; a fault in it is one located line, exit 2.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { configJsonSchema, parseConfigText } from "../../src/cli/config.js";
import { cli, DEMO, policyPath, root, tempRoot } from "./support.js";

const tempDir = tempRoot("config");

/**
 * A project: the fleet policies under policies/, the demo recording under data/, and (unless
 * null) a config file at `configAt` (relative to the project) holding `config`.
 */
function project(config: unknown, configAt = "policy-replay.config.json"): string {
  const dir = tempDir();
  mkdirSync(join(dir, "policies"));
  mkdirSync(join(dir, "data"));
  for (const name of ["fleet", "fleet.tightened"])
    copyFileSync(policyPath(name), join(dir, `policies/${name}.json`));
  copyFileSync(DEMO, join(dir, "data/demo.sqlite"));
  if (config !== null) {
    mkdirSync(join(dir, configAt, ".."), { recursive: true });
    writeFileSync(
      join(dir, configAt),
      typeof config === "string" ? config : JSON.stringify(config, null, 2),
    );
  }
  return dir;
}

const CONFIG = {
  policy: "policies/fleet.tightened.json",
  recordings: "data/",
  baseline: "policies/fleet.json",
};

describe("the config file in the working directory", () => {
  it("replay with no flags runs as with the config's flags", async () => {
    const dir = project(CONFIG);
    const bare = await cli(["--no-save"], dir);
    const flags = await cli(
      [
        "--no-save",
        "--no-config",
        "--policy",
        "policies/fleet.tightened.json",
        "--db",
        "data",
        "--baseline",
        "policies/fleet.json",
      ],
      dir,
    );
    expect(bare.stderr).toBe("");
    expect(bare.code).toBe(1);
    expect(bare.stdout).toBe(flags.stdout);
    expect(bare.stdout).toContain(
      "Policy: policies/fleet.tightened.json, compared with baseline policies/fleet.json.",
    );
  });

  it("check with no flags checks the config's policy against its recordings", async () => {
    const dir = project(CONFIG);
    const r = await cli(["check"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^policies\/fleet\.tightened\.json: valid — /);
    expect(r.stdout).toContain("Checked against data/demo.sqlite: 60 calls");
  });

  it("export reads the config's recordings", async () => {
    const dir = project({ recordings: ["data/demo.sqlite"] });
    const r = await cli(["export", "--identity", "ci-bot"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split("\n").length).toBeGreaterThan(0);
    expect(r.stdout).toContain('"identity":"ci-bot"');
    expect(r.stdout).not.toContain('"identity":"agent-ops"');
  });

  it("compare, shadow and suggest take the config's policies and recordings", async () => {
    const dir = project(CONFIG);
    const flags = ["--no-config", ...["--policy", CONFIG.policy, "--baseline", CONFIG.baseline]];
    const compared = await cli(["compare", "--seed", "1"], dir);
    expect(compared.stdout).not.toBe("");
    expect(compared).toEqual(await cli(["compare", "--seed", "1", ...flags], dir));
    const noBaseline = await cli(["compare", "--no-config", "--policy", CONFIG.policy], dir);
    expect(noBaseline.code).toBe(2);
    expect(noBaseline.stderr).toBe(
      'policy-replay: no baseline: pass --baseline FILE, or set "baseline" in policy-replay.config.json\n',
    );
    const shadow = await cli(["shadow"], dir);
    expect(shadow).toEqual(await cli(["shadow", "--db", "data"], dir));
    expect(shadow.stderr).toContain("data");
    const suggested = await cli(["suggest"], dir);
    expect(suggested.code).toBe(0);
    expect(suggested).toEqual(await cli(["suggest", "--no-config", "--db", "data"], dir));
  });

  it("tui opens the config's one recording; several are one line, exit 2", async () => {
    const one = await cli(["tui"], project({ recordings: "data" }));
    expect(one.stderr).toContain("tui needs a terminal");
    const dir = project({ recordings: "data" });
    copyFileSync(DEMO, join(dir, "data/other.sqlite"));
    const several = await cli(["tui"], dir);
    expect(several.code).toBe(2);
    expect(several.stderr).toBe(
      'policy-replay: tui: the "recordings" of policy-replay.config.json, data: it is a directory of 2 recordings; the terminal UI browses one recording: name one, e.g. --db data/demo.sqlite\n',
    );
  });

  it("fail_on and accept apply as --fail-on and --accept would", async () => {
    const dir = project({ ...CONFIG, fail_on: "none" });
    const none = await cli(["--no-save"], dir);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain("Gate: pass (fails on nothing (--fail-on none)).");

    const accepting = project({ ...CONFIG, fail_on: ["changed"], accept: "accepted.json" });
    writeFileSync(join(accepting, "accepted.json"), '{"accept": []}');
    const r = await cli(["--no-save", "--format", "json"], accepting);
    const summary = (JSON.parse(r.stdout) as { summary: { gate: unknown } }).summary;
    expect(summary.gate).toMatchObject({ failed: false, fail_on: ["changed"] });
    expect(r.stdout).toContain('"accept":"accepted.json"');
  });
});

describe("flags override the config", () => {
  it("--policy, --baseline, --db, --fail-on each replace the config's", async () => {
    const dir = project({ ...CONFIG, fail_on: "none", recordings: "nowhere/" });
    const r = await cli(
      [
        "--no-save",
        "--policy",
        "policies/fleet.json",
        "--baseline",
        "policies/fleet.tightened.json",
        "--db",
        "data/demo.sqlite",
        "--fail-on",
        "loosened",
      ],
      dir,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("22 loosened");
    expect(r.stdout).toContain(
      "Policy: policies/fleet.json, compared with baseline policies/fleet.tightened.json.",
    );
  });

  it("--calls replaces the config's recordings", async () => {
    const dir = project({ ...CONFIG, recordings: "nowhere/" });
    const r = await cli(["--calls", join(root, "fixtures/traces/fleet-loop.jsonl")], dir);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^501 calls in 8 sessions replayed/);
  });

  it("--no-config ignores it; without a policy either, the message says where one goes", async () => {
    const dir = project({ policy: "policies/fleet.json", fail_on: "bogus" });
    const r = await cli(["--no-config", "--db", "data"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'policy-replay: no policy: pass --policy FILE, or set "policy" in policy-replay.config.json\n',
    );
    const check = await cli(["check", "--no-config"], dir);
    expect(check.stderr).toBe(r.stderr);
  });
});

describe("--config FILE", () => {
  it("paths in it are relative to it, and read as the working directory sees them", async () => {
    const dir = project(
      { policy: "../policies/fleet.json", recordings: ["../data/demo.sqlite"] },
      "ci/replay.json",
    );
    const r = await cli(["--no-save", "--config", "ci/replay.json"], dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Source: data/demo.sqlite (");
    expect(r.stdout).toContain(
      "Policy: policies/fleet.json, compared with the recorded decisions.",
    );
  });

  it("is not looked for elsewhere: a missing one is an error", async () => {
    const dir = project(CONFIG);
    const r = await cli(["--config", "nope.json"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("policy-replay: nope.json: cannot read the config file (no such file)\n");
  });
});

describe("a config file with faults", () => {
  it("each fault on a line of its own, with file:line:col and path; exit 2", async () => {
    const text = [
      "{",
      '  "polcy": "policies/fleet.json",',
      '  "recordings": ["data", 3],',
      '  "fail_on": "tightend"',
      "}",
    ].join("\n");
    const dir = project(text);
    for (const args of [[], ["check"], ["export"], ["tui"]]) {
      const r = await cli(args, dir);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(
        [
          "policy-replay: policy-replay.config.json: 3 faults",
          'policy-replay.config.json:2:3: polcy: unknown key; did you mean "policy"?',
          "policy-replay.config.json:3:26: recordings[1]: must be a recording or a directory of them (a path, relative to this file), not 3",
          'policy-replay.config.json:4:14: fail_on: must be one of "tightened", "loosened", "changed", "hidden", "unhidden", "all", "none", or a list of "tightened", "loosened", "changed", "hidden", "unhidden", not "tightend"; did you mean "tightened"?',
          "",
        ].join("\n"),
      );
    }
  });

  it("one fault is one line; JSON syntax is located too", async () => {
    const r = await cli([], project('{\n  "policy": "p.json",\n}\n'));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'policy-replay: policy-replay.config.json:2:21: not valid JSON: trailing comma before "}"\n',
    );
    const list = await cli([], project('{"fail_on": ["changed", "tightend"]}'));
    expect(list.stderr).toBe(
      'policy-replay: policy-replay.config.json:1:25: fail_on[1]: must be one of "tightened", "loosened", "changed", "hidden", "unhidden", not "tightend"; did you mean "tightened"?\n',
    );
  });
});

describe("schema/config.schema.json", () => {
  const published = JSON.parse(
    readFileSync(join(root, "schema/config.schema.json"), "utf8"),
  ) as Record<string, unknown>;

  it("is up to date with src/cli/config.ts", () => {
    expect(
      published,
      "schema/config.schema.json is stale: run `npm run schema` and commit the result",
    ).toEqual(configJsonSchema());
  });

  it("agrees with the loader on examples", () => {
    const accepts = new Ajv2020.default({ strict: true, allErrors: true }).compile(published);
    const examples = [
      "{}",
      JSON.stringify({ ...CONFIG, accept: "a.json", fail_on: ["tightened"] }),
      JSON.stringify({ recordings: ["a", "b/"], fail_on: "all", $schema: "x" }),
      JSON.stringify({ recordings: [] }),
      JSON.stringify({ recordings: "" }),
      JSON.stringify({ fail_on: ["all"] }),
      JSON.stringify({ fail_on: "sometimes" }),
      JSON.stringify({ policy: 1 }),
      JSON.stringify({ extra: true }),
      "[]",
    ];
    for (const text of examples) {
      let loads = true;
      try {
        parseConfigText(text, "c.json");
      } catch {
        loads = false;
      }
      expect(accepts(JSON.parse(text)), text).toBe(loads);
    }
  });
});

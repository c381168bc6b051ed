// `policy-replay eval`: one call decided through the CLI, as text and JSON, and bad input as a
// one-line located error with exit 2.
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, policyPath, tempRoot } from "./support.js";

const FLEET = policyPath("fleet");
const tempDir = tempRoot("eval");

describe("policy-replay eval", () => {
  it("prints the decision, code, rule, reason and deciding line", async () => {
    const r = await cli([
      "eval",
      "--policy",
      FLEET,
      "--tool",
      "fleet_secrets_delete",
      "--identity",
      "agent-ops",
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      [
        "approval_required  fleet_secrets_delete as agent-ops",
        "  code     approval_required",
        "  rule     fleet_secrets_delete",
        "  reason   deleting a secret can break a running service; a human approves",
        "  retry    -",
        `  decided  by rule fleet_secrets_delete at ${FLEET}:33`,
        "",
      ].join("\n"),
    );
  });

  it("takes arguments, and answers as JSON", async () => {
    const r = await cli([
      "eval",
      "--policy",
      FLEET,
      "--tool",
      "fleet_secrets_get",
      "--identity",
      "agent-ops",
      "--args",
      '{"team": "web", "name": "FLEET_ENROLL"}',
      "--format",
      "json",
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      policy: FLEET,
      call: {
        tool: "fleet_secrets_get",
        identity: "agent-ops",
        session: "session-1",
        arguments: { team: "web", name: "FLEET_ENROLL" },
      },
      decision: "deny",
      code: "condition_deny",
      rule: "fleet_secrets_get",
      reason: "secrets are read per team (pass team); FLEET_* enrollment secrets stay with IT",
      retry_after_ms: null,
      limit: null,
      policy_line: 19,
    });
  });

  it("is anonymous by default: a hidden tool points at the grant's hide list", async () => {
    const r = await cli([
      "eval",
      "--policy",
      FLEET,
      "--tool",
      "fleet_secrets_get",
      "--format",
      "json",
    ]);
    expect(JSON.parse(r.stdout)).toMatchObject({
      call: { identity: "anonymous" },
      decision: "deny",
      code: "hidden",
      policy_line: 89,
    });
  });

  it.each([
    [["--args", '{"team": '], "policy-replay: --args:1:10: not valid JSON: expected a value\n"],
    [
      ["--args", "[]"],
      "policy-replay: --args: must be a JSON object of the call's arguments, not a list\n",
    ],
    [["--identity", ""], "policy-replay: --identity: must not be empty\n"],
  ])("%j: a one-line error, exit 2", async (extra, message) => {
    const r = await cli(["eval", "--policy", FLEET, "--tool", "fleet_status", ...extra]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(message);
  });

  it("names a missing policy, and needs --tool", async () => {
    const missing = await cli(["eval", "--policy", "nope.json", "--tool", "x"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe("policy-replay: nope.json: cannot read the file (no such file)\n");
    const noTool = await cli(["eval", "--policy", FLEET]);
    expect(noTool.code).toBe(2);
    expect(noTool.stderr).toContain("required option '--tool <name>' not specified");
  });

  it("takes the policy the config file names when --policy is absent", async () => {
    const dir = tempDir();
    copyFileSync(FLEET, join(dir, "gateway.json"));
    writeFileSync(join(dir, "policy-replay.config.json"), '{ "policy": "gateway.json" }\n');
    const args = ["eval", "--tool", "fleet_status", "--format", "json"];
    const r = await cli(args, dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ decision: "allow" });
    writeFileSync(join(dir, "other.json"), '{ "recordings": "." }\n');
    const named = await cli([...args, "--config", "other.json"], dir);
    expect(named.code).toBe(2);
    expect(named.stderr).toBe(
      'policy-replay: no policy: pass --policy FILE, or set "policy" in other.json\n',
    );
    const ignored = await cli([...args, "--no-config"], dir);
    expect(ignored.code).toBe(2);
    expect(ignored.stderr).toBe(
      'policy-replay: no policy: pass --policy FILE, or set "policy" in policy-replay.config.json\n',
    );
  });
});

describe("policy-replay help eval", () => {
  it("is eval's --help, with examples and exit codes", async () => {
    const help = await cli(["help", "eval"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toBe((await cli(["eval", "--help"])).stdout);
    expect(help.stdout).toMatch(/^Usage: policy-replay eval /);
    expect(help.stdout).toContain("Examples:\n  $ policy-replay eval --policy policy.json");
    expect(help.stdout).toContain("Exit codes:\n  0   the call was decided");
  });
});

import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { openStoreReadOnly } from "../../src/store/sqlite.js";
import { type CheckJson, checkJson, cli, ofKind, root, tempDir } from "./support.js";

// The bundled recording under the policy it was recorded with (scripts/demo-record.ts): an ops
// agent and a CI bot on the fixture Fleet server, and an anonymous agent on server-everything.

const dir = tempDir();
const db = join(dir, "demo.sqlite");
const policy = "fixtures/policies/fleet.json";
let report: CheckJson;

beforeAll(async () => {
  copyFileSync(join(root, "recordings/demo.sqlite"), db);
  const r = await checkJson(["--policy", policy, "--db", db]);
  expect(r.code).toBe(0);
  report = r.report;
});

const name = (r: { pattern: string; grant: string | null; kind: string }) =>
  `${r.kind === "hide" ? "hide " : ""}${r.grant === null ? "" : `${r.grant}:`}${r.pattern}`;

describe("check on the demo recording under fleet.json", () => {
  it("reads every session, call and tools/list answer", () => {
    expect(report.scope).toEqual({
      calls: 60,
      sessions: 3,
      identities: ["agent-ops", "anonymous", "ci-bot"],
      tools_list_answers: 3,
      // 11 from the fixture Fleet server, 13 from server-everything.
      listed_tools: 24,
      known_tools: 24,
      unjudged_calls: 0,
      unjudged_sessions: 0,
    });
  });

  it("replays with the real engine: each rule's tally is what was recorded under the same policy", () => {
    const recorded = new Map<string, number>();
    const reader = openStoreReadOnly(db);
    for (const c of reader.calls()) {
      if (c.rule !== null) recorded.set(c.rule, (recorded.get(c.rule) ?? 0) + 1);
    }
    reader.close();
    const replayed = new Map<string, number>();
    for (const r of report.rules) {
      replayed.set(r.rule.pattern, (replayed.get(r.rule.pattern) ?? 0) + r.calls);
    }
    expect(replayed).toEqual(recorded);
    const secretsSet = report.rules.find((r) => name(r.rule) === "fleet_secrets_set");
    // 30 allowed, then 15 over the cap of 30 a minute, and one FLEET_* name refused.
    expect(secretsSet).toMatchObject({ calls: 46, allow: 30, deny: 16 });
  });

  it("unreached: rules for tools the server lacks, the shadowed fleet_*, and grant rules their identity never used", () => {
    expect(
      ofKind(report, "unreached_rule").map((f) => [name(f.rule), f.reason, f.would_decide]),
    ).toEqual([
      ["fleet_hosts_get", "no_known_tool", []],
      ["fleet_secrets_delete", "no_known_tool", []],
      ["fleet_hosts_delete", "no_known_tool", []],
      ["fleet_*", "shadowed", []],
      ["ci-bot:fleet_deploy", "not_called", ["fleet_deploy"]],
      [
        "anonymous:fleet_*",
        "not_called",
        ["fleet_deploy", "fleet_hosts_list", "fleet_hosts_lock", "fleet_wipe"],
      ],
      // The anonymous session was on server-everything, which has no fleet_secrets_* to hide.
      ["hide anonymous:fleet_secrets_*", "not_called", ["fleet_secrets_get", "fleet_secrets_set"]],
    ]);
    expect(ofKind(report, "unseen_identity")).toEqual([]);
  });

  it("shadowed: the top-level fleet_* wins none of the Fleet tools, each has its own rule", () => {
    const shadowed = ofKind(report, "shadowed_rule");
    expect(shadowed.map((f) => [name(f.rule), f.certainty, f.rule.line, f.rule.column])).toEqual([
      ["fleet_*", "known_tools", 55, 5],
    ]);
    expect(shadowed[0]!.tools!.map((t) => [t.tool, t.by.map(name)])).toEqual([
      ["fleet_deploy", ["fleet_deploy"]],
      ["fleet_hosts_list", ["fleet_*_list"]],
      ["fleet_hosts_lock", ["fleet_hosts_lock"]],
      ["fleet_secrets_get", ["fleet_secrets_get"]],
      ["fleet_secrets_set", ["fleet_secrets_set"]],
      ["fleet_status", ["fleet_status"]],
      ["fleet_wipe", ["fleet_wipe"]],
    ]);
  });

  it("unnamed: server-everything's tools and the Fleet server's tools outside fleet_*", () => {
    const unnamed = ofKind(report, "unnamed_tool");
    expect(
      unnamed.filter((f) => f.servers.includes("policy-replay-fixture")).map((f) => f.tool),
    ).toEqual(["fleet", "input_secret", "move", "set_secret"]);
    const everything = unnamed.filter((f) => f.servers.includes("mcp-servers/everything"));
    expect(everything).toHaveLength(13);
    expect(everything.map((f) => f.tool)).toContain("echo");
  });

  it("unlisted: the anonymous agent called fleet_status on server-everything", () => {
    expect(ofKind(report, "unlisted_call")).toEqual([
      expect.objectContaining({
        tool: "fleet_status",
        calls: 1,
        sessions: 1,
        identities: ["anonymous"],
        servers: ["mcp-servers/everything"],
        codes: { rule_allow: 1 },
      }),
    ]);
  });

  it("notes: ci-bot's and anonymous's fleet_* take over every other top-level rule", () => {
    const notes = ofKind(report, "overridden_rule");
    for (const grant of ["ci-bot", "anonymous"]) {
      expect(notes.filter((f) => f.grant === grant).map((f) => f.rule.pattern)).toEqual([
        "fleet_status",
        "fleet_*_list",
        "fleet_hosts_get",
        "fleet_secrets_get",
        "fleet_secrets_set",
        "fleet_secrets_delete",
        "fleet_deploy",
        "fleet_hosts_lock",
        "fleet_hosts_delete",
        "fleet_wipe",
      ]);
    }
    expect(report.summary).toMatchObject({ warnings: 26, notes: 20, failed: false });
  });

  it("the text report, grouped by finding", async () => {
    const r = await cli(["check", "--policy", policy, "--db", db]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      "fixtures/policies/fleet.json: valid — 17 rules, 1 hide entry, 3 grants",
    );
    expect(r.stdout).toContain("Rules that no recorded call reached (7)");
    expect(r.stdout).toContain(
      "fixtures/policies/fleet.json:55:5: fleet_*: wins none of the 7 known tools it matches:",
    );
    expect(r.stdout).toContain("      fleet_hosts_list -> fleet_*_list (10:5)");
    expect(r.stdout).toContain(
      "fixtures/policies/fleet.json:89:16: hide fleet_secrets_* (grant anonymous): it hides fleet_secrets_get, fleet_secrets_set, but no session it applies to listed or called them",
    );
    expect(r.stdout).toContain(
      "  fleet_status: 1 call in 1 session (anonymous; server mcp-servers/everything); decided rule_allow x1",
    );
    expect(r.stdout).toContain("26 warnings, 20 notes.");
    expect((await cli(["check", "--policy", policy, "--db", db, "--strict"])).code).toBe(1);
  });
});

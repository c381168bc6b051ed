import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  checkJson,
  cli,
  ofKind,
  type SessionSpec,
  tempDir,
  writePolicy,
  writeRecording,
} from "./support.js";

const dir = tempDir();
let n = 0;

/** A policy file and a recording made under it (the proxy's decisions), for one test. */
function setup(
  body: Record<string, unknown>,
  sessions: SessionSpec[],
): { policy: string; db: string } {
  const policy = writePolicy(dir, `p${++n}.json`, body);
  const db = writeRecording(join(dir, `r${n}.sqlite`), readFileSync(policy, "utf8"), sessions);
  return { policy, db };
}

const patterns = (xs: { rule: { pattern: string; grant: string | null } }[]) =>
  xs.map((x) => (x.rule.grant === null ? x.rule.pattern : `${x.rule.grant}:${x.rule.pattern}`));

describe("unreached rules", () => {
  const body = {
    default: "deny",
    hide: ["admin_*", "legacy_*"],
    tools: {
      read_file: { rate_limit: { max: 1, window: 60 } },
      write_file: { action: "deny" },
      "net_*": { action: "require_approval" },
      gone_tool: {},
    },
    grants: {
      bot: { tools: { read_file: { action: "deny" }, "write_*": {} } },
      ghost: { tools: { read_file: {} }, hide: ["x"] },
    },
  };
  const sessions: SessionSpec[] = [
    {
      id: "s1",
      identity: "agent",
      listed: ["read_file", "write_file", "net_get", "admin_reset"],
      calls: ["read_file", "read_file", "net_get"],
    },
    { id: "s2", identity: "bot", listed: ["read_file", "write_file"], calls: ["read_file"] },
  ];

  it("are the rules that decided no call, with why; rate-limited calls still reach their rule", async () => {
    const { policy, db } = setup(body, sessions);
    const { code, report } = await checkJson(["--policy", policy, "--db", db]);
    expect(code).toBe(0);
    const unreached = ofKind(report, "unreached_rule");
    expect(
      unreached.map((f) => [
        f.rule.kind,
        f.rule.grant === null ? f.rule.pattern : `${f.rule.grant}:${f.rule.pattern}`,
        f.reason,
        f.would_decide,
      ]),
    ).toEqual([
      ["rule", "write_file", "not_called", ["write_file"]],
      ["rule", "gone_tool", "no_known_tool", []],
      // admin_* took admin_reset out of s1's list: reached. legacy_* matches nothing known.
      ["hide", "legacy_*", "no_known_tool", []],
      ["rule", "bot:write_*", "not_called", ["write_file"]],
    ]);
    // The top-level read_file decided the agent's two calls (one allowed, one rate limited);
    // the bot's call went to its grant's read_file, which has the same pattern.
    const tallies = Object.fromEntries(
      report.rules.map((r) => [
        `${r.rule.grant ?? ""}:${r.rule.pattern}`,
        [r.calls, r.allow, r.deny, r.approval_required],
      ]),
    );
    expect(tallies).toEqual({
      ":read_file": [2, 1, 1, 0],
      ":net_*": [1, 0, 0, 1],
      "bot:read_file": [1, 0, 1, 0],
    });
  });

  it("a grant whose identity never appears is one finding, not one per rule", async () => {
    const { policy, db } = setup(body, sessions);
    const { report } = await checkJson(["--policy", policy, "--db", db]);
    const unseen = ofKind(report, "unseen_identity");
    expect(unseen.map((f) => [f.grant.identity, f.grant.entries, f.grant.path])).toEqual([
      ["ghost", 2, "grants.ghost"],
    ]);
    expect(unseen[0]!.grant.line).toBeGreaterThan(1);
    expect(patterns(ofKind(report, "unreached_rule")).some((p) => p.startsWith("ghost:"))).toBe(
      false,
    );
  });

  it("the text report names each rule by pattern with file:line:col", async () => {
    const { policy, db } = setup(body, sessions);
    const r = await cli(["check", "--policy", policy, "--db", db]);
    expect(r.code).toBe(0);
    const lines = readFileSync(policy, "utf8").split("\n");
    const line = lines.findIndex((l) => l.includes('"gone_tool"')) + 1;
    const column = lines[line - 1]!.indexOf('"gone_tool"') + 1;
    expect(r.stdout).toContain(
      `${policy}:${line}:${column}: gone_tool: it matches no tool that was listed or called`,
    );
    expect(r.stdout).toContain("write_* (grant bot): no call; it would decide write_file");
    expect(r.stdout).toContain("grant ghost: no session has this identity");
  });
});

describe("unnamed tools", () => {
  it("are listed tools that only a catch-all or nothing matches; grants' rules and hides name tools too", async () => {
    const { policy, db } = setup(
      {
        default: "allow",
        tools: { "*": { action: "deny" }, "read_*": {} },
        grants: { bot: { tools: { special: {} }, hide: ["secret_?"] } },
      },
      [
        {
          id: "s1",
          identity: "agent",
          server: "files",
          listed: ["read_file", "mystery", "special", "secret_a", "??"],
        },
        { id: "s2", identity: "agent", server: "other", listed: ["mystery"] },
      ],
    );
    const { report } = await checkJson(["--policy", policy, "--db", db]);
    const unnamed = ofKind(report, "unnamed_tool");
    expect(
      unnamed.map((f) => [
        f.tool,
        f.sessions,
        f.servers,
        patterns(f.caught_by.map((rule) => ({ rule }))),
      ]),
    ).toEqual([
      ["??", 1, ["files"], ["*"]],
      ["mystery", 2, ["files", "other"], ["*"]],
    ]);
  });

  it("without a catch-all they fall to the default, which the text report says once", async () => {
    const { policy, db } = setup(
      { default: "deny", tools: { a: {} }, grants: { ops: { default: "require_approval" } } },
      [{ id: "s1", identity: "ops", listed: ["a", "b"] }],
    );
    const r = await cli(["check", "--policy", policy, "--db", db]);
    expect(r.stdout).toContain("Listed tools that the policy never names (1)");
    expect(r.stdout).toContain("(they get the default: deny; grant ops: require_approval)");
    expect(r.stdout).toContain("  b: listed in 1 session by test-server\n");
  });
});

describe("rules that can never win", () => {
  const body = {
    hide: ["tmp_*"],
    tools: {
      "fleet_*": { action: "deny" },
      fleet_status: {},
      fleet_list: {},
      "a_*": {},
      "a_**": { action: "deny" },
      "x*y*": {},
      "x?y*": {},
      tmp_file: {},
      status: {},
      "team_*": {},
      team_a: {},
    },
    grants: {
      bot: { tools: { status: { action: "deny" }, "tmp_?": {} } },
    },
  };

  it("certain cases need no recording: an equivalent or wider glob first, a hide, a grant's own copy", async () => {
    const policy = writePolicy(dir, `p${++n}.json`, body);
    const empty = tempDir();
    const { code, report } = await checkJson(["--policy", policy], empty);
    expect(code).toBe(0);
    expect(report.scope).toBeNull();
    const shadowed = ofKind(report, "shadowed_rule");
    expect(
      shadowed.map((f) => [
        f.rule.grant === null ? f.rule.pattern : `${f.rule.grant}:${f.rule.pattern}`,
        f.certainty,
        patterns(f.by.map((rule) => ({ rule }))),
      ]),
    ).toEqual([
      ["a_**", "certain", ["a_*"]],
      ["x?y*", "certain", ["x*y*"]],
      ["tmp_file", "certain", ["tmp_*"]],
      ["bot:tmp_?", "certain", ["tmp_*"]],
    ]);
    const overridden = ofKind(report, "overridden_rule");
    expect(overridden.map((f) => [f.rule.pattern, f.grant, f.certainty])).toEqual([
      ["status", "bot", "certain"],
    ]);
    // Findings about recordings need one.
    expect(
      report.findings.every((f) => f.kind === "shadowed_rule" || f.kind === "overridden_rule"),
    ).toBe(true);
  });

  it("on the known tools: a glob whose every known match a more specific rule takes", async () => {
    const { policy, db } = setup(body, [
      { id: "s1", identity: "agent", listed: ["fleet_status", "fleet_list", "team_a", "team_b"] },
    ]);
    const { report } = await checkJson(["--policy", policy, "--db", db]);
    const known = ofKind(report, "shadowed_rule").filter((f) => f.certainty === "known_tools");
    expect(known.map((f) => [f.rule.pattern, f.tools])).toEqual([
      [
        "fleet_*",
        [
          { tool: "fleet_list", by: [expect.objectContaining({ pattern: "fleet_list" })] },
          { tool: "fleet_status", by: [expect.objectContaining({ pattern: "fleet_status" })] },
        ],
      ],
    ]);
    // team_* still wins team_b, so it is not shadowed; fleet_* is unreached because shadowed.
    const unreached = ofKind(report, "unreached_rule").find((f) => f.rule.pattern === "fleet_*");
    expect(unreached?.reason).toBe("shadowed");
    const text = (await cli(["check", "--policy", policy, "--db", db])).stdout;
    expect(text).toMatch(
      /fleet_\*: wins none of the 2 known tools it matches:\n {6}fleet_list -> fleet_list \(\d+:\d+\)/,
    );
  });
});

describe("calls of unlisted tools", () => {
  it("are judged by their own session's list, else by its server's lists in the same file, else not at all", async () => {
    const { policy, db } = setup({ default: "allow" }, [
      { id: "s1", identity: "agent", server: "alpha", listed: ["a"], calls: ["a", "b", "b"] },
      // Never asked for the list: judged by alpha's list in s1.
      { id: "s2", identity: "agent", server: "alpha", listed: null, calls: ["a", "c"] },
      // Listed by beta only; a call of "a" here is unlisted even though alpha lists it.
      { id: "s3", identity: "bot", server: "beta", listed: ["d"], calls: ["d", "a"] },
      // No list anywhere for gamma: not judged.
      { id: "s4", identity: "agent", server: "gamma", listed: null, calls: ["zzz"] },
    ]);
    const { report } = await checkJson(["--policy", policy, "--db", db]);
    const unlisted = ofKind(report, "unlisted_call");
    expect(
      unlisted.map((f) => [f.tool, f.calls, f.sessions, f.identities, f.servers, f.codes]),
    ).toEqual([
      ["a", 1, 1, ["bot"], ["beta"], { default_allow: 1 }],
      ["b", 2, 1, ["agent"], ["alpha"], { default_allow: 2 }],
      ["c", 1, 1, ["agent"], ["alpha"], { default_allow: 1 }],
    ]);
    expect(report.scope).toMatchObject({ unjudged_calls: 1, unjudged_sessions: 1, calls: 8 });
    const text = (await cli(["check", "--policy", policy, "--db", db])).stdout;
    expect(text).toContain(
      "  b: 2 calls in 1 session (agent; server alpha); decided default_allow x2",
    );
    expect(text).toContain(
      "(1 call in 1 session without a tools/list answer to judge by were not judged)",
    );
  });
});

describe("sources and exit codes", () => {
  it("reads several --db files together", async () => {
    const one = setup({ tools: { a: {}, b: {} } }, [
      { id: "s1", identity: "x", listed: ["a"], calls: ["a"] },
    ]);
    const two = writeRecording(join(dir, `second${n}.sqlite`), readFileSync(one.policy, "utf8"), [
      { id: "s1", identity: "y", listed: ["b"], calls: ["b"] },
    ]);
    const { report } = await checkJson(["--policy", one.policy, "--db", one.db, "--db", two]);
    expect(report.recordings).toEqual([one.db, two]);
    expect(report.scope).toMatchObject({ calls: 2, sessions: 2, identities: ["x", "y"] });
    expect(ofKind(report, "unreached_rule")).toEqual([]);
    // Session ids repeat across files; each file is judged on its own.
    expect(ofKind(report, "unlisted_call")).toEqual([]);
  });

  it("defaults to every *.sqlite in recordings/, and just validates without one", async () => {
    const cwd = tempDir();
    const policy = writePolicy(cwd, "p.json", { tools: { a: {} } });
    const none = await cli(["check", "--policy", "p.json"], cwd);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain("p.json: valid — 1 rule, 0 hide entries, 0 grants");
    expect(none.stdout).toContain("No recording (no --db, and no *.sqlite in recordings/)");
    expect(none.stdout).toContain("No findings.");

    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(cwd, "recordings"));
    writeRecording(join(cwd, "recordings/b.sqlite"), readFileSync(policy, "utf8"), [
      { id: "s1", listed: ["a"], calls: ["a"] },
    ]);
    writeRecording(join(cwd, "recordings/a.sqlite"), readFileSync(policy, "utf8"), [
      { id: "s1", listed: ["a"], calls: ["a"] },
    ]);
    writeFileSync(join(cwd, "recordings/notes.txt"), "not a recording");
    const { report } = await checkJson(["--policy", "p.json"], cwd);
    expect(report.recordings).toEqual(["recordings/a.sqlite", "recordings/b.sqlite"]);
    expect(report.findings).toEqual([]);
  });

  it("--strict exits 1 on a warning, but not on notes alone", async () => {
    const warn = setup({ tools: { a: {}, b: {} } }, [{ id: "s1", listed: ["a"], calls: ["a"] }]);
    expect((await cli(["check", "--policy", warn.policy, "--db", warn.db])).code).toBe(0);
    const strict = await cli(["check", "--policy", warn.policy, "--db", warn.db, "--strict"]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain("1 warning, 0 notes. --strict: FAIL.");

    const notes = setup({ tools: { a: {} }, grants: { x: { tools: { a: {} } } } }, [
      { id: "s1", identity: "x", listed: ["a"], calls: ["a"] },
      { id: "s2", identity: "y", listed: ["a"], calls: ["a"] },
    ]);
    const r = await checkJson(["--policy", notes.policy, "--db", notes.db, "--strict"]);
    expect(r.report.summary).toMatchObject({ warnings: 0, notes: 1, failed: false });
    expect(r.code).toBe(0);
  });

  it("an invalid policy: every fault with file:line:col on stderr, exit 2", async () => {
    const file = join(dir, "bad.json");
    writeFileSync(
      file,
      '{\n  "version": "1",\n  "default": "dney",\n  "tools": { "a": { "actoin": "deny" } }\n}\n',
    );
    const r = await cli(["check", "--policy", file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`policy-replay: ${file}: 2 faults`);
    expect(r.stderr).toContain(`${file}:3:14: default: must be one of`);
    expect(r.stderr).toContain(`${file}:4:21: tools.a.actoin: unknown key; did you mean "action"?`);
    expect(r.stderr).not.toMatch(/\n\s+at /);

    const json = await cli(["check", "--policy", file, "--format", "json"]);
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.stdout) as { valid: boolean; faults: { line: number }[] };
    expect(doc.valid).toBe(false);
    expect(doc.faults.map((f) => f.line)).toEqual([3, 4]);
  });

  it("a missing or corrupt recording: one line naming the file, exit 2", async () => {
    const policy = writePolicy(dir, `p${++n}.json`, { tools: { a: {} } });
    const missing = join(dir, "nope.sqlite");
    const r1 = await cli(["check", "--policy", policy, "--db", missing]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toBe(`policy-replay: ${missing}: no such recording\n`);

    const corrupt = join(dir, "corrupt.sqlite");
    writeFileSync(corrupt, "this is not SQLite at all, just some bytes ".repeat(100));
    const r2 = await cli(["check", "--policy", policy, "--db", corrupt]);
    expect(r2.code).toBe(2);
    expect(r2.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r2.stderr).toContain(`${corrupt}: not a recording`);
  });
});

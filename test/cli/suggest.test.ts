import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPolicyFile } from "../../src/policy/load.js";
import { openStoreReadOnly } from "../../src/store/sqlite.js";
import { decideOnce } from "../check/suggest-support.js";
import { cli, DEMO, jsonReport, root, tempRoot } from "./support.js";

const temp = tempRoot("suggest");

/** What the demo recording holds: who called what, what was let through, what was listed. */
function demoFacts() {
  const reader = openStoreReadOnly(DEMO);
  try {
    const calls = [...reader.calls()];
    const listed = new Set<string>();
    for (const m of reader.toolListAnswers()) {
      const tools = (m.message as { result?: { tools?: { name: string }[] } }).result?.tools ?? [];
      for (const t of tools) listed.add(t.name);
    }
    return { calls, listed };
  } finally {
    reader.close();
  }
}

describe("policy-replay suggest", () => {
  it("on the demo recording: a valid policy, under which replaying recordings/ tightens nothing let through", async () => {
    const dir = temp();
    const out = join(dir, "suggested.json");
    const r = await cli(["suggest", "--db", "recordings/demo.sqlite", "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Suggested from 60 calls in 3 sessions of recordings/demo.sqlite");
    expect(r.stderr).toMatch(/agent-ops: \d+ of \d+ tools called allowed/);
    expect(r.stderr).toContain(`Policy written to ${out}.`);

    const loaded = loadPolicyFile(out);
    const schema = loaded.policy.$schema!;
    expect(existsSync(resolve(dirname(out), schema))).toBe(true);
    expect(resolve(dirname(out), schema)).toBe(join(root, "schema/policy.schema.json"));

    const { report } = await jsonReport(["--policy", out, "--db", "recordings/", "--no-save"]);
    const tightened = report.calls.filter(
      (c) => c.before?.decision === "allow" && c.change === "tightened",
    );
    expect(tightened).toEqual([]);
    expect(report.summary.calls).toBe(60);
    // An unanswered approval request may be denied now (tightened); nothing let through is.

    const { calls, listed } = demoFacts();
    const text = readFileSync(out, "utf8");
    const called = new Set(calls.map((c) => c.tool));
    const identities = new Set(calls.map((c) => c.identity));
    const letThrough = new Set(
      calls
        .filter(
          (c) =>
            c.decision === "allow" ||
            (c.decision === "approval_required" && c.approval === "approved"),
        )
        .map((c) => `${c.identity}\u0000${c.tool}`),
    );
    expect(listed.size).toBeGreaterThan(0);
    for (const identity of identities) {
      for (const tool of new Set([...called, ...listed, "never_listed"])) {
        if (letThrough.has(`${identity}\u0000${tool}`)) continue;
        const d = decideOnce(text, identity, tool);
        expect(d.decision, `${identity} ${tool}`).toBe("deny");
        if (!called.has(tool) && listed.has(tool)) expect(d.code, tool).toBe("hidden");
      }
    }
  });

  it("writes the policy on stdout, $schema relative to the working directory", async () => {
    const r = await cli(["suggest", "--db", DEMO, "--headroom", "1.5", "--identity", "ci-bot"]);
    expect(r.code).toBe(0);
    const policy = JSON.parse(r.stdout) as { $schema: string; grants?: Record<string, unknown> };
    expect(policy.$schema).toBe("./schema/policy.schema.json");
    expect(Object.keys(policy.grants ?? {})).toEqual(["ci-bot"]);
    expect(r.stderr).toContain("Limits: 1.5 x the busiest minute");
  });

  it("exits 2 with one located line for no recording, an unreadable one, or a bad headroom", async () => {
    const dir = temp();
    const none = await cli(["suggest"], dir);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^policy-replay: no recordings: pass --db FILE[^\n]*\n$/);

    const bad = join(dir, "bad.sqlite");
    writeFileSync(bad, "not a database, just text that is long enough to be read as a header");
    const unreadable = await cli(["suggest", "--db", bad], dir);
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toMatch(/^policy-replay: [^\n]*bad\.sqlite[^\n]*\n$/);
    expect(unreadable.stdout).toBe("");

    const missing = await cli(["suggest", "--db", join(dir, "missing.sqlite")], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^policy-replay: [^\n]*missing\.sqlite[^\n]*\n$/);

    const headroom = await cli(["suggest", "--db", DEMO, "--headroom", "0.5"]);
    expect(headroom.code).toBe(2);
    expect(headroom.stderr).toContain("--headroom: expected a number from 1 to 1000");
  });

  it("has examples and exit codes in its help", async () => {
    const r = await cli(["help", "suggest"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--conditions");
    expect(r.stdout).toContain(
      "policy-replay suggest --db recordings/ --out policies/suggested.json",
    );
    expect(r.stdout).toContain("Exit codes:");
  });
});

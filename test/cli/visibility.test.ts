// Tool lists in a replay of the demo recording: a policy that hides a tool the Fleet server
// listed, the gate that names the class, every format's section, a trace (nothing known) and
// recorded answers that are not well-formed.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { cli, demoCopy, policyPath, root, tempRoot } from "./support.js";

const tempDir = tempRoot("visibility");

/** fleet.json, the demo's own policy, with `change` applied, written into `dir`. */
function fleetWith(dir: string, change: (p: Record<string, unknown>) => void): string {
  const p = JSON.parse(readFileSync(policyPath("fleet"), "utf8")) as Record<string, unknown>;
  delete p.$schema;
  change(p);
  const file = join(dir, "candidate.json");
  writeFileSync(file, JSON.stringify(p, null, 2));
  return file;
}

interface VisibilityJson {
  visibility: { identity: string; tool: string; change: string; sessions: number; calls: number }[];
  summary: {
    visibility: Record<string, unknown>;
    gate: { fail_on: string[]; failing: number; failed: boolean };
  };
}

describe("tool lists in a replay of the demo recording", () => {
  // The Fleet server listed fleet_wipe to agent-ops (who called it once) and to ci-bot.
  const setup = () => {
    const dir = tempDir();
    const db = demoCopy(dir);
    const policy = fleetWith(dir, (p) => (p.hide = ["fleet_wipe"]));
    return { dir, db, args: ["--policy", policy, "--db", db, "--no-save"] };
  };

  it("text: the headline counts it, a section says who loses what; the default gate passes", async () => {
    const { args } = setup();
    const r = await cli(args);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe(
      "60 calls in 3 sessions replayed; 0 tightened, 0 loosened, 1 changed; tool lists: 2 hidden, 0 unhidden.",
    );
    expect(lines).toContain(
      "Tool lists: 3 tools/list answers in 3 sessions compared; 2 hidden, 0 unhidden (listed below).",
    );
    const at = lines.indexOf("Tool lists:");
    expect(lines.slice(at + 1, at + 3)).toEqual([
      "  hidden  fleet_wipe disappears from agent-ops's tool list (1 session listed it; 1 call)",
      "  hidden  fleet_wipe disappears from ci-bot's tool list (1 session listed it; 0 calls)",
    ]);
    // Its own section, apart from the call that is now denied as hidden.
    expect(at).toBeLessThan(lines.indexOf("Changed calls:"));
  });

  it("--fail-on hidden exits 1 when a tool disappears, 0 when none does", async () => {
    const { args, db } = setup();
    const failed = await cli([...args, "--fail-on", "hidden"]);
    expect(failed.code).toBe(1);
    expect(failed.stdout.split("\n")[1]).toBe(
      "Gate: FAIL — 2 changes of a failing class (fails on hidden).",
    );
    expect((await cli([...args, "--fail-on", "unhidden"])).code).toBe(0);
    const own = await cli([
      "--policy",
      policyPath("fleet"),
      "--db",
      db,
      "--no-save",
      "--fail-on",
      "hidden",
    ]);
    expect(own.code).toBe(0);
    expect(own.stdout).toContain(
      "Tool lists: no tool appears or disappears (both sides hide the same tools).",
    );
    // all takes the tool lists' classes.
    expect((await cli([...args, "--fail-on", "all"])).stdout).toContain(
      "fails on tightened, loosened, changed, hidden, unhidden",
    );
  });

  it("a config file's fail_on takes the tool lists' classes", async () => {
    const { dir, db, args } = setup();
    const policy = args[1]!;
    writeFileSync(
      join(dir, "policy-replay.config.json"),
      JSON.stringify({ policy, recordings: db, fail_on: ["tightened", "hidden"] }),
    );
    const r = await cli(["--no-save"], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("fails on tightened, hidden");
  });

  it("the other way round, under a baseline that hides it: unhidden", async () => {
    const { dir, db } = setup();
    const hiding = fleetWith(dir, (p) => (p.hide = ["fleet_w*"]));
    const r = await cli([
      "--policy",
      policyPath("fleet"),
      "--baseline",
      hiding,
      "--db",
      db,
      "--no-save",
      "--fail-on",
      "unhidden",
      "--format",
      "json",
    ]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as VisibilityJson;
    expect(doc.visibility).toEqual([
      { identity: "agent-ops", tool: "fleet_wipe", change: "unhidden", sessions: 1, calls: 1 },
      { identity: "ci-bot", tool: "fleet_wipe", change: "unhidden", sessions: 1, calls: 0 },
    ]);
  });

  it("json: a visibility array and its counts in the summary", async () => {
    const { args } = setup();
    const doc = JSON.parse((await cli([...args, "--format", "json"])).stdout) as VisibilityJson;
    expect(doc.visibility.map((v) => [v.identity, v.change, v.calls])).toEqual([
      ["agent-ops", "hidden", 1],
      ["ci-bot", "hidden", 0],
    ]);
    expect(doc.summary.visibility).toEqual({
      known: true,
      lists_read: true,
      answers: 3,
      sessions: 3,
      malformed: 0,
      unknown_policy: 0,
      hidden: 2,
      unhidden: 0,
    });
    expect(Object.keys(doc)).toEqual([
      "candidate",
      "baseline",
      "source",
      "accept",
      "calls",
      "visibility",
      "summary",
    ]);
  });

  it("markdown: a table of its own", async () => {
    const { args } = setup();
    const md = (await cli([...args, "--format", "markdown", "--fail-on", "hidden"])).stdout;
    expect(md).toContain("### Tool lists");
    expect(md).toContain("| agent-ops | fleet\\_wipe | hidden | 1 | 1 | fails |");
    expect(md.indexOf("### Tool lists")).toBeLessThan(md.indexOf("### Changed calls"));
  });

  it("junit: a case per change in a suite of its own, failing when the gate names its class", async () => {
    const { args } = setup();
    for (const [failOn, failures] of [
      ["hidden", "2"],
      ["tightened", "0"],
    ] as const) {
      const xml = (await cli([...args, "--format", "junit", "--fail-on", failOn])).stdout;
      expect(XMLValidator.validate(xml)).toBe(true);
      type Case = { "@_classname": string; "@_name": string; failure?: { "@_type": string } };
      type Suite = { "@_name": string; "@_tests": string; "@_failures": string; testcase: Case[] };
      const doc = new XMLParser({
        ignoreAttributes: false,
        isArray: (n) => n === "testcase" || n === "testsuite",
      }).parse(xml) as { testsuites: { "@_failures": string; testsuite: Suite[] } };
      const suite = doc.testsuites.testsuite.find((s) => s["@_name"] === "tool lists")!;
      expect(suite["@_tests"]).toBe("2");
      expect(suite["@_failures"]).toBe(failures);
      expect(
        suite.testcase.map((c) => [c["@_classname"], c["@_name"], c.failure?.["@_type"]]),
      ).toEqual([
        ["fleet_wipe", "agent-ops: hidden", failures === "2" ? "hidden" : undefined],
        ["fleet_wipe", "ci-bot: hidden", failures === "2" ? "hidden" : undefined],
      ]);
      expect(doc.testsuites["@_failures"]).toBe(failures);
    }
  });

  it("github: an annotation at the hide entry that takes the tool away, errors first", async () => {
    const { args } = setup();
    const policy = args[1]!;
    const line =
      readFileSync(policy, "utf8")
        .split("\n")
        .findIndex((l) => l.trim() === '"fleet_wipe"') + 1;
    const out = (await cli([...args, "--format", "github", "--fail-on", "hidden"])).stdout;
    const commands = out.split("\n").filter((l) => l.startsWith("::"));
    expect(commands[1]).toBe(
      `::error file=${policy},line=${line},title=policy-replay%3A hidden fleet_wipe::fleet_wipe disappears from agent-ops's tool list (1 session listed it; 1 call).`,
    );
    const warned = (await cli([...args, "--format", "github"])).stdout;
    expect(warned).toContain(
      `::warning file=${policy},line=${line},title=policy-replay%3A hidden fleet_wipe::`,
    );
  });

  it("--only lists some classes; --only hidden lists no changed call, the counts stay", async () => {
    const { args } = setup();
    const hiddenOnly = (await cli([...args, "--only", "hidden"])).stdout;
    expect(hiddenOnly).toContain("fleet_wipe disappears from ci-bot's tool list");
    expect(hiddenOnly).toContain("Changed calls (--only hidden: none of 1):");
    const callsOnly = (await cli([...args, "--only", "changed"])).stdout;
    expect(callsOnly).toContain("Tool lists (--only changed: 0 of 2):");
    expect(callsOnly).not.toContain("disappears from");
  });

  it("a trace holds no tools/list answers: not known, said so; json has an empty list and a flag", async () => {
    const trace = join(root, "fixtures/traces/fleet-loop.jsonl");
    const args = ["--policy", policyPath("fleet.tightened"), "--calls", trace];
    expect((await cli(args)).stdout).toContain(
      "Tool lists: not known from a trace (it holds calls, not tools/list answers).",
    );
    const doc = JSON.parse((await cli([...args, "--format", "json"])).stdout) as VisibilityJson;
    expect(doc.visibility).toEqual([]);
    expect(doc.summary.visibility).toMatchObject({ known: false, answers: 0 });
    expect((await cli([...args, "--fail-on", "hidden"])).code).toBe(0);
  });

  it("answers that are not well-formed are skipped and counted, never a crash", async () => {
    const { args, db } = setup();
    const raw = new Database(db);
    // The Fleet answer of agent-ops's session: bytes that are not JSON; ci-bot's: no tools array.
    const answers = raw
      .prepare<[], { session: string; seq: number }>(
        "SELECT session, seq FROM messages WHERE direction = 1 AND body LIKE '%\"tools\":[%' ORDER BY session",
      )
      .all();
    const [ops, ci] = ["agent-ops", "ci-bot"].map((identity) =>
      answers.find((a) => a.session.startsWith(identity === "agent-ops" ? "76c8" : "b87c"))!,
    );
    raw
      .prepare("UPDATE messages SET body = ? WHERE session = ? AND seq = ?")
      .run("{\u0000", ops!.session, ops!.seq);
    raw
      .prepare("UPDATE messages SET body = ? WHERE session = ? AND seq = ?")
      .run('{"jsonrpc":"2.0","id":1,"result":{"tools":"many"}}', ci!.session, ci!.seq);
    raw.close();
    const r = await cli(args);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(
      "Tool lists: no tool appears or disappears (1 tools/list answer in 1 session; 2 malformed answers skipped).",
    );
  });
});

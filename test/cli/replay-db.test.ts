// Replaying SQLite recordings: the demo recording pinned call by call, several recordings merged
// by time, filters, saved runs and bad input. Every recording here is a temporary copy: replays
// save runs beside what they read.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import {
  type CallSpec,
  cli,
  demoCopy,
  type JsonCall,
  jsonReport,
  policyPath,
  root,
  tempRoot,
  writeRecording,
} from "./support.js";
import { openBrowser } from "../../src/store/browse.js";
import { SCHEMA_VERSION } from "../../src/store/sqlite.js";
import { toSchema4 } from "../store/helpers.js";

const tempDir = tempRoot("replay-db");
const sha = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex");
const noStack = (stderr: string) => {
  expect(stderr).not.toMatch(/^\s{4}at /m);
  expect(stderr).not.toMatch(/internal error/);
};

// ---------------------------------------------------------------------------------------------
// The demo recording (scripts/demo-record.ts, recorded under fixtures/policies/fleet.json): an
// ops agent (stuck rewriting DB_PASSWORD 45 times against a cap of 30 a minute), a CI bot, and
// an anonymous agent on server-everything. Its 60 calls by index:
//   0 fleet_status, 1 fleet_hosts_list, 2 fleet_secrets_get DB_PASSWORD, 3-47 the loop's
//   fleet_secrets_set (30 allowed, 15 rate_limited), 48 fleet_secrets_set FLEET_ENROLL_SECRET,
//   49-50 fleet_deploy staging and prod, 51 fleet_hosts_lock (stolen laptop), 52 fleet_wipe —
//   agent-ops; 53-56 ci-bot; 57 echo, 58 get-sum, 59 fleet_status — anonymous.

/** [from, to, identity, tool, before "decision code", after "decision code", class]. */
type Run = [number, number, string, string, string, string, string];
const expand = (runs: Run[]) =>
  runs.flatMap(([from, to, ...rest]) =>
    Array.from({ length: to - from + 1 }, (_, i) => [from + i, ...rest]),
  );
const changedRows = (calls: JsonCall[]) =>
  calls
    .filter((c) => c.change !== null)
    .map((c) => [
      c.index,
      c.identity,
      c.tool,
      `${c.before!.decision} ${c.before!.code}`,
      `${c.decision} ${c.code}`,
      c.change,
    ]);

describe("the demo recording", () => {
  it("under its own policy: every recorded decision reproduced, zero changes, exit 0", async () => {
    const db = demoCopy(tempDir());
    const { code, report } = await jsonReport(["--policy", policyPath("fleet"), "--db", db]);
    expect(code).toBe(0);
    expect(report.summary.calls).toBe(60);
    expect(report.summary.sessions).toBe(3);
    expect(report.summary.basis).toBe("recorded");
    expect(report.summary.changes.total).toBe(0);
    for (const c of report.calls) {
      expect([c.decision, c.code, c.rule]).toEqual([
        c.before!.decision,
        c.before!.code,
        c.before!.rule,
      ]);
    }
    // The recording's own times and identities, in order.
    const ts = report.calls.map((c) => c.ts);
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    expect(new Set(report.calls.map((c) => c.identity))).toEqual(
      new Set(["agent-ops", "ci-bot", "anonymous"]),
    );
  });

  it("under fleet.tightened: the credential read, 20 more loop writes, the anonymous status", async () => {
    const db = demoCopy(tempDir());
    const { code, report } = await jsonReport([
      "--policy",
      policyPath("fleet.tightened"),
      "--db",
      db,
    ]);
    expect(code).toBe(1);
    expect(changedRows(report.calls)).toEqual(
      expand([
        // fleet_secrets_get now denies credential names (PASSWORD|TOKEN|_KEY$).
        [
          2,
          2,
          "agent-ops",
          "fleet_secrets_get",
          "allow rule_allow",
          "deny condition_deny",
          "tightened",
        ],
        // The cap drops from 30 to 10 a minute: loop writes 11 to 30 are now limited (31 to 45
        // already were).
        [
          13,
          32,
          "agent-ops",
          "fleet_secrets_set",
          "allow rule_allow",
          "deny rate_limited",
          "tightened",
        ],
        // Anonymous sessions see no Fleet tools.
        [59, 59, "anonymous", "fleet_status", "allow rule_allow", "deny hidden", "tightened"],
      ]),
    );
    // Every change after the session's first is counterfactual.
    expect(report.calls.filter((c) => c.counterfactual && c.change).map((c) => c.index)).toEqual(
      expand([[13, 32, "", "", "", "", ""]]).map((r) => r[0]),
    );
    expect(report.summary.changes).toEqual({ tightened: 22, loosened: 0, changed: 0, total: 22 });
    // The three sessions are the three identities' (one each).
    const sessions = new Map(report.calls.map((c) => [c.session, c.identity]));
    expect(sessions.size).toBe(3);
  });

  it("under fleet.loosened: the last 15 loop writes pass, the stolen-laptop lock needs no approval", async () => {
    const db = demoCopy(tempDir());
    const { code, report } = await jsonReport([
      "--policy",
      policyPath("fleet.loosened"),
      "--db",
      db,
    ]);
    expect(code).toBe(1);
    expect(changedRows(report.calls)).toEqual(
      expand([
        // The cap rises to 120 a minute: all 45 loop writes pass.
        [
          33,
          47,
          "agent-ops",
          "fleet_secrets_set",
          "deny rate_limited",
          "allow rule_allow",
          "loosened",
        ],
        // fleet_hosts_lock is allowed when the call says why (it does: "reported stolen").
        [
          51,
          51,
          "agent-ops",
          "fleet_hosts_lock",
          "approval_required approval_required",
          "allow rule_allow",
          "loosened",
        ],
      ]),
    );
    // The FLEET_* write stays denied by its condition, the wipe by its rule.
    expect(report.calls[48]!.code).toBe("condition_deny");
    expect(report.calls[52]!.code).toBe("rule_deny");
  });

  it("is the default source: recordings/ in the working directory (the README's quick start)", async () => {
    const project = tempDir();
    mkdirSync(join(project, "recordings"));
    demoCopy(join(project, "recordings"));
    symlinkSync(join(root, "fixtures"), join(project, "fixtures"));
    const r = await cli(["--policy", "fixtures/policies/fleet.tightened.json"], project);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("");
    expect(r.stdout.split("\n")[0]).toBe(
      "60 calls in 3 sessions replayed; 22 tightened, 0 loosened, 0 changed.",
    );
    expect(r.stdout).toContain("Source: recordings/demo.sqlite (3 identities;");
  });
});

// ---------------------------------------------------------------------------------------------

/** Two machines' recordings: interleaved times, some equal across files, one shared cap. */
function twoMachines(): { a: CallSpec[]; b: CallSpec[]; merged: CallSpec[] } {
  const T = 1_763_800_000_000;
  const a: CallSpec[] = [];
  const b: CallSpec[] = [];
  const merged: CallSpec[] = [];
  for (let i = 0; i < 40; i++) {
    // agent-ops writes from both machines: its 30-a-minute cap is per identity, so which
    // writes pass depends on the merged order.
    const args = { team: "payments", name: `K${i}` };
    const ca: CallSpec = { session: "a1", ts: T + i * 100, tool: "fleet_secrets_set", args };
    // Every fourth of b's shares a's time exactly: file order breaks the tie.
    const cb: CallSpec = {
      session: "b1",
      ts: T + i * 100 + (i % 4 === 0 ? 0 : 50),
      tool: "fleet_secrets_set",
      args,
    };
    a.push(ca);
    b.push(cb);
    merged.push(ca, cb);
  }
  a.push({ session: "a2", identity: "ci-bot", ts: T + 5_000, tool: "fleet_status" });
  b.push({ session: "b2", identity: "anonymous", ts: T + 5_000, tool: "fleet_status" });
  merged.push(a.at(-1)!, b.at(-1)!);
  merged.sort((x, y) => x.ts - y.ts); // stable: a before b at equal times
  return { a, b, merged };
}

const comparable = (calls: JsonCall[]) => calls.map((c) => ({ ...c, line: 0 }));

describe("several recordings", () => {
  it("are merged by (time, file order, row id): the same report as one file holding both", async () => {
    const dir = tempDir();
    const { a, b, merged } = twoMachines();
    const fa = writeRecording(join(dir, "a.sqlite"), a);
    const fb = writeRecording(join(dir, "b.sqlite"), b);
    const one = writeRecording(join(dir, "one.sqlite"), merged);
    const args = ["--policy", policyPath("fleet"), "--fail-on", "none"];
    const two = await jsonReport([...args, "--db", fa, "--db", fb]);
    const single = await jsonReport([...args, "--db", one]);
    expect(two.report.calls).toHaveLength(82);
    expect(comparable(two.report.calls)).toEqual(comparable(single.report.calls));
    expect(two.report.summary).toEqual(single.report.summary);
    // The shared cap really did hinge on the interleaving: 30 of the 80 writes pass.
    const writes = two.report.calls.filter((c) => c.tool === "fleet_secrets_set");
    expect(writes.filter((c) => c.decision === "allow")).toHaveLength(30);
    expect(new Set(writes.slice(0, 30).map((c) => c.session))).toEqual(new Set(["a1", "b1"]));
    expect(two.report.source).toBe(`${fa}, ${fb}`);
  });

  it("a directory is every *.sqlite file in it, in name order; a file named twice is read once", async () => {
    const dir = tempDir();
    const { a, b } = twoMachines();
    writeRecording(join(dir, "2-b.sqlite"), b);
    writeRecording(join(dir, "1-a.sqlite"), a);
    writeFileSync(join(dir, "notes.txt"), "not a recording");
    const byDir = await jsonReport([
      "--policy",
      policyPath("fleet"),
      "--db",
      dir,
      "--db",
      join(dir, "1-a.sqlite"),
      "--no-save",
    ]);
    const byFiles = await jsonReport([
      "--policy",
      policyPath("fleet"),
      "--db",
      join(dir, "1-a.sqlite"),
      "--db",
      join(dir, "2-b.sqlite"),
      "--no-save",
    ]);
    expect(comparable(byDir.report.calls)).toEqual(comparable(byFiles.report.calls));
    expect(byDir.report.source).toBe(`${dir}/ (2 recordings), ${join(dir, "1-a.sqlite")}`);
  });

  it("a directory without recordings is a usage error (exit 2)", async () => {
    const dir = tempDir();
    const r = await cli(["--policy", policyPath("fleet"), "--db", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `policy-replay: --db ${dir}: no recording (*.sqlite file) in this directory\n`,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe("filters", () => {
  // The demo's three sessions, by identity.
  const demoSessions = async () => {
    const { report } = await jsonReport([
      "--policy",
      policyPath("fleet"),
      "--db",
      demoCopy(tempDir()),
      "--no-save",
    ]);
    return {
      calls: report.calls,
      session: (id: string) => report.calls.find((c) => c.identity === id)!.session,
    };
  };

  it("--session (repeatable) keeps only those sessions' calls", async () => {
    const { calls, session } = await demoSessions();
    const { report } = await jsonReport([
      "--policy",
      policyPath("fleet"),
      "--db",
      demoCopy(tempDir()),
      "--session",
      session("ci-bot"),
      "--session",
      session("anonymous"),
    ]);
    expect(report.calls.map((c) => [c.ts, c.tool])).toEqual(
      calls.filter((c) => c.identity !== "agent-ops").map((c) => [c.ts, c.tool]),
    );
    // Indexes count the calls replayed.
    expect(report.calls.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it("--identity (repeatable)", async () => {
    const { report } = await jsonReport([
      "--policy",
      policyPath("fleet"),
      "--db",
      demoCopy(tempDir()),
      "--identity",
      "ci-bot",
    ]);
    expect(report.calls.map((c) => c.tool)).toEqual([
      "fleet_status",
      "fleet_hosts_list",
      "fleet_secrets_set",
      "set_secret",
    ]);
  });

  it("--tool takes names and globs, with the policy's glob rules", async () => {
    const { report } = await jsonReport([
      "--policy",
      policyPath("fleet"),
      "--db",
      demoCopy(tempDir()),
      "--tool",
      "fleet_*_?et",
      "--tool",
      "echo",
    ]);
    expect(new Set(report.calls.map((c) => c.tool))).toEqual(
      new Set(["fleet_secrets_get", "fleet_secrets_set", "echo"]),
    );
    // The DB_PASSWORD read; 45 loop writes, the FLEET_* write and ci-bot's write; the echo.
    expect(report.calls).toHaveLength(1 + 47 + 1);
  });

  it("--since is inclusive and --until exclusive, as ISO 8601 (UTC without a zone) or ms", async () => {
    const { calls } = await demoSessions();
    const t = calls[20]!.ts;
    const iso = new Date(t).toISOString();
    const run = async (...filter: string[]) =>
      (await jsonReport(["--policy", policyPath("fleet"), "--db", demoCopy(tempDir()), ...filter]))
        .report.calls;
    const since = await run("--since", String(t));
    expect(since[0]!.ts).toBe(t);
    expect(since).toHaveLength(calls.filter((c) => c.ts >= t).length);
    const until = await run("--until", iso);
    expect(until.at(-1)!.ts).toBeLessThan(t);
    expect(until).toHaveLength(calls.filter((c) => c.ts < t).length);
    // The same instant without its zone, and with an offset.
    expect(await run("--until", iso.replace("Z", ""))).toEqual(until);
    const shifted = new Date(t + 3_600_000).toISOString().replace("Z", "+01:00");
    expect(await run("--until", shifted)).toEqual(until);
  });

  it("--since warms the counters: a slice of the loop meets the minute it met live", async () => {
    // From the loop's 31st write on, the recording's counter had 30 writes in the minute; the
    // replay decides the minute before the slice first (undiffed), so the slice's writes are
    // refused as they were live (SPEC section 6).
    const { calls } = await demoSessions();
    const from = calls[33]!.ts;
    const { report } = await jsonReport([
      "--policy",
      policyPath("fleet"),
      "--db",
      demoCopy(tempDir()),
      "--since",
      String(from),
      "--tool",
      "fleet_secrets_set",
      "--fail-on",
      "none",
    ]);
    expect(report.calls[0]!.ts).toBe(from);
    expect(report.calls.filter((c) => c.change !== null)).toHaveLength(0);
  });

  it("apply to --calls traces as well, keeping each line's index", async () => {
    const trace = join(root, "fixtures/traces/fleet-loop.recorded.jsonl");
    const { report } = await jsonReport([
      "--policy",
      policyPath("fleet"),
      "--calls",
      trace,
      "--identity",
      "ci-bot",
      "--tool",
      "fleet_deploy",
    ]);
    const lines = readFileSync(trace, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { identity: string; tool: string });
    const expected = lines.flatMap((l, i) =>
      l.identity === "ci-bot" && l.tool === "fleet_deploy" ? [i] : [],
    );
    expect(expected.length).toBeGreaterThan(0);
    expect(report.calls.map((c) => c.index)).toEqual(expected);
  });

  it.each([
    [["--since", "yesterday"], "--since: expected an ISO 8601 date or time"],
    [["--until", "2026-02-30"], "--until: expected an ISO 8601 date or time"],
    [["--since", "2026-11-23", "--until", "2026-11-22"], "is not before --until"],
  ])("a bad time range %j is a usage error", async (flags, message) => {
    const r = await cli(["--policy", policyPath("fleet"), "--db", demoCopy(tempDir()), ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------

interface RunRow {
  id: number;
  created_at: number;
  policy_hash: string;
  policy_path: string;
  baseline_hash: string | null;
  baseline_path: string | null;
  options: string;
  calls: number;
  sessions: number;
  tightened: number;
  loosened: number;
  changed: number;
  counterfactual: number;
  inexact: number;
  gate_failed: number;
}
const peek = <T>(file: string, sql: string): T[] => {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
};

describe("saved runs", () => {
  it("a run is saved beside the recording it read: counts, options, the policy's text, each changed call", async () => {
    const db = demoCopy(tempDir());
    const runs = `${db}.runs`;
    const before = [sha(db), statSync(db).mtimeMs];
    const { report } = await jsonReport(["--policy", policyPath("fleet.tightened"), "--db", db]);
    // The recording is only read: the same bytes, not even touched.
    expect([sha(db), statSync(db).mtimeMs]).toEqual(before);
    const [run, ...more] = peek<RunRow>(runs, "SELECT * FROM runs");
    expect(more).toEqual([]);
    const text = readFileSync(policyPath("fleet.tightened"), "utf8");
    expect(run).toMatchObject({
      policy_hash: createHash("sha256").update(text).digest("hex"),
      policy_path: policyPath("fleet.tightened"),
      baseline_hash: null,
      baseline_path: null,
      calls: 60,
      sessions: 3,
      tightened: 22,
      loosened: 0,
      changed: 0,
      counterfactual: 20,
      inexact: 0,
      gate_failed: 1,
    });
    expect(JSON.parse(run!.options)).toEqual({
      filters: { sessions: null, identities: null, tools: null, since: null, until: null },
      fail_on: ["tightened", "loosened"],
      // The policy hides fleet_* from anonymous, whose server listed none.
      visibility: { hidden: 0, unhidden: 0 },
      sources: [db],
      source: 0,
      source_calls: 60,
    });
    expect(
      peek<{ text: string }>(runs, `SELECT text FROM policies WHERE hash = '${run!.policy_hash}'`),
    ).toEqual([{ text }]);
    const results = peek<Record<string, unknown>>(
      runs,
      "SELECT * FROM run_result_rows ORDER BY call",
    );
    const changed = report.calls.filter((c) => c.change !== null);
    expect(results).toEqual(
      changed.map((c) => ({
        run: run!.id,
        call: c.line,
        class: c.change,
        old_decision: c.before!.decision,
        old_code: c.before!.code,
        old_rule: c.before!.rule,
        new_decision: c.decision,
        new_code: c.code,
        new_rule: c.rule,
        new_reason: c.reason,
        new_retry_after_ms: c.retry_after_ms,
        counterfactual: c.counterfactual ? 1 : 0,
        inexact: 0,
      })),
    );
    // Each outcome stored once, each used.
    expect(
      peek(
        runs,
        `SELECT count(*) AS n FROM run_outcomes o WHERE o.run = ${run!.id} AND NOT EXISTS
           (SELECT 1 FROM run_results r WHERE r.run = o.run AND r.outcome = o.id)`,
      ),
    ).toEqual([{ n: 0 }]);
    expect(peek<{ n: number }>(runs, "SELECT count(*) AS n FROM run_outcomes")[0]!.n).toBeLessThan(
      results.length,
    );
    // The terminal UI reads the same results.
    const browser = openBrowser(db);
    try {
      const seen = browser.diffs({ run: run!.id, class: "tightened", filter: "" }).after(null, 100);
      expect(seen.map((d) => [d.call, d.class, d.old.decision, d.new.decision])).toEqual(
        changed.map((c) => [c.line, c.change, c.before!.decision, c.decision]),
      );
    } finally {
      browser.close();
    }
    // The runs file is one self-contained file in rollback-journal mode, beside the recording.
    expect(peek<{ journal_mode: string }>(runs, "PRAGMA journal_mode")).toEqual([
      { journal_mode: "delete" },
    ]);
    expect(readdirSync(join(db, "..")).sort()).toEqual(["demo.sqlite", "demo.sqlite.runs"]);
    // A recording that cannot be written still gets its runs: they are not written into it.
    chmodSync(db, 0o444);
    expect((await cli(["--policy", policyPath("fleet"), "--db", db])).stderr).toBe("");
    expect(peek(runs, "SELECT count(*) AS n FROM runs")).toEqual([{ n: 2 }]);
    expect([sha(db), statSync(db).mtimeMs]).toEqual(before);
  });

  it("a run against a baseline and with filters says so", async () => {
    const db = demoCopy(tempDir());
    await cli([
      "--policy",
      policyPath("fleet.loosened"),
      "--baseline",
      policyPath("fleet"),
      "--db",
      db,
      "--identity",
      "agent-ops",
      "--since",
      "1970-01-01",
      "--fail-on",
      "all",
    ]);
    const [run] = peek<RunRow>(`${db}.runs`, "SELECT * FROM runs");
    expect(run!.baseline_path).toBe(policyPath("fleet"));
    expect(run!.baseline_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(run!.calls).toBe(53);
    expect(JSON.parse(run!.options)).toMatchObject({
      filters: { identities: ["agent-ops"], since: 0, until: null },
      // `all` takes the tool lists' classes too.
      fail_on: ["tightened", "loosened", "changed", "hidden", "unhidden"],
      // The tool lists' changes are counted with the run (the same policy twice: none).
      visibility: { hidden: 0, unhidden: 0 },
    });
    // The run's two policies are kept with it, in the runs file.
    expect(peek(`${db}.runs`, "SELECT count(*) AS n FROM policies")).toEqual([{ n: 2 }]);
  });

  it("each recording of a merged run gets the run and its own calls' results, in its own runs file", async () => {
    const dir = tempDir();
    const { a, b } = twoMachines();
    const fa = writeRecording(join(dir, "a.sqlite"), a);
    const fb = writeRecording(join(dir, "b.sqlite"), b);
    const { report } = await jsonReport([
      "--policy",
      policyPath("fleet"),
      "--db",
      fa,
      "--db",
      fb,
      "--fail-on",
      "none",
    ]);
    for (const [i, f] of [fa, fb].entries()) {
      const [run] = peek<RunRow>(`${f}.runs`, "SELECT * FROM runs");
      expect(run!.calls).toBe(82);
      expect(JSON.parse(run!.options)).toMatchObject({
        sources: [fa, fb],
        source: i,
        source_calls: 41,
      });
      const session = i === 0 ? "a1" : "b1";
      const calls = peek<{ call: number }>(
        `${f}.runs`,
        "SELECT call FROM run_results ORDER BY call",
      ).map((r) => r.call);
      expect(calls).toEqual(
        report.calls.filter((c) => c.change !== null && c.session === session).map((c) => c.line),
      );
    }
  });

  it("--no-save leaves the recording's bytes as they were", async () => {
    const db = demoCopy(tempDir());
    const before = sha(db);
    const r = await cli(["--policy", policyPath("fleet.tightened"), "--db", db, "--no-save"]);
    expect(r.code).toBe(1);
    expect(sha(db)).toBe(before);
    expect(readdirSync(join(db, ".."))).toEqual(["demo.sqlite"]);
  });

  it("a replay that fails halfway saves nothing: exit 2, the recording as it was, no journal", async () => {
    // Enough changed calls that results reach the run's writer thread before the bad row.
    const dir = tempDir();
    const db = writeRecording(
      join(dir, "long.sqlite"),
      Array.from({ length: 6000 }, (_, i) => ({ session: "s1", ts: 1_000 + i, tool: "t" })),
    );
    const d = new Database(db);
    d.prepare("UPDATE calls SET decision = 'bogus' WHERE id = 5999").run();
    d.close();
    const policy = join(dir, "deny-all.json");
    writeFileSync(policy, JSON.stringify({ version: "1", default: "deny", tools: {} }));
    const before = sha(db);
    const r = await cli(["--policy", policy, "--db", db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${db}: calls row 5999: unknown decision "bogus"`);
    noStack(r.stderr);
    expect(sha(db)).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(["deny-all.json", "long.sqlite"]);
  });

  it("a replay killed while saving leaves the runs file as it was, readable and saved into later", async () => {
    const dir = tempDir();
    const db = writeRecording(
      join(dir, "long.sqlite"),
      Array.from({ length: 6000 }, (_, i) => ({ session: "s1", ts: 1_000 + i, tool: "t" })),
    );
    const runs = `${db}.runs`;
    const policy = join(dir, "deny-all.json");
    writeFileSync(policy, JSON.stringify({ version: "1", default: "deny", tools: {} }));
    const before = sha(db);
    expect((await cli(["--policy", policy, "--db", db])).code).toBe(1);
    const saved = sha(runs);
    // A reader of our own (the terminal UI, say) keeps the commit waiting, so the kill lands
    // while the run is written.
    const reading = new Database(runs, { readonly: true });
    reading.exec("BEGIN");
    reading.prepare("SELECT count(*) FROM runs").get();
    const child = spawn(process.execPath, [
      join(root, "bin/policy-replay.js"),
      "--policy",
      policy,
      "--db",
      db,
    ]);
    let stdout = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    for (
      let i = 0;
      i < 400 && !(stdout.includes("replayed") && existsSync(`${runs}-journal`));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(stdout).toContain("6,000 calls in 1 session replayed; 6,000 tightened");
    child.kill("SIGKILL");
    await exited;
    reading.exec("COMMIT");
    reading.close();

    expect(sha(db)).toBe(before);
    expect(sha(runs)).toBe(saved);
    const check = new Database(runs, { readonly: true });
    expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
    expect(check.prepare("SELECT count(*) AS n FROM runs").get()).toEqual({ n: 1 });
    check.close();
    expect((await cli(["--policy", policy, "--db", db, "--no-save"])).code).toBe(1);
    expect((await cli(["--policy", policy, "--db", db])).code).toBe(1);
    const [, run] = peek<RunRow>(runs, "SELECT * FROM runs ORDER BY id");
    expect(run).toMatchObject({ calls: 6000, tightened: 6000 });
    expect(peek(runs, "SELECT count(*) AS n FROM run_results")).toEqual([{ n: 12_000 }]);
    expect(readdirSync(dir).sort()).toEqual(["deny-all.json", "long.sqlite", "long.sqlite.runs"]);
    expect(sha(db)).toBe(before);
  });

  it("a read-only directory: replayed, said once on stderr, the exit code is the gate's", () => {
    const dir = tempDir();
    const db = demoCopy(dir);
    chmodSync(db, 0o444);
    chmodSync(dir, 0o555);
    const before = sha(db);
    // As root, permissions do not stop writes: run the CLI as nobody.
    const asNobody = process.getuid?.() === 0;
    if (asNobody) {
      // nobody must reach the file: open the test's own directories up to the temporary root.
      for (let d = dir; d.startsWith(tmpdir() + "/"); d = dirname(d)) chmodSync(d, 0o755);
      chmodSync(dir, 0o555);
    }
    const r = spawnSync(
      process.execPath,
      [join(root, "bin/policy-replay.js"), "--policy", policyPath("fleet.tightened"), "--db", db],
      { cwd: dir, encoding: "utf8", ...(asNobody ? { uid: 65534, gid: 65534 } : {}) },
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("22 tightened, 0 loosened");
    expect(r.stderr).toBe(
      `policy-replay: run not saved in ${db}.runs: read-only (cannot create it: permission denied)\n`,
    );
    expect(sha(db)).toBe(before);
    expect(readdirSync(dir)).toEqual(["demo.sqlite"]);
  });
});

describe("bad recordings: one line naming the file, exit 2", () => {
  const expectOneLine = (
    r: { code: number; stdout: string; stderr: string },
    ...parts: string[]
  ) => {
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    for (const p of parts) expect(r.stderr).toContain(p);
    noStack(r.stderr);
  };

  it("a missing file", async () => {
    const db = join(tempDir(), "nope.sqlite");
    expectOneLine(
      await cli(["--policy", policyPath("fleet"), "--db", db]),
      db,
      "no such recording",
    );
  });

  it("random bytes", async () => {
    const db = join(tempDir(), "noise.sqlite");
    writeFileSync(db, Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919) % 251)));
    expectOneLine(await cli(["--policy", policyPath("fleet"), "--db", db]), db, "not a recording");
  });

  it("a recording from a newer policy-replay (user_version bumped)", async () => {
    const db = demoCopy(tempDir());
    const d = new Database(db);
    d.pragma("user_version = 99");
    d.close();
    expectOneLine(
      await cli(["--policy", policyPath("fleet"), "--db", db]),
      db,
      "schema version 99 is newer",
    );
  });

  it("a policy that fails validation, with a recording", async () => {
    const db = demoCopy(tempDir());
    const before = sha(db);
    const r = await cli([
      "--policy",
      join(root, "fixtures/invalid-policies/negative-max.json"),
      "--db",
      db,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("negative-max.json");
    noStack(r.stderr);
    expect(sha(db)).toBe(before);
  });

  it("a recording of an older schema is upgraded once, said on stderr, and replays the same", async () => {
    const db = demoCopy(tempDir());
    // Schema 3: before call_keys (and schema 5's run_outcomes).
    toSchema4(db);
    const d = new Database(db);
    d.exec(`DROP TRIGGER calls_key_stale; DROP TABLE call_keys;
            ALTER TABLE calls DROP COLUMN call_key; PRAGMA user_version = 3;`);
    d.close();
    const args = ["--policy", policyPath("fleet.tightened"), "--db", db, "--no-save"];
    const first = await cli(args);
    expect(first.stderr).toBe(
      `policy-replay: upgrading ${db} from schema 3 to ${SCHEMA_VERSION} (once for this file)\n`,
    );
    expect(first.stdout).toContain("22 tightened, 0 loosened");
    const second = await cli(args);
    expect(second.stderr).toBe("");
    expect(second.stdout).toBe(first.stdout);
  });

  it("a runs file given as a recording: what it is, in one line", async () => {
    const db = demoCopy(tempDir());
    expect((await cli(["--policy", policyPath("fleet"), "--db", db])).code).toBe(0);
    expectOneLine(
      await cli(["--policy", policyPath("fleet"), "--db", `${db}.runs`]),
      `${db}.runs: the saved runs of a recording, not a recording; open the recording itself`,
    );
  });

  it("a recording that is a copy of another file type is not read past its header", async () => {
    const db = join(tempDir(), "policy.sqlite");
    copyFileSync(policyPath("fleet"), db);
    expectOneLine(await cli(["--policy", policyPath("fleet"), "--db", db]), db);
    expect(existsSync(db)).toBe(true);
  });
});

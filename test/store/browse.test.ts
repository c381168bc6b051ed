import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { type Browser, openBrowser, parseDiffFilter } from "../../src/store/browse.js";
import { openStore, SCHEMA_VERSION, StoreError } from "../../src/store/sqlite.js";
import { copyDemo, LOOSENED, saveRun, tempDirs, TIGHTENED } from "../tui/helpers.js";
import {
  allow,
  rateLimited,
  SCHEMA_4_RUN_RESULTS,
  session as sessionStart,
  T0,
  toSchema5,
} from "./helpers.js";

const temp = tempDirs();
const open: Browser[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.close();
});
const browse = (file: string): Browser => {
  const b = openBrowser(file);
  open.push(b);
  return b;
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof StoreError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return undefined;
}

/** A recording of `n` sessions that all start at the same time, `calls` calls each. */
function ties(dir: string, n: number, calls: number): string {
  const file = join(dir, "ties.sqlite");
  const store = openStore(file, { checkpointWorker: false });
  for (let s = 0; s < n; s++) {
    store.startSession({ ...sessionStart(`s${s}`, T0), identity: `id-${n - s}` });
    for (let c = 0; c < calls; c++) {
      store.recordDecision({
        session: `s${s}`,
        seq: c * 2,
        ts: T0 + c,
        identity: `id-${n - s}`,
        tool: c % 3 === 0 ? "fleet_secrets_set" : "fleet_status",
        arguments: {},
        jsonrpcId: String(c),
        mode: "enforce",
        decision: c % 3 === 0 ? rateLimited : allow,
      });
    }
  }
  store.close();
  return file;
}

describe("openBrowser", () => {
  it("says clearly why a file cannot be opened", () => {
    const dir = temp();
    expect(codeOf(() => openBrowser(join(dir, "nope.sqlite")))).toMatch(
      /^store_missing: .*no such recording/,
    );
    const junk = join(dir, "junk.sqlite");
    writeFileSync(junk, "this is not a database, just some text that is long enough".repeat(100));
    expect(codeOf(() => openBrowser(junk))).toMatch(/^store_corrupt: .*not a recording/);
    const blank = join(dir, "blank.sqlite");
    new Database(blank).close();
    writeFileSync(blank, readFileSync(blank));
    const empty = new Database(blank);
    empty.exec("CREATE TABLE t (x)");
    empty.close();
    expect(codeOf(() => openBrowser(blank))).toMatch(/^store_not_recording/);
    const newer = copyDemo(dir, "newer.sqlite");
    const db = new Database(newer);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(codeOf(() => openBrowser(newer))).toMatch(
      /^store_newer_schema: .*newer than this policy-replay/,
    );
    const older = copyDemo(dir, "older.sqlite");
    const db2 = new Database(older);
    db2.pragma("user_version = 2");
    db2.close();
    expect(codeOf(() => openBrowser(older))).toMatch(/^store_needs_upgrade: .*replaying it once/);
  });

  it("never writes: the file is byte for byte the same after browsing", () => {
    const file = copyDemo(temp());
    const before = readFileSync(file);
    const b = browse(file);
    b.sessions({ sort: "newest", filter: "" }).after(null, 10);
    b.countCalls(b.sessions({ sort: "oldest", filter: "" }).after(null, 1)[0]!.id, -1, 1000);
    b.close();
    expect(readFileSync(file).equals(before)).toBe(true);
  });
});

describe("sessions", () => {
  it("pages by keyset in every sort, ties broken by rowid, both ways", () => {
    const b = browse(ties(temp(), 7, 1));
    for (const sort of ["newest", "oldest", "identity", "longest"] as const) {
      const k = b.sessions({ sort, filter: "" });
      const all = k.after(null, 100).map((r) => r.id);
      expect(all).toHaveLength(7);
      const paged: string[] = [];
      let last = null;
      for (;;) {
        const page = k.after(last, 3);
        if (page.length === 0) break;
        paged.push(...page.map((r) => r.id));
        last = page[page.length - 1]!;
      }
      expect(paged).toEqual(all);
      const backwards: string[] = [];
      let first = null;
      for (;;) {
        const page = k.before(first, 2);
        if (page.length === 0) break;
        backwards.unshift(...page.map((r) => r.id));
        first = page[0]!;
      }
      expect(backwards).toEqual(all);
    }
    expect(
      b
        .sessions({ sort: "identity", filter: "" })
        .after(null, 2)
        .map((r) => r.identity),
    ).toEqual(["id-1", "id-2"]);
  });

  it("filters by id, identity, client or server, and counts matches", () => {
    const b = browse(copyDemo(temp()));
    expect(b.sessionCount()).toBe(3);
    expect(b.sessionCount("ci-")).toBe(1);
    expect(
      b
        .sessions({ sort: "newest", filter: "EVERYTHING" })
        .after(null, 10)
        .map((r) => r.identity),
    ).toEqual(["anonymous"]);
    expect(b.sessions({ sort: "newest", filter: "%" }).after(null, 10)).toEqual([]);
    const s = b.sessions({ sort: "newest", filter: "fixture" }).after(null, 10);
    expect(s.map((r) => r.client)).toEqual(["demo-ci-bot 1.0.0", "demo-agent-ops 1.0.0"]);
  });

  it("counts a session's decisions in slices", () => {
    const b = browse(ties(temp(), 1, 10));
    const first = b.countCalls("s0", -1, 4);
    expect(first).toEqual({ calls: 4, denied: 2, rateLimited: 2, approvals: 0, lastSeq: 6 });
    const rest = b.countCalls("s0", first.lastSeq, 100);
    expect(rest).toEqual({ calls: 6, denied: 2, rateLimited: 2, approvals: 0, lastSeq: 18 });
  });
});

describe("calls, answers and messages", () => {
  it("reads a session's calls in order, filtered, with the rate limit that denied", () => {
    const b = browse(copyDemo(temp()));
    const ops = b.sessions({ sort: "identity", filter: "agent-ops" }).after(null, 1)[0]!;
    const calls = b.calls({ session: ops.id, filter: "" });
    const page = calls.after(null, 5);
    expect(page.map((c) => c.tool)).toEqual([
      "fleet_status",
      "fleet_hosts_list",
      "fleet_secrets_get",
      "fleet_secrets_set",
      "fleet_secrets_set",
    ]);
    const limited = b.calls({ session: ops.id, filter: "rate" }).after(null, 100);
    expect(limited).toHaveLength(15);
    expect(limited[0]!.limit).toEqual({
      counter: "fleet_secrets_set_rate",
      scope: "grant",
      algorithm: "sliding",
      window_ms: 60_000,
      max: 30,
      count: 30,
    });
    expect(calls.before(null, 1)[0]!.tool).toBe("fleet_wipe");
  });

  it("finds a call's answer by JSON-RPC id, and the messages around it", () => {
    const b = browse(copyDemo(temp()));
    const ops = b.sessions({ sort: "identity", filter: "agent-ops" }).after(null, 1)[0]!;
    const limited = b.calls({ session: ops.id, filter: "rate_limited" }).after(null, 1)[0]!;
    const call = b.call(limited.id)!;
    expect(call.arguments).toMatchObject({
      team: "payments",
      value: { $redacted: expect.any(String) },
    });
    const answer = b.answer(call)!;
    expect(answer.direction).toBe("proxy_to_client");
    expect(answer.jsonrpcId).toBe(call.jsonrpcId);
    expect(JSON.stringify(answer.body)).toContain("rate-limited");
    const around = b.messages(ops.id, call.seq - 2, answer.seq + 2, 10);
    expect(around.map((m) => m.seq)).toEqual([
      call.seq - 2,
      call.seq - 1,
      call.seq,
      answer.seq,
      answer.seq + 1,
      answer.seq + 2,
    ]);
    const cut = b.messages(ops.id, 5, 5, 1, 20)[0]!;
    expect(cut.cut).toBe(true);
    expect(typeof cut.body).toBe("string");
    expect(b.policy(ops.policyHash)).toContain('"fleet_secrets_set"');
    expect(b.policy("nope")).toBeNull();
  });
});

describe("counters", () => {
  it("reads where a session's counters lived and a call's counts, and a schema 5 file's as none", () => {
    const file = join(temp(), "counters.sqlite");
    const store = openStore(file, { checkpointWorker: false });
    store.startSession({ ...sessionStart(), counters: "redis" });
    const counts = [{ ...rateLimited.limit!, count: 29 }];
    const id = store.recordDecision({
      session: "s1",
      seq: 1,
      ts: T0,
      identity: "agent-a",
      tool: "fleet",
      arguments: {},
      jsonrpcId: "1",
      mode: "enforce",
      decision: allow,
      counts,
      counterSeq: 7,
    });
    store.close();
    const read = (b: Browser) => {
      const call = b.call(id)!;
      return [b.session("s1")!.counters, call.counts, call.counterSeq];
    };
    const b6 = browse(file);
    expect(read(b6)).toEqual(["redis", counts, 7]);
    b6.close();
    open.splice(open.indexOf(b6), 1);
    toSchema5(file);
    const b5 = browse(file);
    expect(read(b5)).toEqual([null, null, null]);
    expect(b5.sessions({ sort: "newest", filter: "" }).after(null, 5)).toHaveLength(1);
    // Read-only: the schema 5 file is left as it was.
    const db = new Database(file, { readonly: true });
    expect(db.pragma("user_version", { simple: true })).toBe(5);
    db.close();
  });
});

describe("runs", () => {
  it("lists saved runs newest first and pages a run's results by class and filter", () => {
    const file = copyDemo(temp());
    const first = saveRun(file, TIGHTENED, { createdAt: T0 });
    const second = saveRun(file, TIGHTENED, { createdAt: T0 + 1 });
    const b = browse(file);
    expect(b.runCount()).toBe(2);
    expect(
      b
        .runs()
        .after(null, 10)
        .map((r) => r.id),
    ).toEqual([second, first]);
    const run = b.run(first)!;
    expect(run).toMatchObject({ calls: 60, tightened: 22, loosened: 0, gateFailed: true });
    expect(b.diffCount(first, "all")).toBe(22);
    expect(b.diffCount(first, "tightened")).toBe(22);
    expect(b.diffCount(first, "loosened")).toBe(0);
    const all = b.diffs({ run: first, class: "all", filter: "" }).after(null, 100);
    expect(all).toHaveLength(22);
    expect(all.every((d) => d.class === "tightened" && d.tool !== null)).toBe(true);
    expect(b.diffs({ run: first, class: "tightened", filter: "" }).after(null, 100)).toEqual(all);
    expect(b.diffs({ run: first, class: "changed", filter: "" }).after(null, 100)).toEqual([]);
    const gets = b.diffs({ run: first, class: "all", filter: "tool:secrets_get" }).after(null, 100);
    expect(gets.map((d) => d.tool)).toEqual(["fleet_secrets_get"]);
    expect(
      b.diffs({ run: first, class: "all", filter: "identity:ci-bot" }).after(null, 100),
    ).toHaveLength(all.filter((d) => d.identity === "ci-bot").length);
    const paged = b.diffs({ run: first, class: "all", filter: "" });
    expect([...paged.after(null, 10), ...paged.after(all[9]!, 100)]).toEqual(all);
    expect(b.diff(first, all[0]!.call)).toEqual(all[0]);
  });

  // The browser opens read-only and never upgrades: a schema 4 file's results are read from
  // run_results' own columns.
  it("reads a schema 4 file's saved runs as it reads them once upgraded", () => {
    const file = copyDemo(temp());
    const id = saveRun(file, TIGHTENED, { createdAt: T0, inRecording: true });
    const read = (b: Browser) => ({
      all: b.diffs({ run: id, class: "all", filter: "" }).after(null, 100),
      tightened: b.diffs({ run: id, class: "tightened", filter: "tool:fleet_*" }).after(null, 5),
      counts: [b.diffCount(id, "all"), b.diffCount(id, "tightened"), b.diffCount(id, "inexact")],
      one: b.diff(id, 5),
    });
    const b5 = browse(file);
    const five = read(b5);
    b5.close();
    open.splice(open.indexOf(b5), 1);
    expect(five.all).toHaveLength(22);
    const db = new Database(file);
    db.exec(`
      CREATE TEMP TABLE rows AS SELECT * FROM run_result_rows;
      DROP VIEW run_result_rows;
      DROP TABLE run_results;
      DROP TABLE run_outcomes;
      ${SCHEMA_4_RUN_RESULTS}
      INSERT INTO run_results SELECT * FROM temp.rows;
      PRAGMA user_version = 4;
    `);
    db.close();
    expect(read(browse(file))).toEqual(five);
  });

  it("reads the runs file beside the recording with the runs an older version saved inside it", () => {
    const file = copyDemo(temp());
    const old = saveRun(file, LOOSENED, { createdAt: T0, inRecording: true });
    const id = saveRun(file, TIGHTENED, { createdAt: T0 + 1 });
    // Numbered after the recording's own.
    expect(id).toBe(old + 1);
    const b = browse(file);
    expect(b.runCount()).toBe(2);
    expect(
      b
        .runs()
        .after(null, 10)
        .map((r) => [r.id, r.tightened, r.loosened]),
    ).toEqual([
      [id, 22, 0],
      [old, 0, b.run(old)!.loosened],
    ]);
    expect(b.run(old)!.loosened).toBeGreaterThan(0);
    // Each run's results from its own file, joined to the recording's calls.
    expect(b.diffCount(id, "tightened")).toBe(22);
    expect(b.diffCount(old, "tightened")).toBe(0);
    expect(b.diffCount(old, "loosened")).toBe(b.run(old)!.loosened);
    const loosened = b.diffs({ run: old, class: "loosened", filter: "" }).after(null, 100);
    expect(loosened.every((d) => d.tool !== null && d.class === "loosened")).toBe(true);
    expect(b.diff(old, loosened[0]!.call)).toEqual(loosened[0]);
    expect(b.policy(b.run(id)!.policyHash)).toBe(readFileSync(TIGHTENED, "utf8"));
    expect(b.policy(b.run(old)!.policyHash)).toBe(readFileSync(LOOSENED, "utf8"));
  });

  it("a runs file made after the recording was opened is read once the runs are read again", () => {
    const file = copyDemo(temp());
    const b = browse(file);
    expect(b.runCount()).toBe(0);
    expect(b.runs().after(null, 5)).toEqual([]);
    const id = saveRun(file, TIGHTENED);
    expect(b.runCount()).toBe(1);
    expect(
      b
        .runs()
        .after(null, 5)
        .map((r) => r.id),
    ).toEqual([id]);
    expect(b.diffCount(id, "all")).toBe(22);
  });

  it("runs made from another recording (this one replaced it) are not shown, with a notice", () => {
    const dir = temp();
    const file = copyDemo(dir);
    const kept = saveRun(file, TIGHTENED);
    // The demo recorded afresh over the same name: other sessions, other calls.
    const other = join(dir, "other.sqlite");
    writeFileSync(other, "");
    const store = openStore(other, { checkpointWorker: false });
    store.startSession(sessionStart("fresh", T0));
    store.recordDecision({
      session: "fresh",
      seq: 0,
      ts: T0,
      identity: "agent-a",
      tool: "fleet_status",
      arguments: {},
      jsonrpcId: "1",
      mode: "enforce",
      decision: allow,
    });
    store.close();
    expect(browse(file).runCount()).toBe(1);
    renameSync(other, file);
    const b = browse(file);
    expect(b.runCount()).toBe(0);
    expect(b.runs().after(null, 5)).toEqual([]);
    expect(b.run(kept)).toBeNull();
    expect(b.runsNotice()).toBe(
      "demo.sqlite.runs: 1 run of another recording (this one replaced it) not shown",
    );
    // A run of the new recording is shown; the old one still is not.
    const fresh = saveRun(file, TIGHTENED);
    expect(fresh).not.toBe(kept);
    const again = browse(file);
    expect(
      again
        .runs()
        .after(null, 5)
        .map((r) => r.id),
    ).toEqual([fresh]);
    expect(again.runsNotice()).toMatch(/^demo\.sqlite\.runs: 1 run of another/);
  });

  it("a runs file that cannot be read leaves the recording browsable, with a notice", () => {
    const file = copyDemo(temp());
    writeFileSync(`${file}.runs`, "not a database ".repeat(500));
    const b = browse(file);
    expect(b.sessionCount()).toBe(3);
    expect(b.runCount()).toBe(0);
    expect(b.runsNotice()).toMatch(
      /^demo\.sqlite\.runs: cannot be read \(file is not a database\); its runs are not shown$/,
    );
  });

  it("a runs file given where a recording belongs is refused in one line", () => {
    const file = copyDemo(temp());
    saveRun(file, TIGHTENED);
    expect(codeOf(() => openBrowser(`${file}.runs`))).toBe(
      `store_not_recording: ${file}.runs: the saved runs of a recording, not a recording; open the recording itself`,
    );
    expect(codeOf(() => openStore(`${file}.runs`))).toMatch(
      /^store_not_recording: .*runs: the saved runs/,
    );
  });

  it("splits a diff filter into tool, identity and the rest", () => {
    expect(parseDiffFilter("tool:fleet_* identity:ci-bot loop")).toEqual({
      tool: "fleet_*",
      identity: "ci-bot",
      any: "loop",
    });
    expect(parseDiffFilter("  ")).toEqual({ tool: null, identity: null, any: null });
  });
});

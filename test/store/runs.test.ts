import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { type Browser, type DiffClass, type DiffRow, openBrowser } from "../../src/store/browse.js";
import { type RunRecord, type RunResultRecord, RunWriter } from "../../src/store/runs.js";
import { openStore, StoreError } from "../../src/store/sqlite.js";
import { allow, decision, session, tempDirs } from "./helpers.js";

const tempDir = tempDirs();

/** A recording of `n` calls in two sessions (ids 1..n). */
function recording(n: number): string {
  const file = join(tempDir(), "rec.sqlite");
  const store = openStore(file, { checkpointWorker: false });
  store.transaction(() => {
    store.startSession(session("s1"));
    store.startSession(session("s2"));
    for (let i = 1; i <= n; i++) {
      store.recordDecision(decision(i, { session: i % 2 ? "s1" : "s2", tool: `t${i % 3}` }));
    }
  });
  store.close();
  return file;
}

const run = (over: Partial<RunRecord> = {}): RunRecord => ({
  createdAt: 1_763_900_000_000,
  policy: { hash: "c".repeat(64), path: "candidate.json", text: '{"version":"1"}' },
  baseline: null,
  options: { fail_on: ["tightened"] },
  calls: 10,
  sessions: 2,
  tightened: 2,
  loosened: 1,
  changed: 0,
  counterfactual: 1,
  inexact: 1,
  gateFailed: true,
  ...over,
});

const result = (call: number, cls: RunResultRecord["class"]): RunResultRecord => ({
  call,
  class: cls,
  oldDecision: "allow",
  oldCode: "rule_allow",
  oldRule: "t*",
  newDecision: cls === "loosened" ? "allow" : "deny",
  newCode: cls === null ? "rule_allow" : "rate_limited",
  newRule: "t*",
  newReason: cls === null ? null : "slow down",
  newRetryAfterMs: cls === "tightened" ? 1500 : null,
  counterfactual: call > 3,
  inexact: cls === null,
});

/** Every result of a run, as the browser reads them (the terminal UI's reads). */
const resultsOf = (b: Browser, run: number, cls: DiffClass = "all"): DiffRow[] =>
  b.diffs({ run, class: cls, filter: "" }).after(null, 100_000);

/** The recording's bytes and modification time: a saved run must leave both alone. */
const fingerprint = (file: string): [string, number] => [
  createHash("sha256").update(readFileSync(file)).digest("hex"),
  statSync(file).mtimeMs,
];

describe("saved runs", () => {
  const saveOne = async (
    file: string,
    record: RunRecord,
    results: RunResultRecord[] = [],
  ): Promise<number> => {
    const writer = new RunWriter([file]);
    for (const r of results) writer.add(0, r);
    const [id] = await writer.save([record]);
    if (typeof id !== "number") throw new Error(`not saved: ${String(id)}`);
    return id;
  };
  const browsers: Browser[] = [];
  afterEach(() => {
    for (const b of browsers.splice(0)) b.close();
  });
  const browse = (file: string): Browser => {
    const b = openBrowser(file);
    browsers.push(b);
    return b;
  };

  it("a RunWriter saves the run, its policies and its results beside the recording; the browser lists and pages them", async () => {
    const file = recording(10);
    const before = fingerprint(file);
    const classes: RunResultRecord["class"][] = ["tightened", null, "loosened", "tightened"];
    const first = await saveOne(
      file,
      run(),
      [2, 4, 7, 9].map((call, i) => result(call, classes[i]!)),
    );
    const second = await saveOne(
      file,
      run({
        baseline: { hash: "b".repeat(64), path: "base.json", text: "{}" },
        gateFailed: false,
      }),
    );
    // The recording is only read: its bytes and time are as they were.
    expect(fingerprint(file)).toEqual(before);
    expect(readdirSync(dirname(file)).sort()).toEqual(["rec.sqlite", "rec.sqlite.runs"]);

    const b = browse(file);
    expect(b.runCount()).toBe(2);
    expect(b.runsNotice()).toBeNull();
    expect(
      b
        .runs()
        .after(null, 10)
        .map((r) => r.id),
    ).toEqual([second, first]);
    expect(b.run(first)).toEqual({
      id: first,
      createdAt: 1_763_900_000_000,
      policyHash: "c".repeat(64),
      policyPath: "candidate.json",
      baselineHash: null,
      baselinePath: null,
      options: { fail_on: ["tightened"] },
      calls: 10,
      sessions: 2,
      tightened: 2,
      loosened: 1,
      changed: 0,
      counterfactual: 1,
      inexact: 1,
      gateFailed: true,
    });
    expect(b.run(second)).toMatchObject({ baselinePath: "base.json", gateFailed: false });
    expect(b.run(999)).toBeNull();
    // The run's policies are in the runs file; the recorded ones stay the recording's.
    expect(b.policy("c".repeat(64))).toBe('{"version":"1"}');
    expect(b.policy("b".repeat(64))).toBe("{}");
    expect(b.policy("h1")).toBeNull();

    // With the call each result is about.
    const all = resultsOf(b, first);
    expect(all.map((r) => [r.call, r.class])).toEqual([
      [2, "tightened"],
      [4, null],
      [7, "loosened"],
      [9, "tightened"],
    ]);
    expect(all[0]).toEqual({
      run: first,
      call: 2,
      session: "s2",
      seq: expect.any(Number) as unknown,
      identity: "agent-a",
      ts: expect.any(Number) as unknown,
      tool: "t2",
      class: "tightened",
      old: { decision: "allow", code: "rule_allow", rule: "t*" },
      new: {
        decision: "deny",
        code: "rate_limited",
        rule: "t*",
        reason: "slow down",
        retryAfterMs: 1500,
      },
      counterfactual: false,
      inexact: false,
    });
    expect(all[1]).toMatchObject({
      call: 4,
      class: null,
      new: { decision: "deny", code: "rule_allow", reason: null, retryAfterMs: null },
      counterfactual: true,
      inexact: true,
    });
    // Keyset pages by call id.
    const pages = b.diffs({ run: first, class: "all", filter: "" });
    const page1 = pages.after(null, 2);
    expect([...page1, ...pages.after(page1.at(-1)!, 2)].map((r) => r.call)).toEqual([2, 4, 7, 9]);
    expect(pages.after(all.at(-1)!, 2)).toEqual([]);
    // By class, and the inexact calls.
    expect(resultsOf(b, first, "tightened").map((r) => r.call)).toEqual([2, 9]);
    expect(resultsOf(b, first, "inexact").map((r) => r.call)).toEqual([4]);
    expect([b.diffCount(first, "all"), b.diffCount(first, "tightened")]).toEqual([4, 2]);
    expect(b.diff(first, 7)).toEqual(all[2]);
    expect(resultsOf(b, second)).toEqual([]);
  });

  it("each file gets its own results; past what a transaction holds they wait in a temporary table", async () => {
    const a = recording(5000);
    const b = join(tempDir(), "other.sqlite");
    copyFileSync(a, b);
    // Results whose strings differ in ways a careless key would merge: null against "", and
    // values that run into each other.
    const odd = (call: number): RunResultRecord => ({
      ...result(call, "changed"),
      oldRule: call % 4 === 0 ? null : call % 4 === 1 ? "" : "ab",
      newRule: call % 4 === 2 ? "" : "b",
      newReason: call % 3 === 0 ? null : `reason ${call % 5}`,
      newRetryAfterMs: call % 7 === 0 ? 250 : null,
    });
    const results = Array.from({ length: 4000 }, (_, i) => odd(i + 1));
    const expected = (calls: RunResultRecord[]) =>
      calls.map((r) => ({
        call: r.call,
        old: { rule: r.oldRule },
        new: { rule: r.newRule, reason: r.newReason, retryAfterMs: r.newRetryAfterMs },
      }));
    const ids: number[][] = [];
    for (const held of [16, 1000, 100_000]) {
      const writer = new RunWriter([a, b], held);
      for (const r of results) writer.add(r.call % 2, r);
      expect(writer.count(0)).toBe(2000);
      const saved = await writer.save([run(), run({ calls: 20 })]);
      ids.push(saved as number[]);
    }
    for (const [i, file] of [a, b].entries()) {
      const browser = browse(file);
      for (const id of ids.map((pair) => pair[i]!)) {
        expect(resultsOf(browser, id)).toMatchObject(
          expected(results.filter((r) => r.call % 2 === i)),
        );
        expect(browser.run(id)?.calls).toBe(i === 0 ? 10 : 20);
      }
    }
  });

  it("while the replay reads the recording the run is written beside it, unseen until the commit, which waits for the runs file's readers", async () => {
    const file = recording(100);
    const reading = new Database(file, { readonly: true });
    reading.exec("BEGIN");
    expect(reading.prepare("SELECT count(*) AS n FROM calls").get()).toEqual({ n: 100 });
    const writer = new RunWriter([file]);
    for (let call = 1; call <= 50; call++) writer.add(0, result(call, "tightened"));
    await writer.flush();
    // Written under the runs file's write lock, and seen by nobody yet.
    const runsFile = `${file}.runs`;
    const viewer = new Database(runsFile, { readonly: true });
    viewer.exec("BEGIN");
    expect(viewer.prepare("SELECT count(*) AS n FROM run_results").get()).toEqual({ n: 0 });
    setTimeout(() => viewer.exec("COMMIT"), 200);
    const [id] = await writer.save([run()]);
    // The replay's read of the recording never held anything up.
    reading.exec("COMMIT");
    reading.close();
    viewer.close();
    expect(resultsOf(browse(file), id as number)).toHaveLength(50);
  });

  it("a live recording (WAL) is never locked while a replay runs: the proxy keeps writing", async () => {
    const file = join(tempDir(), "live.sqlite");
    const store = openStore(file, { checkpointWorker: false });
    store.transaction(() => {
      store.startSession(session("s1"));
      for (let i = 1; i <= 10; i++) store.recordDecision(decision(i, { session: "s1" }));
    });
    const writer = new RunWriter([file]);
    for (let call = 1; call <= 10; call++) writer.add(0, result(call, "tightened"));
    await writer.flush();
    store.transaction(() => store.recordDecision(decision(11, { session: "s1" })));
    const [id] = await writer.save([run()]);
    expect(typeof id).toBe("number");
    // The run belongs to the recording as it grows.
    store.transaction(() => store.recordDecision(decision(12, { session: "s1" })));
    const b = browse(file);
    expect(b.runCount()).toBe(1);
    expect(resultsOf(b, id as number)).toHaveLength(10);
    store.close();
  });

  it("two replays saving beside one recording: the second waits its turn and both runs are saved", async () => {
    const file = recording(100);
    const first = new RunWriter([file]);
    const second = new RunWriter([file]);
    for (let call = 1; call <= 30; call++) first.add(0, result(call, "tightened"));
    await first.flush();
    for (let call = 1; call <= 40; call++) second.add(0, result(call, "loosened"));
    await second.flush();
    const [a] = await first.save([run()]);
    const [b] = await second.save([run({ loosened: 40 })]);
    const browser = browse(file);
    expect(resultsOf(browser, a as number).map((r) => r.class)).toEqual(
      Array(30).fill("tightened"),
    );
    expect(resultsOf(browser, b as number).map((r) => r.class)).toEqual(Array(40).fill("loosened"));
  });

  it("close() saves nothing, leaves the recording as it was and the runs file writable at once", async () => {
    const file = recording(100);
    const before = fingerprint(file);
    const writer = new RunWriter([file]);
    for (let call = 1; call <= 30; call++) writer.add(0, result(call, "tightened"));
    await writer.flush();
    await writer.close();
    expect(fingerprint(file)).toEqual(before);
    expect(existsSync(`${file}.runs-journal`)).toBe(false);
    const db = new Database(`${file}.runs`, { timeout: 0 });
    db.exec("BEGIN IMMEDIATE; COMMIT");
    expect(db.prepare("SELECT count(*) AS n FROM runs").get()).toEqual({ n: 0 });
    db.close();
  });

  it("a recording that is gone, or a runs file that is not one, cannot take a run: a StoreError naming the runs file, the others saved", async () => {
    const good = recording(10);
    const missing = join(tempDir(), "missing.sqlite");
    const taken = recording(10);
    writeFileSync(`${taken}.runs`, "not a database ".repeat(100));
    const writer = new RunWriter([missing, good, taken]);
    for (const file of [0, 1, 2]) writer.add(file, result(file + 1, "tightened"));
    const [a, b, c] = await writer.save([run(), run(), run()]);
    expect(a).toBeInstanceOf(StoreError);
    expect((a as StoreError).message).toMatch(
      /^.*missing\.sqlite\.runs: cannot save the run: cannot read its recording: /,
    );
    expect(existsSync(`${missing}.runs`)).toBe(false);
    expect(typeof b).toBe("number");
    expect(c).toBeInstanceOf(StoreError);
    expect((c as StoreError).message).toContain("rec.sqlite.runs: cannot save the run:");
    expect(readFileSync(`${taken}.runs`, "utf8")).toBe("not a database ".repeat(100));
  });

  it("a runs file holding another SQLite database is refused as such", async () => {
    const file = recording(10);
    const other = new Database(`${file}.runs`);
    other.exec("CREATE TABLE notes (text TEXT)");
    other.close();
    const writer = new RunWriter([file]);
    const [a] = await writer.save([run()]);
    expect((a as StoreError).message).toBe(
      `${file}.runs: cannot save the run: not a policy-replay runs file (another file is where a recording's saved runs go)`,
    );
  });
});

describe("RecordingStore.transaction", () => {
  it("commits every write together, or none when the function throws", () => {
    const file = join(tempDir(), "rec.sqlite");
    const store = openStore(file, { checkpointWorker: false });
    expect(() =>
      store.transaction(() => {
        store.startSession(session("s1"));
        store.recordDecision(decision(1));
        store.recordMessage({
          session: "s1",
          direction: "client_to_server",
          seq: 1,
          ts: 1,
          method: "x",
          jsonrpcId: null,
          message: {},
        });
        throw new Error("bad line");
      }),
    ).toThrow("bad line");
    expect([...store.calls()]).toEqual([]);
    expect([...store.sessions()]).toEqual([]);
    expect([...store.messages()]).toEqual([]);
    store.transaction(() => {
      store.startSession(session("s1"));
      store.recordDecision(decision(1, { decision: allow }));
    });
    expect([...store.calls()]).toHaveLength(1);
    store.close();
  });
});

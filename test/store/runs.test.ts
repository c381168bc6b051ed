import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { type RunRecord, type RunResultRecord, RunWriter } from "../../src/store/runs.js";
import { openStore, openStoreReadOnly, StoreError } from "../../src/store/sqlite.js";
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

  it("a RunWriter saves the run, its policies and its results; the reader lists and pages them", async () => {
    const file = recording(10);
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

    const reader = openStoreReadOnly(file);
    try {
      expect(reader.listRuns().map((r) => r.id)).toEqual([second, first]);
      expect(reader.getRun(first)).toEqual({
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
      expect(reader.getRun(second)).toMatchObject({ baselinePath: "base.json", gateFailed: false });
      expect(reader.getRun(999)).toBeNull();
      expect(reader.policy("c".repeat(64))).toBe('{"version":"1"}');
      expect(reader.policy("b".repeat(64))).toBe("{}");

      // With the call each result is about.
      const all = reader.runResults(first);
      expect(all.map((r) => [r.call, r.class])).toEqual([
        [2, "tightened"],
        [4, null],
        [7, "loosened"],
        [9, "tightened"],
      ]);
      expect(all[0]).toEqual({
        call: 2,
        session: "s2",
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
      const page1 = reader.runResults(first, { limit: 2 });
      const page2 = reader.runResults(first, { limit: 2, afterCall: page1.at(-1)!.call });
      expect([...page1, ...page2].map((r) => r.call)).toEqual([2, 4, 7, 9]);
      expect(reader.runResults(first, { afterCall: 9 })).toEqual([]);
      // By class; null: the inexact calls that kept their decision.
      expect(reader.runResults(first, { class: "tightened" }).map((r) => r.call)).toEqual([2, 9]);
      expect(
        reader.runResults(first, { class: "tightened", afterCall: 2 }).map((r) => r.call),
      ).toEqual([9]);
      expect(reader.runResults(first, { class: null }).map((r) => r.call)).toEqual([4]);
      expect(reader.runResults(second)).toEqual([]);
    } finally {
      reader.close();
    }
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
      const reader = openStoreReadOnly(file);
      try {
        for (const id of ids.map((pair) => pair[i]!)) {
          const got = reader.runResults(id, { limit: 10_000 });
          expect(got).toMatchObject(expected(results.filter((r) => r.call % 2 === i)));
          expect(reader.getRun(id)?.calls).toBe(i === 0 ? 10 : 20);
        }
      } finally {
        reader.close();
      }
    }
  });

  it("while the replay reads, the results are written but unseen; the commit waits for the readers", async () => {
    const file = recording(100);
    const reading = new Database(file, { readonly: true });
    reading.exec("BEGIN");
    expect(reading.prepare("SELECT count(*) AS n FROM calls").get()).toEqual({ n: 100 });
    const writer = new RunWriter([file]);
    for (let call = 1; call <= 50; call++) writer.add(0, result(call, "tightened"));
    await writer.flush();
    // Written under a lock that lets readers read, and seen by nobody yet.
    expect(reading.prepare("SELECT count(*) AS n FROM run_results").get()).toEqual({ n: 0 });
    const other = new Database(file, { readonly: true });
    expect(other.prepare("SELECT count(*) AS n FROM runs").get()).toEqual({ n: 0 });
    other.close();
    setTimeout(() => reading.exec("COMMIT"), 200);
    const [id] = await writer.save([run()]);
    const reader = openStoreReadOnly(file);
    try {
      expect(reader.runResults(id as number, { limit: 100 })).toHaveLength(50);
    } finally {
      reader.close();
      reading.close();
    }
  });

  it("a live recording (WAL) is not locked while a replay runs: the proxy keeps writing", async () => {
    const file = join(tempDir(), "live.sqlite");
    const store = openStore(file, { checkpointWorker: false });
    store.transaction(() => {
      store.startSession(session("s1"));
      for (let i = 1; i <= 10; i++) store.recordDecision(decision(i, { session: "s1" }));
    });
    const writer = new RunWriter([file]);
    for (let call = 1; call <= 10; call++) writer.add(0, result(call, "tightened"));
    await writer.flush();
    // Would wait for the lock, and fail, if the writer held it.
    store.transaction(() => store.recordDecision(decision(11, { session: "s1" })));
    const [id] = await writer.save([run()]);
    expect(typeof id).toBe("number");
    store.transaction(() => store.recordDecision(decision(12, { session: "s1" })));
    store.close();
    const reader = openStoreReadOnly(file);
    try {
      expect([...reader.calls()]).toHaveLength(12);
      expect(reader.runResults(id as number, { limit: 100 })).toHaveLength(10);
    } finally {
      reader.close();
    }
  });

  it("two replays saving into one file: the second waits its turn and both runs are saved", async () => {
    const file = recording(100);
    const first = new RunWriter([file]);
    const second = new RunWriter([file]);
    for (let call = 1; call <= 30; call++) first.add(0, result(call, "tightened"));
    await first.flush();
    for (let call = 1; call <= 40; call++) second.add(0, result(call, "loosened"));
    await second.flush();
    const [a] = await first.save([run()]);
    const [b] = await second.save([run({ loosened: 40 })]);
    const reader = openStoreReadOnly(file);
    try {
      expect(reader.runResults(a as number, { limit: 100 }).map((r) => r.class)).toEqual(
        Array(30).fill("tightened"),
      );
      expect(reader.runResults(b as number, { limit: 100 }).map((r) => r.class)).toEqual(
        Array(40).fill("loosened"),
      );
    } finally {
      reader.close();
    }
  });

  it("close() saves nothing and leaves the file as it was, writable at once", async () => {
    const file = recording(100);
    const before = readFileSync(file);
    const writer = new RunWriter([file]);
    for (let call = 1; call <= 30; call++) writer.add(0, result(call, "tightened"));
    await writer.flush();
    await writer.close();
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(existsSync(`${file}-journal`)).toBe(false);
    const db = new Database(file, { timeout: 0 });
    db.exec("BEGIN IMMEDIATE; COMMIT");
    db.close();
  });

  it("a file that is not a recording any more cannot take a run: a StoreError, the others saved", async () => {
    const good = recording(10);
    const missing = join(tempDir(), "missing.sqlite");
    const writer = new RunWriter([missing, good]);
    writer.add(0, result(1, "tightened"));
    writer.add(1, result(2, "tightened"));
    const [a, b] = await writer.save([run(), run()]);
    expect(a).toBeInstanceOf(StoreError);
    expect((a as StoreError).message).toMatch(/^.*missing\.sqlite: /);
    expect(typeof b).toBe("number");
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

import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ResultSpool,
  type RunRecord,
  type RunResultRecord,
  saveRun,
} from "../../src/store/runs.js";
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
  it("saveRun writes the run, its policies and its results; the reader lists and pages them", () => {
    const file = recording(10);
    const spool = new ResultSpool();
    const classes: RunResultRecord["class"][] = ["tightened", null, "loosened", "tightened"];
    [2, 4, 7, 9].forEach((call, i) => spool.add(0, result(call, classes[i]!)));
    const first = saveRun(file, run(), spool, 0);
    const second = saveRun(
      file,
      run({
        baseline: { hash: "b".repeat(64), path: "base.json", text: "{}" },
        gateFailed: false,
      }),
      null,
    );
    spool.close();

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

  it("results past the spool's memory go to a temporary file and are saved all the same", () => {
    const file = recording(500);
    const small = new ResultSpool(16);
    const big = new ResultSpool();
    for (let call = 1; call <= 500; call += 2) {
      // Two files' worth: only file 0's are saved into this recording.
      for (const spool of [small, big]) {
        spool.add(0, result(call, "tightened"));
        spool.add(1, result(call + 1, "loosened"));
      }
    }
    expect(small.spillFile).not.toBeNull();
    expect(big.spillFile).toBeNull();
    expect(small.count(0)).toBe(250);
    const a = saveRun(file, run(), small, 0);
    const b = saveRun(file, run(), big, 0);
    const spilled = small.spillFile!;
    small.close();
    big.close();
    expect(existsSync(spilled)).toBe(false);
    const reader = openStoreReadOnly(file);
    try {
      const ra = reader.runResults(a, { limit: 1000 });
      expect(ra).toHaveLength(250);
      expect(ra.map(({ call, class: c }) => [call, c])).toEqual(
        reader.runResults(b, { limit: 1000 }).map(({ call, class: c }) => [call, c]),
      );
    } finally {
      reader.close();
    }
  });

  it("a file that is not a recording any more cannot take a run", () => {
    const file = join(tempDir(), "missing.sqlite");
    expect(() => saveRun(file, run(), null)).toThrow(StoreError);
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

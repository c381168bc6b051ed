import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile, createState, decide, limitCounts } from "../../src/engine/index.js";
import {
  argumentTools,
  type RecordedCall,
  readRecording,
  readRecordings,
} from "../../src/replay/recording.js";
import { createReplayer } from "../../src/replay/replay.js";
import { openStore } from "../../src/store/sqlite.js";
import { load, policyArb, policyWindows, startArb, toCalls, traceArb } from "../engine/support.js";
import { allow, decision, rateLimited, session, T0, tempDirs } from "../store/helpers.js";

const tempDir = tempDirs();

function recording(): string {
  const file = join(tempDir(), "rec.sqlite");
  const store = openStore(file, { checkpointWorker: false });
  store.transaction(() => {
    store.startSession(session("s1"));
    store.recordDecision(decision(1, { tool: "fleet_status", arguments: undefined }));
    store.recordDecision(decision(2, { arguments: { app: "web", nested: { n: [1, 2] } } }));
    const id = store.recordDecision(
      decision(3, {
        decision: { ...allow, decision: "approval_required", code: "approval_required" },
      }),
    );
    store.recordApproval(id, "approved");
    const id4 = store.recordDecision(decision(4, { decision: rateLimited }));
    store.recordApproval(id4, "unavailable");
  });
  store.close();
  return file;
}

describe("readRecording", () => {
  it("yields TraceCalls with the recorded decision, approvals reused, arguments parsed on use", () => {
    const calls = [...readRecording(recording())];
    expect(calls.map((c) => [c.index, c.line, c.file])).toEqual([
      [0, 1, 0],
      [1, 2, 0],
      [2, 3, 0],
      [3, 4, 0],
    ]);
    expect(calls.map((c) => c.recorded)).toEqual([
      { decision: "allow", code: "rule_allow", rule: "fleet_*", retry_after_ms: null },
      { decision: "allow", code: "rule_allow", rule: "fleet_*", retry_after_ms: null },
      {
        decision: "approval_required",
        code: "approval_required",
        rule: "fleet_*",
        retry_after_ms: null,
      },
      { decision: "deny", code: "rate_limited", rule: "fleet_*", retry_after_ms: 1500 },
    ]);
    // "unavailable": nobody was asked, so there is no answer to reuse.
    expect(calls.map((c) => c.approval)).toEqual([null, null, "approved", null]);
    const call = calls[1]!.call as RecordedCall;
    expect(call.argumentsText).toBe('{"app":"web","nested":{"n":[1,2]}}');
    expect(call.arguments).toEqual({ app: "web", nested: { n: [1, 2] } });
    expect(call.arguments).toBe(call.arguments);
    expect(calls[0]!.call.arguments).toBeUndefined();
    expect(JSON.parse(JSON.stringify(calls[1]!.call))).toEqual({
      session: "s1",
      identity: "agent-a",
      ts: T0 + 2,
      tool: "fleet",
      arguments: { app: "web", nested: { n: [1, 2] } },
    });
  });

  it("without arguments when no decision can look at them", () => {
    const calls = [...readRecordings([recording()], { arguments: false })];
    expect(calls.every((c) => c.call.arguments === undefined)).toBe(true);
  });

  it("the tool filter is applied as rows are read", () => {
    const calls = [...readRecordings([recording()], { filter: { tools: ["fleet_*"] } })];
    expect(calls.map((c) => c.call.tool)).toEqual(["fleet_status"]);
    expect(calls[0]!.index).toBe(0);
  });
});

/**
 * Record `calls` as proxies sharing one counter service would: one state decides them in
 * order, numbering those it counts (as Redis does), and call i is written into the
 * recording `owner[i]`. Returns the files.
 */
function recordShared(
  dir: string,
  policy: Parameters<typeof load>[0],
  calls: ReturnType<typeof toCalls>,
  owner: readonly number[],
  n: number,
): string[] {
  const compiled = compile(load(policy));
  const state = createState(compiled);
  const files = Array.from({ length: n }, (_, i) => join(dir, `p${i}.sqlite`));
  const stores = files.map((f) => openStore(f, { bulk: true }));
  let seq = 0;
  try {
    stores.forEach((s, i) => s.startSession({ ...session(`p${i}`), counters: "redis" }));
    calls.forEach((call, i) => {
      const d = decide(compiled, call, state);
      const counts = limitCounts(compiled, call, d, state);
      stores[owner[i] ?? 0]!.recordDecision({
        ...decision(i + 1, {
          session: call.session,
          identity: call.identity,
          tool: call.tool,
          ts: call.ts,
          arguments: call.arguments ?? null,
        }),
        decision: d,
        counts,
        counterSeq: counts === null ? null : ++seq,
      });
    });
  } finally {
    for (const s of stores) s.close();
  }
  return files;
}

describe("readRecordings: the arguments of the calls the policies' conditions name", () => {
  it("names the tools of allow rules with conditions, top-level and per grant", () => {
    const policy = load({
      version: "1",
      tools: {
        ab: { deny_if: [{ path: "args.n", op: "gt", value: 1 }] },
        "b*": { action: "allow", require: [{ path: "args.ok", op: "eq", value: true }] },
        // Not allow: decided without looking at the arguments.
        c: { action: "deny", deny_if: [{ path: "args.n", op: "gt", value: 1 }] },
        abc: {},
      },
      grants: { bob: { tools: { "a?c": { deny_if: [{ path: "args.n", op: "gt", value: 1 }] } } } },
    });
    expect(argumentTools([policy])).toEqual({ tools: ["ab", "b*"], grants: [["bob", ["a?c"]]] });
    expect(argumentTools([load({ version: "1", tools: { ab: {} } })])).toBeNull();
  });

  it("only those calls come with their arguments; the rest decide the same without", () => {
    const file = join(tempDir(), "args.sqlite");
    const store = openStore(file, { checkpointWorker: false });
    store.transaction(() => {
      store.startSession(session("s1"));
      // Big arguments, so pages end at their text budget before their row count.
      const big = "x".repeat(3000);
      for (let i = 1; i <= 300; i++) {
        const tool = ["ab", "abc", "ba"][i % 3]!;
        store.recordDecision(decision(i, { tool, arguments: { n: i % 5, pad: big } }));
      }
    });
    store.close();
    const policy = load({
      version: "1",
      tools: { "a?": { deny_if: [{ path: "args.n", op: "gt", value: 2 }] } },
    });
    const calls = [...readRecordings([file], { argumentsFor: [policy] })];
    expect(calls.map((c) => c.line)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    for (const c of calls) {
      const text = (c.call as RecordedCall).argumentsText;
      if (c.call.tool === "ab")
        expect(JSON.parse(text!)).toEqual({ n: c.line % 5, pad: "x".repeat(3000) });
      else expect(text).toBeNull();
    }
  });

  it("replays every decision as it does with every call's arguments", () => {
    fc.assert(
      fc.property(
        policyArb(),
        policyArb(),
        fc.option(policyArb(), { nil: undefined }),
        startArb,
        traceArb,
        (recorded, candidate, baseline, start, specs) => {
          const calls = toCalls(specs, start, policyWindows(recorded));
          const [file] = recordShared(tempDir(), recorded, calls, [], 1);
          const replay = (argumentsFor?: ReturnType<typeof load>[]) => {
            const step = createReplayer({
              candidate: compile(load(candidate)),
              ...(baseline ? { baseline: compile(load(baseline)) } : {}),
              file: file!,
            });
            return [...readRecordings([file!], argumentsFor ? { argumentsFor } : {})]
              .map(step)
              .map((r) => [r.before, r.after, r.change]);
          };
          const policies = [load(candidate), ...(baseline ? [load(baseline)] : [])];
          expect(replay(policies)).toEqual(replay());
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("readRecordings: several recordings of one shared state", () => {
  it("replayed merged under the recorded policy, every decision comes out as recorded", () => {
    fc.assert(
      fc.property(
        policyArb(),
        startArb,
        traceArb,
        fc.array(fc.nat({ max: 2 }), { minLength: 60, maxLength: 60 }),
        (policy, start, specs, owner) => {
          const calls = toCalls(specs, start, policyWindows(policy));
          const files = recordShared(tempDir(), policy, calls, owner, 3);
          const step = createReplayer({ candidate: compile(load(policy)), file: files[0]! });
          const replayed = [...readRecordings(files)].map(step);
          expect(replayed).toHaveLength(calls.length);
          const changed = replayed
            .filter((r) => r.change !== null || r.before?.retry_after_ms !== r.after.retry_after_ms)
            .map(
              (r) =>
                `${r.source.call.tool} at ${r.source.call.ts}: ${r.before?.code} -> ${r.after.code}`,
            );
          expect(changed).toEqual([]);
        },
      ),
      { numRuns: 15 },
    );
  });

  it("calls of one millisecond replay in the shared state's order, not the files' order", () => {
    // The second recording's call took the last unit; replaying the first file's call first
    // would allow it and deny the other.
    const policy = {
      version: "1" as const,
      tools: {
        t: {
          limits: [{ counter: "c", window: "minute" as const, max: 1, scope: "global" as const }],
        },
      },
    };
    const call = (s: string) => ({ tool: "t", identity: "a", session: s, ts: T0 });
    const files = recordShared(tempDir(), policy, [call("x"), call("y")], [1, 0], 2);
    const step = createReplayer({ candidate: compile(load(policy)), file: files[0]! });
    const replayed = [...readRecordings(files)].map(step);
    expect(replayed.map((r) => [r.source.call.session, r.after.code, r.change])).toEqual([
      ["x", "rule_allow", null],
      ["y", "rate_limited", null],
    ]);
  });
});

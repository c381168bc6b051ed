import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type RecordedCall, readRecording, readRecordings } from "../../src/replay/recording.js";
import { openStore } from "../../src/store/sqlite.js";
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

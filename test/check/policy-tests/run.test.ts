// Running policy tests: each case a fresh engine run, steps at the times they say, the first
// unexpected decision reported with its step, repeat and deciding line; the decisions are the
// ones a replay of the same calls makes.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { START_TS, underTest } from "../../../src/check/eval.js";
import { parseTestText } from "../../../src/check/policy-tests/load.js";
import { loadPolicyUnderTest, runCase } from "../../../src/check/policy-tests/run.js";
import { InputError, PolicyError } from "../../../src/errors.js";
import { parsePolicyText } from "../../../src/policy/load.js";
import { createReplayer } from "../../../src/replay/replay.js";

const root = join(import.meta.dirname, "../../..");

const LIMITED = JSON.stringify(
  {
    version: "1",
    default: "allow",
    tools: {
      write: { limits: [{ counter: "w", window: "minute", max: 3, scope: "grant" }] },
      hourly: { limits: [{ counter: "h", window: "hour", max: 1, algorithm: "fixed" }] },
      merge: { action: "require_approval", reason: "a human merges" },
    },
  },
  null,
  2,
);
const policy = underTest(parsePolicyText(LIMITED, "p.json"));

/** The one case of a test file made of `calls`. */
const oneCase = (calls: unknown[], extra: Record<string, unknown> = {}) =>
  parseTestText(
    JSON.stringify({ policy: "p.json", cases: [{ name: "c", ...extra, calls }] }),
    "t.json",
  ).cases[0]!;

describe("runCase", () => {
  it("holds a sliding window to the millisecond", () => {
    const c = oneCase([
      { tool: "write", repeat: 3, every: "10s", expect: "allow" },
      { tool: "write", expect: "deny:rate_limited" },
      // The first call, at 0, counts in (t - W, t] up to 59,999 ms, and no longer at 60,000.
      { tool: "write", after: "39998ms", expect: "deny:rate_limited" },
      { tool: "write", after: "1ms", expect: "allow:rule_allow" },
    ]);
    expect(runCase(policy, c)).toMatchObject({ failure: null, calls: 6 });
  });

  it("counts a grant's limit per identity, and starts each case empty", () => {
    const c = oneCase(
      [
        { tool: "write", repeat: 3, expect: "allow" },
        { tool: "write", identity: "b", expect: "allow" },
        { tool: "write", expect: "deny" },
      ],
      { identity: "a" },
    );
    expect(runCase(policy, c).failure).toBeNull();
    expect(runCase(policy, c).failure).toBeNull();
  });

  it("starts fixed windows with the case", () => {
    const c = oneCase([
      { tool: "hourly", expect: "allow" },
      { tool: "hourly", after: "59m", expect: "deny:rate_limited" },
      { tool: "hourly", after: "1m", expect: "allow" },
    ]);
    expect(runCase(policy, c).failure).toBeNull();
  });

  it("reports a call sent to approval as approval_required", () => {
    const c = oneCase([{ tool: "merge", expect: "allow" }]);
    const r = runCase(policy, c);
    expect(r.failure?.got.decision).toMatchObject({
      decision: "approval_required",
      code: "approval_required",
      rule: "merge",
      reason: "a human merges",
    });
    expect(r.failure?.got.line).toBe(
      LIMITED.split("\n").findIndex((l) => l.includes('"merge"')) + 1,
    );
  });

  it("stops at the first unexpected call, naming its step and repeat", () => {
    const c = oneCase([
      { tool: "other", expect: "allow:default_allow" },
      { tool: "write", repeat: 5, every: "1s", expect: "allow" },
      { tool: "never", expect: "deny" },
    ]);
    const r = runCase(policy, c);
    expect(r.calls).toBe(5);
    expect(r.failure).toMatchObject({ repeat: 4, step: { index: 1, repeat: 5 } });
    expect(r.failure!.got.call.ts).toBe(START_TS + 1 + 3000);
    expect(r.failure!.got.decision).toMatchObject({ code: "rate_limited", retry_after_ms: 57_000 });
  });

  it("decides as a replay of the same calls does", () => {
    const fleet = loadPolicyUnderTest(join(root, "fixtures/policies/fleet.json"), "fleet.json");
    const test = parseTestText(
      JSON.stringify({
        policy: "x",
        cases: [
          {
            name: "c",
            identity: "agent-ops",
            calls: [
              { tool: "fleet_secrets_set", args: { team: "t" }, repeat: 31, expect: "allow" },
              { tool: "fleet_status", expect: "allow" },
            ],
          },
        ],
      }),
      "t.json",
    );
    const r = runCase(fleet, test.cases[0]!);
    expect(r.failure).toMatchObject({ repeat: 31 });
    const replay = createReplayer({ candidate: fleet.compiled, file: "t" });
    let last;
    for (let i = 0; i < 31; i++) {
      last = replay({
        index: i,
        line: 1,
        call: {
          tool: "fleet_secrets_set",
          identity: "agent-ops",
          session: "session-1",
          ts: i,
          arguments: { team: "t" },
        },
        recorded: null,
        approval: null,
      });
    }
    expect(r.failure!.got.decision).toEqual(last!.decision);
  });
});

describe("loadPolicyUnderTest", () => {
  it("says an unreadable policy as the caller asks, else as a PolicyError", () => {
    const missing = join(root, "nope.json");
    expect(() => loadPolicyUnderTest(missing, "nope.json")).toThrow(PolicyError);
    expect(() =>
      loadPolicyUnderTest(
        missing,
        "nope.json",
        (why) => new InputError("t.json", [{ path: "policy", message: why }]),
      ),
    ).toThrow("t.json: policy: no such file");
    expect(() =>
      loadPolicyUnderTest(join(root, "fixtures/invalid-policies/duplicate-key.json"), "b.json"),
    ).toThrow(PolicyError);
  });
});

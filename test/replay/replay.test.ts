import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile, type CompiledPolicy } from "../../src/engine/index.js";
import { InputError } from "../../src/errors.js";
import { loadPolicyFile, parsePolicyText } from "../../src/policy/load.js";
import { type CallResult, keptResult, replay } from "../../src/replay/replay.js";
import { readTrace } from "../../src/replay/trace.js";
import type {
  ApprovalAnswer,
  CallGroup,
  RecordedDecision,
  TraceCall,
} from "../../src/replay/types.js";
import { policyPairs, readDemo, readDemoTwice, ungrouped } from "./support.js";

const root = join(import.meta.dirname, "../..");

const policy = (p: Record<string, unknown>): CompiledPolicy =>
  compile(parsePolicyText(JSON.stringify({ version: "1", ...p }), "<test>").policy);

let tsClock = 1_763_800_000_000;
/** A TraceCall as readTrace would make it; index and line follow the array position. */
function calls(
  specs: {
    tool: string;
    session?: string;
    identity?: string;
    dt?: number;
    args?: Record<string, unknown>;
    recorded?: RecordedDecision;
    approval?: ApprovalAnswer;
  }[],
): TraceCall[] {
  let ts = (tsClock += 1_000_000);
  return specs.map((s, i) => {
    ts += s.dt ?? 10;
    return {
      index: i,
      line: i + 1,
      call: {
        tool: s.tool,
        identity: s.identity ?? "agent",
        session: s.session ?? "s1",
        ts,
        ...(s.args ? { arguments: s.args } : {}),
      },
      recorded: s.recorded ?? null,
      approval: s.approval ?? null,
    };
  });
}

const rec = (
  decision: RecordedDecision["decision"],
  code: string,
  rule: string | null = null,
  retry_after_ms: number | null = null,
): RecordedDecision => ({ decision, code, rule, retry_after_ms });

const run = (
  cs: TraceCall[],
  candidate: CompiledPolicy,
  baseline?: CompiledPolicy,
): CallResult[] => [
  ...replay(cs, { candidate, ...(baseline ? { baseline } : {}), file: "trace.jsonl" }),
];

const allowAll = policy({ default: "allow" });
const denyAll = policy({ default: "deny" });
const approvalX = policy({ default: "allow", tools: { x: { action: "require_approval" } } });

describe("replay: what each call is compared with", () => {
  it("without a baseline, the recorded decision", () => {
    const cs = calls([
      { tool: "x", recorded: rec("allow", "default_allow") },
      { tool: "x", recorded: rec("deny", "default_deny") },
      { tool: "x" }, // nothing recorded: nothing to compare
    ]);
    const got = run(cs, allowAll);
    expect(got.map((r) => r.change)).toEqual([null, "loosened", null]);
    expect(got[1]!.before).toEqual({
      decision: "deny",
      code: "default_deny",
      rule: null,
      retry_after_ms: null,
      approval: null,
    });
    expect(got[2]!.before).toBeNull();
    expect(got.map((r) => r.after.decision)).toEqual(["allow", "allow", "allow"]);
  });

  it("with a baseline, the baseline's decision, ignoring what was recorded", () => {
    const cs = calls([
      { tool: "x", recorded: rec("allow", "default_allow") },
      { tool: "x", recorded: rec("deny", "default_deny") },
      { tool: "x" },
    ]);
    const got = run(cs, allowAll, denyAll);
    expect(got.map((r) => r.change)).toEqual(["loosened", "loosened", "loosened"]);
    expect(got.map((r) => r.before?.code)).toEqual([
      "default_deny",
      "default_deny",
      "default_deny",
    ]);
    // Same policy on both sides: no change even where the recording disagrees.
    expect(run(cs, allowAll, allowAll).map((r) => r.change)).toEqual([null, null, null]);
  });

  it("candidate and baseline keep their own counters, both starting empty", () => {
    const cap = (max: number) =>
      policy({ tools: { t: { limits: [{ counter: "c", window: "minute", max }] } } });
    const cs = calls([{ tool: "t" }, { tool: "t" }, { tool: "t" }, { tool: "t" }]);
    const got = run(cs, cap(3), cap(2));
    expect(got.map((r) => r.after.code)).toEqual([
      "rule_allow",
      "rule_allow",
      "rule_allow",
      "rate_limited",
    ]);
    expect(got.map((r) => r.before?.code)).toEqual([
      "rule_allow",
      "rule_allow",
      "rate_limited",
      "rate_limited",
    ]);
    // Both rate_limited by rule t; a different retry time is not a change.
    expect(got.map((r) => r.change)).toEqual([null, null, "loosened", null]);
    expect(got[3]!.decision.limit).toMatchObject({ counter: "c", max: 3, count: 3 });
  });

  it("the candidate's full decision is kept beside the compared outcome", () => {
    const p = policy({ tools: { x: { action: "deny", reason: "no" } } });
    const [r] = run(calls([{ tool: "x" }]), p);
    expect(r!.decision).toMatchObject({
      decision: "deny",
      code: "rule_deny",
      rule: "x",
      reason: "no",
    });
    expect(r!.after).toEqual({
      decision: "deny",
      code: "rule_deny",
      rule: "x",
      retry_after_ms: null,
      approval: null,
    });
  });
});

describe("replay: recorded approvals are applied on both sides (SPEC section 5)", () => {
  const needed = rec("approval_required", "approval_required", "x");

  it.each(["approved", "rejected", "timeout"] as const)(
    "same policy + recorded %s answer: no change",
    (answer) => {
      const cs = calls([{ tool: "x", recorded: needed, approval: answer }]);
      for (const r of [...run(cs, approvalX), ...run(cs, approvalX, approvalX)]) {
        expect(r.change).toBeNull();
        expect(r.after).toMatchObject({
          decision: answer === "approved" ? "allow" : "deny",
          code: "approval_required",
          approval: answer,
        });
        expect(r.before).toEqual(r.after);
      }
    },
  );

  it("without an answer the candidate's approval_required stands", () => {
    const [r] = run(calls([{ tool: "x", recorded: needed }]), approvalX);
    expect(r!.after.decision).toBe("approval_required");
    expect(r!.change).toBeNull();
  });

  it("the answer applies to a baseline that did not ask, when the candidate does", () => {
    // Baseline allows x outright (answer ignored); candidate asks and the human approved.
    const cs = calls([{ tool: "x", approval: "approved" }]);
    const [r] = run(cs, approvalX, allowAll);
    expect(r!.before).toMatchObject({ decision: "allow", code: "default_allow", approval: null });
    expect(r!.after).toMatchObject({
      decision: "allow",
      code: "approval_required",
      approval: "approved",
    });
    expect(r!.change).toBe("changed");
    // And rejected: the candidate's approval now ends in deny, a tightening.
    const [r2] = run(calls([{ tool: "x", approval: "rejected" }]), approvalX, allowAll);
    expect(r2!.change).toBe("tightened");
  });

  it("a candidate that stops asking is compared with the answered decision", () => {
    const approved = calls([{ tool: "x", recorded: needed, approval: "approved" }]);
    expect(run(approved, allowAll)[0]!.change).toBe("changed");
    expect(run(approved, denyAll)[0]!.change).toBe("tightened");
    const rejected = calls([{ tool: "x", recorded: needed, approval: "rejected" }]);
    expect(run(rejected, allowAll)[0]!.change).toBe("loosened");
    expect(run(rejected, denyAll)[0]!.change).toBe("changed");
  });
});

describe("replay: counterfactual marking per session (SPEC section 6)", () => {
  // Baseline allows everything; the candidate denies tool x. All calls share one identity, so
  // the marking follows sessions, not identities.
  const denyX = policy({ default: "allow", tools: { x: { action: "deny" } } });
  const cs = calls([
    { tool: "y", session: "A" }, // 0
    { tool: "y", session: "B" }, // 1
    { tool: "x", session: "A" }, // 2 A's first change
    { tool: "y", session: "A" }, // 3 after it: counterfactual, unchanged
    { tool: "y", session: "B" }, // 4 B has not changed yet
    { tool: "x", session: "A" }, // 5 changed, counterfactual
    { tool: "x", session: "B" }, // 6 B's first change
    { tool: "y", session: "B" }, // 7 counterfactual
    { tool: "y", session: "C" }, // 8 a session with no change yet
    { tool: "x", session: "C" }, // 9 C's first change
  ]);
  const got = run(cs, denyX, allowAll);

  it("marks the changes", () => {
    expect(got.map((r) => r.change)).toEqual([
      null,
      null,
      "tightened",
      null,
      null,
      "tightened",
      "tightened",
      null,
      null,
      "tightened",
    ]);
  });

  it("a session's first change is not counterfactual; every later call of it is", () => {
    expect(got.map((r) => r.counterfactual)).toEqual([
      false,
      false,
      false,
      true,
      false,
      true,
      false,
      true,
      false,
      false,
    ]);
  });

  it("nothing is counterfactual when nothing changed", () => {
    expect(run(cs, denyX, denyX).every((r) => !r.counterfactual && r.change === null)).toBe(true);
  });
});

describe("replay: only a change the agent could see starts counterfactual marks", () => {
  // Explicit allow rules over `default: allow`: the agent gets the same answer, by another rule.
  const byDefault = policy({ default: "allow", tools: { x: { action: "deny" } } });
  const explicit = policy({
    default: "allow",
    tools: {
      y: { action: "allow" },
      x: { action: "deny", reason: "not x" },
      w: { action: "deny" },
    },
  });
  const otherRule = policy({
    default: "allow",
    tools: { "x*": { action: "deny", reason: "not x" }, y: { action: "allow" } },
  });

  it("allowed either way under another rule is changed, and marks nothing after it", () => {
    const cs = calls([{ tool: "y" }, { tool: "z" }, { tool: "y" }, { tool: "w" }, { tool: "z" }]);
    const got = run(cs, explicit, byDefault);
    expect(got.map((r) => r.change)).toEqual(["changed", null, "changed", "tightened", null]);
    expect(got.map((r) => r.counterfactual)).toEqual([false, false, false, false, true]);
  });

  it("a denial by another rule with the same code and reason marks nothing", () => {
    const cs = calls([{ tool: "x" }, { tool: "z" }]);
    const got = run(cs, otherRule, explicit);
    expect(got.map((r) => r.change)).toEqual(["changed", null]);
    expect(got.map((r) => r.counterfactual)).toEqual([false, false]);
  });

  it("compared with recorded decisions, which keep no reason, a denial by another rule marks", () => {
    const cs = calls([
      { tool: "x", recorded: rec("deny", "rule_deny", "x") },
      { tool: "z", recorded: rec("allow", "default_allow") },
      { tool: "y", recorded: rec("allow", "default_allow") },
    ]);
    const got = run(cs, otherRule);
    expect(got.map((r) => r.change)).toEqual(["changed", null, "changed"]);
    expect(got.map((r) => r.counterfactual)).toEqual([false, true, true]);
  });
});

describe("replay: inexact", () => {
  const prodDenied = policy({
    default: "allow",
    tools: { deploy: { deny_if: [{ path: "args.env", op: "eq", value: "prod" }] } },
  });

  it("a condition on a redacted argument marks the call inexact, from either side", () => {
    const cs = calls([
      { tool: "deploy", args: { env: { $redacted: "hmac:ab12" } } },
      { tool: "deploy", args: { env: "staging" } },
    ]);
    expect(run(cs, prodDenied).map((r) => r.inexact)).toEqual([true, false]);
    expect(run(cs, allowAll, prodDenied).map((r) => r.inexact)).toEqual([true, false]);
    expect(run(cs, allowAll, allowAll).map((r) => r.inexact)).toEqual([false, false]);
  });
});

describe("replay: errors", () => {
  it("time going backwards (calls not from readTrace) is an InputError naming the line", () => {
    const cs = calls([{ tool: "x" }, { tool: "x" }, { tool: "x", dt: -5000 }]);
    let caught: unknown;
    try {
      run(cs, allowAll);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InputError);
    expect((caught as InputError).file).toBe("trace.jsonl");
    expect((caught as InputError).faults[0]).toMatchObject({ path: "ts", line: 3 });
  });
});

describe("replay: determinism", () => {
  /** Everything a result says, as plain data. */
  const plain = (rs: Iterable<CallResult>) =>
    [...rs].map((r) => JSON.parse(JSON.stringify(r)) as unknown);

  it.each([
    ["fleet.tightened", "fleet", "fleet-loop"],
    ["game.loosened", "game", "game-session"],
    ["secrets.tightened", "secrets", "secrets-session"],
  ])("replaying %s over its trace twice gives identical results", (cand, base, trace) => {
    const load = (name: string) =>
      compile(loadPolicyFile(join(root, "fixtures/policies", `${name}.json`)).policy);
    const file = join(root, "fixtures/traces", `${trace}.jsonl`);
    const once = () =>
      plain(replay(readTrace(file), { candidate: load(cand), baseline: load(base), file }));
    const a = once();
    const b = once();
    expect(a.length).toBeGreaterThan(200);
    expect(b).toEqual(a);
    // And the same compiled policies reused for a second run start from empty counters.
    const candidate = load(cand);
    const baseline = load(base);
    const c = plain(replay(readTrace(file), { candidate, baseline, file }));
    const d = plain(replay(readTrace(file), { candidate, baseline, file }));
    expect(d).toEqual(c);
    expect(c).toEqual(a);
  });
});

describe("replay: ordinals (a call's 1-based position in its session)", () => {
  /** Each session's ordinals, in replay order. */
  const ordinals = (results: Iterable<CallResult>) => {
    const by = new Map<string, number[]>();
    for (const r of results) {
      const s = r.source.call.session;
      by.set(s, [...(by.get(s) ?? []), r.ordinal]);
      expect(r.firstInSession).toBe(r.ordinal === 1);
      expect(r.accepted).toBe(false);
    }
    return by;
  };
  const counting = (by: Map<string, number[]>) => {
    for (const list of by.values()) expect(list).toEqual(list.map((_, i) => i + 1));
  };

  it("count per session, however sessions interleave", () => {
    const results = [
      ...replay(
        calls([
          { tool: "t", session: "a" },
          { tool: "t", session: "b" },
          { tool: "t", session: "a" },
          { tool: "t", session: "a" },
          { tool: "t", session: "b" },
        ]),
        { candidate: policy({ default: "allow" }), file: "<test>" },
      ),
    ];
    expect(results.map((r) => `${r.source.call.session}${r.ordinal}`)).toEqual([
      "a1",
      "b1",
      "a2",
      "a3",
      "b2",
    ]);
  });

  it("the same for a JSONL trace and a SQLite recording", async () => {
    const candidate = compile(loadPolicyFile(join(root, "fixtures/policies/fleet.json")).policy);
    const jsonl = ordinals(
      replay(readTrace(join(root, "fixtures/traces/fleet-loop.jsonl")), {
        candidate,
        file: "fleet-loop.jsonl",
      }),
    );
    counting(jsonl);
    expect(jsonl.size).toBe(8);
    const { readRecording } = await import("../../src/replay/recording.js");
    const sqlite = ordinals(
      replay(readRecording(join(root, "recordings/demo.sqlite")), {
        candidate,
        file: "demo.sqlite",
      }),
    );
    counting(sqlite);
    expect([...sqlite.values()].reduce((n, l) => n + l.length, 0)).toBe(60);
  });
});

describe("refilled calls and results (reuse)", () => {
  const load = (name: string) =>
    compile(loadPolicyFile(join(root, "fixtures/policies", `${name}.json`)).policy);

  it.each([
    ["fleet.tightened", "fleet", "fleet-loop"],
    ["fleet.tightened", null, "fleet-loop.recorded"],
    ["game.loosened", "game", "game-session"],
    ["secrets.tightened", "secrets", "secrets-session"],
  ])("%s against %s over %s: kept copies equal fresh results", (cand, base, trace) => {
    const file = join(root, "fixtures/traces", `${trace}.jsonl`);
    const opts = () => ({
      candidate: load(cand),
      ...(base === null ? {} : { baseline: load(base) }),
      file,
    });
    const fresh = [...replay(readTrace(file), opts())];
    const kept: CallResult[] = [];
    let same = 0;
    let last: CallResult | null = null;
    for (const r of replay(readTrace(file, file, true), { ...opts(), reuse: true })) {
      if (r === last) same++;
      last = r;
      kept.push(keptResult(r));
    }
    expect(fresh.length).toBeGreaterThan(100);
    // One object refilled for every call, and each copy unchanged by the calls after it.
    expect(same).toBe(fresh.length - 1);
    expect(kept).toEqual(fresh);
    expect(kept.some((r) => r.change !== null)).toBe(true);
  });
});

describe("groups of recorded calls (the replay's memo)", () => {
  const project = (r: CallResult) => ({
    call: [r.source.call.session, r.source.call.identity, r.source.call.tool, r.source.call.ts],
    decision: r.decision,
    after: r.after,
    before: r.before,
    change: r.change,
    counterfactual: r.counterfactual,
    inexact: r.inexact,
    first: r.firstInSession,
    ordinal: r.ordinal,
  });

  it("decide every call as the same calls without groups do, under each fixture policy, with and without a baseline", () => {
    // Read once and replayed several times: each replay keeps its own memo.
    const grouped = readDemo();
    expect(grouped.every((tc) => tc.group !== undefined)).toBe(true);
    const plain = ungrouped(grouped);
    let replays = 0;
    for (const policies of policyPairs()) {
      const opts = { ...policies, file: "demo.sqlite" };
      expect([...replay(grouped, opts)].map(project)).toEqual(
        [...replay(plain, opts)].map(project),
      );
      replays++;
    }
    expect(replays).toBeGreaterThan(2);
  });

  it("the calls of two reads in one replay, their group ids overlapping, decide as without groups", () => {
    const grouped = readDemoTwice();
    const firstOfId = new Map<number, CallGroup>();
    let overlaps = 0;
    for (const { group } of grouped) {
      const seen = firstOfId.get(group!.id);
      if (seen === undefined) firstOfId.set(group!.id, group!);
      else if (seen !== group) overlaps++;
    }
    expect(overlaps).toBeGreaterThan(0);
    const plain = ungrouped(grouped);
    for (const policies of policyPairs()) {
      const opts = { ...policies, file: "demo.sqlite" };
      expect([...replay(grouped, opts)].map(project)).toEqual(
        [...replay(plain, opts)].map(project),
      );
    }
  });
});

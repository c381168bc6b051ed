import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { limitFor, parseHeadroom, peak, windowsFor } from "../../src/check/suggest/rates.js";
import { shown } from "../../src/check/suggest/summary.js";
import { suggestPolicy, type SuggestFilter } from "../../src/check/suggest/index.js";
import type { Policy } from "../../src/policy/schema.js";
import { type CallSpec, decideOnce, replayUnder, writeCalls } from "./suggest-support.js";

const dir = mkdtempSync(join(tmpdir(), "policy-replay-suggest-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const T0 = 1_763_800_000_000;
const MIN = 60_000;

function suggest(
  calls: CallSpec[],
  opts: {
    listed?: Record<string, string[]>;
    filter?: SuggestFilter;
    conditions?: boolean;
    headroom?: string;
  } = {},
) {
  const file = writeCalls(join(dir, `r${++n}.sqlite`), calls, opts.listed ?? {});
  const result = suggestPolicy([{ path: file, name: "r.sqlite" }], opts.filter ?? {}, {
    headroom: parseHeadroom(opts.headroom ?? "2")!,
    conditions: opts.conditions ?? false,
    schema: "./schema/policy.schema.json",
  });
  return { ...result, file, policy: result.suggestion.policy as Policy };
}

const at = (i: number, ms = 1_000): number => T0 + i * ms;

describe("peak rates", () => {
  it("counts calls in (t - W, t], as a sliding limit does", () => {
    expect(peak([0, 59_999, 60_000], MIN)).toBe(2);
    expect(peak([0, 1, 2, 60_001], MIN)).toBe(3);
    expect(peak([5, 5, 5], MIN)).toBe(3);
    expect(peak([], MIN)).toBe(0);
  });

  it("counts calls before `from` in windows, but ends none at them", () => {
    expect(peak([0, 1, 2, 3, 50_000], MIN, 50_000)).toBe(5);
    expect(peak([0, 1, 2, 3, 70_000], MIN, 70_000)).toBe(1);
  });

  it("rounds the headroom up exactly, and takes 1 to 1000 with 3 decimals", () => {
    expect(limitFor(10, parseHeadroom("1.1")!)).toBe(11);
    expect(limitFor(3, parseHeadroom("1.5")!)).toBe(5);
    expect(limitFor(7, parseHeadroom("1")!)).toBe(7);
    for (const bad of ["0.5", "0", "-2", "1e3", "2.0001", "abc", "1001"])
      expect(parseHeadroom(bad), bad).toBeNull();
  });

  it("adds the hour and the day once the calls span them", () => {
    expect(windowsFor(0, 59 * MIN)).toEqual(["minute"]);
    expect(windowsFor(0, 60 * MIN)).toEqual(["minute", "hour"]);
    expect(windowsFor(0, 24 * 60 * MIN)).toEqual(["minute", "hour", "day"]);
  });
});

describe("suggest", () => {
  it("allows each identity exactly the tools it was let through, with limits from its peaks", () => {
    const { policy, suggestion } = suggest([
      { session: "a", identity: "agent", ts: at(0), tool: "read" },
      { session: "a", identity: "agent", ts: at(1), tool: "read" },
      {
        session: "a",
        identity: "agent",
        ts: at(2),
        tool: "read",
        decision: "deny",
        code: "rate_limited",
      },
      {
        session: "a",
        identity: "agent",
        ts: at(3),
        tool: "wipe",
        decision: "deny",
        code: "rule_deny",
      },
      { session: "b", identity: "bot", ts: at(4), tool: "status" },
    ]);
    expect(policy.default).toBe("deny");
    expect(policy.$schema).toBe("./schema/policy.schema.json");
    expect(policy.tools).toBeUndefined();
    // The refused call counts too: allowed now, it consumes.
    expect(policy.grants?.["agent"]?.tools).toEqual({
      read: {
        reason: "at most 6 a minute per identity",
        limits: [
          { counter: "read", window: "minute", max: 6, scope: "grant", algorithm: "sliding" },
        ],
      },
    });
    expect(Object.keys(policy.grants?.["bot"]?.tools ?? {})).toEqual(["status"]);
    expect(decideOnce(suggestion.text, "agent", "wipe").code).toBe("default_deny");
    expect(decideOnce(suggestion.text, "bot", "read").code).toBe("default_deny");
  });

  it("puts a tool every identity used the same way at the top level", () => {
    const { policy, summary } = suggest([
      { session: "a", identity: "agent", ts: at(0), tool: "status" },
      { session: "b", identity: "bot", ts: at(1), tool: "status" },
      { session: "b", identity: "bot", ts: at(2), tool: "read" },
    ]);
    expect(Object.keys(policy.tools ?? {})).toEqual(["status"]);
    expect(Object.keys(policy.grants ?? {})).toEqual(["bot"]);
    expect(summary).toContain("Top level, used the same way by every identity: status");
  });

  it("hides listed tools nobody called, and never a name a pattern cannot match exactly", () => {
    const { policy, suggestion, summary } = suggest(
      [{ session: "a", identity: "agent", ts: at(0), tool: "read" }],
      { listed: { a: ["read", "admin", "drop_*", "x?"] } },
    );
    expect(policy.hide).toEqual(["admin"]);
    expect(decideOnce(suggestion.text, "agent", "admin").code).toBe("hidden");
    expect(decideOnce(suggestion.text, "agent", "drop_*").code).toBe("default_deny");
    // Hiding `drop_*` would hide every drop_ tool; it is left to the default and said.
    expect(summary).toContain("left denied rather than hidden");
    expect(summary).toContain("drop_*, x?");
  });

  it("leaves a called tool with a glob character denied, and says so", () => {
    const { policy, summary } = suggest([
      { session: "a", identity: "agent", ts: at(0), tool: "get_*" },
      { session: "a", identity: "agent", ts: at(1), tool: "get_x" },
    ]);
    expect(Object.keys(policy.grants?.["agent"]?.tools ?? {})).toEqual(["get_x"]);
    expect(summary).toMatch(/get_\*.*\n.*a policy pattern cannot name exactly this tool/);
  });

  it("keeps approval where a human approved every call let through", () => {
    const approved = {
      decision: "approval_required" as const,
      code: "approval_required",
      approval: "approved" as const,
    };
    const { policy, file, suggestion } = suggest([
      { session: "a", identity: "agent", ts: at(0), tool: "merge", ...approved },
      { session: "a", identity: "agent", ts: at(1), tool: "merge", ...approved },
      {
        session: "a",
        identity: "agent",
        ts: at(2),
        tool: "merge",
        decision: "approval_required",
        code: "approval_required",
        approval: "rejected",
      },
      { session: "a", identity: "agent", ts: at(3), tool: "deploy", ...approved },
      { session: "a", identity: "agent", ts: at(4), tool: "deploy" },
      {
        session: "a",
        identity: "agent",
        ts: at(5),
        tool: "lock",
        decision: "approval_required",
        code: "approval_required",
      },
    ]);
    const tools = policy.grants?.["agent"]?.tools ?? {};
    expect(tools["merge"]?.action).toBe("require_approval");
    // Allowed once without a human: held for one in replay, with no answer to apply, it would
    // be tightened. So it is allowed.
    expect(tools["deploy"]?.action).toBeUndefined();
    expect(tools["lock"]).toBeUndefined();
    const results = replayUnder(suggestion.text, [file]);
    // The unanswered request for approval is denied now: tightened, but never let through.
    expect(results.filter((r) => r.change === "tightened").map((r) => r.source.call.tool)).toEqual([
      "lock",
    ]);
    expect(results.map((r) => r.after.decision)).toEqual([
      "allow",
      "allow",
      "deny",
      "allow",
      "allow",
      "deny",
    ]);
  });

  it("counts the window before --since, which a replay warms its counters with", () => {
    const calls = Array.from({ length: 6 }, (_, i): CallSpec => ({
      session: "a",
      identity: "agent",
      ts: at(i),
      tool: "read",
    }));
    const since = at(5);
    const { policy, file, suggestion } = suggest(calls, { filter: { since }, headroom: "1" });
    expect(policy.grants?.["agent"]?.tools?.["read"]?.limits?.[0]?.max).toBe(6);
    const results = replayUnder(suggestion.text, [file], { since });
    expect(results.map((r) => r.change)).toEqual([null]);
  });

  it("adds hour and day limits when the calls span them", () => {
    const calls = [0, 10, 20, 61 * 60, 62 * 60, 24 * 3600 + 60].map((s): CallSpec => ({
      session: "a",
      identity: "agent",
      ts: T0 + s * 1000,
      tool: "read",
    }));
    const { policy, summary } = suggest(calls);
    const limits = policy.grants?.["agent"]?.tools?.["read"]?.limits ?? [];
    expect(limits.map((l) => [l.window, l.max])).toEqual([
      ["minute", 6],
      ["hour", 6],
      ["day", 10],
    ]);
    expect(summary).toContain("peak 3 a minute, 3 an hour, 5 a day");
  });

  describe("conditions", () => {
    const many = (k: number, args: (i: number) => Record<string, unknown>): CallSpec[] =>
      Array.from({ length: k }, (_, i) => ({
        session: "a",
        identity: "agent",
        ts: at(i, MIN),
        tool: "deploy",
        args: args(i),
      }));

    it("requires an argument that always held one of a few values, from enough calls", () => {
      const calls = many(20, (i) => ({
        env: i % 2 ? "dev" : "stage",
        n: i,
        token: { $redacted: "hmac-sha256:" + "ab".repeat(32) },
      }));
      calls.push({
        session: "a",
        identity: "agent",
        ts: at(30, MIN),
        tool: "deploy",
        args: { env: "prod" },
        decision: "deny",
        code: "condition_deny",
      });
      const { policy, file, suggestion, summary } = suggest(calls, { conditions: true });
      expect(policy.grants?.["agent"]?.tools?.["deploy"]?.require).toEqual([
        { path: "args.env", op: "in", value: ["dev", "stage"] },
      ]);
      expect(summary).toContain('require args.env in ["dev","stage"]');
      const results = replayUnder(suggestion.text, [file]);
      expect(results.filter((r) => r.change === "tightened")).toEqual([]);
      expect(results.at(-1)?.after.code).toBe("requirement_failed");
    });

    it("are off without --conditions, and need 20 calls", () => {
      const twenty = many(20, () => ({ env: "dev" }));
      expect(suggest(twenty).policy.grants?.["agent"]?.tools?.["deploy"]?.require).toBeUndefined();
      const nineteen = many(19, () => ({ env: "dev" }));
      expect(
        suggest(nineteen, { conditions: true }).policy.grants?.["agent"]?.tools?.["deploy"]
          ?.require,
      ).toBeUndefined();
    });

    it("are never made from redacted values, too many values, or a key some call lacked", () => {
      const redacted = many(25, (i) => ({
        key: i === 3 ? { $redacted: "hmac-sha256:" + "cd".repeat(32) } : "k",
        four: i % 4,
        some: i === 0 ? undefined : "x",
        "a.b": "y",
      }));
      const { policy } = suggest(redacted, { conditions: true });
      expect(policy.grants?.["agent"]?.tools?.["deploy"]?.require).toBeUndefined();
    });
  });

  it("prints hostile names escaped", () => {
    expect(shown("fleet_status")).toBe("fleet_status");
    expect(shown("a b")).toBe('"a b"');
    expect(shown("\u001b[31mred")).toBe('"\\u{1b}[31mred"');
    expect(shown("\u202eevil")).toBe('"\\u{202e}evil"');
  });
});

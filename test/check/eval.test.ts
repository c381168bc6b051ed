// eval's core: one call decided through the engine with empty counters, and the line of the
// policy that decided it; --args read as a located JSON object.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { evaluate, parseArgs, START_TS, underTest } from "../../src/check/eval.js";
import { compile, createState, decide } from "../../src/engine/index.js";
import { InputError } from "../../src/errors.js";
import { loadPolicyFile, parsePolicyText } from "../../src/policy/load.js";

const root = join(import.meta.dirname, "../..");
const fleet = underTest(loadPolicyFile(join(root, "fixtures/policies/fleet.json")));
const lineOf = (text: string, needle: string): number =>
  text.split("\n").findIndex((l) => l.includes(needle)) + 1;
const fleetText = readFileSync(join(root, "fixtures/policies/fleet.json"), "utf8");

describe("evaluate", () => {
  it("decides as the engine does, at START_TS with empty counters, as anonymous by default", () => {
    const d = evaluate(fleet, { tool: "fleet_deploy", identity: "agent-ops", args: { team: "w" } });
    const compiled = compile(fleet.loaded.policy);
    const direct = decide(
      compiled,
      {
        tool: "fleet_deploy",
        identity: "agent-ops",
        session: "session-1",
        ts: START_TS,
        arguments: { team: "w" },
      },
      createState(compiled),
    );
    expect(d.decision).toEqual(direct);
    expect(d.call.identity).toBe("agent-ops");
    expect(evaluate(fleet, { tool: "fleet_status" }).call).toEqual({
      tool: "fleet_status",
      identity: "anonymous",
      session: "session-1",
      ts: START_TS,
    });
  });

  it("points at the rule's key, in the identity's grant first", () => {
    const own = evaluate(fleet, { tool: "fleet_secrets_delete", identity: "agent-ops" });
    expect(own.decision).toMatchObject({
      decision: "approval_required",
      code: "approval_required",
    });
    expect(own.line).toBe(lineOf(fleetText, '"fleet_secrets_delete"'));
    const granted = evaluate(fleet, { tool: "fleet_wipe", identity: "ci-bot" });
    expect(granted.decision).toMatchObject({ code: "rule_deny", rule: "fleet_*" });
    expect(granted.line).toBeGreaterThan(lineOf(fleetText, '"ci-bot": {'));
  });

  it("points at the hide list and at the default", () => {
    const hidden = evaluate(fleet, { tool: "fleet_secrets_get" });
    expect(hidden.decision.code).toBe("hidden");
    expect(hidden.line).toBe(lineOf(fleetText, '"hide": ["fleet_secrets_*"]'));
    const byDefault = evaluate(fleet, { tool: "unknown_tool" });
    expect(byDefault.decision.code).toBe("default_deny");
    expect(byDefault.line).toBe(lineOf(fleetText, '"default": "deny"'));
    const grantDefault = evaluate(fleet, { tool: "unknown_tool", identity: "agent-ops" });
    expect(grantDefault.decision.code).toBe("default_approval");
    expect(grantDefault.line).toBe(lineOf(fleetText, '"default": "require_approval"'));
  });

  it("has no line for a default the policy does not write", () => {
    const p = underTest(parsePolicyText('{"version": "1"}', "p.json"));
    expect(evaluate(p, { tool: "x" })).toMatchObject({
      decision: { code: "default_deny" },
      line: null,
    });
  });

  it("reports a limit of max 0 as rate_limited with no retry", () => {
    const p = underTest(
      parsePolicyText(
        JSON.stringify({
          version: "1",
          tools: { t: { limits: [{ counter: "c", window: "minute", max: 0 }] } },
        }),
      ),
    );
    expect(evaluate(p, { tool: "t" }).decision).toMatchObject({
      code: "rate_limited",
      retry_after_ms: null,
    });
  });
});

describe("parseArgs", () => {
  it("reads a JSON object", () => {
    expect(parseArgs('{"a": [1, {"b": null}]}')).toEqual({ a: [1, { b: null }] });
  });

  it.each([
    ['{"a": 1,}', '--args:1:8: not valid JSON: trailing comma before "}"'],
    ['{"a": 1', '--args:1:8: not valid JSON: expected "}"'],
    ["[1]", "--args: must be a JSON object of the call's arguments, not a list"],
    ['"x"', `--args: must be a JSON object of the call's arguments, not "x"`],
    ["", "--args: must be a JSON object of the call's arguments, not nothing"],
    [
      '{"a": 1, "a": 2}',
      "--args:1:10: a: duplicate key (JSON would silently keep only the last one)",
    ],
    ["[".repeat(300), "--args:1:257: arrays and objects nested deeper than 256 levels"],
  ])("%j is a one-line located error", (text, message) => {
    let err: unknown;
    try {
      parseArgs(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe(message);
  });
});

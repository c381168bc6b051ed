import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { Acceptor, parseAcceptText } from "../../src/replay/accept.js";
import type { ChangeClass, Outcome } from "../../src/replay/diff.js";
import type { CallResult } from "../../src/replay/replay.js";

const outcome = (decision: Outcome["decision"], code: string): Outcome => ({
  decision,
  code,
  rule: null,
  retry_after_ms: null,
  approval: null,
});

/** A changed (or not) result of `tool`, call `ordinal` of `session`. */
function result(
  session: string,
  ordinal: number,
  tool: string,
  change: ChangeClass | null,
  after = outcome("deny", "rule_deny"),
): CallResult {
  return {
    source: {
      index: 0,
      line: 1,
      call: { session, identity: "i", ts: 1, tool },
      recorded: null,
      approval: null,
    },
    decision: {
      decision: after.decision,
      code: after.code as never,
      rule: null,
      reason: null,
      retry_after_ms: null,
      limit: null,
      inexact: false,
    } as never,
    after,
    before: outcome("allow", "rule_allow"),
    change,
    counterfactual: false,
    inexact: false,
    firstInSession: ordinal === 1,
    ordinal,
    accepted: false,
  };
}

function faults(text: string): string[] {
  try {
    parseAcceptText(text, "a.json");
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as InputError).message.split("\n");
  }
  throw new Error("expected faults");
}

describe("parseAcceptText", () => {
  it("reads both kinds of entry with where each is written", () => {
    const list = parseAcceptText(
      JSON.stringify(
        {
          $schema: "./accept.schema.json",
          accept: [
            { session: "s1", call: 3, change: "tightened", code: "rate_limited", reason: "why" },
            { tool: "fleet_*", change: "loosened", decision: "allow" },
          ],
        },
        null,
        2,
      ),
      "a.json",
    );
    expect(list.entries).toEqual([
      {
        index: 0,
        line: 4,
        column: 5,
        session: "s1",
        call: 3,
        change: "tightened",
        code: "rate_limited",
        reason: "why",
      },
      { index: 1, line: 11, column: 5, tool: "fleet_*", change: "loosened", decision: "allow" },
    ]);
  });

  it("an empty list is fine", () => {
    expect(parseAcceptText('{"accept": []}').entries).toEqual([]);
  });

  it("lists every fault, in file order, each at its line and column", () => {
    expect(
      faults(
        [
          "{",
          '  "accept": [',
          '    { "session": "s", "call": 1.5 },',
          '    { "tool": "x", "change": "changed", "session": "s" },',
          '    { "session": "s" },',
          '    { "tool": "t", "change": "loosened", "decision": "permit" }',
          "  ],",
          '  "extra": 1',
          "}",
        ].join("\n"),
      ),
    ).toEqual([
      "a.json:3:31: accept[0].call: must be a whole number >= 1 (the call's position in its session), not 1.5",
      "a.json:4:52: accept[1].session: an entry names either a tool or a session and call, not both",
      'a.json:5:5: accept[2].call: missing required key "call" (an entry names a session and a call, or a tool)',
      'a.json:6:54: accept[3].decision: must be one of "allow", "deny", "approval_required", not "permit"',
      "a.json:8:3: extra: unknown key",
    ]);
  });

  it("a misspelt key is one fault, not also a missing one", () => {
    expect(faults('{"accept": [{"sesion": "s", "call": 1}]}')).toEqual([
      'a.json:1:14: accept[0].sesion: unknown key; did you mean "session"?',
    ]);
    expect(faults('{"acept": []}')).toEqual([
      'a.json:1:2: acept: unknown key; did you mean "accept"?',
    ]);
  });

  it("two entries for one call are a fault", () => {
    expect(
      faults(
        '{"accept": [\n{"session": "s", "call": 1},\n{"session": "s", "call": 1, "change": "changed"}]}',
      ),
    ).toEqual(["a.json:3:1: accept[1]: names the same call as accept[0] (line 2)"]);
  });

  it.each([
    ["[]", 'a.json:1:1: must be an object with an "accept" list, not a list'],
    ['{"accept": "all"}', 'a.json:1:12: accept: must be a list of entries, not "all"'],
    [
      '{"accept": [1]}',
      "a.json:1:13: accept[0]: must be an object: {session, call, ...} or {tool, change, ...}, not 1",
    ],
    [
      '{"accept": [{"tool": "", "change": "changed"}]}',
      "a.json:1:22: accept[0].tool: must not be empty",
    ],
    ["{\n// no\n}", "a.json:2:1: not valid JSON: comments are not allowed in JSON"],
  ])("%s", (text, fault) => {
    expect(faults(text)).toEqual([fault]);
  });
});

describe("Acceptor", () => {
  const acceptor = (entries: unknown[]) =>
    new Acceptor(parseAcceptText(JSON.stringify({ accept: entries }), "a.json"));

  it("an entry by call covers that call's change, in that session only", () => {
    const a = acceptor([{ session: "s", call: 2 }]);
    const hit = result("s", 2, "t", "tightened");
    const otherSession = result("x", 2, "t", "tightened");
    const otherCall = result("s", 3, "t", "tightened");
    for (const r of [result("s", 1, "t", null), hit, otherCall, otherSession]) a.apply(r);
    expect([hit.accepted, otherCall.accepted, otherSession.accepted]).toEqual([true, false, false]);
    expect(a.staleNotes()).toEqual([]);
  });

  it("expectations must all hold", () => {
    const a = acceptor([
      { session: "s", call: 1, change: "tightened", decision: "deny", code: "rule_deny" },
      { session: "s", call: 2, decision: "approval_required" },
      { session: "s", call: 3, code: "hidden" },
    ]);
    const rs = [
      result("s", 1, "t", "tightened"),
      result("s", 2, "t", "tightened"),
      result("s", 3, "t", "tightened"),
    ];
    for (const r of rs) a.apply(r);
    expect(rs.map((r) => r.accepted)).toEqual([true, false, false]);
    expect(a.staleNotes()).toEqual([
      'a.json:1:95: accept[1] matched nothing: call 2 of session "s" changed differently: tightened to deny (rule_deny)',
      'a.json:1:151: accept[2] matched nothing: call 3 of session "s" changed differently: tightened to deny (rule_deny)',
    ]);
  });

  it("an entry by tool covers every change of its class to a matching tool", () => {
    const a = acceptor([{ tool: "fleet_secrets_*", change: "tightened" }]);
    const rs = [
      result("s", 1, "fleet_secrets_set", "tightened"),
      result("s", 2, "fleet_secrets_get", "tightened"),
      result("s", 3, "fleet_secrets_set", "changed"),
      result("s", 4, "fleet_status", "tightened"),
      result("s", 5, "fleet_secrets_set", null),
    ];
    for (const r of rs) a.apply(r);
    expect(rs.map((r) => r.accepted)).toEqual([true, true, false, false, false]);
  });

  it("a call entry that does not hold still lets a tool entry cover the call", () => {
    const a = acceptor([
      { session: "s", call: 1, change: "loosened" },
      { tool: "*", change: "tightened" },
    ]);
    const r = result("s", 1, "t", "tightened");
    a.apply(r);
    expect(r.accepted).toBe(true);
    expect(a.staleNotes()).toEqual([
      'a.json:1:12: accept[0] matched nothing: call 1 of session "s" changed differently: tightened to deny (rule_deny)',
    ]);
  });

  it("says why each stale entry matched nothing", () => {
    const a = acceptor([
      { session: "gone", call: 1 },
      { session: "s", call: 9 },
      { tool: "x*", change: "changed", code: "hidden" },
    ]);
    a.apply(result("s", 1, "t", null));
    expect(a.staleNotes()).toEqual([
      'a.json:1:12: accept[0] matched nothing: no session "gone" in this replay',
      'a.json:1:40: accept[1] matched nothing: call 9 of session "s" did not change',
      'a.json:1:65: accept[2] matched nothing: no change of a tool matching "x*" was changed with code hidden',
    ]);
  });
});

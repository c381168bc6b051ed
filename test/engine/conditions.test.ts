// Example tests for conditions (SPEC section 1.1) and step 4 of SPEC section 2, through decide().
import { describe, expect, it } from "vitest";
import {
  compile,
  createState,
  type Decision,
  decide,
  TimeOrderError,
} from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import { type ConditionObj, load, type RuleObj } from "./support.js";

function decideRule(rule: RuleObj, args: unknown): Decision {
  const compiled = compile(load({ version: "1", tools: { t: rule } }));
  return decide(
    compiled,
    { tool: "t", identity: "i", session: "s", ts: 0, arguments: args },
    createState(compiled),
  );
}

/**
 * Whether one condition holds on `args`: as the only `deny_if` (condition_deny iff it holds)
 * and, consistently, as the only `require` (allowed iff it holds).
 */
function holds(cond: ConditionObj, args: unknown): boolean {
  const asDenyIf = decideRule({ deny_if: [cond] }, args);
  const asRequire = decideRule({ require: [cond] }, args);
  expect(asDenyIf.inexact).toBe(false);
  expect(asRequire.inexact).toBe(false);
  expect(["condition_deny", "rule_allow"]).toContain(asDenyIf.code);
  expect(asRequire.code).toBe(
    asDenyIf.code === "condition_deny" ? "rule_allow" : "requirement_failed",
  );
  return asDenyIf.code === "condition_deny";
}

const c = (path: string, op: string, value: unknown): ConditionObj => ({ path, op, value });

describe("conditions (SPEC 1.1)", () => {
  it.each<[string, ConditionObj, unknown, boolean]>([
    // eq / neq: JSON equality; a number never equals a string.
    ["eq number vs number", c("args.n", "eq", 1), { n: 1 }, true],
    ["eq number vs string", c("args.n", "eq", 1), { n: "1" }, false],
    ["eq string vs number", c("args.n", "eq", "1"), { n: 1 }, false],
    ["eq true vs 1", c("args.n", "eq", true), { n: 1 }, false],
    ["eq null vs null", c("args.n", "eq", null), { n: null }, true],
    [
      "eq objects, keys in any order",
      c("args.o", "eq", { a: 1, b: [1, 2] }),
      { o: { b: [1, 2], a: 1 } },
      true,
    ],
    ["eq arrays, order matters", c("args.o", "eq", [1, 2]), { o: [2, 1] }, false],
    ["neq number vs string", c("args.n", "neq", 1), { n: "1" }, true],
    ["neq equal numbers", c("args.n", "neq", 1), { n: 1 }, false],
    // in / not_in: a list, compared the same way.
    ["in: member", c("args.n", "in", [1, "a", null]), { n: "a" }, true],
    ["in: number vs its string", c("args.n", "in", [1, "a"]), { n: "1" }, false],
    ["in: empty list", c("args.n", "in", []), { n: 1 }, false],
    ["not_in: non-member", c("args.n", "not_in", [1, 2]), { n: 3 }, true],
    ["not_in: string of a member", c("args.n", "not_in", [1, 2]), { n: "1" }, true],
    ["not_in: member", c("args.n", "not_in", [1, 2]), { n: 2 }, false],
    // lt / lte / gt / gte: numbers only.
    ["lt", c("args.n", "lt", 10), { n: 9 }, true],
    ["lt at the bound", c("args.n", "lt", 10), { n: 10 }, false],
    ["lte at the bound", c("args.n", "lte", 10), { n: 10 }, true],
    ["gt", c("args.n", "gt", 10), { n: 10.5 }, true],
    ["gte at the bound", c("args.n", "gte", 10), { n: 10 }, true],
    ["gt negative", c("args.n", "gt", -1), { n: 0 }, true],
    ["lt on a numeric string", c("args.n", "lt", 10), { n: "5" }, false],
    ["gt on a numeric string", c("args.n", "gt", 1), { n: "5" }, false],
    ["gte on a boolean", c("args.n", "gte", 0), { n: true }, false],
    ["lte on null", c("args.n", "lte", 0), { n: null }, false],
    ["lt on an array", c("args.n", "lt", 10), { n: [1] }, false],
    // regex: searched, not anchored, in strings only.
    ["regex unanchored", c("args.s", "regex", "b+c"), { s: "abbbcd" }, true],
    ["regex with an anchor", c("args.s", "regex", "^b"), { s: "abc" }, false],
    ["regex anchored both ends", c("args.s", "regex", "^a.c$"), { s: "abc" }, true],
    ["regex on a number", c("args.s", "regex", "1"), { s: 123 }, false],
    ["regex on an array", c("args.s", "regex", "a"), { s: ["a"] }, false],
    // contains: substring of a string, element of an array.
    ["contains substring", c("args.s", "contains", "lo w"), { s: "hello world" }, true],
    ["contains missing substring", c("args.s", "contains", "xyz"), { s: "hello" }, false],
    ["contains array element", c("args.s", "contains", "b"), { s: ["a", "b"] }, true],
    [
      "contains array element, JSON equality",
      c("args.s", "contains", { x: 1 }),
      { s: [{ x: 1 }] },
      true,
    ],
    ["contains: number is not its string", c("args.s", "contains", "1"), { s: [1, 2] }, false],
    ["contains on a number", c("args.s", "contains", 1), { s: 1 }, false],
    ["contains on an object", c("args.s", "contains", "a"), { s: { a: 1 } }, false],
    // exists.
    ["exists true, present", c("args.x", "exists", true), { x: 0 }, true],
    ["exists true, present as null", c("args.x", "exists", true), { x: null }, true],
    ["exists true, absent", c("args.x", "exists", true), { y: 1 }, false],
    ["exists false, absent", c("args.x", "exists", false), { y: 1 }, true],
    ["exists false, present", c("args.x", "exists", false), { x: false }, false],
    ["exists false, no arguments at all", c("args.x", "exists", false), undefined, true],
    // Absent paths are false, except exists: false.
    ["absent: eq null", c("args.x", "eq", null), {}, false],
    ["absent: neq", c("args.x", "neq", 1), {}, false],
    ["absent: not_in", c("args.x", "not_in", [1]), {}, false],
    ["absent: lt", c("args.x", "lt", 1), {}, false],
    ["absent: regex matching anything", c("args.x", "regex", ""), {}, false],
    ["absent: no arguments at all", c("args.x", "neq", 1), undefined, false],
    ["absent: through a non-object", c("args.a.b", "neq", 1), { a: 5 }, false],
    ["absent: through a string", c("args.a.length", "exists", true), { a: "abc" }, false],
    // Nested paths.
    ["nested eq", c("args.meta.owner", "eq", "me"), { meta: { owner: "me" } }, true],
    ["nested eq, other value", c("args.meta.owner", "eq", "me"), { meta: { owner: "you" } }, false],
    [
      "nested, top-level key of that name",
      c("args.meta.owner", "eq", "me"),
      { "meta.owner": "me" },
      false,
    ],
    ["nested, parent absent", c("args.meta.owner", "eq", "me"), { owner: "me" }, false],
    ["nested exists false, parent absent", c("args.meta.owner", "exists", false), {}, true],
    ["nested three deep", c("args.a.b.c", "gte", 2), { a: { b: { c: 3 } } }, true],
  ])("%s", (_name, cond, args, expected) => {
    expect(holds(cond, args)).toBe(expected);
  });

  it("1 equals 1.0, as JSON texts", () => {
    const text = (v: string) =>
      `{"version":"1","tools":{"t":{"deny_if":[{"path":"args.n","op":"eq","value":${v}}]}}}`;
    for (const [policyValue, argText] of [
      ["1.0", '{"n": 1}'],
      ["1", '{"n": 1.0}'],
      ["1e0", '{"n": 1.00}'],
    ] as const) {
      const compiled = compile(parsePolicyText(text(policyValue)).policy);
      const d = decide(
        compiled,
        {
          tool: "t",
          identity: "i",
          session: "s",
          ts: 0,
          arguments: JSON.parse(argText) as unknown,
        },
        createState(compiled),
      );
      expect(d.code).toBe("condition_deny");
    }
  });

  it("deny_if denies when any condition holds", () => {
    const rule: RuleObj = {
      reason: "no",
      deny_if: [c("args.a", "eq", 1), c("args.b", "eq", 2)],
    };
    expect(decideRule(rule, { a: 0, b: 2 })).toMatchObject({
      decision: "deny",
      code: "condition_deny",
      rule: "t",
      reason: "no",
    });
    expect(decideRule(rule, { a: 1, b: 0 }).code).toBe("condition_deny");
    expect(decideRule(rule, { a: 0, b: 0 })).toMatchObject({
      decision: "allow",
      code: "rule_allow",
      reason: null,
    });
    expect(decideRule(rule, undefined).code).toBe("rule_allow");
  });

  it("require denies unless all conditions hold", () => {
    const rule: RuleObj = {
      reason: "need both",
      require: [c("args.a", "eq", 1), c("args.b", "exists", true)],
    };
    expect(decideRule(rule, { a: 1, b: null }).code).toBe("rule_allow");
    expect(decideRule(rule, { a: 1 })).toMatchObject({
      decision: "deny",
      code: "requirement_failed",
      rule: "t",
      reason: "need both",
    });
    expect(decideRule(rule, { a: 2, b: 1 }).code).toBe("requirement_failed");
    expect(decideRule(rule, undefined).code).toBe("requirement_failed");
  });

  it("deny_if is looked at before require", () => {
    const rule: RuleObj = { deny_if: [c("args.a", "eq", 1)], require: [c("args.b", "eq", 1)] };
    expect(decideRule(rule, { a: 1 }).code).toBe("condition_deny");
    expect(decideRule(rule, { a: 0 }).code).toBe("requirement_failed");
  });

  it("a rule's action comes before its conditions", () => {
    expect(decideRule({ action: "deny", require: [c("args.a", "eq", 1)] }, { a: 1 }).code).toBe(
      "rule_deny",
    );
    expect(
      decideRule({ action: "require_approval", deny_if: [c("args.a", "eq", 1)] }, { a: 1 }).code,
    ).toBe("approval_required");
  });

  it("conditions that deny consume nothing", () => {
    const compiled = compile(
      load({
        version: "1",
        tools: {
          t: {
            deny_if: [c("args.stop", "eq", true)],
            limits: [{ counter: "c", window: "minute", max: 1 }],
          },
        },
      }),
    );
    const state = createState(compiled);
    const call = (ts: number, stop: boolean) =>
      decide(compiled, { tool: "t", identity: "i", session: "s", ts, arguments: { stop } }, state)
        .code;
    expect([call(0, true), call(1, true), call(2, false), call(3, false)]).toEqual([
      "condition_deny",
      "condition_deny",
      "rule_allow",
      "rate_limited",
    ]);
  });
});

describe("values not held in clear", () => {
  const redacted = { $redacted: "hmac-sha256:9f86d081884c7d659a2feaa0c55ad015" };
  const truncated = { $truncated: 4096 };

  it("a deny_if reaching a redacted value counts as not holding, and is inexact", () => {
    const d = decideRule({ deny_if: [c("args.owner", "eq", "me")] }, { owner: redacted });
    expect(d).toMatchObject({ decision: "allow", code: "rule_allow", inexact: true });
  });

  it("a require reaching a redacted value fails, and is inexact", () => {
    const d = decideRule({ require: [c("args.owner", "eq", "me")] }, { owner: redacted });
    expect(d).toMatchObject({ decision: "deny", code: "requirement_failed", inexact: true });
  });

  it("a path through a redacted object is inexact too", () => {
    const args = { meta: redacted };
    expect(decideRule({ deny_if: [c("args.meta.owner", "eq", "me")] }, args)).toMatchObject({
      code: "rule_allow",
      inexact: true,
    });
    expect(decideRule({ require: [c("args.meta.owner", "neq", "me")] }, args)).toMatchObject({
      code: "requirement_failed",
      inexact: true,
    });
  });

  it("a truncated value is treated the same way", () => {
    expect(
      decideRule({ deny_if: [c("args.body", "contains", "x")] }, { body: truncated }),
    ).toMatchObject({
      code: "rule_allow",
      inexact: true,
    });
  });

  it("a condition that never reaches the redacted value is exact", () => {
    const args = { owner: redacted, n: 5 };
    expect(decideRule({ deny_if: [c("args.n", "gt", 3)] }, args)).toMatchObject({
      code: "condition_deny",
      inexact: false,
    });
    expect(decideRule({ require: [c("args.n", "gt", 3)] }, args)).toMatchObject({
      code: "rule_allow",
      inexact: false,
    });
    // A rule without conditions never looks at arguments.
    expect(decideRule({}, args)).toMatchObject({ code: "rule_allow", inexact: false });
  });

  it("an object that merely has a $redacted key among others is an ordinary value", () => {
    const args = { owner: { $redacted: "x", other: 1 } };
    expect(decideRule({ deny_if: [c("args.owner.other", "eq", 1)] }, args)).toMatchObject({
      code: "condition_deny",
      inexact: false,
    });
  });
});

describe("inexact only when the answer hangs on an opaque value", () => {
  const redacted = { $redacted: "hmac-sha256:00" };

  it("exists on a redacted value holds exactly: the key is there", () => {
    const args = { token: redacted };
    expect(decideRule({ require: [c("args.token", "exists", true)] }, args)).toMatchObject({
      code: "rule_allow",
      inexact: false,
    });
    expect(decideRule({ deny_if: [c("args.token", "exists", false)] }, args)).toMatchObject({
      code: "rule_allow",
      inexact: false,
    });
  });

  it("exists below a redacted object is unknown: the key may or may not be inside", () => {
    const args = { meta: redacted };
    expect(decideRule({ require: [c("args.meta.owner", "exists", true)] }, args)).toMatchObject({
      code: "requirement_failed",
      inexact: true,
    });
  });

  it("a deny_if that certainly holds is exact, whichever condition comes first", () => {
    const args = { owner: redacted, n: 1 };
    for (const deny_if of [
      [c("args.owner", "eq", "me"), c("args.n", "eq", 1)],
      [c("args.n", "eq", 1), c("args.owner", "eq", "me")],
    ]) {
      expect(decideRule({ deny_if }, args)).toMatchObject({
        code: "condition_deny",
        inexact: false,
      });
    }
  });

  it("a require that certainly fails is exact, whichever condition comes first", () => {
    const args = { owner: redacted, n: 2 };
    for (const require of [
      [c("args.owner", "eq", "me"), c("args.n", "eq", 1)],
      [c("args.n", "eq", 1), c("args.owner", "eq", "me")],
    ]) {
      expect(decideRule({ require }, args)).toMatchObject({
        code: "requirement_failed",
        inexact: false,
      });
    }
  });
});

describe("time order", () => {
  it("a call earlier than the previous one on the same state throws TimeOrderError", () => {
    const compiled = compile(load({ version: "1", default: "allow" }));
    const state = createState(compiled);
    decide(compiled, { tool: "t", identity: "i", session: "s", ts: 10 }, state);
    decide(compiled, { tool: "t", identity: "i", session: "s", ts: 10 }, state);
    expect(() =>
      decide(compiled, { tool: "t", identity: "i", session: "s", ts: 9 }, state),
    ).toThrow(TimeOrderError);
  });
});

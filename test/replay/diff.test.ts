import { describe, expect, it } from "vitest";
import type { Decision, DecisionKind } from "../../src/engine/index.js";
import {
  agentSees,
  CHANGE_CLASSES,
  type ChangeClass,
  classify,
  type Outcome,
  withApproval,
} from "../../src/replay/diff.js";
import type { RecordedDecision } from "../../src/replay/types.js";

const outcome = (
  decision: DecisionKind,
  code: string,
  rule: string | null = "t",
  retry_after_ms: number | null = null,
): Outcome => ({ decision, code, rule, retry_after_ms, approval: null });

const ALLOW = outcome("allow", "rule_allow");
const DENY = outcome("deny", "rule_deny");
const APPROVAL = outcome("approval_required", "approval_required");

describe("classify: the matrix (SPEC section 6)", () => {
  const matrix: [before: Outcome, after: Outcome, expected: ChangeClass | null][] = [
    [ALLOW, ALLOW, null],
    [ALLOW, DENY, "tightened"],
    [ALLOW, APPROVAL, "tightened"],
    [DENY, ALLOW, "loosened"],
    [DENY, DENY, null],
    // Between deny and approval, by strictness (a documented choice; SPEC names only allow <->).
    [DENY, APPROVAL, "loosened"],
    [APPROVAL, ALLOW, "loosened"],
    [APPROVAL, DENY, "tightened"],
    [APPROVAL, APPROVAL, null],
  ];
  it.each(matrix)("%o -> %o is %s", (before, after, expected) => {
    expect(classify(before, after)).toBe(expected);
  });

  it("same decision, other code, is changed", () => {
    expect(classify(outcome("deny", "rule_deny"), outcome("deny", "hidden", null))).toBe("changed");
    expect(classify(outcome("allow", "default_allow", null), outcome("allow", "rule_allow"))).toBe(
      "changed",
    );
    expect(classify(outcome("deny", "rate_limited"), outcome("deny", "condition_deny"))).toBe(
      "changed",
    );
  });

  it("same decision and code, other rule, is changed", () => {
    expect(
      classify(
        outcome("allow", "rule_allow", "fleet_*"),
        outcome("allow", "rule_allow", "fleet_x"),
      ),
    ).toBe("changed");
    expect(classify(outcome("deny", "rule_deny", null), outcome("deny", "rule_deny", "x"))).toBe(
      "changed",
    );
  });

  it("a different retry time alone is not a change", () => {
    expect(
      classify(
        outcome("deny", "rate_limited", "t", 100),
        outcome("deny", "rate_limited", "t", 900),
      ),
    ).toBeNull();
    expect(
      classify(
        outcome("deny", "rate_limited", "t", 100),
        outcome("deny", "rate_limited", "t", null),
      ),
    ).toBeNull();
  });

  it("a change of decision is never just 'changed', whatever the codes", () => {
    for (const b of [ALLOW, DENY, APPROVAL])
      for (const a of [ALLOW, DENY, APPROVAL]) {
        const c = classify(b, a);
        if (a.decision === b.decision) expect(c).toBeNull();
        else expect(c === "tightened" || c === "loosened").toBe(true);
      }
  });

  it("CHANGE_CLASSES lists the three classes", () => {
    expect([...CHANGE_CLASSES]).toEqual(["tightened", "loosened", "changed"]);
  });
});

describe("withApproval (SPEC section 5)", () => {
  const needsApproval: Decision = {
    decision: "approval_required",
    code: "approval_required",
    rule: "fleet_*",
    reason: "writes need a human",
    retry_after_ms: null,
    limit: null,
    inexact: false,
  };

  it("no answer leaves approval_required as it is", () => {
    expect(withApproval(needsApproval, null)).toEqual({
      decision: "approval_required",
      code: "approval_required",
      rule: "fleet_*",
      retry_after_ms: null,
      approval: null,
    });
  });

  it("approved becomes allow, keeping the code and rule that sent it to approval", () => {
    expect(withApproval(needsApproval, "approved")).toEqual({
      decision: "allow",
      code: "approval_required",
      rule: "fleet_*",
      retry_after_ms: null,
      approval: "approved",
    });
  });

  it.each(["rejected", "timeout"] as const)("%s becomes deny", (answer) => {
    expect(withApproval(needsApproval, answer)).toEqual({
      decision: "deny",
      code: "approval_required",
      rule: "fleet_*",
      retry_after_ms: null,
      approval: answer,
    });
  });

  it("default_approval is answered the same way", () => {
    const d: RecordedDecision = {
      decision: "approval_required",
      code: "default_approval",
      rule: null,
      retry_after_ms: null,
    };
    expect(withApproval(d, "approved")).toMatchObject({
      decision: "allow",
      code: "default_approval",
      approval: "approved",
    });
  });

  it("an answer on a call that did not need approval is ignored", () => {
    const limited: RecordedDecision = {
      decision: "deny",
      code: "rate_limited",
      rule: "t",
      retry_after_ms: 1234,
    };
    expect(withApproval(limited, "approved")).toEqual({ ...limited, approval: null });
    const allowed: RecordedDecision = {
      decision: "allow",
      code: "rule_allow",
      rule: "t",
      retry_after_ms: null,
    };
    expect(withApproval(allowed, "rejected")).toEqual({ ...allowed, approval: null });
  });

  it("the same answer on both sides: no change", () => {
    for (const answer of ["approved", "rejected", "timeout"] as const) {
      expect(
        classify(withApproval(needsApproval, answer), withApproval(needsApproval, answer)),
      ).toBeNull();
    }
  });

  it("a recorded approval against a candidate that allows outright is 'changed'", () => {
    // Same decision (allow) but the human step is gone: other code.
    const before = withApproval(needsApproval, "approved");
    expect(classify(before, ALLOW)).toBe("changed");
    // A rejected call that the candidate allows outright is loosened.
    expect(classify(withApproval(needsApproval, "rejected"), ALLOW)).toBe("loosened");
  });
});

describe("agentSees: which changes start counterfactual marks (SPEC section 6)", () => {
  const decided = (o: Outcome, reason: string | null = null): Decision => ({
    decision: o.decision,
    code: o.code as Decision["code"],
    rule: o.rule,
    reason,
    retry_after_ms: o.retry_after_ms,
    limit: null,
    inexact: false,
  });
  const recorded = (o: Outcome): RecordedDecision => ({
    decision: o.decision,
    code: o.code,
    rule: o.rule,
    retry_after_ms: o.retry_after_ms,
  });
  const sees = (b: Outcome, a: Outcome, bReason: string | null = null, aReason = bReason) =>
    agentSees(b, a, decided(b, bReason), decided(a, aReason));

  it("another decision is seen", () => {
    for (const b of [ALLOW, DENY, APPROVAL])
      for (const a of [ALLOW, DENY, APPROVAL])
        if (a.decision !== b.decision) expect(sees(b, a)).toBe(true);
  });

  it("an allow under another code or rule is not", () => {
    const byDefault = outcome("allow", "default_allow", null);
    expect(sees(byDefault, outcome("allow", "rule_allow", "x"))).toBe(false);
    expect(
      agentSees(
        byDefault,
        outcome("allow", "rule_allow", "x"),
        recorded(byDefault),
        decided(ALLOW),
      ),
    ).toBe(false);
    expect(sees(outcome("allow", "rule_allow", "a*"), outcome("allow", "rule_allow", "ab"))).toBe(
      false,
    );
  });

  it("a denial with another code is seen, whatever the reasons", () => {
    expect(sees(outcome("deny", "rule_deny"), outcome("deny", "hidden", null))).toBe(true);
    expect(sees(outcome("deny", "rule_deny"), outcome("deny", "condition_deny"), "r", "r")).toBe(
      true,
    );
  });

  it("a denial with the same code is seen when its reason differs, not when only the rule does", () => {
    const a = outcome("deny", "rule_deny", "fleet_*");
    const b = outcome("deny", "rule_deny", "fleet_secrets_*");
    expect(sees(a, b, "no fleet writes", "no secrets")).toBe(true);
    expect(sees(a, b, null, "no secrets")).toBe(true);
    expect(sees(a, b, "same words", "same words")).toBe(false);
    expect(sees(a, b, null, null)).toBe(false);
  });

  it("against a recorded decision, which keeps no reason, a denial by another rule counts as seen", () => {
    const a = outcome("deny", "rule_deny", "fleet_*");
    const b = outcome("deny", "rule_deny", "fleet_secrets_*");
    expect(agentSees(a, b, recorded(a), decided(b, null))).toBe(true);
    // Same rule, only another retry time: not even a change, and not seen.
    const r1 = outcome("deny", "rate_limited", "t", 100);
    const r2 = outcome("deny", "rate_limited", "t", 900);
    expect(agentSees(r1, r2, recorded(r1), decided(r2))).toBe(false);
  });

  it("an approval no human gave is a refusal: its code and reason are what the agent reads", () => {
    const byRule = outcome("approval_required", "approval_required", "a*");
    const other = outcome("approval_required", "approval_required", "ab");
    expect(sees(byRule, other, "ask ops", "ask ops")).toBe(false);
    expect(sees(byRule, other, "ask ops", "ask security")).toBe(true);
    expect(sees(byRule, outcome("approval_required", "default_approval", null))).toBe(true);
  });

  it("a recorded human answer turns approval into the allow or denial the agent got", () => {
    const ask = (rule: string): Decision => ({
      ...decided(outcome("approval_required", "approval_required", rule)),
      reason: "ask",
    });
    const [x, y] = [ask("x*"), ask("xy")];
    expect(agentSees(withApproval(x, "approved"), withApproval(y, "approved"), x, y)).toBe(false);
    expect(agentSees(withApproval(x, "rejected"), withApproval(y, "rejected"), x, y)).toBe(false);
    expect(agentSees(withApproval(x, "rejected"), DENY, x, decided(DENY))).toBe(true);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decisionText, n, outcomeText } from "../../../src/replay/report/words.js";

describe("n (counts in reports)", () => {
  it("groups digits as en-US toLocaleString does, for any number", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double({ noNaN: true })),
        (x) => n(x) === x.toLocaleString("en-US"),
      ),
    );
    expect(n(1_000_000)).toBe("1,000,000");
    expect(n(-1234)).toBe("-1,234");
    expect(n(999)).toBe("999");
    expect(n(-0)).toBe("-0");
  });
});

describe("decisions in words", () => {
  it("says a decision and its code once when they are the same word", () => {
    expect(decisionText({ decision: "approval_required", code: "approval_required" })).toBe(
      "approval_required",
    );
    expect(decisionText({ decision: "approval_required", code: "default_approval" })).toBe(
      "approval_required default_approval",
    );
    expect(decisionText({ decision: "deny", code: "approval_required" })).toBe(
      "deny approval_required",
    );
    const o = { decision: "approval_required", code: "approval_required", rule: "x" } as const;
    expect(outcomeText({ ...o, retry_after_ms: null })).toBe("approval_required");
    expect(
      outcomeText({
        decision: "allow",
        code: "approval_required",
        rule: "x",
        retry_after_ms: null,
        approval: "approved",
      }),
    ).toBe("allow approval_required (approved)");
  });
});

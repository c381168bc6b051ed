import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { n } from "../../../src/replay/report/words.js";

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

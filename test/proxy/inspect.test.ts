// Reading a message's depth from its bytes (src/proxy/inspect.ts): the same answer as walking
// the parsed value, whatever the text holds, and an early stop.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nestsDeeperThan, valueNestsDeeperThan } from "../../src/proxy/inspect.js";

function depth(v: unknown): number {
  if (v === null || typeof v !== "object") return 0;
  return 1 + Math.max(0, ...Object.values(v).map(depth));
}

describe("nestsDeeperThan", () => {
  it("agrees with the parsed value's depth, strings with brackets and escapes included", () => {
    const text = fc.string({ unit: fc.constantFrom("[", "]", "{", "}", '"', "\\", "a", "é") });
    fc.assert(
      fc.property(
        fc.letrec((tie) => ({
          value: fc.oneof(
            { depthSize: "small", withCrossShrink: true },
            text,
            fc.integer(),
            fc.constant(null),
            fc.array(tie("value"), { maxLength: 3 }),
            fc.dictionary(text, tie("value"), { maxKeys: 3 }),
          ),
        })).value,
        fc.nat({ max: 8 }),
        (value, limit) => {
          const bytes = Buffer.from(JSON.stringify(value));
          expect(nestsDeeperThan(bytes, limit)).toBe(depth(value) > limit);
          expect(valueNestsDeeperThan(value, limit)).toBe(depth(value) > limit);
        },
      ),
    );
  });

  it("stops at the limit: unbalanced text past it is never looked at", () => {
    expect(nestsDeeperThan(Buffer.from("[".repeat(3) + '"'), 2)).toBe(true);
    expect(nestsDeeperThan(Buffer.from("[".repeat(2) + '"[[[['), 2)).toBe(false);
    expect(valueNestsDeeperThan(JSON.parse("[".repeat(10_000) + "]".repeat(10_000)))).toBe(true);
  });
});

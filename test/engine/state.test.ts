import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Consumptions } from "../../src/engine/state.js";

/** The first index at or after the head whose time is after `after`, by a plain scan. */
function scanned(c: Consumptions, after: number): number {
  let i = c.head;
  while (i < c.times.length && c.times[i]! <= after) i++;
  return i;
}

describe("Consumptions", () => {
  it("finds the first consumption after a time as a scan does, evicted or not", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 40 }),
        fc.integer({ min: -1, max: 60 }),
        fc.integer({ min: -1, max: 60 }),
        (deltas, cutoff, after) => {
          const c = new Consumptions();
          let t = 0;
          for (const d of deltas) c.push((t += d));
          c.evictThrough(cutoff);
          expect(c.firstAfter(after)).toBe(scanned(c, after));
        },
      ),
    );
  });

  it("answers at the head when its first kept consumption is inside the window", () => {
    const c = new Consumptions();
    for (const t of [1, 2, 3, 10, 11, 12]) c.push(t);
    c.evictThrough(3);
    expect(c.firstAfter(5)).toBe(3);
    expect(c.firstAfter(10)).toBe(4);
    expect(c.firstAfter(12)).toBe(6);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { covers, isCatchAll, matches } from "../../src/check/patterns.js";

describe("covers: every name the narrow pattern matches, the broad one matches", () => {
  it.each([
    ["fleet_*", "fleet_status"],
    ["fleet_*", "fleet_*_list"],
    ["fleet_*", "fleet_**"],
    ["fleet_**", "fleet_*"],
    ["*", "anything?*"],
    ["x*y*", "x?y*"],
    ["*?", "?*"],
    ["a?c", "abc"],
    ["a?c", "a?c"],
    ["exact", "exact"],
  ])("%s covers %s", (broad, narrow) => expect(covers(broad, narrow)).toBe(true));

  it.each([
    ["fleet_status", "fleet_*"],
    ["fleet_*_list", "fleet_*"],
    ["a?c", "a*c"],
    ["?", "*"],
    ["a*", "b*"],
    ["exact", "exacT"],
    ["ab", "a"],
  ])("%s does not cover %s", (broad, narrow) => expect(covers(broad, narrow)).toBe(false));

  it("is sound: when it says yes, every name the narrow pattern matches, the broad one matches", () => {
    const glob = fc
      .array(fc.constantFrom("a", "b", "_", "*", "?"), { minLength: 1, maxLength: 5 })
      .map((cs) => cs.join(""));
    const name = fc
      .array(fc.constantFrom("a", "b", "_"), { maxLength: 7 })
      .map((cs) => cs.join(""));
    fc.assert(
      fc.property(glob, glob, fc.array(name, { maxLength: 30 }), (broad, narrow, names) => {
        if (!covers(broad, narrow)) return;
        for (const n of names) if (matches(narrow, n)) expect(matches(broad, n)).toBe(true);
      }),
    );
  });
});

describe("isCatchAll", () => {
  it("is a glob with no literal character", () => {
    expect(["*", "**", "?*", "?"].map(isCatchAll)).toEqual([true, true, true, true]);
    expect(["a*", "*_*", "a"].map(isCatchAll)).toEqual([false, false, false]);
  });
});

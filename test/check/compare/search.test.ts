// The searches under compare: tool names per set of matching patterns, strings per combination
// of regex results, arguments per combination of condition results.
import { describe, expect, it } from "vitest";
import { compilePattern } from "../../../src/policy/regex.js";
import { searchStrings } from "../../../src/check/compare/strings.js";
import { toolUniverse } from "../../../src/check/compare/universe.js";
import { matches } from "../../../src/check/patterns.js";
import { argumentSpace } from "../../../src/check/compare/witnesses.js";

describe("toolUniverse", () => {
  it("has one name per set of patterns some name matches, each checked against every pattern", () => {
    const patterns = ["fleet_*", "fleet_*_list", "fleet_status", "*_secret", "a?c"];
    const u = toolUniverse(patterns);
    expect(u.complete).toBe(true);
    const sets = u.tools.map((t) => t.patterns.join(" "));
    expect(new Set(sets).size).toBe(sets.length);
    for (const t of u.tools) {
      expect(patterns.filter((p) => matches(p, t.name))).toEqual(t.patterns);
    }
    // fleet_*_list cannot match without fleet_*; a name matching both globs exists.
    expect(sets).toContain("fleet_* fleet_*_list");
    expect(sets).not.toContain("fleet_*_list");
    expect(sets).toContain("fleet_* fleet_status");
    expect(sets).toContain("");
    expect(sets).toContain("fleet_* *_secret");
  });
});

describe("searchStrings", () => {
  it("proves one prefix inside another, and finds what tells them apart", () => {
    const r = searchStrings([
      { kind: "regex", pattern: "^prod/" },
      { kind: "regex", pattern: "^(prod|staging)/" },
    ]);
    expect(r.complete).toBe(true);
    expect([...r.found.keys()].sort()).toEqual(["00", "01", "11"]);
  });

  it("finds strings the engine's matcher agrees with", () => {
    const tests = ["^[0-9a-f]{40}$", "\\bfoo\\b", "https?://", "PASSWORD|TOKEN|_KEY$", "^a.c$"];
    const r = searchStrings(tests.map((pattern) => ({ kind: "regex" as const, pattern })));
    for (const [combo, strings] of r.found) {
      for (const s of strings) {
        expect(tests.map((p) => (compilePattern(p)(s) ? "1" : "0")).join("")).toBe(combo);
      }
    }
    expect(r.found.size).toBeGreaterThan(4);
  });
});

describe("argumentSpace", () => {
  it("has a value for each side of every bound and constant", () => {
    const s = argumentSpace([
      { path: "args.n", op: "gt", value: 5 },
      { path: "args.n", op: "lte", value: 10 },
      { path: "args.d", op: "in", value: ["north", "south"] },
      { path: "args.t", op: "exists", value: true },
    ]);
    expect(s.gaps).toEqual([]);
    const n = s.paths.find((p) => p.path === "args.n")!.values;
    // One value per way the two bounds can come out: absent, <= 5, in (5, 10], > 10.
    expect(n.slice(1)).toEqual([4, 6, 11]);
    expect(s.paths.find((p) => p.path === "args.d")!.values).toContain("north");
  });

  it("says when nested paths make it a search rather than a proof", () => {
    const s = argumentSpace([
      { path: "args.meta", op: "exists", value: false },
      { path: "args.meta.owner", op: "eq", value: "me" },
    ]);
    expect(s.gaps.join()).toMatch(/nested/);
  });
});

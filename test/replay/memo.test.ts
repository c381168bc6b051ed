import { describe, expect, it } from "vitest";
import { GroupMemo } from "../../src/replay/memo.js";
import type { CallGroup } from "../../src/replay/types.js";
import { fixturePolicies, readDemo } from "./support.js";

describe("GroupMemo", () => {
  const groups = (): CallGroup[] => [...new Set(readDemo().map((tc) => tc.group!))];

  it("makes one entry per group, on first meeting, and gives it back after", () => {
    const [candidate] = fixturePolicies();
    const memo = new GroupMemo(candidate!, null);
    const gs = groups();
    expect(gs.map((g) => g.id).sort((a, b) => a - b)).toEqual(gs.map((_, i) => i));
    const entries = gs.map((g) => memo.entry(g));
    expect(gs.map((g) => memo.entry(g))).toEqual(entries);
    for (const [i, e] of entries.entries()) {
      expect(e).toBe(memo.entry(gs[i]!));
      expect(e.group).toBe(gs[i]);
      expect(e.baseline).toBeNull();
    }
  });

  it("gives the groups of one session one session entry, the one calls without a group get", () => {
    const [candidate, baseline] = fixturePolicies();
    const memo = new GroupMemo(candidate!, baseline!);
    for (const g of groups()) {
      const e = memo.entry(g);
      expect(e.seen).toBe(memo.session(g.session));
      expect(e.baseline).not.toBeNull();
    }
  });

  it("gives a group of another read, with the same id, an entry of its own", () => {
    const [candidate] = fixturePolicies();
    const memo = new GroupMemo(candidate!, null);
    const [a, b] = [groups(), groups()];
    const ea = memo.entry(a[0]!);
    const eb = memo.entry(b[0]!);
    expect(a[0]!.id).toBe(b[0]!.id);
    expect(eb).not.toBe(ea);
    expect(eb.group).toBe(b[0]);
  });
});

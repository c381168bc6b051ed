import { describe, expect, it } from "vitest";
import { resolve } from "../../src/engine/index.js";
import { GroupMemo } from "../../src/replay/memo.js";
import type { CallGroup } from "../../src/replay/types.js";
import { fixturePolicies, readDemo, readDemoTwice } from "./support.js";

describe("GroupMemo", () => {
  const groups = (): CallGroup[] => [...new Set(readDemo().map((tc) => tc.group!))];

  it("gives each group the rules its tool resolves to under each policy, and its session's entry", () => {
    const [candidate, baseline] = fixturePolicies();
    const gs = groups();
    expect(gs.map((g) => g.id).sort((a, b) => a - b)).toEqual(gs.map((_, i) => i));
    for (const base of [null, baseline!]) {
      const memo = new GroupMemo(candidate!, base);
      // Twice round: made on first meeting, the same after.
      for (const g of [...gs, ...gs.reverse()]) {
        const e = memo.entry(g);
        expect(e.candidate).toBe(resolve(candidate!, g.identity, g.tool));
        expect(e.baseline).toBe(base && resolve(base, g.identity, g.tool));
        expect(e.seen).toBe(memo.session(g.session));
      }
    }
  });

  it("keeps one entry per session, shared by its groups and its calls without a group", () => {
    const [candidate] = fixturePolicies();
    const memo = new GroupMemo(candidate!, null);
    const gs = groups();
    const sessions = new Set(gs.map((g) => g.session));
    expect(sessions.size).toBeLessThan(gs.length);
    memo.session(gs[0]!.session).calls = 7;
    for (const g of gs.filter((g) => g.session === gs[0]!.session)) {
      expect(memo.entry(g).seen.calls).toBe(7);
    }
  });

  it("gives a group of another read, with the same id, its own entry", () => {
    const [candidate] = fixturePolicies();
    const memo = new GroupMemo(candidate!, null);
    const g = groups()[0]!;
    const other: CallGroup = { ...g, read: g.read + 1, session: "another", tool: "another_tool" };
    expect(memo.entry(g).seen).toBe(memo.session(g.session));
    expect(memo.entry(other).seen).toBe(memo.session("another"));
    expect(memo.entry(other).candidate).toBe(resolve(candidate!, g.identity, "another_tool"));
    expect(memo.entry(g).seen).toBe(memo.session(g.session));
  });

  it("tells two reads' groups of the same id apart by their read, never 0", () => {
    const calls = readDemoTwice();
    const reads = new Set(calls.map((tc) => tc.group!.read));
    expect(reads.size).toBe(2);
    expect(reads.has(0)).toBe(false);
    const [candidate] = fixturePolicies();
    const memo = new GroupMemo(candidate!, null);
    for (const tc of calls) {
      const g = tc.group!;
      expect(memo.entry(g).candidate).toBe(resolve(candidate!, g.identity, g.tool));
      expect(memo.entry(g).seen).toBe(memo.session(g.session));
    }
  });
});

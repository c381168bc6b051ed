import { describe, expect, it } from "vitest";
import type { ChangeClass } from "../../../src/replay/diff.js";
import type { CallResult } from "../../../src/replay/replay.js";
import type { ReportContext } from "../../../src/replay/report/context.js";
import {
  ChangedCalls,
  listingScope,
  listRank,
  RankedListing,
} from "../../../src/replay/report/listing.js";
import type { Summary } from "../../../src/replay/summary.js";

describe("RankedListing", () => {
  it("keeps the first `limit` by rank, then arrival, and hands on what it leaves out", () => {
    const dropped: string[] = [];
    const l = new RankedListing<string>(3, (x) => dropped.push(x));
    l.add("c1", 2);
    l.add("c2", 2);
    l.add("t1", 0);
    l.add("a1", 1); // full: pushes out c2, the newest of the worst rank
    l.add("t2", 0); // pushes out c1
    l.add("c3", 2); // nothing worse to push out: left out itself
    l.add("t3", 0); // pushes out a1
    expect(l.items()).toEqual(["t1", "t2", "t3"]);
    expect(dropped).toEqual(["c2", "c1", "c3", "a1"]);
  });

  it("without onDrop, still keeps no more than the limit", () => {
    const l = new RankedListing<number>(2);
    for (let i = 0; i < 10; i++) l.add(i, i % 3 === 0 ? 2 : 0);
    expect(l.items()).toEqual([1, 2]);
  });

  it("limit 0 keeps nothing; Infinity keeps all, in rank order", () => {
    const none = new RankedListing<number>(0);
    none.add(1, 0);
    expect(none.items()).toEqual([]);
    const all = new RankedListing<number>(Infinity);
    [2, 0, 1, 0].forEach((rank, i) => all.add(i, rank as 0 | 1 | 2));
    expect(all.items()).toEqual([1, 3, 2, 0]);
  });
});

const result = (index: number, change: ChangeClass, accepted = false): CallResult =>
  ({ source: { index }, change, accepted }) as unknown as CallResult;

const ctx = (over: Partial<ReportContext> = {}): ReportContext => ({
  candidate: "c",
  baseline: null,
  source: "s",
  failOn: ["tightened", "loosened"],
  show: Infinity,
  ...over,
});

describe("what a report lists, in what order", () => {
  it("gate failures, then accepted changes of a failing class, then the other classes", () => {
    const failOn: ChangeClass[] = ["tightened"];
    expect(listRank(result(0, "tightened"), failOn)).toBe(0);
    expect(listRank(result(0, "tightened", true), failOn)).toBe(1);
    expect(listRank(result(0, "loosened"), failOn)).toBe(2);
    expect(listRank(result(0, "changed"), failOn)).toBe(2);
  });

  it("ChangedCalls: --only, then --show, failures first, call order within", () => {
    const results = [
      result(0, "changed"),
      result(1, "loosened"),
      result(2, "tightened", true),
      result(3, "changed"),
      result(4, "tightened"),
    ];
    const list = (over: Partial<ReportContext>) => {
      const c = new ChangedCalls(ctx(over));
      for (const r of results) c.add(r);
      return c.items().map((r) => r.source.index);
    };
    expect(list({})).toEqual([1, 4, 2, 0, 3]);
    expect(list({ show: 3 })).toEqual([1, 4, 2]);
    expect(list({ only: ["changed"] })).toEqual([0, 3]);
    expect(list({ failOn: [] })).toEqual([0, 1, 2, 3, 4]);
  });
});

describe("listingScope", () => {
  const s = { changes: { tightened: 2, loosened: 0, changed: 9, total: 11 } } as Summary;
  const hint = "--show all lists every one";
  it("says what a listing leaves out, or nothing", () => {
    expect(listingScope(s, ctx(), 11, hint)).toBeNull();
    expect(listingScope(s, ctx(), 4, hint)).toBe(`first 4 of 11; ${hint}`);
    expect(listingScope(s, ctx({ only: ["tightened"] }), 2, hint)).toBe("tightened only: 2 of 11");
    expect(listingScope(s, ctx({ only: ["loosened", "changed"] }), 5, null)).toBe(
      "loosened and changed only: first 5 of 9, of 11 in all",
    );
    expect(listingScope(s, ctx({ only: ["changed"] }), 5, hint)).toBe(
      `changed only: first 5 of 9, of 11 in all; ${hint}`,
    );
    // --only naming every class that changed leaves nothing out.
    expect(listingScope(s, ctx({ only: ["tightened", "changed"] }), 11, hint)).toBeNull();
  });
});

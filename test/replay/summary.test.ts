import { describe, expect, it } from "vitest";
import { replay } from "../../src/replay/replay.js";
import { type Summary, SummaryBuilder } from "../../src/replay/summary.js";
import type { TraceCall } from "../../src/replay/types.js";
import { type Policies, policyPairs, readDemo, readDemoTwice, ungrouped } from "./support.js";

/** Summarise a replay of `calls`, finishing twice: the second finish must say the same. */
function summarise(calls: TraceCall[], policies: Policies): Summary {
  const b = new SummaryBuilder(policies.baseline ? "baseline" : "recorded", ["tightened"]);
  for (const r of replay(calls, { ...policies, file: "demo.sqlite" })) b.add(r);
  const first = b.finish();
  expect(b.finish()).toEqual(first);
  return first;
}

describe("SummaryBuilder: counts per group of recorded calls", () => {
  it("tallies recorded calls by tool and identity as it tallies the same calls without groups", () => {
    const grouped = readDemo();
    const plain = ungrouped(grouped);
    for (const policies of policyPairs()) {
      const s = summarise(grouped, policies);
      expect(s.calls).toBe(60);
      expect(Object.keys(s.by_tool).length).toBeGreaterThan(1);
      expect(s).toEqual(summarise(plain, policies));
    }
  });

  it("the calls of two reads, their group ids overlapping, are tallied as without groups", () => {
    const grouped = readDemoTwice();
    const plain = ungrouped(grouped);
    for (const policies of policyPairs()) {
      expect(summarise(grouped, policies)).toEqual(summarise(plain, policies));
    }
  });

  it("keeps counting after a finish(): the next finish() adds the later calls", () => {
    const calls = readDemo();
    const [policies] = policyPairs();
    const results = [...replay(calls, { ...policies!, file: "demo.sqlite" })];
    const b = new SummaryBuilder("recorded", []);
    for (const r of results.slice(0, 20)) b.add(r);
    b.finish();
    for (const r of results.slice(20)) b.add(r);
    const whole = new SummaryBuilder("recorded", []);
    for (const r of results) whole.add(r);
    expect(b.finish()).toEqual(whole.finish());
  });
});

import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import {
  checkFilter,
  filterCalls,
  parseTime,
  toolMatcher,
  toQuery,
} from "../../src/replay/filter.js";
import type { TraceCall } from "../../src/replay/types.js";

describe("parseTime", () => {
  it.each([
    ["1763800000000", 1_763_800_000_000],
    ["0", 0],
    ["2026-11-23", Date.UTC(2026, 10, 23)],
    ["2026-11-23T12:10", Date.UTC(2026, 10, 23, 12, 10)],
    ["2026-11-23T12:10:50", Date.UTC(2026, 10, 23, 12, 10, 50)],
    ["2026-11-23 12:10:50.924", Date.UTC(2026, 10, 23, 12, 10, 50, 924)],
    ["2026-11-23T12:10:50.924Z", Date.UTC(2026, 10, 23, 12, 10, 50, 924)],
    ["2026-11-23T13:10:50+01:00", Date.UTC(2026, 10, 23, 12, 10, 50)],
    ["2026-11-23T07:10:50-0500", Date.UTC(2026, 10, 23, 12, 10, 50)],
  ])("%s", (text, ms) => {
    expect(parseTime("--since", text)).toBe(ms);
  });

  it.each(["", "soon", "2026-13-01", "2026-02-30", "2026-11-23T25:00", "-5", "1.5", "23/11/2026"])(
    "rejects %j naming the flag",
    (text) => {
      expect(() => parseTime("--until", text)).toThrow(UsageError);
      expect(() => parseTime("--until", text)).toThrow(/^--until: expected an ISO 8601/);
    },
  );
});

describe("filters", () => {
  it("a range that selects nothing is a usage error", () => {
    expect(() => checkFilter({ since: 5, until: 5 })).toThrow(UsageError);
    expect(checkFilter({ since: 4, until: 5 })).toEqual({ since: 4, until: 5 });
  });

  it("SQL gets everything but the tool globs", () => {
    expect(
      toQuery({ sessions: ["s"], identities: ["i"], tools: ["t*"], since: 1, until: 2 }),
    ).toEqual({ sessions: ["s"], identities: ["i"], since: 1, until: 2 });
  });

  it("tool globs are the policy's: * any run, ? one character, the rest literal", () => {
    const m = toolMatcher(["fleet_*_list", "a?c", "x.y"]);
    expect(["fleet_hosts_list", "fleet__list", "abc", "x.y"].every(m)).toBe(true);
    expect(["fleet_list", "ac", "abbc", "xzy", "Fleet_hosts_list"].some(m)).toBe(false);
  });

  it("filterCalls keeps the calls every filter selects, indexes as read", () => {
    const tc = (index: number, session: string, identity: string, tool: string, ts: number) =>
      ({
        index,
        line: index + 1,
        call: { session, identity, tool, ts },
        recorded: null,
        approval: null,
      }) as TraceCall;
    const calls = [
      tc(0, "s1", "a", "fleet_status", 10),
      tc(1, "s2", "a", "fleet_status", 20),
      tc(2, "s1", "b", "echo", 30),
      tc(3, "s1", "a", "fleet_wipe", 40),
    ];
    const kept = (f: Parameters<typeof filterCalls>[1]) =>
      [...filterCalls(calls, f)].map((c) => c.index);
    expect(kept({})).toEqual([0, 1, 2, 3]);
    expect(kept({ sessions: ["s1"] })).toEqual([0, 2, 3]);
    expect(kept({ identities: ["a"], tools: ["fleet_*"] })).toEqual([0, 1, 3]);
    expect(kept({ since: 20, until: 40 })).toEqual([1, 2]);
  });
});

// The tool-list comparison: recorded tools/list answers read under the candidate and under the
// baseline or each session's recorded policy, through the engine's hidden check.
import { describe, expect, it } from "vitest";
import { compile, type CompiledPolicy } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import type { Policy } from "../../src/policy/schema.js";
import type { CallFilter } from "../../src/replay/filter.js";
import type { CallGroup, TraceCall } from "../../src/replay/types.js";
import {
  hideListsOf,
  ListedCalls,
  sameHides,
  VisibilityDiff,
  type Visibility,
} from "../../src/replay/visibility.js";
import type { ToolListing } from "../../src/store/types.js";
import { readDemo, readDemoTwice } from "./support.js";

const T0 = 1_763_800_000_000;
const TOOLS = ["fleet_status", "fleet_wipe", "fleet_deploy", "set_secret"];

const policy = (p: Omit<Policy, "version">): Policy =>
  parsePolicyText(JSON.stringify({ version: "1", default: "allow", ...p })).policy;
const compiled = (p: Omit<Policy, "version">): CompiledPolicy => compile(policy(p));
const OPEN = compiled({});

const listing = (
  session: string,
  identity: string,
  tools: string[] | null = TOOLS,
  over: Partial<ToolListing> = {},
): ToolListing => ({
  session,
  identity,
  policyHash: "h",
  seq: 5,
  ts: T0,
  tools,
  ...over,
});

/** Compare `listings` (one recording) with the candidate; `recorded` is every session's policy. */
function compare(
  candidate: CompiledPolicy,
  listings: ToolListing[],
  opts: {
    baseline?: CompiledPolicy;
    recorded?: (l: ToolListing) => CompiledPolicy | null;
    filter?: CallFilter;
    calls?: ListedCalls;
  } = {},
): Visibility {
  const diff = new VisibilityDiff({
    candidate,
    baseline: opts.baseline ?? null,
    ...(opts.filter ? { filter: opts.filter } : {}),
  });
  for (const l of listings) diff.add(0, l, () => (opts.recorded ? opts.recorded(l) : OPEN));
  return diff.finish(opts.calls ?? null);
}

const call = (identity: string, tool: string, group?: CallGroup): TraceCall => ({
  index: 0,
  line: 1,
  call: { session: "s", identity, tool, ts: T0 },
  recorded: null,
  approval: null,
  ...(group ? { group } : {}),
});

describe("what each identity's tools/list shows, compared", () => {
  it("a tool the top-level hide takes away disappears from every identity that listed it", () => {
    const v = compare(compiled({ hide: ["fleet_wipe"] }), [
      listing("s1", "agent-ops"),
      listing("s2", "agent-ops"),
      listing("s3", "ci-bot"),
    ]);
    expect(v).toMatchObject({ known: true, lists_read: true, answers: 3, sessions: 3 });
    expect(v.changes).toEqual([
      { identity: "agent-ops", tool: "fleet_wipe", change: "hidden", sessions: 2, calls: 0 },
      { identity: "ci-bot", tool: "fleet_wipe", change: "hidden", sessions: 1, calls: 0 },
    ]);
  });

  it("a grant's hide takes it from that identity alone; a glob takes every tool it matches", () => {
    const v = compare(compiled({ grants: { "ci-bot": { hide: ["fleet_*"] } } }), [
      listing("s1", "agent-ops"),
      listing("s2", "ci-bot"),
    ]);
    expect(v.changes.map((c) => [c.identity, c.tool, c.change])).toEqual([
      ["ci-bot", "fleet_deploy", "hidden"],
      ["ci-bot", "fleet_status", "hidden"],
      ["ci-bot", "fleet_wipe", "hidden"],
    ]);
  });

  it("a tool no longer hidden appears, counted in the sessions that did not see it", () => {
    const recorded = compiled({ hide: ["set_*"] });
    const v = compare(OPEN, [listing("s1", "a"), listing("s2", "a")], { recorded: () => recorded });
    expect(v.changes).toEqual([
      { identity: "a", tool: "set_secret", change: "unhidden", sessions: 2, calls: 0 },
    ]);
  });

  it("without a baseline, each session is compared with the policy it was recorded under", () => {
    const hid = compiled({ hide: ["fleet_wipe"] });
    const policies: Record<string, CompiledPolicy> = { old: hid, new: OPEN };
    const listings = [
      listing("s1", "a", TOOLS, { policyHash: "old" }),
      listing("s2", "a", TOOLS, { policyHash: "new" }),
      listing("s3", "a", TOOLS, { policyHash: "new" }),
    ];
    const recorded = (l: ToolListing) => policies[l.policyHash]!;
    // The candidate shows it: only the session recorded under the hiding policy gains it.
    expect(compare(OPEN, listings, { recorded }).changes).toEqual([
      { identity: "a", tool: "fleet_wipe", change: "unhidden", sessions: 1, calls: 0 },
    ]);
    // The candidate hides it: the two sessions that saw it lose it.
    expect(compare(hid, listings, { recorded }).changes).toEqual([
      { identity: "a", tool: "fleet_wipe", change: "hidden", sessions: 2, calls: 0 },
    ]);
  });

  it("with a baseline, the recorded policies are never asked for", () => {
    const v = compare(compiled({ hide: ["fleet_status"] }), [listing("s1", "a")], {
      baseline: compiled({ hide: ["fleet_wipe"] }),
      recorded: () => {
        throw new Error("asked for a recorded policy");
      },
    });
    expect(v.changes.map((c) => [c.tool, c.change])).toEqual([
      ["fleet_status", "hidden"],
      ["fleet_wipe", "unhidden"],
    ]);
  });

  it("a session's answers count it once; the same policies on both sides change nothing", () => {
    const hide = compiled({ hide: ["fleet_wipe"] });
    const twice = [listing("s1", "a", ["fleet_wipe"]), listing("s1", "a", ["fleet_wipe", "x"])];
    const v = compare(hide, twice);
    expect(v).toMatchObject({ answers: 2, sessions: 1 });
    expect(v.changes).toEqual([
      { identity: "a", tool: "fleet_wipe", change: "hidden", sessions: 1, calls: 0 },
    ]);
    expect(compare(hide, twice, { recorded: () => hide }).changes).toEqual([]);
  });

  it("a malformed answer is skipped and counted; a session without its policy says nothing", () => {
    const v = compare(
      compiled({ hide: ["fleet_wipe"] }),
      [listing("s1", "a", null), listing("s2", "b"), listing("s3", "c")],
      { recorded: (l) => (l.session === "s2" ? null : OPEN) },
    );
    expect(v).toMatchObject({ answers: 2, sessions: 2, malformed: 1, unknown_policy: 1 });
    expect(v.changes.map((c) => c.identity)).toEqual(["c"]);
  });

  it("the replay's filter: its sessions, identities, tools and time range", () => {
    const candidate = compiled({ hide: ["fleet_*"] });
    const listings = [
      listing("s1", "a"),
      listing("s2", "b"),
      listing("s3", "a", TOOLS, { ts: T0 + 10 }),
    ];
    const tools = (filter: CallFilter) =>
      compare(candidate, listings, { filter }).changes.map(
        (c) => `${c.identity} ${c.tool} ${c.sessions}`,
      );
    expect(tools({ identities: ["b"], tools: ["fleet_w*"] })).toEqual(["b fleet_wipe 1"]);
    expect(tools({ sessions: ["s3"], tools: ["fleet_status"] })).toEqual(["a fleet_status 1"]);
    expect(tools({ since: T0 + 1, tools: ["fleet_status"] })).toEqual(["a fleet_status 1"]);
    expect(tools({ until: T0 + 1, tools: ["fleet_status"] })).toEqual([
      "a fleet_status 1",
      "b fleet_status 1",
    ]);
  });

  it("counts each identity's replayed calls of a changed tool", () => {
    const calls = new ListedCalls();
    for (const tc of [call("a", "fleet_wipe"), call("a", "fleet_wipe"), call("b", "fleet_wipe")])
      calls.add(tc);
    const v = compare(compiled({ hide: ["fleet_wipe"] }), [listing("s1", "a")], { calls });
    expect(v.changes).toEqual([
      { identity: "a", tool: "fleet_wipe", change: "hidden", sessions: 1, calls: 2 },
    ]);
  });
});

describe("ListedCalls", () => {
  it("counts recorded calls by group as it counts the same calls by name", () => {
    const byGroup = new ListedCalls();
    const byName = new ListedCalls();
    // Two reads: their group ids overlap, and each group gives its count up in time.
    for (const tc of readDemoTwice()) {
      byGroup.add(tc);
      byName.add(call(tc.call.identity, tc.call.tool));
    }
    const pairs = new Set(readDemo().map((tc) => `${tc.call.identity}\u0000${tc.call.tool}`));
    for (const pair of pairs) {
      const [identity, tool] = pair.split("\u0000") as [string, string];
      expect(byGroup.count(identity, tool)).toBe(byName.count(identity, tool));
    }
    expect(byGroup.count("agent-ops", "fleet_secrets_set")).toBe(46);
    expect(byGroup.count("nobody", "fleet_wipe")).toBe(0);
  });
});

describe("sameHides", () => {
  it("compares what each identity has hidden, top-level and grant, as sets of patterns", () => {
    const a = policy({ hide: ["x", "y"], grants: { ops: { hide: ["z"] } } });
    expect(sameHides(a, policy({ hide: ["y", "x", "x"], grants: { ops: { hide: ["z"] } } }))).toBe(
      true,
    );
    // The grant's hide folded into the top level changes what other identities see.
    expect(sameHides(a, policy({ hide: ["x", "y", "z"] }))).toBe(false);
    // A grant that hides what the top level already hides changes nothing.
    expect(sameHides(a, policy({ hide: ["x", "y"], grants: { ops: { hide: ["z", "x"] } } }))).toBe(
      true,
    );
    expect(sameHides(a, policy({ hide: ["x", "y"], grants: { ci: { hide: ["z"] } } }))).toBe(false);
    expect(sameHides(policy({}), policy({ hide: [] }))).toBe(true);
    expect(sameHides(policy({}), policy({ hide: ["*"] }))).toBe(false);
  });
});

describe("hideListsOf", () => {
  it("reads the hide lists of a recorded policy's text, or null when their shape is wrong", () => {
    const text = JSON.stringify({
      version: "1",
      hide: ["a*"],
      tools: { x: {} },
      grants: { ops: { hide: ["b"] }, ci: { default: "deny" } },
    });
    expect(hideListsOf(text)).toEqual({ hide: ["a*"], grants: { ops: { hide: ["b"] }, ci: {} } });
    expect(hideListsOf("\ufeff" + text)).toEqual(hideListsOf(text));
    expect(hideListsOf('{"version":"1"}')).toEqual({});
    for (const bad of [
      "{not json",
      "[]",
      "null",
      '{"hide":"a"}',
      '{"hide":[1]}',
      '{"grants":[]}',
      '{"grants":{"a":null}}',
      '{"grants":{"a":{"hide":{}}}}',
    ])
      expect(hideListsOf(bad), bad).toBeNull();
  });
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { parseHeadroom, suggestPolicy } from "../../src/check/suggest/index.js";
import { type CallSpec, decideOnce, replayUnder, writeCalls } from "./suggest-support.js";

// The promise `suggest` makes, over random recordings: replaying them under the suggested
// policy tightens no call that was let through when recorded, and no identity is allowed a tool
// it never called. Tool names with glob characters cannot be named exactly by a pattern: they
// are left denied, the one exception to the first half, and said in the summary.

const dir = mkdtempSync(join(tmpdir(), "policy-replay-suggest-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const SESSIONS = [
  ["s0", "agent"],
  ["s1", "bot"],
  ["s2", "anonymous"],
  ["s3", "agent"],
] as const;
const TOOLS = ["read", "write", "deploy", "a*b", "q?"] as const;
const UNWRITABLE = new Set(["a*b", "q?"]);
const LISTED = ["read", "write", "deploy", "admin", "a*b", "wipe*"];
const T0 = 1_763_800_000_000;
const REDACTED = { $redacted: "hmac-sha256:" + "ab".repeat(32) };

const recordedDecision = fc.oneof(
  fc.constant({ decision: "allow" as const, code: "rule_allow" }),
  fc.constantFrom("rate_limited", "rule_deny", "condition_deny", "default_deny").map((code) => ({
    decision: "deny" as const,
    code,
  })),
  fc.constantFrom(undefined, "approved", "rejected", "timeout", "unavailable").map((approval) => ({
    decision: "approval_required" as const,
    code: "approval_required",
    ...(approval ? { approval } : {}),
  })),
);

const args = fc.record(
  {
    env: fc.oneof(fc.constantFrom("dev", "prod", "stage"), fc.constant(REDACTED)),
    n: fc.constantFrom(1, 2),
  },
  { requiredKeys: [] },
);

const call = fc.record({
  session: fc.nat({ max: SESSIONS.length - 1 }),
  // One tool called most, so that windows fill up.
  tool: fc.oneof(
    { weight: 4, arbitrary: fc.constant<(typeof TOOLS)[number]>("read") },
    { weight: 3, arbitrary: fc.constantFrom(...TOOLS) },
  ),
  // Mostly seconds apart, now and then at the same millisecond or hours later.
  dt: fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min: 0, max: 4_000 }) },
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 7_200_000 }) },
  ),
  recorded: recordedDecision,
  args,
});

const scenario = fc.record({
  calls: fc.array(call, { maxLength: 70 }),
  headroom: fc.constantFrom("1", "1.5", "2"),
  conditions: fc.boolean(),
  /** Suggest from (and replay) the calls from this one on, or all of them. */
  since: fc.option(fc.nat({ max: 69 }), { nil: undefined }),
  /** Which sessions list the tools. */
  listing: fc.subarray(SESSIONS.map(([s]) => s)),
});

describe("suggest, over random recordings", () => {
  it("tightens no call let through when recorded, and allows no identity a tool it never called", () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        let ts = T0;
        const specs: CallSpec[] = sc.calls.map((c) => {
          ts += c.dt;
          const [session, identity] = SESSIONS[c.session]!;
          return { session, identity, ts, tool: c.tool, args: c.args, ...c.recorded };
        });
        const file = writeCalls(
          join(dir, `r${++n}.sqlite`),
          specs,
          Object.fromEntries(sc.listing.map((s) => [s, LISTED])),
        );
        const since = sc.since === undefined ? undefined : specs[sc.since]?.ts;
        const filter = since === undefined ? {} : { since };
        const { suggestion, summary } = suggestPolicy([{ path: file, name: "r.sqlite" }], filter, {
          headroom: parseHeadroom(sc.headroom)!,
          conditions: sc.conditions,
          schema: "./schema/policy.schema.json",
        });

        const letThrough = (c: CallSpec) =>
          c.decision === "allow" ||
          (c.decision === "approval_required" && c.approval === "approved");
        const selected = specs.filter((c) => since === undefined || c.ts >= since);

        for (const r of replayUnder(suggestion.text, [file], filter)) {
          if (r.before?.decision !== "allow" || r.change !== "tightened") continue;
          expect(UNWRITABLE.has(r.source.call.tool), `${r.source.call.tool} tightened`).toBe(true);
          expect(summary).toContain("a policy pattern cannot name exactly this tool");
        }

        const called = new Set(selected.map((c) => c.tool));
        // A session is written with its first call: one without calls lists nothing.
        const listedInSomeSession = specs.some((c) => (sc.listing as string[]).includes(c.session));
        const seen = new Set(selected.map((c) => c.identity!));
        const through = (identity: string, tool: string) =>
          selected.some((c) => c.identity === identity && c.tool === tool && letThrough(c));
        for (const [, identity] of SESSIONS) {
          for (const tool of [...TOOLS, ...LISTED, "never-seen"]) {
            if (through(identity, tool)) continue;
            // An identity the recordings never saw gets the top-level rules: the tools every
            // one of several identities was let through.
            if (!seen.has(identity) && seen.size > 1 && [...seen].every((i) => through(i, tool)))
              continue;
            const d = decideOnce(suggestion.text, identity, tool);
            expect(d.decision, `${identity} ${tool}`).toBe("deny");
            const hide = !called.has(tool) && LISTED.includes(tool) && listedInSomeSession;
            if (hide && !UNWRITABLE.has(tool) && !tool.includes("*"))
              expect(d.code, `${tool} hidden`).toBe("hidden");
          }
        }
      }),
      { numRuns: 30 },
    );
  });
});

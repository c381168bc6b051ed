// Export, import and replay round-trip any recording the proxy can make: random recordings,
// written through the real store writer the way the relay writes them, go through export ->
// import -> export to the same bytes, and replay the same from the import as from the original.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Decision, DecisionCode, DecisionKind } from "../../src/engine/index.js";
import { createRedactor } from "../../src/store/redact.js";
import { openStore } from "../../src/store/sqlite.js";
import type { ApprovalAnswer, Mode } from "../../src/store/types.js";
import { cli, type JsonCall, jsonReport, tempRoot } from "./support.js";

const tempDir = tempRoot("interchange-property");
const T0 = 1_763_800_000_000;

const POLICY = {
  version: "1",
  default: "allow",
  hide: ["hidden_*"],
  tools: {
    fleet_secrets_set: {
      limits: [
        { counter: "sets", window: "second", max: 2, scope: "grant" },
        { counter: "sets", window: "minute", max: 4, scope: "session" },
      ],
    },
    "fleet_*": { action: "require_approval", reason: "writes need a human" },
    input_secret: {
      deny_if: [{ path: "args.password", op: "exists", value: true }],
      require: [{ path: "args.app", op: "in", value: ["web", "api"] }],
    },
    search: {
      require: [{ path: "args.q", op: "regex", value: "^[a-z]+$" }],
      limits: [{ counter: "g", window: 2, max: 3, scope: "global", algorithm: "fixed" }],
    },
  },
  grants: { "ci-bot": { default: "deny", tools: { search: {} } } },
};

const TOOLS = [
  "fleet_secrets_set",
  "fleet_hosts_lock",
  "input_secret",
  "search",
  "hidden_tool",
  "other",
  // An agent may send any string as a name, and the proxy records it.
  "",
  'quote"and\\back slash',
  "räksmörgås😀",
];
const IDENTITIES = ["anonymous", "agent-a", "ci-bot", 'ops "é"'];

const OUTCOMES: [DecisionKind, DecisionCode][] = [
  ["allow", "rule_allow"],
  ["allow", "default_allow"],
  ["deny", "hidden"],
  ["deny", "rule_deny"],
  ["deny", "condition_deny"],
  ["deny", "requirement_failed"],
  ["deny", "rate_limited"],
  ["deny", "counters_unavailable"],
  ["deny", "default_deny"],
  ["approval_required", "approval_required"],
  ["approval_required", "default_approval"],
];

/** Any decision the proxy can write: every kind and code, retry times and limits where they go. */
const decisionArb: fc.Arbitrary<Decision> = fc
  .record({
    outcome: fc.constantFrom(...OUTCOMES),
    rule: fc.constantFrom(null, "fleet_*", "search", 'odd "rule"'),
    reason: fc.constantFrom(null, "no", "writes need a human"),
    retry: fc.option(fc.nat({ max: 120_000 }), { nil: null }),
    inexact: fc.boolean(),
  })
  .map(({ outcome: [decision, code], rule, reason, retry, inexact }) => {
    const limited = code === "rate_limited";
    return {
      decision,
      code,
      rule: code === "hidden" || code.startsWith("default_") ? null : rule,
      reason: decision === "allow" ? null : reason,
      retry_after_ms: limited || code === "counters_unavailable" ? retry : null,
      limit: limited
        ? {
            counter: "sets",
            scope: "grant",
            algorithm: "sliding",
            window_ms: 1000,
            max: 2,
            count: 2,
          }
        : null,
      inexact,
    } satisfies Decision;
  });

const TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom("web", "api", "abc", "ABC", TOKEN, { $truncated: 5000 }),
);
/** A call's arguments as the agent sent them: none at all (MCP allows that), or an object. */
const argsArb: fc.Arbitrary<Record<string, unknown> | undefined> = fc.option(
  fc.dictionary(fc.constantFrom("q", "app", "password", "token", "meta", "x y", "é"), valueArb, {
    maxKeys: 4,
  }),
  { nil: undefined, freq: 3 },
);

interface CallArb {
  session: number;
  /** ms after the previous call of its recording; 0 makes ties. */
  dt: number;
  tool: string;
  args: Record<string, unknown> | undefined;
  decision: Decision;
  approval: ApprovalAnswer | null;
}

const callArb: fc.Arbitrary<CallArb> = fc.record({
  session: fc.nat({ max: 3 }),
  dt: fc.oneof(fc.constant(0), fc.nat({ max: 1500 })),
  tool: fc.constantFrom(...TOOLS),
  args: argsArb,
  decision: decisionArb,
  approval: fc.constantFrom<ApprovalAnswer | null>(
    null,
    "approved",
    "rejected",
    "timeout",
    "unavailable",
  ),
});

interface RecordingArb {
  sessions: { identity: string; mode: Mode }[];
  calls: CallArb[];
  /** Where this recording's clock starts, after T0: recordings overlap in time. */
  start: number;
}

const recordingArb: fc.Arbitrary<RecordingArb> = fc.record({
  sessions: fc.array(
    fc.record({
      identity: fc.constantFrom(...IDENTITIES),
      mode: fc.constantFrom<Mode>("enforce", "observe"),
    }),
    { minLength: 4, maxLength: 4 },
  ),
  calls: fc.array(callArb, { minLength: 1, maxLength: 40, size: "max" }),
  start: fc.nat({ max: 3000 }),
});

/**
 * Write a recording as the relay does (src/proxy/relay-session.ts): sessions started with the
 * policy's hash, each call's arguments redacted (an argument-less call's as null), its decision
 * row written and committed, a human's answer only for a call sent to approval.
 */
function writeAsTheProxy(file: string, k: number, rec: RecordingArb): void {
  const store = openStore(file, { checkpointWorker: false });
  const redactor = createRedactor({ keyFile: `${file}.key`, enabled: true });
  try {
    store.putPolicy("h", "{}");
    const seq = new Map<number, number>();
    let ts = T0 + rec.start;
    for (const c of rec.calls) {
      ts += c.dt;
      const s = rec.sessions[c.session]!;
      const id = `r${k}-s${c.session}`;
      if (!seq.has(c.session)) {
        store.startSession({
          id,
          identity: s.identity,
          transport: "stdio",
          mode: s.mode,
          policyHash: "h",
          startedAt: ts,
        });
      }
      const n = (seq.get(c.session) ?? 0) + 1;
      seq.set(c.session, n);
      const callId = store.recordDecision({
        session: id,
        seq: n,
        ts,
        identity: s.identity,
        tool: c.tool,
        arguments: redactor.redact(c.args ?? null),
        jsonrpcId: String(n),
        mode: s.mode,
        decision: c.decision,
      });
      if (c.approval && c.decision.decision === "approval_required")
        store.recordApproval(callId, c.approval);
    }
  } finally {
    store.close();
  }
}

async function run(args: string[]): Promise<string> {
  const r = await cli(args);
  if (r.stderr !== "" || r.code !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/**
 * A report's calls and summary, without what names the source (its file, the line) nor the
 * tool lists, which a trace does not carry.
 */
const comparable = (r: { code: number; report: { calls: JsonCall[]; summary: object } }) => ({
  code: r.code,
  calls: r.report.calls.map((c) => ({ ...c, line: 0 })),
  summary: { ...r.report.summary, visibility: null },
});

/** A hand-made trace: no recorded decisions, maybe a human's answer, times that never go back. */
const handMadeArb = fc
  .record({
    identities: fc.array(fc.constantFrom(...IDENTITIES), { minLength: 4, maxLength: 4 }),
    calls: fc.array(
      fc.record({
        session: fc.nat({ max: 3 }),
        dt: fc.oneof(fc.constant(0), fc.nat({ max: 1500 })),
        // Mostly the limited tools, called so that their limits fill.
        tool: fc.oneof(
          { weight: 3, arbitrary: fc.constant("fleet_secrets_set") },
          { weight: 2, arbitrary: fc.constant("search") },
          { weight: 3, arbitrary: fc.constantFrom(...TOOLS) },
        ),
        args: fc.oneof(argsArb, fc.constant({ q: "abc" })),
        approval: fc.constantFrom(null, null, "approved", "rejected", "timeout"),
      }),
      { minLength: 1, maxLength: 60, size: "max" },
    ),
  })
  .map(({ identities, calls }) => {
    let ts = T0;
    return calls.map((c) => {
      ts += c.dt;
      const line: Record<string, unknown> = {
        session: `s${c.session}`,
        identity: identities[c.session],
        ts,
        tool: c.tool,
      };
      if (c.args !== undefined) line.arguments = c.args;
      if (c.approval !== null) line.approval = c.approval;
      return JSON.stringify(line);
    });
  });

describe("export, import, replay: every recording round-trips", () => {
  it("random recordings: export -> import -> export gives the same bytes, and replays the same", async () => {
    const policy = join(tempDir(), "policy.json");
    writeFileSync(policy, JSON.stringify(POLICY));
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordingArb, { minLength: 1, maxLength: 2 }),
        async (recordings) => {
          const dir = tempDir();
          const files = recordings.map((rec, k) => {
            const file = join(dir, `r${k}.sqlite`);
            writeAsTheProxy(file, k, rec);
            return file;
          });
          const dbArgs = files.flatMap((f) => ["--db", f]);
          const exported = await run(["export", ...dbArgs]);
          const count = recordings.reduce((n, r) => n + r.calls.length, 0);
          expect(exported.split("\n")).toHaveLength(count + 1);
          const trace = join(dir, "calls.jsonl");
          writeFileSync(trace, exported);
          const imported = join(dir, "imported.sqlite");
          await run(["import", trace, "--db", imported]);
          expect(await run(["export", "--db", imported])).toBe(exported);

          const original = comparable(
            await jsonReport(["--policy", policy, ...dbArgs, "--no-save"]),
          );
          expect(
            comparable(await jsonReport(["--policy", policy, "--db", imported, "--no-save"])),
          ).toEqual(original);
          // The trace itself replays the same, compared with the same recorded decisions.
          expect(comparable(await jsonReport(["--policy", policy, "--calls", trace]))).toEqual(
            original,
          );
        },
      ),
      // About 0.5 s a run on an idle 2-core machine (each command starts reader threads); a
      // loaded machine runs fewer rather than time out.
      { numRuns: 12, interruptAfterTimeLimit: 60_000 },
    );
  }, 120_000);

  it("random hand-made traces: import --policy stores what replaying the trace under it decides", async () => {
    const policy = join(tempDir(), "policy.json");
    writeFileSync(policy, JSON.stringify(POLICY));
    await fc.assert(
      fc.asyncProperty(handMadeArb, async (lines) => {
        const dir = tempDir();
        const trace = join(dir, "hand-made.jsonl");
        writeFileSync(trace, lines.join("\n") + "\n");
        const db = join(dir, "decided.sqlite");
        await run(["import", trace, "--db", db, "--policy", policy]);
        // Replaying the import under the policy that decided it changes nothing...
        const again = await jsonReport(["--policy", policy, "--db", db, "--no-save"]);
        expect(again.report.summary).toMatchObject({ changes: { total: 0 } });
        // ...and its calls are decided as the trace replays under it, counters and all.
        const viaTrace = await jsonReport(["--policy", policy, "--calls", trace]);
        const decided = (r: typeof again) =>
          r.report.calls.map((c) => [c.session, c.decision, c.code, c.rule, c.retry_after_ms]);
        expect(decided(again)).toEqual(decided(viaTrace));
      }),
      { numRuns: 10, interruptAfterTimeLimit: 40_000 },
    );
  }, 120_000);
});

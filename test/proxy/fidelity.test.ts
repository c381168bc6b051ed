// Fidelity: random policies over random call sequences, driven through the real
// proxy (relay() with the real SQLite store and the fixture server as a child process, and once
// through the real CLI); then the recording, replayed under the same policy, must reproduce
// every recorded decision: decision, code, rule and retry_after_ms (SPEC sections 2 and 6).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { compile } from "../../src/engine/index.js";
import { MemoryCounters } from "../../src/proxy/counters.js";
import type { DenialFacts } from "../../src/proxy/denial.js";
import { monotonicClock, relay } from "../../src/proxy/relay.js";
import { StdioServerProcess } from "../../src/proxy/stdio.js";
import { readRecording } from "../../src/replay/recording.js";
import { replay } from "../../src/replay/replay.js";
import { createRedactor } from "../../src/store/redact.js";
import { openStore, openStoreReadOnly, type RecordedCall } from "../../src/store/sqlite.js";
import type { Mode } from "../../src/store/types.js";
import {
  type ActionName,
  type ConditionObj,
  type GrantObj,
  compact,
  type LimitObj,
  load,
  maybe,
  type PolicyObj,
  type RuleObj,
  type ScopeName,
  type WindowSpec,
} from "../engine/support.js";

const root = join(import.meta.dirname, "../..");
const bin = join(root, "bin/policy-replay.js");
const fixtureServer = join(root, "dist/scripts/fixture-server.js");

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "policy-replay-fidelity-"));
  dirs.push(d);
  return d;
}

// ---------------------------------------------------------------------------------------------
// The fixture server's real tools and their arguments, and a couple of names it does not know.

const VALUES = {
  team: ["payments", "web", "ops"],
  name: ["DB_PASSWORD", "API_URL", "deploy_key_id"],
  env: ["prod", "staging", "dev"],
  build: ["b1", "b2", "b10"],
  host: ["web-1", "db-1", "laptop-ana"],
  status: ["online", "offline"],
  reason: ["maintenance", "stolen"],
  direction: ["north", "south", "east"],
} as const;
type ArgName = keyof typeof VALUES | "tiles" | "value";

const TOOL_ARGS: Record<string, readonly ArgName[]> = {
  fleet_status: [],
  fleet_hosts_list: ["team", "status"],
  fleet_secrets_set: ["team", "name", "value"],
  fleet_secrets_get: ["team", "name"],
  fleet_deploy: ["env", "build", "team"],
  fleet_hosts_lock: ["host", "reason"],
  fleet_wipe: ["host"],
  set_secret: ["name", "value"],
  input_secret: ["name"],
  fleet: [],
  move: ["direction", "tiles"],
  // Not the server's: forwarded when allowed, and the server says it does not know them.
  fleet_reboot: ["host"],
  teleport: ["direction", "tiles"],
};
const TOOLS = Object.keys(TOOL_ARGS);
const GLOBS = [
  "*",
  "fleet_*",
  "fleet_secrets_*",
  "*secret*",
  "fleet_hosts_*",
  "set_*",
  "*_get",
  "fleet_????",
  "mov?",
  "fleet*",
];
const IDENTITIES = ["agent-a", "ci-bot", "anonymous"] as const;
const COUNTERS = ["c1", "c2", "c3"] as const;

const argValueArb = (name: ArgName): fc.Arbitrary<unknown> => {
  if (name === "tiles")
    return fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom<unknown>(2.5, "3"));
  // Secret-looking: stored as a keyed hash, so no generated condition looks at it.
  if (name === "value") return fc.constantFrom("hunter2", "s3cret-value-1");
  return fc.constantFrom<unknown>(...VALUES[name]);
};

const argsArb = (tool: string): fc.Arbitrary<Record<string, unknown> | undefined> => {
  const names = TOOL_ARGS[tool]!;
  const record = fc.record(Object.fromEntries(names.map((n) => [n, argValueArb(n)])), {
    requiredKeys: [],
  }) as fc.Arbitrary<Record<string, unknown>>;
  // Mostly well-formed for the tool (all its arguments), sometimes partial or absent.
  const full = fc.record(Object.fromEntries(names.map((n) => [n, argValueArb(n)]))) as fc.Arbitrary<
    Record<string, unknown>
  >;
  return fc.oneof(
    { weight: 5, arbitrary: full },
    { weight: 2, arbitrary: record },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
};

// ---------------------------------------------------------------------------------------------
// Random valid policies over those tools, with windows small enough to trip within a run.

const windowArb: fc.Arbitrary<WindowSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 5, max: 50 }).map((n) => n / 100) },
  { weight: 1, arbitrary: fc.constant<WindowSpec>("second") },
);

const limitArb: fc.Arbitrary<LimitObj> = fc.record(
  {
    counter: fc.constantFrom(...COUNTERS),
    window: windowArb,
    max: fc.oneof(
      { weight: 1, arbitrary: fc.constant(0) },
      { weight: 10, arbitrary: fc.integer({ min: 1, max: 3 }) },
    ),
    scope: fc.constantFrom<ScopeName>("grant", "session", "global"),
    algorithm: fc.constantFrom("sliding" as const, "fixed" as const),
  },
  { requiredKeys: ["counter", "window", "max"] },
);

const STRING_PATHS = ["team", "name", "env", "build", "host", "status", "direction"] as const;
const conditionArb: fc.Arbitrary<ConditionObj> = fc.oneof(
  fc.constantFrom(...STRING_PATHS).chain((p) =>
    fc.oneof(
      fc.record({
        path: fc.constant(`args.${p}`),
        op: fc.constantFrom("eq", "neq"),
        value: fc.constantFrom<unknown>(...VALUES[p]),
      }),
      fc.record({
        path: fc.constant(`args.${p}`),
        op: fc.constantFrom("in", "not_in"),
        value: fc.subarray([...VALUES[p]] as unknown[], { minLength: 1 }),
      }),
      fc.record({
        path: fc.constant(`args.${p}`),
        op: fc.constant("regex"),
        value: fc.constantFrom("^pay", "prod|staging", "-1$", "^[ns]", "_"),
      }),
      fc.record({
        path: fc.constant(`args.${p}`),
        op: fc.constant("contains"),
        value: fc.constantFrom("web", "o", "b1"),
      }),
    ),
  ),
  fc.record({
    path: fc.constant("args.tiles"),
    op: fc.constantFrom("lt", "lte", "gt", "gte", "eq"),
    value: fc.integer({ min: 0, max: 5 }),
  }),
  fc.record({
    path: fc.constantFrom("args.tiles", "args.team", "args.missing"),
    op: fc.constant("exists"),
    value: fc.boolean(),
  }),
);

const actionArb = fc.constantFrom<ActionName>("allow", "deny", "require_approval");
const patternArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TOOLS) },
  { weight: 1, arbitrary: fc.constantFrom(...GLOBS) },
);

const ruleArb: fc.Arbitrary<RuleObj> = fc
  .record({
    action: maybe(fc.oneof(actionArb, fc.constant("allow" as const)), 2, 5),
    reason: maybe(fc.constantFrom("needs a ticket", "not today"), 1, 1),
    deny_if: maybe(fc.array(conditionArb, { minLength: 1, maxLength: 2 }), 1, 4),
    require: maybe(fc.array(conditionArb, { minLength: 1, maxLength: 2 }), 1, 5),
    limits: maybe(fc.array(limitArb, { minLength: 1, maxLength: 3 }), 4, 2),
    rate_limit: maybe(fc.record({ max: fc.integer({ min: 0, max: 3 }), window: windowArb }), 1, 4),
  })
  .map((r) => compact(r) as RuleObj);

const rulesArb = (maxLength: number): fc.Arbitrary<Record<string, RuleObj>> =>
  fc
    .uniqueArray(fc.tuple(patternArb, ruleArb), { selector: ([p]) => p, maxLength })
    .map((entries) => Object.fromEntries(entries));

// Hides name tools or narrow globs (a hidden "*" would make every run all "hidden").
const hideArb = fc.uniqueArray(fc.constantFrom(...TOOLS, "fleet_secrets_*", "*_get", "mov?"), {
  minLength: 1,
  maxLength: 2,
});

const grantArb: fc.Arbitrary<GrantObj> = fc
  .record({
    default: maybe(actionArb, 1, 1),
    tools: maybe(rulesArb(3), 3, 1),
    hide: maybe(hideArb, 1, 4),
  })
  .map((g) => compact(g) as GrantObj);

const policyArb: fc.Arbitrary<PolicyObj> = fc
  .record({
    default: maybe(fc.constantFrom<ActionName>("allow", "allow", "deny", "require_approval"), 2, 1),
    tools: rulesArb(8),
    hide: maybe(hideArb, 1, 4),
    grants: fc
      .uniqueArray(fc.tuple(fc.constantFrom(...IDENTITIES, "someone-else"), grantArb), {
        selector: ([i]) => i,
        maxLength: 2,
      })
      .map((entries) => Object.fromEntries(entries)),
  })
  .map((p) => compact({ version: "1" as const, ...p }) as PolicyObj);

// ---------------------------------------------------------------------------------------------
// Call scripts: what one agent does, with small pauses, sometimes not waiting for an answer.

interface Step {
  tool: string;
  args: Record<string, unknown> | undefined;
  /** Pause before sending, ms. */
  sleepMs: number;
  /** Wait for the answer before the next step (else the next goes out while this is open). */
  wait: boolean;
}

const stepArb = (tools: readonly string[]): fc.Arbitrary<Step> =>
  fc.constantFrom(...tools).chain((tool) =>
    fc.record({
      tool: fc.constant(tool),
      args: argsArb(tool),
      sleepMs: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0) },
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 20 }) },
        { weight: 1, arbitrary: fc.integer({ min: 40, max: 120 }) },
      ),
      wait: fc.boolean(),
    }),
  );

/** A script that keeps coming back to a few tools, so that their limits fill up. */
const scriptArb: fc.Arbitrary<Step[]> = fc
  .subarray(TOOLS, { minLength: 1, maxLength: 3 })
  .chain((favourites) =>
    fc.array(
      fc.oneof(
        { weight: 4, arbitrary: stepArb(favourites) },
        { weight: 1, arbitrary: stepArb(TOOLS) },
      ),
      { minLength: 1, maxLength: 18 },
    ),
  );

/** What the agent saw for one call. */
type Seen =
  | { kind: "denial"; facts: DenialFacts }
  | { kind: "result"; isError: boolean }
  | { kind: "error"; code: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once the process is gone. */
async function exitOf(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(10);
  }
}

async function drive(client: Client, script: readonly Step[]): Promise<Seen[]> {
  const answers: Promise<Seen>[] = [];
  for (const step of script) {
    if (step.sleepMs > 0) await sleep(step.sleepMs);
    const answer = client
      .callTool({ name: step.tool, ...(step.args ? { arguments: step.args } : {}) })
      .then(
        (r): Seen => {
          const facts = (r._meta as Record<string, unknown> | undefined)?.[
            "policy-replay/decision"
          ] as DenialFacts | undefined;
          return facts
            ? { kind: "denial", facts }
            : { kind: "result", isError: r.isError === true };
        },
        (err: { code?: number }): Seen => ({ kind: "error", code: err.code ?? NaN }),
      );
    answers.push(answer);
    if (step.wait) await answer;
  }
  return Promise.all(answers);
}

// ---------------------------------------------------------------------------------------------
// The checks.

/**
 * What the agent saw agrees with what was recorded, call for call (by the order the agent sent
 * them, which is the order of the session's decision rows), and the outcome column too.
 */
function checkLive(mode: Mode, seen: readonly Seen[], recorded: readonly RecordedCall[]): void {
  expect(recorded).toHaveLength(seen.length);
  seen.forEach((s, i) => {
    const r = recorded[i]!;
    const where = `call ${i} (${r.tool}, ${r.code})`;
    if (mode === "observe" || r.decision === "allow") {
      expect(s.kind, where).not.toBe("denial");
      expect(["result", "tool_error", "error"], where).toContain(r.outcome);
    } else if (r.code === "hidden") {
      expect(s, where).toEqual({ kind: "error", code: -32602 });
      expect(r.outcome, where).toBe("denied");
    } else {
      expect(s, where).toMatchObject({
        kind: "denial",
        facts: {
          decision: r.decision,
          code: r.code,
          rule: r.rule,
          retry_after_ms: r.retry_after_ms,
        },
      });
      expect(r.outcome, where).toBe("denied");
      // The client declares no elicitation: nobody could be asked.
      if (r.decision === "approval_required") expect(r.approval, where).toBe("unavailable");
    }
  });
}

/** Replaying the file under the same policy reproduces every recorded decision. */
function checkReplay(file: string, policy: PolicyObj, calls: number): void {
  const results = [...replay(readRecording(file), { candidate: compile(load(policy)), file })];
  expect(results).toHaveLength(calls);
  for (const r of results) {
    const rec = r.source.recorded!;
    const got = {
      decision: r.decision.decision,
      code: r.decision.code,
      rule: r.decision.rule,
      retry_after_ms: r.decision.retry_after_ms,
    };
    expect(got, `call ${r.source.index} (${r.source.call.tool} at ${r.source.call.ts})`).toEqual(
      rec,
    );
    expect(r.change).toBeNull();
    // No generated condition looks at a redacted argument.
    expect(r.inexact).toBe(false);
  }
}

function recordedBySession(file: string): Map<string, RecordedCall[]> {
  const reader = openStoreReadOnly(file);
  const by = new Map<string, RecordedCall[]>();
  try {
    for (const c of reader.calls()) {
      const list = by.get(c.session) ?? [];
      list.push(c);
      by.set(c.session, list);
    }
  } finally {
    reader.close();
  }
  for (const list of by.values()) list.sort((a, b) => a.seq - b.seq);
  return by;
}

// ---------------------------------------------------------------------------------------------
// In process: relay() per session, sessions side by side on one store and one counter state,
// as the HTTP mode runs them.

interface Agent {
  identity: (typeof IDENTITIES)[number];
  script: Step[];
}

async function recordInProcess(policy: PolicyObj, mode: Mode, agents: readonly Agent[]) {
  const dir = tempDir();
  const file = join(dir, "rec.sqlite");
  const compiled = compile(load(policy));
  const counters = new MemoryCounters(compiled);
  const clock = monotonicClock();
  const store = openStore(file);
  const redactor = createRedactor({ keyFile: `${file}.key`, enabled: true });
  const logs: string[] = [];
  const seen: Seen[][] = [];
  try {
    const sessions = await Promise.all(
      agents.map(async (agent, k) => {
        const session = { id: `s${k}`, identity: agent.identity };
        store.startSession({
          ...session,
          transport: "stdio",
          mode,
          policyHash: "h",
          startedAt: clock.now(),
        });
        const [agentSide, proxySide] = InMemoryTransport.createLinkedPair();
        const { closed } = await relay({
          client: proxySide,
          server: new StdioServerProcess({
            command: process.execPath,
            args: [fixtureServer],
            stderr: "ignore",
          }),
          compiled,
          counters,
          clock,
          session,
          mode,
          store,
          redactor,
          approvalTimeoutMs: 1_000,
          log: (l) => logs.push(l),
        });
        const client = new Client({ name: `agent-${k}`, version: "1.0.0" }, { capabilities: {} });
        await client.connect(agentSide);
        return { client, closed };
      }),
    );
    // Start every agent together, once all are connected.
    seen.push(...(await Promise.all(agents.map((a, k) => drive(sessions[k]!.client, a.script)))));
    for (const s of sessions) {
      await s.client.close();
      await s.closed;
    }
  } finally {
    store.close();
  }
  expect(logs).toEqual([]);
  return { file, seen };
}

const agentArb: fc.Arbitrary<Agent> = fc.record({
  identity: fc.constantFrom(...IDENTITIES),
  script: scriptArb,
});

describe("fidelity: live decisions replay bit for bit", () => {
  it("through relay() and the real store: random policies, one or two sessions", async () => {
    await fc.assert(
      fc.asyncProperty(
        policyArb,
        fc.constantFrom<Mode>("enforce", "enforce", "enforce", "observe"),
        fc.array(agentArb, { minLength: 1, maxLength: 2 }),
        async (policy, mode, agents) => {
          const { file, seen } = await recordInProcess(policy, mode, agents);
          const recorded = recordedBySession(file);
          agents.forEach((_, k) => checkLive(mode, seen[k]!, recorded.get(`s${k}`) ?? []));
          checkReplay(file, policy, seen.flat().length);
        },
      ),
      // Every run is a real proxy session: the runs and the shrinking of a failure get a time
      // budget (a counterexample found is reported, the smallest so far); a loaded machine that
      // gets through fewer runs in it is not a failure.
      { numRuns: 20, interruptAfterTimeLimit: 50_000 },
    );
  }, 90_000);

  it("through the real CLI (policy-replay record over stdio)", async () => {
    await fc.assert(
      fc.asyncProperty(
        policyArb,
        fc.constantFrom<Mode>("enforce", "enforce", "observe"),
        agentArb,
        async (policy, mode, agent) => {
          const dir = tempDir();
          const policyFile = join(dir, "policy.json");
          const file = join(dir, "rec.sqlite");
          writeFileSync(policyFile, JSON.stringify(policy));
          const transport = new StdioClientTransport({
            command: process.execPath,
            args: [
              bin,
              "record",
              "--policy",
              policyFile,
              "--db",
              file,
              "--identity",
              agent.identity,
              "--mode",
              mode,
              "--",
              process.execPath,
              fixtureServer,
            ],
            stderr: "pipe",
          });
          let stderr = "";
          transport.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
          const client = new Client({ name: "cli-agent", version: "1.0.0" }, { capabilities: {} });
          await client.connect(transport);
          const pid = transport.pid!;
          const seen = await drive(client, agent.script);
          await client.close(); // ends the proxy's stdin: it records the end and exits
          await exitOf(pid);
          expect(stderr).toBe("");
          const recorded = [...recordedBySession(file).values()];
          expect(recorded).toHaveLength(1);
          checkLive(mode, seen, recorded[0]!);
          checkReplay(file, policy, seen.length);
        },
      ),
      { numRuns: 3, interruptAfterTimeLimit: 30_000 },
    );
  }, 60_000);
});

// One state in Redis, one recording per process: for random policies (grant, global and
// session limits, sliding and fixed) and random schedules of calls over several real `record
// --counters redis://...` processes (some at once, some restarted midway, each incarnation
// with its own recording), no limit is exceeded in any window, and replaying the recordings
// merged (--db a --db b ...) under the same policy reproduces every decision: Redis's time and
// sequence, kept with each call, put the calls back in the order Redis decided them.
//
// In some runs the prefix's clock starts an hour ahead of Redis's: the script never lets time
// go backwards on a prefix, so every limited call is then decided in that one millisecond,
// and only the sequence can order the calls of several recordings.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { compile, resolve } from "../../src/engine/index.js";
import { readRecordings } from "../../src/replay/recording.js";
import { createReplayer } from "../../src/replay/replay.js";
import {
  type LimitObj,
  load,
  type PolicyObj,
  type ScopeName,
  type WindowSpec,
} from "../engine/support.js";
import { callMany, type RecordProcess, startRecord } from "./record-process.js";
import { deletePrefix, REDIS_URL, redisUp } from "./redis-available.js";

const dir = mkdtempSync(join(tmpdir(), "policy-replay-redis-fidelity-"));
const ROOT = `test-policy-replay-merged:${process.pid}`;
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (redisUp) await deletePrefix(ROOT);
});

// Short windows too, so that windows pass while the processes run and restart.
const limitArb: fc.Arbitrary<Omit<LimitObj, "counter">> = fc.record({
  window: fc.constantFrom<WindowSpec>(0.2, 0.5, "second", "minute"),
  max: fc.integer({ min: 1, max: 3 }),
  // Mostly shared by several processes: that is where their order matters.
  scope: fc.constantFrom<ScopeName>("grant", "global", "grant", "global", "session"),
  algorithm: fc.constantFrom("sliding" as const, "fixed" as const),
});

/** Tools a and b each with limits on a counter of their own; c with none. */
const policyArb: fc.Arbitrary<PolicyObj> = fc
  .record({
    a: fc.array(limitArb, { minLength: 1, maxLength: 2 }),
    b: fc.array(limitArb, { minLength: 1, maxLength: 1 }),
  })
  .map(({ a, b }) => ({
    version: "1",
    default: "allow",
    tools: {
      a: { limits: a.map((l) => ({ counter: "ca", ...l })) },
      b: { limits: b.map((l) => ({ counter: "cb", ...l })) },
    },
  }));

const PROCESSES = 3;

/** Bursts of calls sent at once, to several processes at once; then maybe a restart. */
interface Round {
  bursts: { proc: number; tool: string; n: number }[];
  restart: number | null;
}

const roundArb: fc.Arbitrary<Round> = fc.record({
  bursts: fc.array(
    fc.record({
      proc: fc.nat({ max: PROCESSES - 1 }),
      tool: fc.constantFrom("a", "a", "a", "b", "c"),
      n: fc.integer({ min: 1, max: 5 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  restart: fc.oneof(
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.nat({ max: PROCESSES - 1 }) },
  ),
});

const identitiesArb = fc.array(fc.constantFrom("agent-a", "agent-b"), {
  minLength: PROCESSES,
  maxLength: PROCESSES,
});

let runs = 0;

interface Proxy {
  p: RecordProcess;
  nextId: number;
}

/** Run the schedule; returns every recording made, one per process started. */
async function record(
  policyFile: string,
  prefix: string,
  identities: readonly string[],
  rounds: readonly Round[],
): Promise<string[]> {
  const files: string[] = [];
  const start = async (k: number): Promise<Proxy> => {
    const db = join(dir, `${prefix.replace(/\W/g, "_")}-${files.length}-p${k}.sqlite`);
    files.push(db);
    const p = await startRecord([
      "--policy",
      policyFile,
      "--db",
      db,
      "--identity",
      identities[k]!,
      "--counters",
      REDIS_URL,
      "--counters-prefix",
      prefix,
    ]);
    return { p, nextId: 1 };
  };
  const stop = async (x: Proxy): Promise<void> => {
    const { code, stderr } = await x.p.close();
    expect(stderr).toBe("");
    expect(code).toBe(0);
  };
  const procs = await Promise.all(Array.from({ length: PROCESSES }, (_, k) => start(k)));
  try {
    for (const round of rounds) {
      await Promise.all(
        round.bursts.map((b) => {
          const x = procs[b.proc]!;
          const from = x.nextId;
          x.nextId += b.n;
          return callMany(x.p, b.tool, b.n, from);
        }),
      );
      if (round.restart !== null) {
        await stop(procs[round.restart]!);
        procs[round.restart] = await start(round.restart);
      }
    }
  } finally {
    await Promise.all(procs.map(stop));
  }
  return files;
}

interface Row {
  session: string;
  identity: string;
  tool: string;
  ts: number;
  decision: string;
  counter_seq: number | null;
  counts: string | null;
}

function rowsOf(files: readonly string[]): { rows: Row[]; where: string[] } {
  const rows: Row[] = [];
  const where: string[] = [];
  for (const f of files) {
    const db = new Database(f, { readonly: true });
    rows.push(
      ...(db
        .prepare(
          "SELECT session, identity, tool, ts, decision, counter_seq, counts FROM calls ORDER BY id",
        )
        .all() as Row[]),
    );
    where.push(...(db.prepare("SELECT counters FROM sessions").pluck().all() as string[]));
    db.close();
  }
  return { rows, where };
}

/** Every limit held: no window of any limit's key saw more allowed calls than its max. */
function checkLimits(policy: PolicyObj, rows: readonly Row[]): void {
  const compiled = compile(load(policy));
  const consumed = new Map<string, number[]>();
  for (const r of rows) {
    if (r.decision !== "allow") continue;
    const res = resolve(compiled, r.identity, r.tool);
    if (res.kind !== "rule") continue;
    // A call consumes once per key: two identical limits on one counter see it once.
    const keys = new Set(
      res.rule.limits.map((l) => {
        const value = l.scopeIndex === 0 ? r.identity : l.scopeIndex === 1 ? r.session : "";
        return JSON.stringify([l.counterName, l.scope, l.windowMs, l.max, l.fixed, value]);
      }),
    );
    for (const key of keys) consumed.set(key, [...(consumed.get(key) ?? []), r.ts]);
  }
  for (const [key, times] of consumed) {
    const [counter, scope, w, max, fixed] = JSON.parse(key) as [
      string,
      string,
      number,
      number,
      boolean,
    ];
    times.sort((x, y) => x - y);
    for (const t of times) {
      const inWindow = fixed
        ? times.filter((u) => Math.floor(u / w) === Math.floor(t / w)).length
        : times.filter((u) => u > t - w && u <= t).length;
      expect(inWindow, `${counter} (${scope}, ${w} ms) at ${t}`).toBeLessThanOrEqual(max);
    }
  }
}

/** Start the prefix's clock (RedisCounters' `<prefix>:~clock`) `ms` ahead of Redis's own. */
async function clockAhead(prefix: string, ms: number): Promise<void> {
  const c = new Redis(REDIS_URL);
  try {
    const [seconds, micros] = await c.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    await c.hset(`${prefix}:~clock`, "ts", String(now + ms));
  } finally {
    c.disconnect();
  }
}

describe.skipIf(!redisUp)(`record --counters ${REDIS_URL}, one recording per process`, () => {
  it("no limit exceeded in any window; replaying the recordings merged changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(
        policyArb,
        identitiesArb,
        // First every process at once, then what the schedule says.
        fc
          .tuple(
            fc.array(fc.integer({ min: 1, max: 4 }), {
              minLength: PROCESSES,
              maxLength: PROCESSES,
            }),
            fc.array(roundArb, { minLength: 1, maxLength: 2 }),
          )
          .map(([ns, rest]): Round[] => [
            { bursts: ns.map((n, proc) => ({ proc, tool: "a", n })), restart: null },
            ...rest,
          ]),
        fc.boolean(),
        async (policy, identities, rounds, oneMillisecond) => {
          const n = runs++;
          const prefix = `${ROOT}:${n}`;
          const policyFile = join(dir, `policy-${n}.json`);
          writeFileSync(policyFile, JSON.stringify(policy));
          if (oneMillisecond) await clockAhead(prefix, 3_600_000);
          const files = await record(policyFile, prefix, identities, rounds);

          const { rows, where } = rowsOf(files);
          expect(new Set(where)).toEqual(new Set(["redis"]));
          // Every call of a limited tool was decided in Redis: its sequence and counts kept.
          const limited = rows.filter((r) => r.tool !== "c");
          expect(limited.every((r) => r.counter_seq !== null && r.counts !== null)).toBe(true);
          expect(new Set(limited.map((r) => r.counter_seq)).size).toBe(limited.length);
          expect(rows.filter((r) => r.tool === "c").every((r) => r.counter_seq === null)).toBe(
            true,
          );
          checkLimits(policy, rows);

          // Replayed merged under the same policy: every decision as recorded, retry included.
          const step = createReplayer({ candidate: compile(load(policy)), file: files[0]! });
          const replayed = [...readRecordings(files)].map(step);
          expect(replayed).toHaveLength(rows.length);
          const differs = replayed
            .filter((r) => r.change !== null || r.before?.retry_after_ms !== r.after.retry_after_ms)
            .map(
              (r) =>
                `${r.source.call.tool} at ${r.source.call.ts}: ${r.before?.code} ` +
                `${r.before?.retry_after_ms} -> ${r.after.code} ${r.after.retry_after_ms}`,
            );
          expect(differs).toEqual([]);

          // And through the command line, as a user would.
          let out = "";
          const code = await run(
            [
              "--policy",
              policyFile,
              ...files.flatMap((f) => ["--db", f]),
              "--no-save",
              "--format",
              "json",
            ],
            {
              stdout: { write: (s: string) => (out += s) },
              stderr: { write: () => {} },
              cwd: dir,
              env: {},
            },
          );
          expect(code).toBe(0);
          const { summary } = JSON.parse(out) as { summary: { changes: { total: number } } };
          expect(summary.changes.total).toBe(0);
        },
      ),
      // Every run starts real processes: few runs, small schedules, and a failure is reported
      // as found (small already) rather than shrunk through many more processes.
      { numRuns: 5, endOnFailure: true },
    );
  }, 300_000);
});

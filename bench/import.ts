// `npm run bench` (and `node dist/bench/import.js` after a build): `policy-replay import` of the
// benchmark's trace into a new recording, under the 200-rule policy, against two baselines
// timed in the same rounds: reading and parsing the trace alone, and a naive better-sqlite3
// loop that parses each line and inserts its row into a fresh calls table in one transaction.
// This machine's speed drifts, so only the ratios compare across runs.
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openStore } from "../src/store/sqlite.js";
import { makePolicy, writeTrace } from "./generate.js";

const dir = join(process.cwd(), ".bench");
mkdirSync(dir, { recursive: true });
const N = Number(process.env.BENCH_CALLS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const policyFile = join(dir, "policy-200.json");
const traceFile = join(dir, `calls-${N}.jsonl`);
writeFileSync(policyFile, JSON.stringify(makePolicy(), null, 2));
if (!existsSync(traceFile)) {
  process.stderr.write(`generating ${N.toLocaleString()} calls into ${traceFile}...\n`);
  await writeTrace(traceFile, N);
}
const bin = join(process.cwd(), "bin", "policy-replay.js");
const gnuTime = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;
const target = join(dir, "import.sqlite");
const naive = join(dir, "import-naive.sqlite");

const remove = (file: string) => {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`])
    rmSync(f, { force: true });
};

/** Each line of the trace, parsed: what any import must do at least. */
function* lines(): Generator<Record<string, unknown>> {
  const fd = openSync(traceFile, "r");
  const buf = Buffer.allocUnsafe(1 << 16);
  let rest = "";
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) {
      const parts = (rest + buf.toString("utf8", 0, n)).split("\n");
      rest = parts.pop()!;
      for (const p of parts) if (p) yield JSON.parse(p) as Record<string, unknown>;
    }
    if (rest) yield JSON.parse(rest) as Record<string, unknown>;
  } finally {
    closeSync(fd);
  }
}

function parseOnly(): number {
  const t0 = process.hrtime.bigint();
  let n = 0;
  for (const c of lines()) if (c.ts !== undefined) n++;
  if (n !== N) throw new Error(`parsed ${n} calls`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** The naive way: the recording's schema, default settings, one INSERT per call, one commit. */
function naiveLoop(): number {
  remove(naive);
  openStore(naive, { checkpointWorker: false }).close();
  const t0 = process.hrtime.bigint();
  const db = new Database(naive);
  const insert = db.prepare(
    `INSERT INTO calls (session, seq, ts, identity, tool, arguments, jsonrpc_id, mode, decision,
       code, rule, reason, counter, limit_json, retry_after_ms, inexact)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'enforce', 'allow', 'default_allow', NULL, NULL, NULL, NULL,
       NULL, 0)`,
  );
  const seqs = new Map<string, number>();
  db.transaction(() => {
    for (const c of lines()) {
      const session = c.session as string;
      const seq = (seqs.get(session) ?? 0) + 1;
      seqs.set(session, seq);
      const args = c.arguments === undefined ? null : JSON.stringify(c.arguments);
      insert.run(session, seq, c.ts, c.identity, c.tool, args, String(seq));
    }
  })();
  db.close();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** `policy-replay import` into a new file, as a user runs it: wall seconds, peak RSS (KB). */
function importCli(launcher = bin): { s: number; kb: number } {
  remove(target);
  const args = [launcher, "import", traceFile, "--db", target, "--policy", policyFile];
  const cmd = gnuTime
    ? [gnuTime, "-f", "%M", process.execPath, ...args]
    : [process.execPath, ...args];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd[0]!, cmd.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`import exited ${r.status}: ${r.stderr.toString()}`);
  return { s, kb: Number(/(\d+)\s*$/.exec(r.stderr.toString())?.[1] ?? 0) };
}

// Another build's bin/policy-replay.js, timed in the same rounds (the build before a change).
const before = process.env.BENCH_IMPORT_BEFORE;
const times = {
  parse: [] as number[],
  naive: [] as number[],
  cli: [] as number[],
  before: [] as number[],
};
let peakKb = 0;
let beforeKb = 0;
for (let round = 0; round < ROUNDS; round++) {
  times.parse.push(parseOnly());
  times.naive.push(naiveLoop());
  const r = importCli();
  times.cli.push(r.s);
  peakKb = Math.max(peakKb, r.kb);
  if (before) {
    const b = importCli(before);
    times.before.push(b.s);
    beforeKb = Math.max(beforeKb, b.kb);
    process.stderr.write(`round ${round + 1}: the other build's import ${b.s.toFixed(2)} s\n`);
  }
  process.stderr.write(
    `round ${round + 1}: import ${r.s.toFixed(2)} s, naive loop ${times.naive.at(-1)!.toFixed(2)} s, ` +
      `read and parse ${times.parse.at(-1)!.toFixed(2)} s\n`,
  );
}
remove(naive);
const best = (xs: number[]) => Math.min(...xs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const calls = N.toLocaleString();
const load = (await import("node:os")).loadavg()[0]!.toFixed(1);
console.log(
  `\npolicy-replay import — ${calls} calls, --policy (200 rules), into a new file; load ${load}\n`,
);
const rows: [string, string][] = [
  ["import, best / median", `${best(times.cli).toFixed(2)} / ${median(times.cli).toFixed(2)} s`],
  ["  calls/s (best)", Math.round(N / best(times.cli)).toLocaleString()],
  ["  peak RSS", peakKb ? `${Math.round(peakKb / 1024)} MB` : "(no GNU time)"],
  ["naive better-sqlite3 loop, best", `${best(times.naive).toFixed(2)} s`],
  ["read and JSON.parse alone, best", `${best(times.parse).toFixed(2)} s`],
  ["import / naive loop (best)", (best(times.cli) / best(times.naive)).toFixed(2)],
  ["import / read and parse (best)", (best(times.cli) / best(times.parse)).toFixed(2)],
];
if (before) {
  rows.push([
    "other build's import, best / median",
    `${best(times.before).toFixed(2)} / ${median(times.before).toFixed(2)} s, ${Math.round(beforeKb / 1024)} MB`,
  ]);
}
for (const [what, value] of rows) console.log(`  ${what.padEnd(40)} ${value.padStart(16)}`);
const ok = best(times.cli) <= 5;
console.log(
  `${ok ? "ok" : "!!"}  import of ${calls} calls: ${best(times.cli).toFixed(2)} s, target <= 5 s`,
);

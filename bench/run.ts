// `npm run bench`: the speed targets of the engine, the JSONL replay and the replay from
// SQLite, measured on this machine and printed against their targets. Not a test: figures vary
// with the machine.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compile, createState, decide, type Call } from "../src/engine/index.js";
import { parsePolicyText } from "../src/policy/load.js";
import { readTrace } from "../src/replay/trace.js";
import { makePolicy, tightened, writeTrace } from "./generate.js";
import { generateRecording, recordingPath } from "./generate-db.js";

const dir = join(process.cwd(), ".bench");
mkdirSync(dir, { recursive: true });
const N = Number(process.env.BENCH_CALLS ?? 1_000_000);
const policyFile = join(dir, "policy-200.json");
const candidateFile = join(dir, "policy-200.tightened.json");
const traceFile = join(dir, `calls-${N}.jsonl`);

const basePolicy = makePolicy();
writeFileSync(policyFile, JSON.stringify(basePolicy, null, 2));
writeFileSync(candidateFile, JSON.stringify(tightened(basePolicy), null, 2));
if (!existsSync(traceFile)) {
  process.stderr.write(`generating ${N.toLocaleString()} calls into ${traceFile}...\n`);
  await writeTrace(traceFile, N);
}

const rows: { what: string; value: string; target: string; ok: boolean | null }[] = [];
const report = (what: string, value: string, target: string, ok: boolean | null) => {
  rows.push({ what, value, target, ok });
  process.stderr.write(`${what}: ${value}\n`);
};

// 1. The engine alone, in memory, on one core: calls parsed beforehand.
{
  const { policy } = parsePolicyText(JSON.stringify(basePolicy));
  const ruleCount =
    Object.keys(policy.tools ?? {}).length +
    Object.values(policy.grants ?? {}).reduce((n, g) => n + Object.keys(g.tools ?? {}).length, 0);
  const calls: Call[] = [];
  for (const tc of readTrace(traceFile)) calls.push(tc.call);
  let best = 0;
  let first = 0;
  for (let round = 0; round < 5; round++) {
    const compiled = compile(policy);
    const state = createState(compiled);
    const t0 = process.hrtime.bigint();
    let allowed = 0;
    for (const c of calls) if (decide(compiled, c, state).decision === "allow") allowed++;
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.max(best, calls.length / s);
    if (round === 0) {
      first = calls.length / s;
      process.stderr.write(
        `(${ruleCount} rules; ${allowed.toLocaleString()} of ${calls.length.toLocaleString()} allowed)\n`,
      );
    }
  }
  report(
    "engine decisions/s (in memory, one core, best of 5)",
    Math.round(best).toLocaleString(),
    ">= 2,000,000",
    best >= 2_000_000,
  );
  // The first round also pays for JIT warm-up and for hashing every string once.
  report(
    "engine decisions/s (first, cold round)",
    Math.round(first).toLocaleString(),
    "(no target)",
    null,
  );
}

// 2. The whole CLI, as a user runs it, on the JSONL file.
const bin = join(process.cwd(), "bin", "policy-replay.js");
const sizeMb = (statSync(traceFile).size / 1e6).toFixed(0);
// GNU time reports the peak resident memory of the whole run; without it, time only.
const gnuTime = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;
const ROUNDS = 5;
const timeCli = (
  args: string[],
  label: string,
  target: string,
  limitS: number | null,
  what = `${N.toLocaleString()} lines, ${sizeMb} MB`,
): { best: number; peakKb: number } => {
  const times: number[] = [];
  let peakKb = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const cmd = gnuTime
      ? [gnuTime, "-f", "%M", process.execPath, bin, ...args]
      : [process.execPath, bin, ...args];
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd[0]!, cmd.slice(1), {
      stdio: ["ignore", "ignore", "pipe"],
      maxBuffer: 1 << 26,
    });
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (r.status !== 0 && r.status !== 1) {
      throw new Error(`${label} exited ${r.status}: ${r.stderr.toString()}`);
    }
    const kb = Number(/(\d+)\s*$/.exec(r.stderr.toString())?.[1] ?? 0);
    peakKb = Math.max(peakKb, kb);
  }
  times.sort((a, b) => a - b);
  const best = times[0]!;
  const median = times[Math.floor(times.length / 2)]!;
  const rss = peakKb ? `, peak RSS ${Math.round(peakKb / 1024)} MB` : "";
  report(
    `${label} (${what}; best of ${ROUNDS})`,
    `${best.toFixed(2)} s`,
    target,
    limitS === null ? null : best < limitS,
  );
  report(`  same, median of ${ROUNDS}${rss}`, `${median.toFixed(2)} s`, "", null);
  return { best, peakKb };
};
timeCli(
  ["--policy", candidateFile, "--calls", traceFile, "--fail-on", "none"],
  "policy-replay --calls, text",
  "< 3 s",
  3,
);
timeCli(
  ["--policy", candidateFile, "--baseline", policyFile, "--calls", traceFile, "--fail-on", "none"],
  "policy-replay --calls --baseline, text",
  "(no target)",
  null,
);
timeCli(
  ["--policy", candidateFile, "--calls", traceFile, "--format", "json", "--fail-on", "none"],
  "policy-replay --calls --format json",
  "(no target)",
  null,
);

// 3. Replay from SQLite: the same traffic recorded (bench/generate-db.ts: decided live by the
// base policy), replayed under the tightened one, read as the CLI reads it, run as a user runs
// it. Peak RSS at a quarter of the size shows whether memory stays flat as recordings grow.
{
  const recording = (calls: number): string => {
    const opts = { calls, sessions: 2000 };
    const file = recordingPath(opts, dir);
    const t0 = Date.now();
    if (generateRecording(file, opts)) {
      process.stderr.write(`generated ${file} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    return file;
  };
  const full = recording(N);
  const quarter = recording(Math.round(N / 4));
  // Saving writes a run into the file read: do it on a copy, so the cached recording stays
  // as generated (the terminal UI's benchmark reads it too).
  const saving = join(dir, "replay-save.sqlite");
  copyFileSync(full, saving);
  const what = (file: string, calls: number) =>
    `${calls.toLocaleString()} calls, ${(statSync(file).size / 1e6).toFixed(0)} MB`;
  const args = (file: string, ...more: string[]) => [
    "--policy",
    candidateFile,
    "--db",
    file,
    "--fail-on",
    "none",
    ...more,
  ];
  const noSave = timeCli(
    args(full, "--no-save"),
    "policy-replay --db, text, --no-save",
    "< 2 s",
    2,
    what(full, N),
  );
  report(
    "  calls/s, end to end (best)",
    Math.round(N / noSave.best).toLocaleString(),
    ">= 500,000",
    N / noSave.best >= 500_000,
  );
  const saved = timeCli(
    args(saving),
    "policy-replay --db, text, run saved",
    "< 2 s",
    2,
    what(saving, N),
  );
  report(
    "  calls/s, end to end (best)",
    Math.round(N / saved.best).toLocaleString(),
    ">= 500,000",
    N / saved.best >= 500_000,
  );
  const small = timeCli(
    args(quarter, "--no-save"),
    "policy-replay --db, text, --no-save",
    "(memory check)",
    null,
    what(quarter, Math.round(N / 4)),
  );
  if (small.peakKb && noSave.peakKb) {
    report(
      `peak RSS at ${Math.round(N / 4).toLocaleString()} and ${N.toLocaleString()} calls`,
      `${Math.round(small.peakKb / 1024)} / ${Math.round(noSave.peakKb / 1024)} MB`,
      "flat",
      null,
    );
  }
}

const cpu = execFileSync("sh", ["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"])
  .toString()
  .trim();
console.log(`\npolicy-replay benchmark — node ${process.version}, ${cpu}\n`);
for (const r of rows) {
  const mark = r.ok === null ? "  " : r.ok ? "ok" : "!!";
  console.log(`${mark}  ${r.what.padEnd(70)} ${r.value.padStart(12)}   target ${r.target}`);
}
writeFileSync(
  join(dir, "results.json"),
  JSON.stringify({ node: process.version, cpu, rows }, null, 2),
);

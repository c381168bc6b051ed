// `npm run bench`: the speed targets of the engine, the JSONL replay and the replay from
// SQLite, measured on this machine and printed against their targets. Not a test: figures vary
// with the machine.
import { execFileSync } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { compile, createState, decide, type Call } from "../src/engine/index.js";
import { parsePolicyText } from "../src/policy/load.js";
import { readTrace } from "../src/replay/trace.js";
import { makePolicy, tightened, writeTrace } from "./generate.js";
import { generateRecording, recordingPath } from "./generate-db.js";
import { timedRun } from "./timed-run.js";

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
const ROUNDS = 5;

/** One run of the CLI (or `script`): wall seconds and peak RSS (KB; 0 without GNU time). */
function runCli(args: string[], label: string, script = bin): { s: number; kb: number } {
  return timedRun(script, args, label);
}

interface CliCase {
  args: string[];
  label: string;
  target: string;
  limitS: number | null;
  what?: string;
  /** Run this script instead of the CLI. */
  script?: string;
}

/**
 * Time CLI runs, `rounds` each, taking the cases in turn round by round: this VM's speed drifts
 * over minutes, and cases timed one after another would each get a different spell.
 */
function timeCli(
  cases: CliCase[],
  rounds = ROUNDS,
): { best: number; median: number; peakKb: number }[] {
  const times = cases.map((): number[] => []);
  const peaks = cases.map(() => 0);
  for (let round = 0; round < rounds; round++) {
    cases.forEach((c, i) => {
      const { s, kb } = runCli(c.args, c.label, c.script);
      times[i]!.push(s);
      peaks[i] = Math.max(peaks[i]!, kb);
    });
  }
  return cases.map((c, i) => {
    const sorted = [...times[i]!].sort((a, b) => a - b);
    const best = sorted[0]!;
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const rss = peaks[i] ? `, peak RSS ${Math.round(peaks[i]! / 1024)} MB` : "";
    const what = c.what ?? `${N.toLocaleString()} lines, ${sizeMb} MB`;
    report(
      `${c.label} (${what}; best of ${rounds})`,
      `${best.toFixed(2)} s`,
      c.target,
      c.limitS === null ? null : best < c.limitS,
    );
    report(`  same, median of ${rounds}${rss}`, `${median.toFixed(2)} s`, "", null);
    return { best, median, peakKb: peaks[i]! };
  });
}
const [, , json, parse] = timeCli([
  {
    args: ["--policy", candidateFile, "--calls", traceFile, "--fail-on", "none"],
    label: "policy-replay --calls, text",
    target: "< 3 s",
    limitS: 3,
  },
  {
    args: [
      "--policy",
      candidateFile,
      "--baseline",
      policyFile,
      "--calls",
      traceFile,
      "--fail-on",
      "none",
    ],
    label: "policy-replay --calls --baseline, text",
    target: "(no target)",
    limitS: null,
  },
  {
    args: [
      "--policy",
      candidateFile,
      "--calls",
      traceFile,
      "--format",
      "json",
      "--fail-on",
      "none",
    ],
    label: "policy-replay --calls --format json",
    target: "(see ratio)",
    limitS: null,
  },
  {
    // The floor for any replay of the trace: read 64 KiB at a time, split, JSON.parse each line.
    args: [traceFile],
    script: join(process.cwd(), "dist", "bench", "jsonl-parse.js"),
    label: "chunked JSON.parse reader, nothing else",
    target: "(baseline)",
    limitS: null,
  },
]);
report(
  "  --format json / the JSON.parse reader (medians; bests)",
  `${(json!.median / parse!.median).toFixed(2)}x; ${(json!.best / parse!.best).toFixed(2)}x`,
  "<= 3x",
  json!.median / parse!.median <= 3,
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
  // Saving writes a run into the runs file beside the file read: do it beside a copy, so the
  // cached recording has no runs file (the terminal UI's benchmark reads it too), and start
  // that runs file afresh, so each benchmark saves into the same.
  const saving = join(dir, "replay-save.sqlite");
  copyFileSync(full, saving);
  rmSync(`${saving}.runs`, { force: true });
  // On disk before the first timed run, whose commit would otherwise wait for the copy's pages.
  const fd = openSync(saving, "r+");
  fsyncSync(fd);
  closeSync(fd);
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
  const [noSave, saved, small] = timeCli([
    {
      args: args(full, "--no-save"),
      label: "policy-replay --db, text, --no-save",
      target: "< 2 s",
      limitS: 2,
      what: what(full, N),
    },
    {
      args: args(saving),
      label: "policy-replay --db, text, run saved",
      target: "< 2 s",
      limitS: 2,
      what: what(saving, N),
    },
    {
      args: args(quarter, "--no-save"),
      label: "policy-replay --db, text, --no-save",
      target: "(memory check)",
      limitS: null,
      what: what(quarter, Math.round(N / 4)),
    },
  ]);
  for (const [label, t] of [
    ["--no-save", noSave!],
    ["run saved", saved!],
  ] as const) {
    report(
      `  calls/s, end to end, ${label} (best)`,
      Math.round(N / t.best).toLocaleString(),
      ">= 500,000",
      N / t.best >= 500_000,
    );
  }
  if (small!.peakKb && noSave!.peakKb) {
    report(
      `peak RSS at ${Math.round(N / 4).toLocaleString()} and ${N.toLocaleString()} calls`,
      `${Math.round(small!.peakKb / 1024)} / ${Math.round(noSave!.peakKb / 1024)} MB`,
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

// `npm run bench`, replay at scale on unfamiliar data: recordings of another shape than the main
// one (another seed, 800 tools, 3,000 sessions, 25 identities, arguments of 200-600 bytes of
// nested JSON), replayed at 100,000 and 1,000,000 calls (3,000,000 with BENCH_SCALE_3M=1: its
// recording takes minutes to generate), without and with saving the run, each beside a naive
// single-thread read of the same rows in the same rounds. Not a test: figures vary.
import {
  closeSync,
  copyFileSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { makePolicy, tightened } from "./generate.js";
import { generateRecording, recordingPath, type RecordingOptions } from "./generate-db.js";
import { timedRun } from "./timed-run.js";

const root = process.cwd();
const dir = join(root, ".bench");
mkdirSync(dir, { recursive: true });
const bin = join(root, "bin", "policy-replay.js");
const naive = join(root, "dist", "bench", "naive-read.js");
const policyFile = join(dir, "policy-200.json");
const candidateFile = join(dir, "policy-200.tightened.json");
writeFileSync(policyFile, JSON.stringify(makePolicy(), null, 2));
writeFileSync(candidateFile, JSON.stringify(tightened(makePolicy()), null, 2));

const SIZES = (process.env.BENCH_SCALE_SIZES ?? "100000,1000000")
  .split(",")
  .map(Number)
  .concat(process.env.BENCH_SCALE_3M === "1" ? [3_000_000] : []);
const ROUNDS = Number(process.env.BENCH_SCALE_ROUNDS ?? 3);
// Another build's launcher (bin/policy-replay.js of a copy of the tree), replayed --no-save in
// the same rounds: a change measured against the build before it, in the same minutes.
const BEFORE = process.env.BENCH_SCALE_BEFORE;
// The unfamiliar shape. 12 tools a session make about 42,000 distinct call keys at 1M calls.
const shape: Omit<RecordingOptions, "calls"> = {
  sessions: 3000,
  seed: 7,
  tools: 800,
  identities: 25,
  toolsPerSession: 12,
  argBytes: [200, 600],
};

const rows: { what: string; value: string; target: string; ok: boolean | null }[] = [];
const report = (what: string, value: string, target: string, ok: boolean | null) => {
  rows.push({ what, value, target, ok });
  process.stderr.write(`${what}: ${value}\n`);
};
const loadavg = (): string => readFileSync("/proc/loadavg", "utf8").split(" ")[0]!;
const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const signed = (x: number): string => `${x < 0 ? "" : "+"}${(x * 100).toFixed(0)}%`;
/** One run: wall seconds, peak RSS (KB) and CPU seconds (from GNU time; 0 and NaN without). */
const run = (script: string, args: string[]) => timedRun(script, args);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const peakRss = new Map<number, number>();

for (const calls of SIZES) {
  const opts = { ...shape, calls };
  const file = recordingPath(opts, dir);
  const t0 = Date.now();
  if (generateRecording(file, opts))
    process.stderr.write(`generated ${file} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  const db = new Database(file, { readonly: true });
  const keys = (db.prepare("SELECT count(*) FROM call_keys").pluck().get() as number) ?? 0;
  db.close();
  // Saving writes a runs file beside the recording: beside a copy, started afresh (as run.ts).
  const saving = join(dir, "scale-save.sqlite");
  copyFileSync(file, saving);
  rmSync(`${saving}.runs`, { force: true });
  const fd = openSync(saving, "r+");
  fsyncSync(fd);
  closeSync(fd);
  const replay = (f: string, ...more: string[]) => [
    "--policy",
    candidateFile,
    "--db",
    f,
    "--fail-on",
    "none",
    ...more,
  ];
  const cases = [
    { label: "naive read", script: naive, args: [file] },
    { label: "--no-save", script: bin, args: replay(file, "--no-save") },
    { label: "saving", script: bin, args: replay(saving) },
    ...(BEFORE ? [{ label: "before", script: BEFORE, args: replay(file, "--no-save") }] : []),
  ];
  const times = cases.map((): number[] => []);
  const cpus = cases.map((): number[] => []);
  const peaks = cases.map(() => 0);
  const loads: string[] = [];
  // The cases take turns round by round: this machine's speed drifts over minutes.
  for (let r = 0; r < ROUNDS; r++) {
    loads.push(loadavg());
    cases.forEach((c, i) => {
      const { s, kb, cpu } = run(c.script, c.args);
      times[i]!.push(s);
      cpus[i]!.push(cpu);
      peaks[i] = Math.max(peaks[i]!, kb);
    });
  }
  rmSync(saving, { force: true });
  rmSync(`${saving}.runs`, { force: true });
  const [base, noSave, saved] = times.map(median) as [number, number, number];
  const cpu = cpus.map(median);
  const cpuText = (i: number) => (Number.isNaN(cpu[i]) ? "" : `, CPU ${cpu[i]!.toFixed(2)} s`);
  const mb = (kb: number) => `${Math.round(kb / 1024)} MB`;
  const size = `${int(calls)} calls, ${int(keys)} keys, ${(statSync(file).size / 1e6).toFixed(0)} MB`;
  process.stderr.write(`(${size}; load average per round ${loads.join(", ")})\n`);
  report(
    `naive read (better-sqlite3 raw rows + JSON.parse), ${int(calls)} calls, median of ${ROUNDS}`,
    `${base.toFixed(2)} s, ${mb(peaks[0]!)}${cpuText(0)}`,
    "(baseline)",
    null,
  );
  for (const [label, t, kb, i] of [
    ["--no-save", noSave, peaks[1]!, 1],
    ["saving", saved, peaks[2]!, 2],
  ] as const) {
    report(
      `replay ${label}, ${int(calls)} calls: time, x naive, calls/s, peak RSS, CPU`,
      `${t.toFixed(2)} s, ${(t / base).toFixed(2)}x, ${int(calls / t)}/s, ${mb(kb)}${cpuText(i)}`,
      label === "--no-save" ? "<= 0.9x, >= 500,000/s" : "<= 0.9x",
      t / base <= 0.9 && (label !== "--no-save" || calls / t >= 500_000),
    );
  }
  if (BEFORE) {
    const t = median(times[3]!);
    report(
      `  the build before (${BEFORE}), --no-save, ${int(calls)} calls`,
      `${t.toFixed(2)} s, ${(t / base).toFixed(2)}x, ${mb(peaks[3]!)}${cpuText(3)}`,
      "",
      null,
    );
  }
  report(
    `  saving over --no-save, ${int(calls)} calls`,
    signed(saved / noSave - 1),
    "<= +15%",
    saved / noSave <= 1.15,
  );
  report(`  (${size}; load average ${loads.join(", ")})`, "", "", null);
  peakRss.set(calls, peaks[1]!);
}
const at1M = peakRss.get(1_000_000);
const at3M = peakRss.get(3_000_000);
if (at1M && at3M)
  report(
    "peak RSS, --no-save, 3,000,000 over 1,000,000 calls",
    `${Math.round(at3M / 1024)} / ${Math.round(at1M / 1024)} MB, ${signed(at3M / at1M - 1)}`,
    "<= +15%",
    at3M / at1M <= 1.15,
  );
else report("peak RSS at 3,000,000 calls: not run (BENCH_SCALE_3M=1 runs it)", "", "", null);

console.log(`\npolicy-replay at scale, unfamiliar data — node ${process.version}\n`);
for (const r of rows) {
  const mark = r.ok === null ? "  " : r.ok ? "ok" : "!!";
  const target = r.target ? `   target ${r.target}` : "";
  console.log(`${mark}  ${r.what.padEnd(76)} ${r.value.padStart(34)}${target}`);
}
writeFileSync(
  join(dir, "scale-results.json"),
  JSON.stringify({ node: process.version, rows }, null, 2),
);

// One call at a time through the proxy process, against the byte-copy relay floor, with another
// build's proxy in the same blocks when BENCH_PAIR_BEFORE names its checkout (built): what a
// change did to the added latency, robust to the machine's drift. BENCH_PAIR_PROFILE=<dir>
// runs each proxy under `node --cpu-prof` into that directory.
// `node dist/bench/proxy-pair.js` (BENCH_PROXY_CALLS calls per variant, 3,000 by default).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  BLOCK,
  cpuNs,
  CALLS,
  everything,
  median,
  nowNs,
  pct,
  policyFile,
  tmp,
  WARMUP,
} from "./proxy-common.js";
import { BYTE_PIPE, overStdio, type Variant } from "./proxy-harness.js";

const BEFORE = process.env.BENCH_PAIR_BEFORE;
const PROFILE = process.env.BENCH_PAIR_PROFILE;
const loadavg = (): string => readFileSync("/proc/loadavg", "utf8").split(" ")[0]!;
const us = (ns: number): string => (ns / 1000).toFixed(0);

const proxy = (label: string, root: string, db: string): Promise<Variant> =>
  overStdio(label, process.execPath, [
    ...(PROFILE
      ? [
          "--cpu-prof",
          "--cpu-prof-interval",
          "100",
          "--cpu-prof-dir",
          PROFILE,
          "--cpu-prof-name",
          `${label}.cpuprofile`,
        ]
      : []),
    join(root, "bin", "policy-replay.js"),
    "record",
    "--policy",
    policyFile,
    "--db",
    db,
    "--",
    process.execPath,
    everything,
    "stdio",
  ]);

const load0 = loadavg();
const dbs = { after: join(tmp, "pair-after.sqlite"), before: join(tmp, "pair-before.sqlite") };
const variants: Variant[] = [
  await overStdio("direct", process.execPath, [everything, "stdio"]),
  await overStdio("floor", process.execPath, [
    "-e",
    BYTE_PIPE,
    process.execPath,
    everything,
    "stdio",
  ]),
  await proxy("after", process.cwd(), dbs.after),
];
if (BEFORE) variants.push(await proxy("before", BEFORE, dbs.before));
const call = async (v: Variant): Promise<number> => {
  const t0 = nowNs();
  await v.run();
  return nowNs() - t0;
};
for (const v of variants) for (let i = 0; i < WARMUP; i++) await call(v);
// Each process's CPU over the measured calls (its main thread: the relay's work, not SQLite's
// checkpointer): steadier than wall time on a loaded machine.
const cpu0 = variants.map((v) => cpuNs(v.pid, true));
// Blocks in turn, each round starting with the next variant, so none always goes first.
for (let round = 0; round * BLOCK < CALLS; round++)
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(round + k) % variants.length]!;
    const block: number[] = [];
    for (let i = 0; i < BLOCK; i++) block.push(await call(v));
    v.times.push(...block);
    v.blockMedians.push(median(block));
  }
const cpu = variants.map((v, i) => {
  const [a, b] = [cpu0[i], cpuNs(v.pid, true)];
  return a == null || b == null ? null : (b - a) / v.times.length;
});
for (const v of variants) await v.close();

// Every call made it into each proxy's recording.
for (const v of variants.filter((v) => v.label === "after" || v.label === "before")) {
  const db = new Database(dbs[v.label as "after" | "before"], { readonly: true });
  const n = db
    .prepare<[], { n: number }>("SELECT count(*) AS n FROM calls WHERE tool = 'echo'")
    .get()!.n;
  db.close();
  if (n !== WARMUP + v.times.length) throw new Error(`${v.label}: ${n} echo calls recorded`);
}
const sorted = new Map(variants.map((v) => [v.label, [...v.times].sort((a, b) => a - b)]));
const at = (label: string, p: number): number => pct(sorted.get(label)!, p);
const line = variants.map((v) => `${v.label} ${us(at(v.label, 0.5))}/${us(at(v.label, 0.99))}`);
process.stdout.write(`load ${load0}-${loadavg()}  p50/p99 µs: ${line.join("  ")}\n`);
const cpuLine = variants.map((v, i) => `${v.label} ${cpu[i] == null ? "?" : us(cpu[i])}`);
process.stdout.write(`  process CPU per call, main thread, µs: ${cpuLine.join("  ")}\n`);
for (const label of ["after", ...(BEFORE ? ["before"] : [])]) {
  const paired = sorted.get(label)!.length
    ? median(
        variants
          .find((v) => v.label === label)!
          .blockMedians.map((m, i) => m - variants[1]!.blockMedians[i]!),
      )
    : 0;
  process.stdout.write(
    `  ${label} over floor: p50 ${us(at(label, 0.5) - at("floor", 0.5))} p99 ${us(at(label, 0.99) - at("floor", 0.99))} (paired p50 ${us(paired)})\n`,
  );
}
if (BEFORE) {
  // Each block of this build against the other's in the same round: what the change did.
  const blocks = (label: string) => variants.find((v) => v.label === label)!.blockMedians;
  const before = blocks("before");
  const diff = median(blocks("after").map((m, i) => m - before[i]!));
  process.stdout.write(`  after - before, paired by round: p50 ${us(diff)}\n`);
}

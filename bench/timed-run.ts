import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

// GNU time reports the peak resident memory and the CPU time of the whole run; without it, the
// wall time only.
const gnuTime = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;

/**
 * Run `node script ...args` to the end: wall seconds, peak RSS (KB) and CPU seconds, user and
 * system, of all its threads (0 and NaN without GNU time).
 * Exit 1 is a run whose gate failed, not an error; anything else but 0 throws, naming `label`.
 */
export function timedRun(
  script: string,
  args: string[],
  label = script,
): { s: number; kb: number; cpu: number } {
  const cmd = gnuTime
    ? [gnuTime, "-f", "%U %S %M", process.execPath, script, ...args]
    : [process.execPath, script, ...args];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    stdio: ["ignore", "ignore", "pipe"],
    maxBuffer: 1 << 26,
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0 && r.status !== 1) {
    throw new Error(`${label} exited ${r.status}: ${r.stderr.toString()}`);
  }
  const m = /([\d.]+) ([\d.]+) (\d+)\s*$/.exec(r.stderr.toString());
  return { s, kb: Number(m?.[3] ?? 0), cpu: m ? Number(m[1]) + Number(m[2]) : NaN };
}

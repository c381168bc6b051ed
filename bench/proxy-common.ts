// The proxy benchmark's shared pieces (bench/proxy.ts): where things are, the options from the
// environment, the run's scratch directory and policy, the report rows, and the small helpers.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

export const root = process.cwd();
export const bin = join(root, "bin", "policy-replay.js");
export const everything = createRequire(import.meta.url).resolve(
  "@modelcontextprotocol/server-everything/dist/index.js",
);
export const fixtureServer = join(root, "dist", "scripts", "fixture-server.js");
export const CALLS = Number(process.env.BENCH_PROXY_CALLS ?? 3_000);
export const WARMUP = 300;
export const BLOCK = 100;
export const STORE_SECONDS = Number(process.env.BENCH_STORE_SECONDS ?? 2.5);
export const E2E_SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 3);
export const IN_FLIGHT = 64;

export const benchDir = join(root, ".bench");
mkdirSync(benchDir, { recursive: true });
export const tmp = mkdtempSync(join(tmpdir(), "policy-replay-bench-"));

// Allow everything, with one rate limit on echo that never trips: the engine counts every call.
export const policyFile = join(tmp, "allow-all.json");
writeFileSync(
  policyFile,
  JSON.stringify({
    version: "1",
    default: "allow",
    tools: {
      echo: {
        action: "allow",
        limits: [{ counter: "echo_rate", window: "minute", max: 1_000_000_000, scope: "session" }],
      },
      fleet_status: {
        action: "allow",
        limits: [{ counter: "status_rate", window: "minute", max: 1_000_000_000, scope: "global" }],
      },
    },
  }),
);

export const rows: { what: string; value: string; target: string; ok: boolean | null }[] = [];
export const report = (what: string, value: string, target: string, ok: boolean | null) => {
  rows.push({ what, value, target, ok });
  process.stderr.write(`${what}: ${value}\n`);
};

export const us = (ns: number): string => `${(ns / 1000).toFixed(0)} µs`;
export const int = (n: number): string => Math.round(n).toLocaleString("en-US");
export const nowNs = (): number => Number(process.hrtime.bigint());

/** Nearest-rank percentile of an ascending array. */
export const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
export const median = (xs: number[]): number =>
  pct(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();
/**
 * CPU time (user + system) a process (all its threads) has used so far, in ns, or with
 * `mainThread` its main thread only; null if /proc cannot tell.
 */
export function cpuNs(pid: number | null | undefined, mainThread = false): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}${mainThread ? `/task/${pid}` : ""}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1e9;
  } catch {
    return null;
  }
}

export const stdio = (command: string, args: string[]) =>
  new StdioClientTransport({ command, args, stderr: "ignore" });

export const newClient = () =>
  new Client({ name: "bench-agent", version: "1.0.0" }, { capabilities: {} });

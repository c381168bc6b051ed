// `npm run bench`, second part: the recording proxy's speed targets, measured on this
// machine and printed against them. Not a test: figures vary with the machine.
//
// 1. Added latency per tools/call over stdio: the SDK's Client calls server-everything's `echo`
//    directly, and through `policy-replay record` (a real process, a real SQLite file), in the
//    same run. The variants take turns in blocks of calls, so that the machine's speed drifting
//    over the run (it does, by up to 2x) hits them all alike. Two more variants show where the
//    time goes: a byte pipe (a node process that only copies bytes, the floor of any proxy in a
//    process of its own) and the relay in this process (agent side in memory: the relay's and
//    the store's own cost, without the extra pipe hops), with counters in memory, shared
//    through the recording, and in Redis (a real one, BENCH_REDIS_URL, default
//    redis://127.0.0.1:6379, on a key prefix of the run's own, deleted at the end; when it does
//    not answer, that case is skipped and the report says why), beside Redis's bare round trip
//    and its floor: counters in memory after a bare PING in each call's path. With
//    BENCH_REDIS_SOCKET (the path of the same Redis's Unix socket), also over that socket.
// 2. Sustained recording: the store alone, messages and decisions as fast as it takes them,
//    then every row counted; and end to end, many calls in flight through the proxy process
//    (the SDK's client and the fixture server, then a raw client and a near-free server so
//    that the proxy is what is measured), every message looked up in the file afterwards.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { benchDir, E2E_SECONDS, nowNs, rows, STORE_SECONDS, tmp } from "./proxy-common.js";
import { endToEnd, rawEndToEnd } from "./proxy-e2e.js";
import { latency } from "./proxy-latency.js";
import { storeThroughput } from "./proxy-store.js";

const section = async (name: string, run: () => unknown): Promise<void> => {
  const t = nowNs();
  await run();
  process.stderr.write(`[${name}: ${((nowNs() - t) / 1e9).toFixed(1)} s]\n`);
};
const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
// BENCH_PROXY_ONLY=latency runs the latency rounds alone: for comparing two builds in turn.
const only = process.env.BENCH_PROXY_ONLY;
try {
  await section("latency", latency);
  if (only !== "latency") {
    await section("store", () => {
      storeThroughput("", 10, STORE_SECONDS);
      storeThroughput(", every message pair a tools/call", 2, 1.5);
    });
    await section("end to end, SDK", endToEnd);
    await section("end to end, raw", async () => {
      await rawEndToEnd(8, E2E_SECONDS);
      await rawEndToEnd(0, E2E_SECONDS);
    });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const cpu = execFileSync("sh", ["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"])
  .toString()
  .trim();
console.log(
  `\npolicy-replay proxy benchmark — node ${process.version}, ${cpu}, ${cpus().length} CPUs, load average before ${load}\n`,
);
for (const r of rows) {
  const mark = r.ok === null ? "  " : r.ok ? "ok" : "!!";
  const target = r.target ? `   target ${r.target}` : "";
  console.log(`${mark}  ${r.what.padEnd(88)} ${r.value.padStart(18)}${target}`);
}
writeFileSync(
  join(benchDir, "proxy-results.json"),
  JSON.stringify({ node: process.version, cpu, load, rows }, null, 2),
);

// `npm run bench`, a recording burst end to end: the SDK's real Client drives the fixture server
// over stdio with BENCH_BURST_IN_FLIGHT (256) calls in flight until BENCH_BURST_CALLS (20,000)
// are answered, directly (the baseline) and through `policy-replay record`, in alternating
// rounds; then every proxy recording's rows are counted against the calls sent.
// BENCH_BURST_COUNTERS=redis://… runs the proxies with their counters in that Redis.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import Database from "better-sqlite3";

const root = process.cwd();
const fixtureServer = join(root, "dist", "scripts", "fixture-server.js");
const CALLS = Number(process.env.BENCH_BURST_CALLS ?? 20_000);
const IN_FLIGHT = Number(process.env.BENCH_BURST_IN_FLIGHT ?? 256);
const ROUNDS = Number(process.env.BENCH_BURST_ROUNDS ?? 3);
/** Another checkout's root, built: its proxy runs too, in the same rounds, to hold this one against. */
const BEFORE = process.env.BENCH_BURST_BEFORE;
/** A directory for a CPU profile of each proxy process (node --cpu-prof). */
const PROFILE = process.env.BENCH_BURST_PROFILE;
/** A Redis URL: every proxy keeps its counters there (record --counters), under a prefix of its own. */
const COUNTERS = process.env.BENCH_BURST_COUNTERS;
let runs = 0;
const tmp = mkdtempSync(join(tmpdir(), "policy-replay-burst-"));
const policyFile = join(tmp, "allow-all.json");
// A limit that never trips, so the engine counts every call as it would in production.
writeFileSync(
  policyFile,
  JSON.stringify({
    version: "1",
    default: "allow",
    tools: {
      fleet_status: {
        action: "allow",
        limits: [{ counter: "status_rate", window: "minute", max: 1e9, scope: "global" }],
      },
    },
  }),
);

const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const loadavg = (): string => readFileSync("/proc/loadavg", "utf8").split(" ")[0]!;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU seconds (user and system) a process of ours has used so far, from /proc; 0 elsewhere. */
function cpuSeconds(pid: number | null): number {
  try {
    // The fields after the command's closing parenthesis: utime and stime are 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** What one burst took: seconds of wall time, and the CPU seconds of the process it spoke to. */
interface Taken {
  s: number;
  cpu: number;
  /** This process's CPU seconds: the SDK's client. */
  client: number;
}

/** CALLS calls, IN_FLIGHT at a time, through a fresh client on `command`. */
async function burst(command: string, args: string[]): Promise<Taken> {
  const client = new Client({ name: "bench-burst", version: "1.0.0" }, { capabilities: {} });
  const transport = new StdioClientTransport({ command, args, stderr: "ignore" });
  await client.connect(transport);
  let next = 0;
  const cpu0 = cpuSeconds(transport.pid);
  const client0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < CALLS) {
      next++;
      const r = await client.callTool({ name: "fleet_status", arguments: {} });
      if (r.isError) throw new Error(`fleet_status failed: ${JSON.stringify(r)}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(transport.pid) - cpu0;
  const used = process.cpuUsage(client0);
  // Closing ends the proxy, which commits what it still holds before it exits.
  await client.close();
  return { s, cpu, client: (used.user + used.system) / 1e6 };
}

/** `record` from the checkout at `root`, recording into `file`. */
const recordArgs = (root: string, file: string): string[] => [
  ...(PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE}`] : []),
  join(root, "bin", "policy-replay.js"),
  "record",
  "--policy",
  policyFile,
  "--db",
  file,
  ...(COUNTERS
    ? ["--counters", COUNTERS, "--counters-prefix", `bench-burst-${process.pid}-${runs++}`]
    : []),
  "--",
  process.execPath,
  fixtureServer,
];

let complete = true;
let messageRows = 0;

/** Counts a recording's rows against the calls sent; removes it. */
function check(file: string): string {
  const db = new Database(file, { readonly: true });
  const count = (sql: string): number => db.prepare(sql).pluck().get() as number;
  const calls = count("SELECT count(*) FROM calls WHERE tool = 'fleet_status'");
  const messages = count("SELECT count(*) FROM messages");
  db.close();
  // initialize, its answer, notifications/initialized; then each call's request and answer.
  const expected = 3 + 2 * CALLS;
  complete &&= calls === CALLS && messages === expected;
  messageRows = messages;
  rmSync(file, { force: true });
  return `${int(calls)} / ${int(CALLS)} calls, ${int(messages)} / ${int(expected)} msgs`;
}

const direct: Taken[] = [];
const proxied: Taken[] = [];
const before: Taken[] = [];
const checks: string[] = [];
const loads: string[] = [];
try {
  for (let r = 0; r < ROUNDS; r++) {
    loads.push(loadavg());
    direct.push(await burst(process.execPath, [fixtureServer]));
    const file = join(tmp, `burst-${r}.sqlite`);
    const other = join(tmp, `burst-before-${r}.sqlite`);
    const runBefore = async (): Promise<void> => {
      if (!BEFORE) return;
      before.push(await burst(process.execPath, recordArgs(BEFORE, other)));
      checks.push(`${check(other)} (${BEFORE})`);
    };
    // Each goes first every other round: neither always follows the direct burst.
    if (r % 2 === 1) await runBefore();
    proxied.push(await burst(process.execPath, recordArgs(root, file)));
    checks.push(check(file));
    if (r % 2 === 0) await runBefore();
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const d = median(direct.map((t) => t.s));
const p = median(proxied.map((t) => t.s));
const b = median(before.map((t) => t.s));
/** Median CPU per call, in µs, of the process spoken to. */
const cpuPerCall = (ts: Taken[], of: (t: Taken) => number = (t) => t.cpu): string =>
  `${int((median(ts.map(of)) / CALLS) * 1e6)} µs`;
const rows: [string, string, string, boolean | null][] = [
  [
    `SDK client, ${IN_FLIGHT} in flight, ${int(CALLS)} calls, direct: calls/s (baseline)`,
    `${int(CALLS / d)}/s, ${d.toFixed(2)} s`,
    "",
    null,
  ],
  [
    "  through the proxy: calls/s, x direct's time",
    `${int(CALLS / p)}/s, ${p.toFixed(2)} s, ${(p / d).toFixed(2)}x`,
    "",
    null,
  ],
  [
    "  CPU per call: the client | the server alone (direct) | the proxy process",
    `${cpuPerCall(proxied, (t) => t.client)} | ${cpuPerCall(direct)} | ${cpuPerCall(proxied)}`,
    "",
    null,
  ],
  [
    "  through the proxy: message rows/s recorded",
    `${int(messageRows / p)}/s`,
    ">= 50,000",
    messageRows / p >= 50_000,
  ],
  ...(BEFORE
    ? [
        [
          `  through ${BEFORE}'s proxy: calls/s, x direct's time, x this proxy's time`,
          `${int(CALLS / b)}/s, ${b.toFixed(2)} s, ${(b / d).toFixed(2)}x, ${(b / p).toFixed(2)}x`,
          "",
          null,
        ] as [string, string, string, boolean | null],
        [
          `  ${BEFORE}'s proxy process: CPU per call, x this proxy's`,
          `${cpuPerCall(before)}, ${(median(before.map((t) => t.cpu)) / median(proxied.map((t) => t.cpu))).toFixed(2)}x`,
          "",
          null,
        ] as [string, string, string, boolean | null],
      ]
    : []),
  ...checks.map((c, i): [string, string, string, boolean | null] => [
    `  recording ${i + 1}, rows in it / sent`,
    c,
    "none lost",
    complete,
  ]),
];
if (BEFORE) {
  const secs = (xs: Taken[]): string => xs.map((x) => x.s.toFixed(2)).join(" ");
  rows.push([
    "  per round, s: direct | this proxy | the other",
    `${secs(direct)} | ${secs(proxied)} | ${secs(before)}`,
    "",
    null,
  ]);
}
console.log(
  `\npolicy-replay recording burst — node ${process.version}, medians of ${ROUNDS}, load average per round ${loads.join(", ")}${COUNTERS ? `, counters in ${COUNTERS}` : ""}\n`,
);
for (const [what, value, target, ok] of rows) {
  const mark = ok === null ? "  " : ok ? "ok" : "!!";
  console.log(
    `${mark}  ${what.padEnd(72)} ${value.padStart(36)}${target ? `   target ${target}` : ""}`,
  );
}
if (!complete) process.exitCode = 1;

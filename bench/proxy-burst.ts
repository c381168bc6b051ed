// `npm run bench`, a recording burst end to end: the SDK's real Client drives the fixture server
// over stdio with BENCH_BURST_IN_FLIGHT (256) calls in flight until BENCH_BURST_CALLS (20,000)
// are answered, directly (the baseline) and through `policy-replay record`, in alternating
// rounds; then every proxy recording's rows are counted against the calls sent.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import Database from "better-sqlite3";

const root = process.cwd();
const bin = join(root, "bin", "policy-replay.js");
const fixtureServer = join(root, "dist", "scripts", "fixture-server.js");
const CALLS = Number(process.env.BENCH_BURST_CALLS ?? 20_000);
const IN_FLIGHT = Number(process.env.BENCH_BURST_IN_FLIGHT ?? 256);
const ROUNDS = Number(process.env.BENCH_BURST_ROUNDS ?? 3);
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

/** CALLS calls, IN_FLIGHT at a time, through a fresh client on `command`: seconds taken. */
async function burst(command: string, args: string[]): Promise<number> {
  const client = new Client({ name: "bench-burst", version: "1.0.0" }, { capabilities: {} });
  await client.connect(new StdioClientTransport({ command, args, stderr: "ignore" }));
  let next = 0;
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
  // Closing ends the proxy, which commits what it still holds before it exits.
  await client.close();
  return s;
}

const direct: number[] = [];
const proxied: number[] = [];
const checks: string[] = [];
const loads: string[] = [];
let complete = true;
let messageRows = 0;
try {
  for (let r = 0; r < ROUNDS; r++) {
    loads.push(loadavg());
    direct.push(await burst(process.execPath, [fixtureServer]));
    const file = join(tmp, `burst-${r}.sqlite`);
    proxied.push(
      await burst(process.execPath, [
        bin,
        "record",
        "--policy",
        policyFile,
        "--db",
        file,
        "--",
        process.execPath,
        fixtureServer,
      ]),
    );
    const db = new Database(file, { readonly: true });
    const count = (sql: string): number => db.prepare(sql).pluck().get() as number;
    const calls = count("SELECT count(*) FROM calls WHERE tool = 'fleet_status'");
    const messages = count("SELECT count(*) FROM messages");
    db.close();
    // initialize, its answer, notifications/initialized; then each call's request and answer.
    const expected = 3 + 2 * CALLS;
    complete &&= calls === CALLS && messages === expected;
    messageRows = messages;
    checks.push(`${int(calls)} / ${int(CALLS)} calls, ${int(messages)} / ${int(expected)} msgs`);
    rmSync(file, { force: true });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const d = median(direct);
const p = median(proxied);
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
    "  through the proxy: message rows/s recorded",
    `${int(messageRows / p)}/s`,
    ">= 50,000",
    messageRows / p >= 50_000,
  ],
  ...checks.map((c, i): [string, string, string, boolean | null] => [
    `  round ${i + 1}, rows in the recording / sent`,
    c,
    "none lost",
    complete,
  ]),
];
console.log(
  `\npolicy-replay recording burst — node ${process.version}, medians of ${ROUNDS}, load average per round ${loads.join(", ")}\n`,
);
for (const [what, value, target, ok] of rows) {
  const mark = ok === null ? "  " : ok ? "ok" : "!!";
  console.log(
    `${mark}  ${what.padEnd(72)} ${value.padStart(36)}${target ? `   target ${target}` : ""}`,
  );
}
if (!complete) process.exitCode = 1;

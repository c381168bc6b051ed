// `node dist/bench/redact.js` (after the build): what redacting recorded messages costs. Not a
// test: figures vary with the machine.
//
// 1. Per message, on the proxy's path: a plain tools/call, one with a secret argument, a
//    tools/list answer of 20 tools with schemas, and a tool result of 2 KB of text.
// 2. A 4 MiB adversarial argument per credential shape, through redactMessage: linear scans
//    take milliseconds; the patterns they replaced took minutes on a sixteenth of this.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { redactMessage } from "../src/proxy/redact-message.js";
import { createRedactor } from "../src/store/redact.js";

const dir = mkdtempSync(join(tmpdir(), "policy-replay-bench-redact-"));
const redactor = createRedactor({ keyFile: join(dir, "bench.key"), enabled: true });

const schema = (i: number) => ({
  type: "object",
  properties: {
    app: { type: "string", description: `the application ${i} to act on` },
    key: { type: "string", description: "a configuration key" },
    value: { type: "string" },
    dryRun: { type: "boolean", default: false },
  },
  required: ["app", "key"],
});
const messages: Record<string, JSONRPCMessage> = {
  "tools/call, plain arguments": {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "fleet_deploy", arguments: { app: "web", region: "eu-west-1", replicas: 3 } },
  },
  "tools/call, a secret argument": {
    jsonrpc: "2.0",
    id: 2,
    method: "tools/call",
    params: { name: "fleet_secrets_set", arguments: { app: "web", key: "DB_URL", value: "pw" } },
  },
  "tools/list answer, 20 tools": {
    jsonrpc: "2.0",
    id: 3,
    result: {
      tools: Array.from({ length: 20 }, (_, i) => ({
        name: `fleet_tool_${i}`,
        description: `Does thing number ${i} to the fleet, carefully and with logging.`,
        inputSchema: schema(i),
      })),
    },
  },
  "tool result, 2 KB of text": {
    jsonrpc: "2.0",
    id: 4,
    result: {
      content: [
        { type: "text", text: "deployment finished; pods are healthy and serving. ".repeat(40) },
      ],
    },
  },
};

/** What the relay did before every body was read: a tools/call's arguments alone. */
const argumentsOnly = (m: JSONRPCMessage): JSONRPCMessage => {
  if (!("method" in m) || m.method !== "tools/call" || !m.params) return m;
  const params = m.params as { arguments?: unknown };
  return { ...m, params: { ...m.params, arguments: redactor.redact(params.arguments) } };
};

/** Best of 5 rounds of 20,000, in microseconds a message. */
const perMessage = (f: () => unknown): number => {
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 20_000; i++) f();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 20_000 / 1000);
  }
  return best;
};

process.stdout.write("Per message, every body vs. tools/call arguments only:\n");
for (const [what, m] of Object.entries(messages)) {
  const all = perMessage(() => redactMessage(m, redactor));
  const before = perMessage(() => argumentsOnly(m));
  process.stdout.write(
    `  ${what}: ${all.toFixed(2)} µs (arguments only: ${before.toFixed(2)} µs)\n`,
  );
}

const MiB = 1 << 20;
const fill = (unit: string): string => unit.repeat(Math.ceil((4 * MiB) / unit.length));
const adversarial: Record<string, string> = {
  "eyJ- (JWT)": fill("eyJ-"),
  "sk- almost long enough": fill(`sk-${"a".repeat(15)}!`),
  "gh + p_ (GitHub)": `gh${fill("p_")}`,
  github_pat_: fill("github_pat_"),
  "xoxb- (Slack)": fill("xoxb-"),
  "AKIA (AWS)": fill("AKIA"),
  "AIza (Google)": fill("AIza"),
  npm_: fill("npm_"),
  "-----BEGIN (PEM)": fill("-----BEGIN "),
  "-----BEGIN + long label": `-----BEGIN ${fill("A ")}`,
  "base64 runs of 31": fill(`${"aB3+xY9/".repeat(4).slice(0, 31)} `),
  "one base64 run": fill("aB3+xY9/"),
};
process.stdout.write("A 4 MiB adversarial argument (tools/call) per shape:\n");
for (const [what, text] of Object.entries(adversarial)) {
  const m: JSONRPCMessage = {
    jsonrpc: "2.0",
    id: 5,
    method: "tools/call",
    params: { name: "echo", arguments: { message: text, [fill("aA").slice(0, MiB)]: 1 } },
  };
  const t0 = process.hrtime.bigint();
  redactMessage(m, redactor);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(`  ${what}: ${ms.toFixed(0)} ms\n`);
}
rmSync(dir, { recursive: true, force: true });

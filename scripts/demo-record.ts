// `npm run demo:record`: drives realistic agent sessions through `policy-replay record` and
// writes recordings/demo.sqlite, the recording the README's quick start replays. Sessions:
// an ops agent working the fixture Fleet server (one loop of secret writes trips the 30 a
// minute cap), a CI bot, and an agent poking the reference server-everything, all under
// fixtures/policies/fleet.json.
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const root = process.cwd();
const db = join(root, "recordings/demo.sqlite");
const policy = join(root, "fixtures/policies/fleet.json");
const bin = join(root, "bin/policy-replay.js");
const fixtureServer = [process.execPath, join(root, "dist/scripts/fixture-server.js")];
const everything = [
  process.execPath,
  createRequire(import.meta.url).resolve("@modelcontextprotocol/server-everything/dist/index.js"),
  "stdio",
];

async function session(identity: string, server: string[], work: (c: Client) => Promise<void>) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [bin, "record", "--policy", policy, "--db", db, "--identity", identity, "--", ...server],
    stderr: "inherit",
  });
  const client = new Client({ name: `demo-${identity}`, version: "1.0.0" }, { capabilities: {} });
  await client.connect(transport);
  await work(client);
  await client.close();
}

const call = (c: Client, name: string, args: Record<string, unknown> = {}) =>
  c.callTool({ name, arguments: args });
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });

await session("agent-ops", fixtureServer, async (c) => {
  await c.listTools();
  await call(c, "fleet_status");
  await call(c, "fleet_hosts_list", { team: "payments", status: "online" });
  await call(c, "fleet_secrets_get", { team: "payments", name: "DB_PASSWORD" });
  // The agent is stuck: it rewrites the same secret over and over.
  for (let i = 0; i < 45; i++) {
    await call(c, "fleet_secrets_set", {
      team: "payments",
      name: "DB_PASSWORD",
      value: `pw-rotation-${i}-Zx81kQ`,
    });
  }
  await call(c, "fleet_secrets_set", { team: "payments", name: "FLEET_ENROLL_SECRET", value: "x" });
  await call(c, "fleet_deploy", { team: "payments", env: "staging", build: "b-1042" });
  await call(c, "fleet_deploy", { team: "payments", env: "prod", build: "b-1042" });
  await call(c, "fleet_hosts_lock", { host: "laptop-ana", reason: "reported stolen" });
  await call(c, "fleet_wipe", { host: "laptop-ana" });
});

await session("ci-bot", fixtureServer, async (c) => {
  await c.listTools();
  await call(c, "fleet_status");
  await call(c, "fleet_hosts_list", { team: "payments" });
  await pause(20);
  await call(c, "fleet_secrets_set", {
    team: "payments",
    name: "SENTRY_DSN",
    value: "https://k@sentry/1",
  });
  await call(c, "set_secret", {
    name: "GITHUB_TOKEN",
    value: "ghp_0123456789abcdefghijABCDEFGHIJ012345",
  });
});

await session("anonymous", everything, async (c) => {
  await c.listTools();
  await call(c, "echo", { message: "hello" });
  await call(c, "get-sum", { a: 2, b: 3 });
  await call(c, "fleet_status");
});

console.log(`wrote ${db}`);

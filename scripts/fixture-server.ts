// A small MCP server with the seed scenarios' tools (a Fleet device-management server, a
// secrets manager, a game), for the demo recording and the proxy's tests. State is in memory;
// answers are plausible, not real. Run: node dist/scripts/fixture-server.js
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const server = new McpServer({ name: "policy-replay-fixture", version: "1.0.0" });
const ok = (text: string) => ({ content: [{ type: "text" as const, text }] });

const secrets = new Map<string, string>();
const hosts = ["web-1", "web-2", "db-1", "laptop-ana"];

server.registerTool(
  "fleet_status",
  { description: "Fleet server health and host counts", inputSchema: {} },
  () => ok(`fleet ok: ${hosts.length} hosts online`),
);
server.registerTool(
  "fleet_hosts_list",
  {
    description: "List hosts",
    inputSchema: { team: z.string().optional(), status: z.string().optional() },
  },
  ({ team }) => ok(JSON.stringify(hosts.map((h) => ({ host: h, team: team ?? "all" })))),
);
server.registerTool(
  "fleet_secrets_set",
  {
    description: "Set a secret for a team",
    inputSchema: { team: z.string(), name: z.string(), value: z.string() },
  },
  ({ team, name, value }) => {
    secrets.set(`${team}/${name}`, value);
    return ok(`set ${team}/${name}`);
  },
);
server.registerTool(
  "fleet_secrets_get",
  { description: "Read a secret's metadata", inputSchema: { team: z.string(), name: z.string() } },
  ({ team, name }) =>
    ok(secrets.has(`${team}/${name}`) ? `${team}/${name} is set` : `${team}/${name} is not set`),
);
server.registerTool(
  "fleet_deploy",
  {
    description: "Deploy a build",
    inputSchema: { env: z.string(), build: z.string(), team: z.string().optional() },
  },
  ({ env, build }) => ok(`deployed ${build} to ${env}`),
);
server.registerTool(
  "fleet_hosts_lock",
  { description: "Lock a host", inputSchema: { host: z.string(), reason: z.string().optional() } },
  ({ host }) => ok(`locked ${host}`),
);
server.registerTool(
  "fleet_wipe",
  { description: "Wipe a host (destructive)", inputSchema: { host: z.string() } },
  ({ host }) => ok(`wiped ${host}`),
);
server.registerTool(
  "set_secret",
  { description: "Store a secret", inputSchema: { name: z.string(), value: z.string() } },
  ({ name, value }) => {
    secrets.set(name, value);
    return ok(`stored ${name}`);
  },
);
server.registerTool(
  "input_secret",
  { description: "Ask the user to type a secret", inputSchema: { name: z.string() } },
  ({ name }) => ok(`prompted for ${name}`),
);
server.registerTool(
  "fleet",
  { description: "Scuttle your fleet (the game's destructive move)", inputSchema: {} },
  () => ok("your fleet is gone"),
);
server.registerTool(
  "move",
  {
    description: "Move in the game",
    inputSchema: { direction: z.string(), tiles: z.number().optional() },
  },
  ({ direction, tiles }) => ok(`moved ${tiles ?? 1} ${direction}`),
);

await server.connect(new StdioServerTransport());

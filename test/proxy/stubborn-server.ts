// A stdio MCP server that will not leave: it ignores the end of its stdin and SIGTERM, and it
// starts a grandchild that ignores SIGTERM too. It writes [its pid, the grandchild's] to the
// file named by its first argument before it reads anything, and answers initialize.
// With "leaves-at-eof" as its second argument it exits when its stdin ends, leaving the
// grandchild behind.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const SOURCE = String.raw`
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
const [pidsFile, mode] = process.argv.slice(2);
process.on("SIGTERM", () => {});
const grandchild = spawn(
  process.execPath,
  ["-e", "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"],
  { stdio: "ignore" },
);
writeFileSync(pidsFile, JSON.stringify([process.pid, grandchild.pid]));
let rest = "";
process.stdin.on("data", (chunk) => {
  const lines = (rest + chunk.toString()).split("\n");
  rest = lines.pop();
  for (const line of lines.filter((l) => l.trim())) {
    const m = JSON.parse(line);
    if (m.method !== "initialize") continue;
    const result = {
      protocolVersion: m.params.protocolVersion,
      capabilities: { tools: {} },
      serverInfo: { name: "stubborn", version: "1.0.0" },
    };
    process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: m.id, result }) + "\n");
  }
});
process.stdin.on("end", () => {
  if (mode === "leaves-at-eof") process.exit(0);
});
setInterval(() => {}, 1000);
`;

/** Write the server into `dir`: its path, and where it will write its pids. */
export function writeStubbornServer(dir: string): { server: string; pidsFile: string } {
  const server = join(dir, "stubborn-server.mjs");
  writeFileSync(server, SOURCE);
  return { server, pidsFile: join(dir, "pids.json") };
}

/** [the server's pid, its grandchild's], once the server has written them. */
export function readPids(pidsFile: string): number[] {
  return JSON.parse(readFileSync(pidsFile, "utf8")) as number[];
}

/** Whether `pid` is a live process: a zombie (dead, not yet reaped) is not. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // "PID (COMM) STATE ...": COMM may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    // Gone since, on Linux; elsewhere there is no /proc to tell a zombie by.
    return process.platform !== "linux";
  }
}

export const INITIALIZE = {
  jsonrpc: "2.0" as const,
  id: 0,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "test-agent", version: "1" },
  },
};

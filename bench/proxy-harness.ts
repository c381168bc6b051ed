// The latency rounds' variants (bench/proxy-latency.ts): an MCP client over stdio to a process,
// the relay in this process with its agent side in memory, the byte-copy relay floor, probes.
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { join } from "node:path";
import { compile } from "../src/engine/index.js";
import { loadPolicyFile } from "../src/policy/load.js";
import { type Counters, MemoryCounters } from "../src/proxy/counters.js";
import { monotonicClock, relay } from "../src/proxy/relay.js";
import { createRedactor } from "../src/store/redact.js";
import type { Store } from "../src/store/types.js";
import { everything, newClient, nowNs, policyFile, stdio, tmp } from "./proxy-common.js";

/** A store that times what the relay asks of it, on the relay's own thread. */
export function timedStore(inner: Store, t: { decisionNs: number[]; messageNs: number }): Store {
  return {
    putPolicy: (h, text) => inner.putPolicy(h, text),
    startSession: (s) => inner.startSession(s),
    updateSession: (id, p) => inner.updateSession(id, p),
    recordMessage: (m) => {
      const t0 = nowNs();
      inner.recordMessage(m);
      t.messageNs += nowNs() - t0;
    },
    recordDecision: (d) => {
      const t0 = nowNs();
      const id = inner.recordDecision(d);
      t.decisionNs.push(nowNs() - t0);
      return id;
    },
    recordDecisionShared: (since, step) => {
      const t0 = nowNs();
      const id = inner.recordDecisionShared!(since, step);
      t.decisionNs.push(nowNs() - t0);
      return id;
    },
    recordApproval: (id, a) => inner.recordApproval(id, a),
    recordOutcome: (id, o) => inner.recordOutcome(id, o),
    flush: () => inner.flush(),
    close: () => inner.close(),
    calls: () => inner.calls(),
  };
}

/** A store that keeps nothing: the relay's cost without SQLite's. */
export function nullStore(): Store {
  let id = 0;
  return {
    putPolicy() {},
    startSession() {},
    updateSession() {},
    recordMessage() {},
    recordDecision: () => ++id,
    recordApproval() {},
    recordOutcome() {},
    flush() {},
    close() {},
    calls: () => [][Symbol.iterator](),
  };
}

export interface Variant {
  label: string;
  /** One timed operation: an echo call, or a bare Redis round trip. */
  run: () => Promise<void>;
  times: number[];
  /** Per measured block, that block's median: for pairing with the other variants' blocks. */
  blockMedians: number[];
  close: () => Promise<void>;
  pid?: number | null;
}

/** An echo call through `client`, failing loudly when it comes back as an error. */
export const echo = (label: string, client: Client) => async (): Promise<void> => {
  const r = await client.callTool({ name: "echo", arguments: { message: "hello, bench" } });
  if (r.isError) throw new Error(`${label}: echo failed: ${JSON.stringify(r)}`);
};

export async function inProcessRelay(
  label: string,
  store: Store,
  counters: (compiled: ReturnType<typeof compile>) => Counters | Promise<Counters> = (c) =>
    new MemoryCounters(c),
): Promise<Variant> {
  const { policy } = loadPolicyFile(policyFile);
  const compiled = compile(policy);
  const [agentSide, proxySide] = InMemoryTransport.createLinkedPair();
  const session = { id: `inproc-${label}`, identity: "bench" };
  store.startSession({
    ...session,
    transport: "stdio",
    mode: "enforce",
    policyHash: "bench",
    startedAt: Date.now(),
  });
  const { closed } = await relay({
    client: proxySide,
    server: stdio(process.execPath, [everything, "stdio"]),
    compiled,
    counters: await counters(compiled),
    clock: monotonicClock(),
    session,
    mode: "enforce",
    store,
    redactor: createRedactor({ keyFile: join(tmp, `${label}.key`), enabled: true }),
    approvalTimeoutMs: 5_000,
    log: (line) => void process.stderr.write(`relay: ${line}\n`),
  });
  const client = newClient();
  await client.connect(agentSide);
  return {
    label,
    run: echo(label, client),
    times: [],
    blockMedians: [],
    close: async () => {
      await client.close();
      await closed;
      store.close();
    },
  };
}

export async function overStdio(label: string, command: string, args: string[]): Promise<Variant> {
  const transport = stdio(command, args);
  const client = newClient();
  await client.connect(transport);
  return {
    label,
    run: echo(label, client),
    times: [],
    blockMedians: [],
    close: () => client.close(),
    pid: transport.pid,
  };
}

// A process that only copies bytes both ways: what any proxy in its own process costs at least.
export const BYTE_PIPE = `
const { spawn } = require("node:child_process");
const c = spawn(process.argv[1], process.argv.slice(2), { stdio: ["pipe", "pipe", "ignore"] });
process.stdin.pipe(c.stdin);
c.stdout.pipe(process.stdout);
c.on("exit", () => process.exit(0));
`;

/** A variant that times something other than an echo call. */
export const probe = (label: string, run: () => Promise<void>): Variant => ({
  label,
  run,
  times: [],
  blockMedians: [],
  close: async () => {},
});

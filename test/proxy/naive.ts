// The relay in process between raw agent bytes (the real stdio transport over in-memory pipes)
// and the naive server fixture, which runs whatever tools/call reaches it.
import { MemoryCounters } from "../../src/proxy/counters.js";
import { PassThrough } from "node:stream";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { handle, type Ran } from "../../fixtures/servers/naive-server.mjs";
import { compile } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import { relay } from "../../src/proxy/relay.js";
import { StdioAgentTransport } from "../../src/proxy/stdio.js";
import type { Redactor, Store } from "../../src/store/types.js";
import { MemoryStore } from "./memory-store.js";

export interface NaiveRig {
  store: MemoryStore;
  /** Calls the naive server ran. */
  ran: Ran[];
  /** Lines the proxy wrote to the agent, parsed. */
  out: unknown[];
  logs: string[];
  /** Write raw bytes to the proxy's stdin. */
  write(bytes: string | Buffer): void;
  /** Let every queued message and promise run. */
  settle(): Promise<void>;
  /** Whether the relay's session ended. */
  ended(): boolean;
  close(): Promise<void>;
}

export async function naiveRig(
  policy: object,
  opts: { store?: MemoryStore; mode?: "enforce" | "observe"; redactor?: Redactor } = {},
): Promise<NaiveRig> {
  const compiled = compile(parsePolicyText(JSON.stringify(policy)).policy);
  const store = opts.store ?? new MemoryStore();
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const out: unknown[] = [];
  let rest = "";
  stdout.on("data", (chunk: Buffer) => {
    const lines = (rest + chunk.toString("utf8")).split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) if (l.trim() !== "") out.push(JSON.parse(l));
  });
  const ran: Ran[] = [];
  const { proxyEnd, serverEnd } = naiveUpstream(ran);
  await serverEnd.start();
  const logs: string[] = [];
  store.startSession({
    id: "s1",
    identity: "agent-a",
    transport: "stdio",
    mode: opts.mode ?? "enforce",
    policyHash: "h",
    startedAt: 0,
  });
  let t = 1_000;
  let ended = false;
  const { closed } = await relay({
    client: new StdioAgentTransport(stdin, stdout),
    server: proxyEnd,
    compiled,
    counters: new MemoryCounters(compiled),
    clock: { now: () => ++t },
    session: { id: "s1", identity: "agent-a" },
    mode: opts.mode ?? "enforce",
    store: store as Store,
    redactor: opts.redactor ?? { redact: (v) => v },
    approvalTimeoutMs: 1_000,
    requestTimeoutMs: 0,
    log: (l) => logs.push(l),
  });
  void closed.then(() => (ended = true));
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  return {
    store,
    ran,
    out,
    logs,
    write: (bytes) => void stdin.write(bytes),
    settle,
    ended: () => ended,
    close: async () => {
      stdin.end();
      await serverEnd.close();
      await settle();
    },
  };
}

export const line = (message: unknown): string => JSON.stringify(message) + "\n";

/**
 * The naive server in process, behind an in-memory transport pair: `proxyEnd` is the proxy's
 * side; every call the server runs is pushed onto `ran`. Start `serverEnd` before use.
 */
export function naiveUpstream(ran: Ran[]): { proxyEnd: Transport; serverEnd: Transport } {
  const [serverEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
  serverEnd.onmessage = (message: JSONRPCMessage) => {
    const r = handle(message);
    if (r.ran) ran.push(r.ran);
    for (const reply of r.replies) void serverEnd.send(reply as JSONRPCMessage);
  };
  return { proxyEnd, serverEnd };
}

// Group commit: calls that arrive in one turn are decided in order, their rows committed
// together, and only then forwarded; the server sees the agent's order; a failed commit fails
// every call of the group closed and counts none.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it } from "vitest";
import { compile } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import { WriteGate } from "../../src/proxy/backpressure.js";
import { type Counters, MemoryCounters, RecordingCounters } from "../../src/proxy/counters.js";
import { relay } from "../../src/proxy/relay.js";
import { openStore } from "../../src/store/open.js";
import type { DecisionRecord, Store } from "../../src/store/types.js";
import { MemoryStore } from "./memory-store.js";

const compiled = compile(
  parsePolicyText(
    JSON.stringify({
      version: "1",
      default: "allow",
      tools: {
        limited: {
          action: "allow",
          limits: [{ counter: "c", window: "hour", max: 3, scope: "global" }],
        },
      },
    }),
  ).policy,
);

/** A transport whose peer is the test: what the relay sends is kept, with what it saw then. */
class Side implements Transport {
  onmessage?: (m: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (e: Error) => void;
  sent: JSONRPCMessage[] = [];
  constructor(private readonly onSend: (m: JSONRPCMessage) => void = () => {}) {}
  start(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.onclose?.();
    return Promise.resolve();
  }
  send(m: JSONRPCMessage): Promise<void> {
    this.onSend(m);
    this.sent.push(m);
    return Promise.resolve();
  }
}

const call = (id: number, name = "limited"): JSONRPCMessage => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: { n: id } },
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(store: Store, counters: Counters) {
  /** For each tools/call the server got, whether its decision row was written by then. */
  const writtenFirst: boolean[] = [];
  /** The calls whose rows are written, by their ids (each call's argument n is its id). */
  const written = (): number[] =>
    store instanceof MemoryStore
      ? store.decisions.map((d) => Number(d.jsonrpcId))
      : [...store.calls()].map((c) => (c.arguments as { n: number }).n);
  const server = new Side((m) => {
    if ("method" in m && m.method === "tools/call" && "id" in m)
      writtenFirst.push(written().includes(m.id as number));
  });
  const client = new Side();
  store.startSession({
    id: "s1",
    identity: "a",
    transport: "stdio",
    mode: "enforce",
    policyHash: "h",
    startedAt: 0,
  });
  let t = 1000;
  await relay({
    client,
    server,
    compiled,
    counters,
    clock: { now: () => t++ },
    session: { id: "s1", identity: "a" },
    mode: "enforce",
    store,
    redactor: { redact: (v) => v },
    approvalTimeoutMs: 1000,
    log: () => {},
  });
  return { client, server, writtenFirst };
}

/** Counts the relay's batch commits of a MemoryStore. */
class CountingStore extends MemoryStore {
  batches: number[] = [];
  override recordDecisions(ds: readonly DecisionRecord[]): number[] {
    this.batches.push(ds.length);
    return super.recordDecisions(ds);
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("group commit of decisions", () => {
  it("commits the calls of one turn together, in order, and forwards each only after", async () => {
    const store = new CountingStore();
    const { client, server, writtenFirst } = await start(store, new MemoryCounters(compiled));
    client.onmessage!(call(1));
    client.onmessage!({ jsonrpc: "2.0", method: "notifications/roots/list_changed" });
    client.onmessage!(call(2));
    client.onmessage!(call(3, "other"));
    client.onmessage!(call(4));
    client.onmessage!(call(5));
    // Nothing reaches the server before the commit at the end of the turn.
    expect(server.sent).toEqual([]);
    await turn();
    expect(store.batches).toEqual([5]);
    expect(store.decisions.map((d) => [d.jsonrpcId, d.decision.code])).toEqual([
      ["1", "rule_allow"],
      ["2", "rule_allow"],
      ["3", "default_allow"],
      ["4", "rule_allow"],
      ["5", "rate_limited"],
    ]);
    // The agent's order, the notification included; the refused call answered, not sent.
    expect(server.sent.map((m) => ("id" in m ? m.id : "method" in m ? m.method : null))).toEqual([
      1,
      "notifications/roots/list_changed",
      2,
      3,
      4,
    ]);
    expect(writtenFirst).toEqual([true, true, true, true]);
    expect(client.sent.map((m) => ("id" in m ? m.id : null))).toEqual([5]);
  });

  it("a lone call waits for no timer: it is forwarded once its turn ends", async () => {
    const store = new CountingStore();
    const { client, server } = await start(store, new MemoryCounters(compiled));
    client.onmessage!(call(1));
    await Promise.resolve();
    expect(server.sent.map((m) => ("id" in m ? m.id : null))).toEqual([1]);
    // One call commits on its own, as it always has.
    expect(store.batches).toEqual([]);
    expect(store.decisions).toHaveLength(1);
  });

  it("a failed commit answers every call of the group -32000 and counts none", async () => {
    const store = new CountingStore();
    const { client, server } = await start(store, new MemoryCounters(compiled));
    store.failWith("store_busy");
    for (let id = 1; id <= 4; id++) client.onmessage!(call(id));
    await turn();
    expect(server.sent).toEqual([]);
    expect(client.sent.map((m) => ("error" in m ? [m.id, m.error.code] : null))).toEqual([
      [1, -32000],
      [2, -32000],
      [3, -32000],
      [4, -32000],
    ]);
    // Nothing was counted: once the store works, the limit's 3 are all still there.
    store.fault = null;
    for (let id = 5; id <= 8; id++) client.onmessage!(call(id));
    await turn();
    expect(store.decisions.map((d) => d.decision.code)).toEqual([
      "rule_allow",
      "rule_allow",
      "rule_allow",
      "rate_limited",
    ]);
    expect(server.sent.map((m) => ("id" in m ? m.id : null))).toEqual([5, 6, 7]);
  });

  it("counters shared through the recording: the calls of a group counted exactly, in order", async () => {
    const dir = mkdtempSync(join(tmpdir(), "policy-replay-group-"));
    dirs.push(dir);
    const store = openStore(join(dir, "r.sqlite"));
    try {
      const { client, server, writtenFirst } = await start(store, new RecordingCounters(compiled));
      for (let id = 1; id <= 5; id++) client.onmessage!(call(id));
      await turn();
      expect([...store.calls()].map((c) => [(c.arguments as { n: number }).n, c.code])).toEqual([
        [1, "rule_allow"],
        [2, "rule_allow"],
        [3, "rule_allow"],
        [4, "rate_limited"],
        [5, "rate_limited"],
      ]);
      expect(server.sent.map((m) => ("id" in m ? m.id : null))).toEqual([1, 2, 3]);
      expect(writtenFirst).toEqual([true, true, true]);
    } finally {
      store.close();
    }
  });
});

describe("WriteGate: one write per turn", () => {
  it("writes what one turn sends as one chunk, in order, or at once near the mark", async () => {
    const chunks: string[] = [];
    const out = new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c.toString());
        cb();
      },
    });
    const gate = new WriteGate(
      out,
      () => {},
      () => {},
      16,
    );
    const sent = [gate.write("a\n"), gate.write("b\n"), gate.write("c\n")];
    expect(chunks).toEqual([]);
    await Promise.all(sent);
    expect(chunks).toEqual(["a\nb\nc\n"]);
    // Past the high-water mark (16 here) it goes in the same turn.
    void gate.write("x".repeat(20));
    expect(chunks).toEqual(["a\nb\nc\n", "x".repeat(20)]);
  });
});

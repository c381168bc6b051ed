// The agent's side of an HTTP session (src/proxy/http-agent.ts) under an agent that stops
// reading: a response waiting for "drain" marks it behind, what is sent meanwhile is counted
// against the limit, and reading its POST bodies waits while the server's side is paused.
import { EventEmitter } from "node:events";
import type { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { AgentSide } from "../../src/proxy/http-agent.js";

class FakeResponse extends EventEmitter {
  writableNeedDrain = false;
}

function agentSide(maxHeldBytes = 1024 * 1024) {
  const sent: JSONRPCMessage[] = [];
  const inner = {
    send: (m: JSONRPCMessage) => {
      sent.push(m);
      return Promise.resolve();
    },
  } as unknown as StreamableHTTPServerTransport;
  const changes: boolean[] = [];
  const overflows: number[] = [];
  const agent = new AgentSide(inner, () => {}, {
    maxHeldBytes,
    onoverflow: (held) => overflows.push(held),
  });
  agent.onbackpressure = (blocked) => changes.push(blocked);
  return { agent, sent, changes, overflows };
}

const note = (i: number): JSONRPCMessage => ({
  jsonrpc: "2.0",
  method: "notifications/message",
  params: { level: "info", data: `${i} ${"x".repeat(1000)}` },
});

describe("AgentSide backpressure", () => {
  it("is behind while one of its responses waits for drain, and catches up on drain or close", async () => {
    const { agent, sent, changes } = agentSide();
    const a = new FakeResponse();
    const b = new FakeResponse();
    agent.watch(a);
    agent.watch(b);
    await agent.send(note(0));
    expect(changes).toEqual([]);
    a.writableNeedDrain = b.writableNeedDrain = true;
    await agent.send(note(1));
    await agent.send(note(2));
    expect(changes).toEqual([true]);
    a.writableNeedDrain = false;
    a.emit("drain");
    expect(changes).toEqual([true]); // b is still behind
    b.emit("close");
    expect(changes).toEqual([true, false]);
    expect(sent).toHaveLength(3); // nothing is dropped: the SDK holds it
  });

  it("gives up past the limit of what it sent while the agent was behind", async () => {
    const { agent, overflows } = agentSide(16 * 1024);
    const res = new FakeResponse();
    agent.watch(res);
    res.writableNeedDrain = true;
    for (let i = 0; i < 20 && overflows.length === 0; i++) await agent.send(note(i));
    expect(overflows).toHaveLength(1);
    expect(overflows[0]).toBeGreaterThan(16 * 1024);
    expect(overflows[0]).toBeLessThan(16 * 1024 + 1100);
  });

  it("holds the agent's next POST body while reading is paused", async () => {
    const { agent } = agentSide();
    await agent.whenReading();
    agent.pauseReading();
    let read = false;
    const waiting = agent.whenReading().then(() => (read = true));
    await Promise.resolve();
    expect(read).toBe(false);
    agent.resumeReading();
    await waiting;
    expect(read).toBe(true);
  });
});

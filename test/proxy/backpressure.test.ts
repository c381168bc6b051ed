// Backpressure between the proxy's two sides (src/proxy/backpressure.ts, wired into the stdio
// transports): a peer that stops reading makes the proxy stop reading the other peer, with a
// bounded number of bytes held, and everything arrives in order once it reads again.
import { Readable, Writable } from "node:stream";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { linkBackpressure, PeerNotReadingError } from "../../src/proxy/backpressure.js";
import { StdioAgentTransport, StdioServerProcess } from "../../src/proxy/stdio.js";

const note = (i: number): string =>
  JSON.stringify({
    jsonrpc: "2.0",
    method: "notifications/message",
    params: { level: "info", data: `${i} ${"x".repeat(1000)}` },
  }) + "\n";

/** An agent's stdout that takes nothing until `open()`: every write waits, counted. */
class StuckConsumer extends Writable {
  readonly lines: number[] = [];
  private pending: (() => void) | null = null;
  private flowing = false;
  private text = "";
  private waiter: { n: number; resolve: () => void } | null = null;

  constructor() {
    super({ highWaterMark: 16 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    const take = (): void => {
      this.text += chunk.toString("utf8");
      let nl: number;
      while ((nl = this.text.indexOf("\n")) !== -1) {
        const m = JSON.parse(this.text.slice(0, nl)) as { params: { data: string } };
        this.lines.push(Number(m.params.data.split(" ")[0]));
        this.text = this.text.slice(nl + 1);
      }
      if (this.waiter && this.lines.length >= this.waiter.n) this.waiter.resolve();
      done();
    };
    if (this.flowing) take();
    else this.pending = take;
  }

  open(): void {
    this.flowing = true;
    const p = this.pending;
    this.pending = null;
    p?.();
  }

  received(n: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = { n, resolve };
      if (this.lines.length >= n) resolve();
    });
  }
}

function nextChange(t: { onbackpressure?: (blocked: boolean) => void }): Promise<boolean> {
  const linked = t.onbackpressure;
  return new Promise((resolve) => {
    t.onbackpressure = (blocked) => {
      t.onbackpressure = linked;
      linked?.(blocked);
      resolve(blocked);
    };
  });
}

const HIGH_WATER = 64 * 1024;
const N = 2_000; // about 2 MB, 30 times the high-water mark

describe("backpressure over stdio", () => {
  it("pauses reading the server while the agent is not reading; all arrives in order after", async () => {
    // The server's side, reading from a stream that already holds the whole flood: unpaused,
    // it would hand every byte to the agent's stdout in one go.
    const flood = new Readable({ read() {} });
    for (let i = 0; i < N; i++) flood.push(note(i));
    const server = new StdioAgentTransport(flood, new Writable({ write: (_c, _e, cb) => cb() }));
    const out = new StuckConsumer();
    const agent = new StdioAgentTransport(new Readable({ read() {} }), out, {
      highWaterBytes: HIGH_WATER,
    });
    linkBackpressure(agent, server);
    let held = 0;
    server.onmessage = (m: JSONRPCMessage) => {
      void agent.send(m);
      held = Math.max(held, out.writableLength);
    };
    const blocked = nextChange(agent);
    await agent.start();
    await server.start();
    expect(await blocked).toBe(true);
    expect(server.readingPaused).toBe(true);
    expect(flood.readableFlowing).toBe(false);
    expect(flood.readableLength).toBeGreaterThan(N * 1000 - 2 * HIGH_WATER);
    // One message past the mark at most: the source stopped at once.
    expect(out.writableLength).toBeLessThan(HIGH_WATER + 2 * 1024);

    const drained = nextChange(agent);
    out.open();
    expect(await drained).toBe(false);
    await out.received(N);
    expect(out.lines).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(held).toBeLessThan(HIGH_WATER + 2 * 1024);
    expect(server.readingPaused).toBe(false);
    expect(flood.readableFlowing).toBe(true);
  });

  it("pauses a real server's stdout pipe, and it goes on when the agent reads", async () => {
    const server = new StdioServerProcess({
      command: process.execPath,
      args: [
        "-e",
        `const note = ${note.toString()}; for (let i = 0; i < ${N}; i++) process.stdout.write(note(i));`,
      ],
      stderr: "ignore",
    });
    const out = new StuckConsumer();
    const agent = new StdioAgentTransport(new Readable({ read() {} }), out, {
      highWaterBytes: HIGH_WATER,
    });
    linkBackpressure(agent, server);
    server.onmessage = (m) => void agent.send(m);
    const blocked = nextChange(agent);
    await server.start();
    await agent.start();
    expect(await blocked).toBe(true);
    expect(server.readingPaused).toBe(true);
    out.open();
    await out.received(N);
    expect(out.lines).toEqual(Array.from({ length: N }, (_, i) => i));
    await server.close();
  });

  it("pauses reading the agent while the server is not reading its stdin", async () => {
    const requests = new Readable({ read() {} });
    const agent = new StdioAgentTransport(requests, new Writable({ write: (_c, _e, cb) => cb() }));
    const stdin = new StuckConsumer();
    // The server's side as a transport on streams: only its write side matters here.
    const server = new StdioAgentTransport(new Readable({ read() {} }), stdin, {
      highWaterBytes: HIGH_WATER,
    });
    linkBackpressure(agent, server);
    agent.onmessage = (m) => void server.send(m);
    for (let i = 0; i < N; i++) requests.push(note(i));
    const blocked = nextChange(server);
    await server.start();
    await agent.start();
    expect(await blocked).toBe(true);
    expect(agent.readingPaused).toBe(true);
    expect(requests.readableFlowing).toBe(false);
    stdin.open();
    await stdin.received(N);
    expect(stdin.lines).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(agent.readingPaused).toBe(false);
  });

  it("gives up on an agent that leaves more than the limit unread: an error, then the end", async () => {
    const out = new StuckConsumer();
    const agent = new StdioAgentTransport(new Readable({ read() {} }), out, {
      highWaterBytes: HIGH_WATER,
      maxHeldBytes: 4 * HIGH_WATER,
    });
    const errors: Error[] = [];
    let closed = false;
    agent.onerror = (e) => errors.push(e);
    agent.onclose = () => (closed = true);
    await agent.start();
    // Nothing pauses the source here (no linked peer): only the limit stops the growth.
    for (let i = 0; i < N && !closed; i++) {
      void agent.send(JSON.parse(note(i)) as JSONRPCMessage);
    }
    expect(closed).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(PeerNotReadingError);
    expect(errors[0]).toMatchObject({ code: "peer_not_reading" });
    expect(out.writableLength).toBeLessThan(4 * HIGH_WATER + 2 * 1024);
  });
});

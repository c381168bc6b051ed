// The stdio framing under the proxy's two pipes (src/proxy/stdio.ts): however the bytes are cut
// into chunks, the same messages and the same turned-away lines come out, in order. And the
// spawned server's life: stopping it stops everything it started.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import fc from "fast-check";
import { afterAll, describe, expect, it, vi } from "vitest";
import { MAX_NESTING_DEPTH } from "../../src/proxy/inspect.js";
import type { BadInput } from "../../src/proxy/bad-input.js";
import { LineReader, StdioServerProcess } from "../../src/proxy/stdio.js";
import { alive, INITIALIZE, readPids, writeStubbornServer } from "./stubborn-server.js";

type Out = { message: JSONRPCMessage } | { bad: BadInput };

function read(chunks: readonly Buffer[], maxBytes: number): Out[] {
  const out: Out[] = [];
  const reader = new LineReader(
    maxBytes,
    (message) => out.push({ message }),
    (bad) => out.push({ bad }),
  );
  for (const c of chunks) reader.push(c);
  return out;
}

/** Cut `bytes` at the given fractions (anywhere, also inside a multi-byte character). */
function cut(bytes: Buffer, at: readonly number[]): Buffer[] {
  const points = [...new Set(at.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

const lineArb = fc.oneof(
  fc
    .record({ id: fc.oneof(fc.nat(), fc.string()), text: fc.string({ unit: "grapheme" }) })
    .map(({ id, text }) =>
      JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: text } }),
    ),
  fc
    .string({ unit: "grapheme", maxLength: 300 })
    .map((text) =>
      JSON.stringify({ jsonrpc: "2.0", method: "notifications/message", params: { text } }),
    ),
  fc.constantFrom(
    "{not json}",
    '{"jsonrpc":"2.0","id":3,"method":7}',
    "",
    "  ",
    "[]",
    "plain text",
  ),
  fc
    .nat({ max: 400 })
    .map((n) => JSON.stringify({ jsonrpc: "2.0", id: n, result: { pad: "é".repeat(n) } })),
);

describe("LineReader", () => {
  it("frames the same messages whatever the chunking, with CRLF or LF", () => {
    fc.assert(
      fc.property(
        fc.array(lineArb, { maxLength: 20 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        fc.boolean(),
        (lines, at, crlf) => {
          const ended = lines.map((l) => l + (crlf ? "\r\n" : "\n"));
          const bytes = Buffer.from(ended.join(""));
          const whole = read([bytes], 512);
          expect(read(cut(bytes, at), 512)).toEqual(whole);
          expect(
            read(
              ended.map((l) => Buffer.from(l)),
              512,
            ),
          ).toEqual(whole);
          // Blank lines are nothing; every other line is one message or one bad line.
          expect(whole).toHaveLength(lines.filter((l) => l.trim() !== "").length);
        },
      ),
    );
  });

  it("skips a line over the limit without holding it, telling its id from its head or tail", () => {
    const big = "x".repeat(10_000);
    const lines = [
      JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { big } }),
      JSON.stringify({ method: "tools/call", params: { big, id: 99 }, jsonrpc: "2.0", id: "s" }),
      JSON.stringify({ jsonrpc: "2.0", method: "notifications/x", params: { big, id: 5 } }),
      JSON.stringify({ jsonrpc: "2.0", id: 4, result: { big } }),
      JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }),
    ];
    const bytes = Buffer.from(lines.join("\n") + "\n");
    const out = read(cut(bytes, [0.1, 0.2, 0.3, 0.5, 0.7, 0.9]), 1024);
    expect(out.map((o) => ("bad" in o ? [o.bad.kind, o.bad.id, o.bad.response] : "ok"))).toEqual([
      ["oversized", 1, false],
      ["oversized", "s", false],
      ["oversized", undefined, false], // an id nested in params is not the message's
      ["oversized", 4, true],
      "ok",
    ]);
    const first = out[0] as { bad: BadInput };
    expect(first.bad.bytes).toBe(Buffer.byteLength(lines[0]!));
    expect(first.bad.head).toBe(lines[0]!.slice(0, 200));
  });

  it("tells the id of a line cut short, and whether it was an answer", () => {
    const out = read([Buffer.from('{"jsonrpc":"2.0","id":"a\\"b","result":{"content":[\n')], 1024);
    expect(out).toEqual([
      {
        bad: expect.objectContaining({
          kind: "malformed",
          id: 'a"b',
          response: true,
          notJson: true,
        }),
      },
    ]);
  });

  it("turns away a line nested deeper than the limit before parsing it, by its id, and goes on", () => {
    const deep = (n: number): unknown => {
      let v: unknown = "bottom";
      for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
      return v;
    };
    // The message's own object is one level, params a second, arguments a third.
    const call = (id: number, depth: number) =>
      JSON.stringify({
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: { name: "t", arguments: { x: deep(depth - 3) } },
      });
    const lines = [
      call(1, MAX_NESTING_DEPTH),
      call(2, MAX_NESTING_DEPTH + 1),
      // 100,000 levels, its id written last, as the SDK does.
      '{"jsonrpc":"2.0","method":"tools/call","params":{"arguments":' +
        "[".repeat(100_000) +
        "]".repeat(100_000) +
        '},"id":3}',
      JSON.stringify({ jsonrpc: "2.0", id: 4, result: { x: deep(MAX_NESTING_DEPTH) } }),
      // Brackets in strings are text, escaped quotes or not.
      JSON.stringify({ jsonrpc: "2.0", id: 5, method: "ping", params: { s: '\\"[{'.repeat(300) } }),
    ];
    const out = read(
      cut(Buffer.from(lines.join("\n") + "\n"), [0.01, 0.3, 0.6, 0.9]),
      4 * 1024 * 1024,
    );
    expect(
      out.map((o) => ("bad" in o ? [o.bad.kind, o.bad.id, o.bad.response, o.bad.reason] : "ok")),
    ).toEqual([
      "ok",
      ["malformed", 2, false, "nested deeper than 256 levels"],
      ["malformed", 3, false, "nested deeper than 256 levels"],
      ["malformed", 4, true, "nested deeper than 256 levels"],
      "ok",
    ]);
    expect((out[2] as { bad: BadInput }).bad).toMatchObject({
      bytes: Buffer.byteLength(lines[2]!),
      head: lines[2]!.slice(0, 200),
      notJson: false,
    });
  });
});

describe("StdioServerProcess stops its server's whole process group", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** The stubborn server, started and initialized: its transport and [its pid, its child's]. */
  async function startStubborn(mode?: "leaves-at-eof") {
    const dir = mkdtempSync(join(tmpdir(), "policy-replay-stdio-"));
    dirs.push(dir);
    const { server, pidsFile } = writeStubbornServer(dir);
    const transport = new StdioServerProcess({
      command: process.execPath,
      args: [server, pidsFile, ...(mode ? [mode] : [])],
      stderr: "ignore",
      stopGraceMs: 50,
    });
    const answered = new Promise<void>((resolve) => (transport.onmessage = () => resolve()));
    const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
    await transport.start();
    await transport.send(INITIALIZE);
    await answered; // the pids are written before the server reads its stdin
    return { transport, closed, pids: readPids(pidsFile) };
  }

  it("one that ignores its stdin ending and SIGTERM, and a grandchild that does too", async () => {
    const { transport, closed, pids } = await startStubborn();
    expect(pids.every(alive)).toBe(true);
    await transport.close();
    await closed;
    // SIGKILL has been sent to the group; the kernel takes a moment to finish them.
    await vi.waitFor(() => expect(pids.filter(alive)).toEqual([]));
  });

  it("what a server that exited on its own left running in its group", async () => {
    const { transport, closed, pids } = await startStubborn("leaves-at-eof");
    const [server, grandchild] = pids as [number, number];
    process.kill(server, "SIGKILL");
    await closed; // the relay closes its side when the server exits
    expect(alive(grandchild)).toBe(true);
    await transport.close();
    await vi.waitFor(() => expect(alive(grandchild)).toBe(false));
  });

  it("kills the group when the proxy exits without stopping it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "policy-replay-stdio-"));
    dirs.push(dir);
    const { server, pidsFile } = writeStubbornServer(dir);
    // A proxy (the built module) that exits at once when its server first answers.
    const proxy = join(dir, "proxy.mjs");
    const stdio = pathToFileURL(join(import.meta.dirname, "../../dist/src/proxy/stdio.js"));
    writeFileSync(
      proxy,
      `import { StdioServerProcess } from ${JSON.stringify(stdio.href)};
const s = new StdioServerProcess({ command: process.execPath, args: ${JSON.stringify([server, pidsFile])} });
s.onmessage = () => process.exit(3);
await s.start();
await s.send(${JSON.stringify(INITIALIZE)});
`,
    );
    const child = spawn(process.execPath, [proxy], { stdio: "ignore" });
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(3);
    const pids = readPids(pidsFile);
    await vi.waitFor(() => expect(pids.filter(alive)).toEqual([]));
  });
});

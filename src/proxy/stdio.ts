// The proxy's two stdio pipes: newline-delimited JSON-RPC, as MCP's stdio transport says.
//
// Why not the SDK's StdioServerTransport / StdioClientTransport: a line they cannot parse is
// dropped with only the parser's message (not the line, nor its id), and a message over their
// buffer limit closes the connection. The proxy must say what it was sent, record it, answer
// what it can and keep going, so it frames the lines itself and reports
// a line it turns away as a BadInputError through the transport's onerror; relay() handles it.
import { type ChildProcess, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { type FlowControl, PeerNotReadingError, ReadGate, WriteGate } from "./backpressure.js";
import { BAD_INPUT_HEAD_CHARS, type BadInput, BadInputError } from "./bad-input.js";
import { forgetGroup, killGroupOnExit, OWN_PROCESS_GROUP, signalGroup } from "./process-group.js";
import {
  HEAD_BYTES,
  isRequestId,
  nestsDeeperThan,
  TAIL_BYTES,
  tailId,
  tooDeep,
  topLevelKeys,
} from "./inspect.js";
import { jsonRpcMessage } from "./message-shape.js";

/** Largest message the agent may send over stdio: the same as --listen's body limit. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Largest message a spawned server may send (answers can carry images): the SDK's default. */
export const DEFAULT_MAX_SERVER_MESSAGE_BYTES = 10 * 1024 * 1024;
/**
 * How long stopping a server waits for it after ending its stdin, and again after SIGTERM.
 * Short: an MCP client that stops the proxy gives it 2 s before SIGTERM and 2 s more before
 * SIGKILL, and the proxy has its recording to close after the server.
 */
export const DEFAULT_STOP_GRACE_MS = 250;
/**
 * Splits a byte stream into newline-delimited messages. A line over `maxBytes` is skipped
 * without being held (only its head and tail are kept, to tell its id); a line that is not a
 * JSON-RPC message is reported. Blank lines are ignored.
 */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;
  private skipping: { bytes: number; head: Buffer; tail: Buffer } | null = null;

  constructor(
    private readonly maxBytes: number,
    private readonly onMessage: (message: JSONRPCMessage) => void,
    private readonly onBad: (bad: BadInput) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      this.take(chunk.subarray(start, nl === -1 ? chunk.length : nl));
      if (nl === -1) return;
      this.endLine();
      start = nl + 1;
    }
  }

  private take(piece: Buffer): void {
    if (piece.length === 0) return;
    const s = this.skipping;
    if (s) {
      s.bytes += piece.length;
      s.tail = lastBytes(Buffer.concat([s.tail, piece]), TAIL_BYTES);
      return;
    }
    if (this.size + piece.length <= this.maxBytes) {
      this.parts.push(piece);
      this.size += piece.length;
      return;
    }
    const held = Buffer.concat([...this.parts, piece]);
    this.skipping = {
      bytes: held.length,
      head: held.subarray(0, HEAD_BYTES),
      tail: lastBytes(held, TAIL_BYTES),
    };
    this.parts = [];
    this.size = 0;
  }

  private endLine(): void {
    const s = this.skipping;
    if (s) {
      this.skipping = null;
      const head = s.head.toString("utf8");
      const top = topLevelKeys(head);
      const id = top.id ?? tailId(s.tail.toString("utf8"));
      return this.onBad({
        kind: "oversized",
        bytes: s.bytes,
        head: head.slice(0, BAD_INPUT_HEAD_CHARS),
        reason: `over the limit of ${this.maxBytes} bytes`,
        ...(id !== undefined ? { id } : {}),
        response: top.response,
        notJson: false,
      });
    }
    const bytes = this.size;
    const line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, bytes);
    this.parts = [];
    this.size = 0;
    // Before JSON.parse and the schema, which would walk every level.
    if (nestsDeeperThan(line)) return this.onBad(tooDeep(line, BAD_INPUT_HEAD_CHARS));
    const text = line.toString("utf8");
    if (text.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      // Often a message cut short: its id may still be there to answer.
      const top = topLevelKeys(text.slice(0, HEAD_BYTES));
      const id = top.id ?? tailId(text.slice(-TAIL_BYTES));
      return this.onBad({
        kind: "malformed",
        bytes,
        head: text.slice(0, BAD_INPUT_HEAD_CHARS),
        reason: `not JSON (${(err as Error).message})`,
        ...(id !== undefined ? { id } : {}),
        response: top.response,
        notJson: true,
      });
    }
    const message = jsonRpcMessage(value);
    if (message !== null) return this.onMessage(message);
    const obj = (value !== null && typeof value === "object" ? value : {}) as Record<
      string,
      unknown
    >;
    const id = isRequestId(obj.id) ? obj.id : undefined;
    this.onBad({
      kind: "malformed",
      bytes,
      head: text.slice(0, BAD_INPUT_HEAD_CHARS),
      reason: "not a JSON-RPC 2.0 message",
      ...(id !== undefined ? { id } : {}),
      response: "result" in obj || "error" in obj,
      notJson: false,
    });
  }
}

/** The agent's side over stdio: the proxy is its MCP server, on the given streams. */
export class StdioAgentTransport implements Transport, FlowControl {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onbackpressure?: (blocked: boolean) => void;
  private closed = false;
  private readonly reader: LineReader;
  private readonly reading: ReadGate;
  private readonly writing: WriteGate;
  private readonly ondata = (chunk: Buffer): void => this.reader.push(chunk);
  private readonly onstreamerror = (error: Error): void => this.onerror?.(error);
  /** A write to an agent that has gone (EPIPE) is that agent leaving: the session ends. */
  private readonly onwriteerror = (error: Error): void => {
    this.onerror?.(error);
    void this.close();
  };

  constructor(
    private readonly stdin: Readable,
    private readonly stdout: Writable,
    opts: { maxMessageBytes?: number; highWaterBytes?: number; maxHeldBytes?: number } = {},
  ) {
    this.reader = new LineReader(
      opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      (message) => this.onmessage?.(message),
      (bad) => this.onerror?.(new BadInputError(bad)),
    );
    this.reading = new ReadGate(() => (this.closed ? null : stdin));
    this.writing = new WriteGate(
      stdout,
      (blocked) => this.onbackpressure?.(blocked),
      // An agent this far behind is not reading at all: holding more would only grow.
      (held) => this.onwriteerror(new PeerNotReadingError("the agent", held)),
      opts.highWaterBytes,
      opts.maxHeldBytes,
    );
  }

  /** Whether reading from the agent is paused (its peer is not keeping up). */
  get readingPaused(): boolean {
    return this.reading.isPaused;
  }

  /** Whether what waits to be written to the agent is over the high-water mark. */
  get writesBlocked(): boolean {
    return this.writing.isBlocked;
  }

  pauseReading(): void {
    this.reading.pause();
  }

  resumeReading(): void {
    this.reading.resume();
  }

  start(): Promise<void> {
    this.stdin.on("data", this.ondata);
    this.stdin.on("error", this.onstreamerror);
    this.stdout.on("error", this.onwriteerror);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.stdin.off("data", this.ondata);
    this.stdin.off("error", this.onstreamerror);
    if (this.stdin.listenerCount("data") === 0) this.stdin.pause();
    this.onclose?.();
    return Promise.resolve();
  }

  send(message: JSONRPCMessage): Promise<void> {
    // The agent has gone: whatever was still on its way to it has nowhere to go.
    if (this.closed) return Promise.resolve();
    return this.writing.write(JSON.stringify(message) + "\n");
  }
}

export interface ServerProcessOptions {
  command: string;
  args?: string[];
  cwd?: string;
  /** The server's environment; by default the proxy's own, since the agent's MCP config sets
   * the server's variables (API keys, ...) on the proxy's entry. */
  env?: NodeJS.ProcessEnv;
  stderr?: "inherit" | "pipe" | "ignore";
  maxMessageBytes?: number;
  /** See WRITE_HIGH_WATER_BYTES and MAX_HELD_BYTES (for the server's stdin). */
  highWaterBytes?: number;
  maxHeldBytes?: number;
  /** See DEFAULT_STOP_GRACE_MS. */
  stopGraceMs?: number;
}

/**
 * The server's side over stdio: spawn the real MCP server and be its client. On POSIX the
 * server leads a process group of its own, which stopping it signals as a whole, and which is
 * killed if the proxy exits without stopping it.
 */
export class StdioServerProcess implements Transport, FlowControl {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onbackpressure?: (blocked: boolean) => void;
  /** The server while messages can be sent to it. */
  private child: ChildProcess | undefined;
  /** The server as spawned, until it is stopped: its exit, its stdio closing, its group. */
  private spawned:
    | { process: ChildProcess; exited: Promise<void>; closed: Promise<void>; group?: number }
    | undefined;
  private stopping: Promise<void> | undefined;
  private writing: WriteGate | undefined;
  private readonly reader: LineReader;
  private readonly reading = new ReadGate(() => this.child?.stdout);

  constructor(private readonly opts: ServerProcessOptions) {
    this.reader = new LineReader(
      opts.maxMessageBytes ?? DEFAULT_MAX_SERVER_MESSAGE_BYTES,
      (message) => this.onmessage?.(message),
      (bad) => this.onerror?.(new BadInputError(bad)),
    );
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** The server's stderr, with `stderr: "pipe"`, once started. */
  get stderr(): Readable | null {
    return this.child?.stderr ?? null;
  }

  /** Whether reading from the server is paused (its peer is not keeping up). */
  get readingPaused(): boolean {
    return this.reading.isPaused;
  }

  /** Whether what waits to be written to the server is over the high-water mark. */
  get writesBlocked(): boolean {
    return this.writing?.isBlocked ?? false;
  }

  pauseReading(): void {
    this.reading.pause();
  }

  resumeReading(): void {
    this.reading.resume();
  }

  start(): Promise<void> {
    if (this.child) return Promise.reject(new Error("StdioServerProcess already started"));
    return new Promise((resolve, reject) => {
      const child = spawn(this.opts.command, this.opts.args ?? [], {
        cwd: this.opts.cwd,
        env: this.opts.env ?? process.env,
        stdio: ["pipe", "pipe", this.opts.stderr ?? "inherit"],
        shell: false,
        windowsHide: true,
        // Its own process group (and session), to be stopped with whatever it starts.
        detached: OWN_PROCESS_GROUP,
      });
      this.child = child;
      const group = OWN_PROCESS_GROUP ? child.pid : undefined;
      if (group !== undefined) killGroupOnExit(group);
      this.spawned = {
        process: child,
        exited: new Promise((r) => child.once("exit", () => r())),
        closed: new Promise((r) => child.once("close", () => r())),
        ...(group !== undefined ? { group } : {}),
      };
      this.writing = new WriteGate(
        child.stdin!,
        (blocked) => this.onbackpressure?.(blocked),
        // A server that has stopped reading its stdin will not answer what waits there.
        (held) => {
          this.onerror?.(new PeerNotReadingError("the MCP server", held));
          void this.close();
        },
        this.opts.highWaterBytes,
        this.opts.maxHeldBytes,
      );
      let spawned = false;
      child.once("spawn", () => {
        spawned = true;
        resolve();
      });
      // Failing to spawn (ENOENT, EACCES) is start()'s failure; later errors are the session's.
      child.on("error", (error) => {
        if (spawned) return this.onerror?.(error);
        this.child = this.spawned = undefined;
        reject(error);
      });
      child.once("close", () => {
        this.child = undefined;
        this.onclose?.();
      });
      child.stdin!.on("error", (error) => this.onerror?.(error));
      child.stdout!.on("error", (error) => this.onerror?.(error));
      child.stdout!.on("data", (chunk: Buffer) => this.reader.push(chunk));
      if (this.reading.isPaused) child.stdout!.pause();
    });
  }

  /**
   * Stop the server, promptly: end its stdin (the MCP way to ask it to leave), then SIGTERM its
   * process group, which also holds whatever it started, then SIGKILL the group, with
   * stopGraceMs for each step to work. Also after the server exited on its own, for what it
   * left running in its group.
   */
  close(): Promise<void> {
    this.stopping ??= this.stop();
    return this.stopping;
  }

  private async stop(): Promise<void> {
    const spawned = this.spawned;
    this.child = undefined;
    if (!spawned) return;
    const { process: child, exited, closed, group } = spawned;
    const grace = this.opts.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    const running = (): boolean => child.exitCode === null && child.signalCode === null;
    // What was written this turn goes before the end.
    this.writing?.flush();
    child.stdin?.end();
    // Read on, so that a server blocked writing to a paused pipe can see its stdin end.
    child.stdout?.resume();
    if (running()) await within(exited, grace);
    if (group !== undefined) {
      if (signalGroup(group, "SIGTERM")) await whileTrue(() => signalGroup(group, 0), grace);
      signalGroup(group, "SIGKILL");
      forgetGroup(group);
    } else if (running()) {
      child.kill("SIGTERM");
      await within(exited, grace);
      if (running()) child.kill("SIGKILL");
    }
    // What it wrote last is read and passed on before its close is told. A pipe that a process
    // outside its group still holds open is let go.
    if (!(await within(closed, grace))) {
      for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.destroy();
    }
  }

  send(message: JSONRPCMessage): Promise<void> {
    const writing = this.child?.stdin ? this.writing : undefined;
    if (!writing) return Promise.reject(new Error("Not connected"));
    return writing.write(JSON.stringify(message) + "\n");
  }
}

// The timers below hold the process up: while the proxy stops its server, nothing else may.

/** Whether `p` settled within `ms`. */
function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  return Promise.race([p.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

/** Wait while `condition` holds, looking every 10 ms, for at most `ms`. */
async function whileTrue(condition: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (condition() && Date.now() < until)
    await new Promise((r) => setTimeout(r, Math.min(10, ms)));
}

function lastBytes(b: Buffer, n: number): Buffer {
  return b.length <= n ? b : b.subarray(b.length - n);
}

// The server's side of a session, as both modes wrap it: what the SDK's Client would do for an
// HTTP upstream, backpressure passed on to the transport inside, and no message deeper than
// MAX_NESTING_DEPTH let through to the relay.
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type {
  JSONRPCMessage,
  MessageExtraInfo,
  RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import type { FlowControl } from "./backpressure.js";
import { isErrorResponse, isRequest, isResult } from "./guards.js";
import { isRequestId, MAX_NESTING_DEPTH, valueNestsDeeperThan } from "./inspect.js";
import { BAD_INPUT_HEAD_CHARS, BadInputError } from "./bad-input.js";
import { StdioServerProcess } from "./stdio.js";

/**
 * The server's side of one session. For an HTTP upstream (StreamableHTTPClientTransport) it does
 * what the SDK's Client would: send MCP-Protocol-Version once initialize has negotiated it,
 * DELETE the upstream session on close, and take an upstream that is gone (connection refused,
 * session unknown) as a server that exited, so the relay answers what is pending.
 */
class Upstream implements Transport, FlowControl {
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onbackpressure?: (blocked: boolean) => void;
  private initId: RequestId | undefined;
  private closing = false;
  private started: Promise<void> | undefined;
  /** Started ahead of the relay (startUpstream): what the server said meanwhile, in order. */
  private held: (() => void)[] | null = null;

  constructor(private readonly inner: Transport & HttpClientExtras & Partial<FlowControl>) {
    const checkDepth = !(inner instanceof StdioServerProcess);
    inner.onmessage = (message, extra) =>
      this.tell(() => {
        // The SDK's HTTP client has parsed it already (its schema does not walk params or
        // result); the relay, the store and the engine would. Our stdio reader checked the bytes.
        if (checkDepth && valueNestsDeeperThan(message)) return this.onerror?.(tooDeep(message));
        if (this.initId !== undefined && isResult(message)) {
          const version = (message.result as { protocolVersion?: unknown }).protocolVersion;
          if (message.id === this.initId && typeof version === "string") {
            inner.setProtocolVersion?.(version);
            this.initId = undefined;
          }
        }
        this.onmessage?.(message, extra);
      });
    inner.onbackpressure = (blocked) => this.onbackpressure?.(blocked);
    inner.onclose = () => this.tell(() => this.onclose?.());
    inner.onerror = (error) => this.tell(() => this.onerror?.(error));
  }

  /** Start the server now, holding what it says until the relay starts this transport. */
  startEarly(): Promise<void> {
    this.held = [];
    this.started = this.inner.start();
    return this.started;
  }

  start(): Promise<void> {
    if (this.started === undefined) return (this.started = this.inner.start());
    // Started early: what was held goes to the relay once it listens to both sides (it starts
    // the agent's side right after this one), the server's exit included.
    setImmediate(() => {
      const held = this.held ?? [];
      this.held = null;
      for (const told of held) told();
    });
    return this.started;
  }

  private tell(told: () => void): void {
    if (this.held) this.held.push(told);
    else told();
  }

  /** A spawned server's stdout is paused; the SDK's HTTP client reads on regardless. */
  pauseReading(): void {
    this.inner.pauseReading?.();
  }

  resumeReading(): void {
    this.inner.resumeReading?.();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (isRequest(message) && message.method === "initialize") this.initId = message.id;
    try {
      await this.inner.send(message);
    } catch (err) {
      if (this.inner.terminateSession !== undefined && upstreamGone(err)) {
        this.onerror?.(new Error(`the upstream MCP server is gone: ${errorText(err)}`));
        void this.close();
        return;
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.inner.terminateSession !== undefined && this.inner.sessionId !== undefined) {
      // Bounded: an agent that stops the proxy gives it only a couple of seconds in all.
      const terminate = this.inner.terminateSession().catch(() => {});
      await Promise.race([terminate, delay(TERMINATE_WAIT_MS)]);
    }
    await this.inner.close();
  }
}

/** How long closing waits for an HTTP upstream to take the DELETE of its session. */
const TERMINATE_WAIT_MS = 500;

/** The upstream side of a session, as serveHttp wraps it. */
export function upstreamTransport(inner: Transport): Transport {
  return new Upstream(inner);
}

/**
 * The upstream side, started now: a spawned server is running when this resolves (or it
 * rejects: the server could not be started). What the server says before the relay starts the
 * transport is held for it. Close it if no relay ever does.
 */
export async function startUpstream(inner: Transport): Promise<Transport> {
  const upstream = new Upstream(inner);
  await upstream.startEarly();
  return upstream;
}

/** What a StreamableHTTPClientTransport has beyond Transport. */
interface HttpClientExtras {
  setProtocolVersion?: (version: string) => void;
  terminateSession?: () => Promise<void>;
}

function upstreamGone(err: unknown): boolean {
  // fetch() failing outright (refused, reset) is a TypeError; a 404 is "no such session".
  if (err instanceof TypeError) return true;
  return (err as { code?: unknown } | null)?.code === 404;
}

/** A message over the depth limit that arrived parsed: its head told from its top level. */
function tooDeep(message: JSONRPCMessage): BadInputError {
  const m = message as { id?: unknown; method?: unknown };
  const id = isRequestId(m.id) ? m.id : undefined;
  const top = Object.fromEntries(
    Object.entries(message).map(([k, v]) => [k, v !== null && typeof v === "object" ? "…" : v]),
  );
  return new BadInputError({
    kind: "malformed",
    // Its size is not known: it is measured only as text, and the SDK took that.
    bytes: 0,
    head: JSON.stringify(top).slice(0, BAD_INPUT_HEAD_CHARS),
    reason: `nested deeper than ${MAX_NESTING_DEPTH} levels`,
    ...(id !== undefined ? { id } : {}),
    response: isResult(message) || isErrorResponse(message),
    notJson: false,
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

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

  constructor(private readonly inner: Transport & HttpClientExtras & Partial<FlowControl>) {
    const checkDepth = !(inner instanceof StdioServerProcess);
    inner.onmessage = (message, extra) => {
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
    };
    inner.onbackpressure = (blocked) => this.onbackpressure?.(blocked);
    inner.onclose = () => this.onclose?.();
    inner.onerror = (error) => this.onerror?.(error);
  }

  start(): Promise<void> {
    return this.inner.start();
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
      const terminate = this.inner.terminateSession().catch(() => {});
      await Promise.race([terminate, delay(2_000)]);
    }
    await this.inner.close();
  }
}

/** The upstream side of a session, as serveHttp wraps it; stdio mode uses it for --upstream. */
export function upstreamTransport(inner: Transport): Transport {
  return new Upstream(inner);
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

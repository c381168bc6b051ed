// The agent's side of one Streamable HTTP session: which SSE stream each message goes on, and
// backpressure. The SDK queues what it is sent without limit (its SSE streams ignore how full
// they are) and its HTTP adapter writes to the response only as fast as the agent reads, so a
// response waiting for "drain" is the sign that the agent has fallen behind.
import type { EventEmitter } from "node:events";
import type { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type {
  JSONRPCMessage,
  MessageExtraInfo,
  RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import { type FlowControl, MAX_HELD_BYTES } from "./backpressure.js";
import { isErrorResponse, isNotification, isRequest, isResult } from "./guards.js";

/** What AgentSide needs of an HTTP response it watches (a ServerResponse). */
export interface WatchedResponse extends EventEmitter {
  readonly writableNeedDrain: boolean;
}

export interface AgentSideOptions {
  /** What the SDK may be left holding for a lagging agent before it is given up on. */
  maxHeldBytes?: number;
  /** The agent has left over maxHeldBytes unread: the caller ends the session. */
  onoverflow?: (held: number) => void;
}

/**
 * The agent's side of one session: the SDK transport, plus the choice of stream for each
 * message the relay sends. The relay cannot say which request a server message belongs to,
 * so: responses go where their request came from (the SDK does that); a progress notification
 * goes on the stream of the request that asked for it (by progressToken); anything else goes
 * on the agent's GET stream when it has one open, else on the stream of its latest open
 * request, so that it is not lost.
 *
 * Backpressure: while any of the session's responses waits for "drain", the agent is behind
 * (onbackpressure(true)), and what is sent meanwhile is counted against maxHeldBytes; reading
 * paused (by the server's side backing up) holds the agent's next POST bodies unread.
 */
export class AgentSide implements Transport, FlowControl {
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onbackpressure?: (blocked: boolean) => void;
  /** GET (SSE) streams the agent has open on this session. */
  getStreams = 0;
  private readonly responses = new Set<WatchedResponse>();
  /** Responses waiting for "drain"; the agent is behind while there is one. */
  private readonly lagging = new Set<WatchedResponse>();
  /** Bytes sent since the agent fell behind. */
  private held = 0;
  private readonly maxHeld: number;
  private resumed: { promise: Promise<void>; resolve: () => void } | null = null;
  /** The agent's requests not answered yet, oldest first, with their progress tokens. */
  private readonly open = new Map<string, { id: RequestId; progressToken?: string }>();
  private readonly progress = new Map<string, RequestId>();

  constructor(
    readonly inner: StreamableHTTPServerTransport,
    onClosed: () => void,
    private readonly opts: AgentSideOptions = {},
  ) {
    this.maxHeld = opts.maxHeldBytes ?? MAX_HELD_BYTES;
    inner.onmessage = (message, extra) => {
      if (isRequest(message)) {
        const token = (message.params?._meta as { progressToken?: unknown } | undefined)
          ?.progressToken;
        const entry: { id: RequestId; progressToken?: string } = { id: message.id };
        if (typeof token === "string" || typeof token === "number") {
          entry.progressToken = JSON.stringify(token);
          this.progress.set(entry.progressToken, message.id);
        }
        this.open.set(JSON.stringify(message.id), entry);
      }
      this.onmessage?.(message, extra);
    };
    inner.onclose = () => {
      onClosed();
      this.onclose?.();
    };
    inner.onerror = (error) => this.onerror?.(error);
  }

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** An HTTP response of this session, whose writes tell whether the agent keeps up. */
  watch(res: WatchedResponse): void {
    this.responses.add(res);
    res.once("close", () => {
      this.responses.delete(res);
      this.caughtUp(res);
    });
  }

  pauseReading(): void {
    if (this.resumed) return;
    let resolve = (): void => {};
    const promise = new Promise<void>((r) => (resolve = r));
    this.resumed = { promise, resolve };
  }

  resumeReading(): void {
    const resumed = this.resumed;
    this.resumed = null;
    resumed?.resolve();
  }

  /** Settles when the agent's next POST body may be read. */
  whenReading(): Promise<void> {
    return this.resumed?.promise ?? Promise.resolve();
  }

  send(message: JSONRPCMessage): Promise<void> {
    const sent = this.route(message);
    this.noteLag(message);
    return sent;
  }

  private noteLag(message: JSONRPCMessage): void {
    for (const res of this.responses) {
      if (!res.writableNeedDrain || this.lagging.has(res)) continue;
      this.lagging.add(res);
      const drained = (): void => {
        res.off("drain", drained);
        this.caughtUp(res);
      };
      res.on("drain", drained);
    }
    if (this.lagging.size === 0) return;
    if (this.held === 0) this.onbackpressure?.(true);
    this.held += Buffer.byteLength(JSON.stringify(message));
    if (this.held > this.maxHeld) this.opts.onoverflow?.(this.held);
  }

  private caughtUp(res: WatchedResponse): void {
    if (!this.lagging.delete(res) || this.lagging.size > 0 || this.held === 0) return;
    this.held = 0;
    this.onbackpressure?.(false);
  }

  private route(message: JSONRPCMessage): Promise<void> {
    if (isResult(message) || isErrorResponse(message)) {
      if (message.id !== undefined) {
        const key = JSON.stringify(message.id);
        const entry = this.open.get(key);
        if (entry?.progressToken !== undefined) this.progress.delete(entry.progressToken);
        this.open.delete(key);
      }
      return this.inner.send(message);
    }
    const related = this.relatedRequest(message);
    return this.inner.send(
      message,
      related === undefined ? undefined : { relatedRequestId: related },
    );
  }

  private relatedRequest(message: JSONRPCMessage): RequestId | undefined {
    if (isNotification(message) && message.method === "notifications/progress") {
      const token = (message.params as { progressToken?: unknown } | undefined)?.progressToken;
      const id = token === undefined ? undefined : this.progress.get(JSON.stringify(token));
      if (id !== undefined) return id;
    }
    if (this.getStreams > 0) return undefined;
    let latest: RequestId | undefined;
    for (const { id } of this.open.values()) latest = id;
    return latest;
  }
}

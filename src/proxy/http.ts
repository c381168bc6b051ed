// Streamable HTTP mode: serve MCP to agents over HTTP, one relay() per Mcp-Session-Id, all
// sessions deciding against one shared CounterState. The SDK's StreamableHTTPServerTransport
// does the protocol (SSE streams, MCP-Protocol-Version, DELETE); this file does what sits in
// front of it: routing by session, identity from the bearer token, Origin and Host checks,
// body limits, and the life of each session.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  isInitializeRequest,
  isJSONRPCRequest,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import type { CompiledPolicy } from "../engine/index.js";
import type { Counters } from "./counters.js";
import { UsageError } from "../errors.js";
import type { Mode, Redactor, Store } from "../store/types.js";
import { linkBackpressure } from "./backpressure.js";
import { hostChecker, isLoopbackAddress } from "./exposure.js";
import { AgentSide } from "./http-agent.js";
import { nestsDeeperThan, tooDeep } from "./inspect.js";
import { AUDIT_UNAVAILABLE, type Clock, monotonicClock, relay } from "./relay.js";
import { BAD_INPUT_HEAD_CHARS, type BadInput, BadInputError } from "./bad-input.js";
import { upstreamTransport } from "./upstream.js";

export { upstreamTransport };

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface HttpProxyOptions {
  /** Where to listen; loopback unless told otherwise. */
  host?: string;
  /** 0 picks a free port; the real one is in the returned `url`. */
  port?: number;
  /** A fresh transport to the real MCP server for each session: a spawned stdio server or a
   * StreamableHTTPClientTransport to an upstream URL. Not started: relay() starts it. */
  upstream: () => Transport | Promise<Transport>;
  compiled: CompiledPolicy;
  /** sha256 of the policy text (the caller stores the text with putPolicy). */
  policyHash: string;
  /** One counters' state for every session, so grant and global counters add up across them. */
  counters: Counters;
  /** One clock for every session (the engine needs time that never goes backwards). */
  clock?: Clock;
  mode: Mode;
  store: Store;
  redactor: Redactor;
  approvalTimeoutMs: number;
  /** See RelayOptions.requestTimeoutMs. */
  requestTimeoutMs?: number;
  /** Bearer token -> identity. Tokens are only looked up, never stored or logged. */
  tokens?: Record<string, string>;
  /** Refuse (401) requests without a known token, instead of treating them as "anonymous". */
  requireToken?: boolean;
  /** Origins allowed besides loopback ones (http(s)://localhost|127.0.0.1|[::1], any port). */
  allowedOrigins?: string[];
  /** Host headers answered besides the listening address's own (see hostChecker). */
  allowedHosts?: string[];
  /** Listen on a non-loopback address with requests let in as "anonymous" (no requireToken):
   * refused unless said here, as anyone who can reach the address would be let in. */
  allowAnonymous?: boolean;
  /** Largest POST body accepted; larger ones get 413. */
  maxBodyBytes?: number;
  /**
   * A session with no request and no open GET stream for this long is ended (its server
   * stopped), since an agent that goes away without DELETE would leave it running for ever.
   * 0: never. Default DEFAULT_IDLE_TIMEOUT_MS.
   */
  idleTimeoutMs?: number;
  log: (line: string) => void;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;

export interface HttpProxy {
  /** e.g. http://127.0.0.1:PORT/mcp */
  url: string;
  /** Close every session, then the server. */
  close(): Promise<void>;
}

interface Session {
  id: string;
  identity: string;
  agent: AgentSide;
  closed: Promise<void>;
  /** Set when the proxy knows better why the session ends than the relay can. */
  endReason?: string;
  /** When the agent last sent a request on this session, or one was last answered (clock ms). */
  lastActive: number;
  /** HTTP requests of this session still open (a POST whose answer is still streaming). */
  inFlight: number;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/**
 * Serve MCP over Streamable HTTP at /mcp (and /): each initialize without an Mcp-Session-Id
 * starts a session with its own upstream transport and relay(); later requests are routed by
 * Mcp-Session-Id to that session's SDK transport.
 */
export async function serveHttp(opts: HttpProxyOptions): Promise<HttpProxy> {
  const host = opts.host ?? "127.0.0.1";
  const clock = opts.clock ?? monotonicClock();
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const tokens = new Map(Object.entries(opts.tokens ?? {}));
  const allowedOrigins = new Set((opts.allowedOrigins ?? []).map(normalizeOrigin));
  if (!isLoopbackAddress(host) && !opts.requireToken && !opts.allowAnonymous) {
    throw new UsageError(
      `serveHttp: ${host} is reachable from other machines; require a token or allow anonymous access explicitly`,
    );
  }
  const hostAllowed = hostChecker(host, opts.allowedHosts);
  const sessions = new Map<string, Session>();
  let closing = false;
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const sweep =
    idleTimeoutMs > 0
      ? setInterval(
          () => {
            const now = clock.now();
            for (const s of sessions.values()) {
              if (s.agent.getStreams > 0 || s.inFlight > 0 || now - s.lastActive < idleTimeoutMs)
                continue;
              s.endReason ??= "idle";
              opts.log(
                `session ${s.id} (${s.identity}): idle for ${Math.round((now - s.lastActive) / 1000)}s; ending it`,
              );
              void s.agent.close();
            }
          },
          Math.max(10, Math.min(idleTimeoutMs / 4, 30_000)),
        )
      : null;
  sweep?.unref();

  /** The session is busy until this request's response ends. */
  const track = (session: Session, res: ServerResponse): void => {
    session.inFlight++;
    session.lastActive = clock.now();
    session.agent.watch(res);
    res.once("close", () => {
      session.inFlight--;
      session.lastActive = clock.now();
    });
  };

  const identify = (req: IncomingMessage): string | undefined => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    return m?.[1] !== undefined ? tokens.get(m[1]) : undefined;
  };

  const startSession = async (
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    identity: string,
    initId: RequestId,
  ): Promise<void> => {
    const id = randomUUID();
    const log = (line: string): void => opts.log(`session ${id} (${identity}): ${line}`);
    const agent = new AgentSide(
      new StreamableHTTPServerTransport({
        // One id, known before the transport makes it, so the store and the relay use it too.
        sessionIdGenerator: () => id,
        onsessionclosed: () => {
          const s = sessions.get(id);
          if (s) s.endReason ??= "closed";
        },
        maxRequestBodySize: maxBody,
      }),
      () => sessions.delete(id),
      {
        onoverflow: (held) => {
          const s = sessions.get(id);
          if (s) s.endReason ??= "agent_not_reading";
          log(`the agent has left ${held} bytes unread; ending the session`);
          void agent.close();
        },
      },
    );
    try {
      opts.store.startSession({
        id,
        identity,
        transport: "http",
        mode: opts.mode,
        policyHash: opts.policyHash,
        startedAt: clock.now(),
        counters: opts.counters.where,
        shadowPolicyHash: opts.counters.shadow?.policyHash ?? null,
      });
    } catch (err) {
      // Fail closed: a session that cannot be recorded does not start.
      log(`audit log unavailable: ${errorText(err)}; the session was not started`);
      void agent.close();
      return sendError(
        res,
        503,
        AUDIT_UNAVAILABLE,
        `policy-replay: audit log unavailable: ${errorText(err)}`,
        initId,
      );
    }
    let closed: Promise<void>;
    try {
      const server = upstreamTransport(await opts.upstream());
      linkBackpressure(agent, server);
      ({ closed } = await relay({
        client: agent,
        server,
        compiled: opts.compiled,
        counters: opts.counters,
        clock,
        session: { id, identity },
        mode: opts.mode,
        store: opts.store,
        redactor: opts.redactor,
        approvalTimeoutMs: opts.approvalTimeoutMs,
        ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
        log,
      }));
    } catch (err) {
      log(`could not start the MCP server: ${errorText(err)}`);
      opts.store.updateSession(id, { endedAt: clock.now(), endReason: "server_failed_to_start" });
      opts.store.flush();
      return sendError(res, 502, -32603, "policy-replay: could not start the MCP server", initId);
    }
    const session: Session = { id, identity, agent, closed, lastActive: clock.now(), inFlight: 0 };
    track(session, res);
    sessions.set(id, session);
    void closed.then(() => {
      sessions.delete(id);
      if (session.endReason) {
        opts.store.updateSession(id, { endReason: session.endReason });
        opts.store.flush();
      }
      log(`ended (${session.endReason ?? "see the recording"})`);
    });
    log("started");
    if (closing) {
      session.endReason = "proxy_closed";
      await agent.close();
      return sendError(res, 503, -32000, "policy-replay is shutting down", initId);
    }
    try {
      await agent.inner.handleRequest(req, res, body);
    } finally {
      // The transport turned the initialize away (Accept, Content-Type, ...): nothing will
      // ever reach this session, so end it rather than leave its server running.
      if (agent.inner.sessionId === undefined) {
        session.endReason = "not_initialized";
        await agent.close();
      }
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path !== "/mcp" && path !== "/") return sendError(res, 404, -32000, "Not found");
    if (!hostAllowed(req.headers.host)) {
      // DNS rebinding: a page on evil.example resolved to 127.0.0.1 still says its own Host.
      return sendError(res, 403, -32000, `Forbidden: Host ${req.headers.host ?? "(none)"}`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!isLoopbackOrigin(origin) && !allowedOrigins.has(normalizeOrigin(origin)))
        return sendError(res, 403, -32000, `Forbidden: Origin ${origin}`);
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("vary", "Origin");
      res.setHeader("access-control-expose-headers", "mcp-session-id, mcp-protocol-version");
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          "access-control-allow-methods": "GET, POST, DELETE",
          "access-control-allow-headers":
            "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id",
          "access-control-max-age": "600",
        });
        return void res.end();
      }
    }
    const known = identify(req);
    if (known === undefined && opts.requireToken) {
      return sendError(res, 401, -32000, "Unauthorized: a known bearer token is required", null, {
        "www-authenticate": 'Bearer realm="policy-replay"',
      });
    }
    const identity = known ?? "anonymous";
    forgetAuthorization(req);
    if (closing) return sendError(res, 503, -32000, "policy-replay is shutting down");

    const sessionId = req.headers["mcp-session-id"];
    if (typeof sessionId === "string") {
      const session = sessions.get(sessionId);
      if (!session) return sendError(res, 404, -32001, "Session not found");
      if (session.identity !== identity)
        return sendError(res, 403, -32000, "Forbidden: the session belongs to another identity");
      track(session, res);
      if (req.method === "POST") {
        // The server's side is backed up: leave the body unread, so the agent slows down too.
        await session.agent.whenReading();
        // A body turned away here is answered with 400/413 and recorded in its session.
        const body = await readJson(req, res, maxBody, (bad) =>
          session.agent.onerror?.(new BadInputError(bad)),
        );
        if (body === NO_BODY) return;
        return session.agent.inner.handleRequest(req, res, body);
      }
      if (req.method === "GET") {
        session.agent.getStreams++;
        res.once("close", () => session.agent.getStreams--);
      }
      return session.agent.inner.handleRequest(req, res);
    }
    if (req.method === "GET" || req.method === "DELETE")
      return sendError(res, 400, -32000, "Bad Request: Mcp-Session-Id header is required");
    if (req.method !== "POST")
      return sendError(res, 405, -32000, "Method not allowed", null, {
        allow: "GET, POST, DELETE",
      });
    const body = await readJson(req, res, maxBody);
    if (body === NO_BODY) return;
    const init = Array.isArray(body) && body.length === 1 ? (body[0] as unknown) : body;
    if (!isJSONRPCRequest(init) || !isInitializeRequest(init)) {
      return sendError(
        res,
        400,
        -32000,
        "Bad Request: Mcp-Session-Id header is required (or an initialize request)",
      );
    }
    return startSession(req, res, body, identity, init.id);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log(`HTTP ${req.method ?? "?"} failed: ${errorText(err)}`);
      if (!res.headersSent) sendError(res, 500, -32603, "Internal error");
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}/mcp`,
    async close() {
      closing = true;
      if (sweep) clearInterval(sweep);
      const all = [...sessions.values()];
      for (const s of all) s.endReason ??= "proxy_closed";
      await Promise.allSettled(all.map((s) => s.agent.close()));
      await Promise.allSettled(all.map((s) => s.closed));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

const NO_BODY = Symbol("no body");

/**
 * Read and parse a JSON body of at most `max` bytes, or answer 413 / 400, tell `onBad` what was
 * turned away, and say NO_BODY.
 */
function readJson(
  req: IncomingMessage,
  res: ServerResponse,
  max: number,
  onBad: (bad: BadInput) => void = () => {},
): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  const head = (): string => Buffer.concat(chunks).toString("utf8").slice(0, BAD_INPUT_HEAD_CHARS);
  const tooLarge = (bytes: number): typeof NO_BODY => {
    sendError(res, 413, -32000, `Payload Too Large: the body limit is ${max} bytes`);
    onBad({
      kind: "oversized",
      bytes,
      head: head(),
      reason: `an HTTP body over the ${max}-byte limit`,
      response: false,
      notJson: false,
      answered: true,
    });
    // Read the rest into nothing, so the client sees the answer rather than a reset socket.
    req.resume();
    return NO_BODY;
  };
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > max) return Promise.resolve(tooLarge(declared));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      req.off("data", onData).off("end", onEnd);
      resolve(tooLarge(size));
    };
    const onEnd = (): void => {
      const body = Buffer.concat(chunks, size);
      // Before JSON.parse and the SDK's schema, which would walk every level.
      if (nestsDeeperThan(body)) {
        const bad = tooDeep(body, BAD_INPUT_HEAD_CHARS);
        sendError(res, 400, -32600, `Invalid Request: ${bad.reason}`, bad.id ?? null);
        onBad({ ...bad, answered: true });
        return resolve(NO_BODY);
      }
      const text = body.toString("utf8");
      try {
        resolve(JSON.parse(text) as unknown);
      } catch (err) {
        sendError(res, 400, -32700, "Parse error: Invalid JSON");
        onBad({
          kind: "malformed",
          bytes: size,
          head: text.slice(0, BAD_INPUT_HEAD_CHARS),
          reason: `not JSON: ${(err as Error).message}`,
          response: false,
          notJson: true,
          answered: true,
        });
        resolve(NO_BODY);
      }
    };
    req.on("data", onData).on("end", onEnd).once("error", reject);
  });
}

/** The agent's token goes no further: not to the SDK transport, not upstream, not into the
 * store (the SDK builds its request from rawHeaders, so both go). */
function forgetAuthorization(req: IncomingMessage): void {
  delete req.headers.authorization;
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    if (raw[i]?.toLowerCase() === "authorization") raw.splice(i, 2);
  }
}

function sendError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  id: RequestId | null = null,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ jsonrpc: "2.0", id, error: { code, message } }));
}

/** http(s)://localhost|127.0.0.1|[::1] on any port. */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    return (u.protocol === "http:" || u.protocol === "https:") && LOOPBACK_HOSTS.has(u.hostname);
  } catch {
    return false;
  }
}

function normalizeOrigin(origin: string): string {
  try {
    const u = new URL(origin);
    return u.origin === "null" ? origin : u.origin;
  } catch {
    return origin;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

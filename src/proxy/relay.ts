import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ErrorCode, type JSONRPCMessage, type RequestId } from "@modelcontextprotocol/sdk/types.js";
import { type CompiledPolicy, type CounterState, decide, type Decision } from "../engine/index.js";
import type {
  ApprovalAnswer,
  Direction,
  MessageRecord,
  Mode,
  Redactor,
  Store,
} from "../store/types.js";
import { denialResult } from "./denial.js";
import { isErrorResponse, isRequest, isResult } from "./guards.js";
import { isHidden } from "../engine/index.js";
import { type BadInput, BadInputError } from "./stdio.js";
import { readToolsCall, type ReadCall, type RefusedCall } from "./tools-call.js";

/** Monotonic wall-clock milliseconds: never goes backwards, as the engine requires. */
export interface Clock {
  now(): number;
}

export function monotonicClock(): Clock {
  let last = 0;
  return {
    now() {
      const t = Date.now();
      last = t > last ? t : last;
      return last;
    },
  };
}

export interface RelayOptions {
  /** Toward the agent: the proxy is its server. */
  client: Transport;
  /** Toward the real MCP server: the proxy is its client. */
  server: Transport;
  compiled: CompiledPolicy;
  /** Shared by every session of this proxy, so grant and global counters add up across them. */
  state: CounterState;
  clock: Clock;
  session: { id: string; identity: string };
  mode: Mode;
  store: Store;
  redactor: Redactor;
  /** How long to wait for a human's approval; then the call is denied (answer "timeout"). */
  approvalTimeoutMs: number;
  /**
   * How long a request forwarded to the server may go unanswered (progress notifications for
   * it restart the clock); then the agent gets a JSON-RPC error and the server a cancellation.
   * 0: wait for ever. Default DEFAULT_REQUEST_TIMEOUT_MS.
   */
  requestTimeoutMs?: number;
  /** Where the proxy says what went wrong (stderr in the CLI). */
  log: (line: string) => void;
}

const idKey = (id: RequestId): string => JSON.stringify(id);

/** A backstop above MCP clients' usual request timeouts (the SDK's is 60 s). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;

/** JSON-RPC error code (implementation-defined server error) for a call the store could not log. */
export const AUDIT_UNAVAILABLE = -32000;

/** Stores whose failure was said on stderr, so many sessions on one store say it once. */
const auditDown = new WeakMap<Store, boolean>();

/** JSON-RPC error code for a request that timed out (the MCP SDK's RequestTimeout). */
const REQUEST_TIMEOUT = -32001;

interface Waiting {
  method: string;
  timer: NodeJS.Timeout;
  progressToken: unknown;
}

interface PendingCall {
  callId: number;
  ts: number;
}

/**
 * Relay one MCP session between an agent and a server, deciding every tools/call with the
 * engine and recording every message and decision. Messages pass through unchanged except
 * where the policy speaks (SPEC section 4). Starts both transports; the returned promise
 * resolves once they are started, with `closed`, which resolves when either side closes.
 */
export async function relay(opts: RelayOptions): Promise<{ closed: Promise<void> }> {
  const { client, server, store, clock, session } = opts;
  let seq = 0;
  let sessionEnded = false;
  let clientCanElicit = false;
  let approvals = 0;
  /** Client requests forwarded and not yet answered, to fail them if the server goes away. */
  const openClientRequests = new Map<string, RequestId>();
  /** tools/list requests whose answers must lose the hidden tools. */
  const listRequests = new Set<string>();
  const pendingCalls = new Map<string, PendingCall>();
  /** Our own requests to the client (approvals), by id. */
  const ownRequests = new Map<string, (msg: JSONRPCMessage) => void>();
  /** Tools whose answers carry an outputSchema: their denials keep structuredContent out. */
  const outputSchemaTools = new Set<string>();
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  /** Forwarded requests the server has yet to answer, with their timeout. */
  const waiting = new Map<string, Waiting>();
  /** Progress tokens of waiting requests, so progress restarts their clock. */
  const byProgressToken = new Map<string, string>();
  /** Requests the proxy gave up on: a late answer is recorded but not passed on. */
  const abandoned = new Set<string>();

  /** A write the store cannot take is said once on stderr; the relay goes on. */
  const quietly = (write: () => void): void => {
    try {
      write();
    } catch (err) {
      auditFailed(err);
    }
  };
  const safeRecord = (m: MessageRecord): void => quietly(() => store.recordMessage(m));

  const record = (direction: Direction, message: JSONRPCMessage, ts = clock.now()): number => {
    const s = ++seq;
    const method = "method" in message ? message.method : null;
    // (An error answering an unreadable request has id null: stored as no id.)
    const id = "id" in message && message.id != null ? idKey(message.id) : null;
    safeRecord({
      session: session.id,
      direction,
      seq: s,
      ts,
      method,
      jsonrpcId: id,
      message: redactMessage(message, opts.redactor),
    });
    return s;
  };

  const toClient = (message: JSONRPCMessage, direction: Direction = "server_to_client"): void => {
    if (direction !== "server_to_client") record(direction, message);
    client
      .send(message)
      .catch((err: unknown) => opts.log(`sending to the agent failed: ${String(err)}`));
  };
  const toServer = (message: JSONRPCMessage): void => {
    server
      .send(message)
      .catch((err: unknown) => opts.log(`sending to the server failed: ${String(err)}`));
  };

  const stopWaiting = (key: string): void => {
    const w = waiting.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    waiting.delete(key);
    if (w.progressToken !== undefined) byProgressToken.delete(idKey(w.progressToken as RequestId));
  };

  /** The server has not answered in time: answer the agent, cancel at the server. */
  const giveUp = (key: string): void => {
    const w = waiting.get(key);
    const id = openClientRequests.get(key);
    stopWaiting(key);
    if (!w || id === undefined || sessionEnded) return;
    openClientRequests.delete(key);
    abandoned.add(key);
    const seconds = requestTimeoutMs / 1000;
    opts.log(
      `the MCP server did not answer ${w.method} (id ${key}) within ${seconds}s; answered the agent with an error and cancelled it`,
    );
    const pending = pendingCalls.get(key);
    if (pending) {
      pendingCalls.delete(key);
      quietly(() => store.recordOutcome(pending.callId, { outcome: "no_answer", latencyMs: null }));
    }
    toClient(
      {
        jsonrpc: "2.0",
        id,
        error: {
          code: REQUEST_TIMEOUT,
          message: `policy-replay: the MCP server did not answer within ${seconds}s`,
        },
      },
      "proxy_to_client",
    );
    const cancel: JSONRPCMessage = {
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: id, reason: `no answer within ${seconds}s (policy-replay)` },
    };
    record("proxy_to_server", cancel);
    toServer(cancel);
  };

  const startWaiting = (key: string, method: string, params: unknown): void => {
    if (requestTimeoutMs <= 0) return;
    const token = (params as { _meta?: { progressToken?: unknown } } | undefined)?._meta
      ?.progressToken;
    const timer = setTimeout(() => giveUp(key), requestTimeoutMs);
    timer.unref();
    waiting.set(key, { method, timer, progressToken: token });
    if (typeof token === "string" || typeof token === "number")
      byProgressToken.set(idKey(token), key);
  };

  /** A request from the agent goes on to the server, and the clock starts. */
  const forwardRequest = (
    message: JSONRPCMessage & { id: RequestId; method: string; params?: unknown },
  ): void => {
    const key = idKey(message.id);
    openClientRequests.set(key, message.id);
    startWaiting(key, message.method, message.params);
    toServer(message);
  };

  const elicit = (message: string): Promise<ApprovalAnswer> => {
    const id = `policy-replay/approval/${++approvals}`;
    const request: JSONRPCMessage = {
      jsonrpc: "2.0",
      id,
      method: "elicitation/create",
      params: {
        message,
        requestedSchema: {
          type: "object",
          properties: { approve: { type: "boolean", title: "Approve this call?" } },
          required: ["approve"],
        },
      },
    };
    return new Promise<ApprovalAnswer>((resolve) => {
      const timer = setTimeout(() => {
        ownRequests.delete(idKey(id));
        resolve("timeout");
      }, opts.approvalTimeoutMs);
      timer.unref();
      ownRequests.set(idKey(id), (answer) => {
        clearTimeout(timer);
        if (!isResult(answer)) return resolve("rejected");
        const r = answer.result as { action?: string; content?: { approve?: unknown } };
        resolve(r.action === "accept" && r.content?.approve === true ? "approved" : "rejected");
      });
      toClient(request, "proxy_to_client");
    });
  };

  const deny = (
    id: RequestId,
    tool: string,
    decision: Decision,
    callId: number,
    ts: number,
  ): void => {
    if (decision.code === "hidden") {
      // A hidden tool answers as an unknown tool would.
      toClient(
        {
          jsonrpc: "2.0",
          id,
          error: { code: ErrorCode.InvalidParams, message: `Tool ${tool} not found` },
        },
        "proxy_to_client",
      );
    } else {
      toClient(
        { jsonrpc: "2.0", id, result: denialResult(tool, decision, outputSchemaTools.has(tool)) },
        "proxy_to_client",
      );
    }
    quietly(() => store.recordOutcome(callId, { outcome: "denied", latencyMs: clock.now() - ts }));
  };

  /** The store failed a write: said on stderr once per store until a write succeeds again. */
  const auditFailed = (err: unknown): string => {
    const why = err instanceof Error ? err.message : String(err);
    if (!auditDown.get(store)) {
      auditDown.set(store, true);
      opts.log(
        `audit log unavailable: ${why}; tools/call answered with an error until it recovers`,
      );
    }
    return why;
  };
  const auditWorks = (): void => {
    if (auditDown.get(store)) {
      auditDown.delete(store);
      opts.log("audit log writable again; tools/call decided as usual");
    }
  };
  /** Fail closed: a call whose decision or approval cannot be written is not forwarded. */
  const auditError = (id: RequestId, err: unknown): void => {
    const why = auditFailed(err);
    toClient(
      {
        jsonrpc: "2.0",
        id,
        error: { code: AUDIT_UNAVAILABLE, message: `policy-replay: audit log unavailable: ${why}` },
      },
      "proxy_to_client",
    );
  };

  const onToolsCall = (call: ReadCall, ts: number, s: number): void => {
    const { tool, id } = call;
    const decision = decide(
      opts.compiled,
      { tool, identity: session.identity, session: session.id, ts, arguments: call.arguments },
      opts.state,
    );
    let callId: number;
    try {
      // Write-ahead: the decision is on disk before the call can reach the server.
      callId = store.recordDecision({
        session: session.id,
        seq: s,
        ts,
        identity: session.identity,
        tool,
        arguments: opts.redactor.redact(call.arguments ?? null),
        jsonrpcId: idKey(id),
        mode: opts.mode,
        decision,
      });
      auditWorks();
    } catch (err) {
      return auditError(id, err);
    }
    const forward = (): void => {
      pendingCalls.set(idKey(id), { callId, ts });
      forwardRequest(call.forward as JSONRPCMessage & { id: RequestId; method: string });
    };
    if (opts.mode === "observe" || decision.decision === "allow") return forward();
    if (decision.decision === "approval_required" && clientCanElicit) {
      const text = `Allow the agent to call ${tool}?${decision.reason ? ` (${decision.reason})` : ""}\n${JSON.stringify(call.arguments ?? {})}`;
      void elicit(text).then((answer) => {
        // The session may have ended while the human thought it over: nothing left to answer.
        if (sessionEnded) return;
        try {
          store.recordApproval(callId, answer);
        } catch (err) {
          return auditError(id, err);
        }
        if (answer === "approved") forward();
        else deny(id, tool, decision, callId, ts);
      });
      return;
    }
    if (decision.decision === "approval_required") {
      try {
        store.recordApproval(callId, "unavailable");
      } catch (err) {
        auditFailed(err);
      }
    }
    deny(id, tool, decision, callId, ts);
  };

  /**
   * A tools/call that cannot be decided (SPEC section 4): recorded as malformed, never
   * forwarded; a request is answered with the JSON-RPC error, a notification dropped.
   */
  const refuseCall = (message: JSONRPCMessage, refused: RefusedCall, ts: number): void => {
    const s = ++seq;
    safeRecord({
      session: session.id,
      direction: "client_to_server",
      seq: s,
      ts,
      method: null,
      jsonrpcId: refused.id === undefined ? null : idKey(refused.id),
      message: { $malformed: opts.redactor.redact(message), reason: refused.reason },
    });
    opts.log(
      `the agent sent a tools/call that cannot be decided (${refused.reason}); ${refused.id === undefined ? "dropped" : "answered with an error"}, not forwarded; recorded as message ${s}`,
    );
    if (refused.id === undefined) return;
    toClient(
      {
        jsonrpc: "2.0",
        id: refused.id,
        error: {
          code: refused.code,
          message: `policy-replay: invalid tools/call: ${refused.reason}`,
        },
      },
      "proxy_to_client",
    );
  };

  // `direction` is the proxy's own when it answers in the agent's place (see onBadInput).
  const onClientMessage = (
    message: JSONRPCMessage,
    direction: Direction = "client_to_server",
  ): void => {
    const ts = clock.now();
    let call: ReadCall | undefined;
    if ("method" in message && message.method === "tools/call") {
      const read = readToolsCall(message);
      if (!read.ok) return refuseCall(message, read, ts);
      call = read;
    }
    const s = record(direction, message, ts);
    if (call) return onToolsCall(call, ts, s);
    if (isRequest(message)) {
      if (message.method === "initialize") {
        const p = message.params as
          { capabilities?: { elicitation?: unknown } | null; clientInfo?: unknown } | undefined;
        clientCanElicit = p?.capabilities?.elicitation !== undefined;
        quietly(() => store.updateSession(session.id, { clientInfo: p?.clientInfo ?? null }));
      }
      if (message.method === "tools/list" && opts.mode === "enforce")
        listRequests.add(idKey(message.id));
      return forwardRequest(message);
    }
    if (
      "method" in message &&
      message.method === "notifications/cancelled" &&
      !("id" in message && message.id !== undefined)
    ) {
      // The agent gave up: the server need not answer, so stop the clock.
      const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
      if (typeof requestId === "string" || typeof requestId === "number")
        stopWaiting(idKey(requestId));
    }
    if ((isResult(message) || isErrorResponse(message)) && message.id !== undefined) {
      const own = ownRequests.get(idKey(message.id));
      if (own) {
        ownRequests.delete(idKey(message.id));
        return own(message);
      }
    }
    toServer(message);
  };

  // `direction` is the proxy's own when it answers in the server's place (see onBadInput).
  const onServerMessage = (
    message: JSONRPCMessage,
    direction: Direction = "server_to_client",
  ): void => {
    const ts = clock.now();
    record(direction, message, ts);
    if (
      waiting.size > 0 &&
      "method" in message &&
      message.method === "notifications/progress" &&
      !("id" in message && message.id !== undefined)
    ) {
      const token = (message.params as { progressToken?: unknown } | undefined)?.progressToken;
      const key =
        typeof token === "string" || typeof token === "number"
          ? byProgressToken.get(idKey(token))
          : undefined;
      // Progress means the server is working on it: the clock starts again.
      if (key !== undefined) waiting.get(key)?.timer.refresh();
    }
    if ((isResult(message) || isErrorResponse(message)) && message.id !== undefined) {
      const key = idKey(message.id);
      if (abandoned.delete(key)) {
        opts.log(
          `the MCP server answered id ${key} after the proxy gave up on it; recorded, not passed on`,
        );
        return;
      }
      stopWaiting(key);
      openClientRequests.delete(key);
      const pending = pendingCalls.get(key);
      if (pending) {
        pendingCalls.delete(key);
        const isError =
          isResult(message) && (message.result as { isError?: unknown }).isError === true;
        quietly(() =>
          store.recordOutcome(pending.callId, {
            outcome: isErrorResponse(message) ? "error" : isError ? "tool_error" : "result",
            latencyMs: ts - pending.ts,
          }),
        );
      }
      if (isResult(message)) {
        const result = message.result as {
          tools?: unknown;
          serverInfo?: unknown;
          protocolVersion?: unknown;
        };
        if (Array.isArray(result.tools)) noteOutputSchemas(result.tools, outputSchemaTools);
        if (listRequests.delete(key) && Array.isArray(result.tools)) {
          const tools = result.tools.filter((t: unknown) => {
            const name = toolName(t);
            return name === undefined || !isHidden(opts.compiled, session.identity, name);
          });
          return toClient({ ...message, result: { ...result, tools } });
        }
        const { serverInfo, protocolVersion } = result;
        if (serverInfo !== undefined && typeof protocolVersion === "string")
          quietly(() => store.updateSession(session.id, { serverInfo, protocolVersion }));
      }
    }
    toClient(message);
  };

  /**
   * A line that one side sent and the stdio transport could not pass on (not JSON, not
   * JSON-RPC, over the size limit): say so on stderr, record it as a message without a method
   * whose body is {"$malformed": <its first characters, secrets masked>, reason, bytes}, and
   * answer whoever would otherwise wait: the sender of an unreadable request gets a JSON-RPC
   * error (the agent gets one even when the id is unknown: id null, as JSON-RPC 2.0 says); the
   * side waiting for an unreadable answer gets an error in its place.
   */
  const onBadInput = (from: "agent" | "server", bad: BadInput): void => {
    const s = ++seq;
    safeRecord({
      session: session.id,
      direction: from === "agent" ? "client_to_server" : "server_to_client",
      seq: s,
      ts: clock.now(),
      method: null,
      jsonrpcId: bad.id === undefined ? null : idKey(bad.id),
      message: {
        $malformed: redactHead(bad.head, opts.redactor),
        reason: bad.reason,
        bytes: bad.bytes,
      },
    });
    const who = from === "agent" ? "the agent" : "the MCP server";
    opts.log(
      `${who} sent ${bad.kind === "oversized" ? "an" : "a"} ${bad.kind} message (${bad.bytes} bytes: ${bad.reason}); recorded as message ${s}`,
    );
    if (bad.answered) return;
    const error = (id: RequestId | null, code: number, message: string): JSONRPCMessage =>
      // id null is JSON-RPC 2.0's answer to a request whose id cannot be read.
      ({ jsonrpc: "2.0", id, error: { code, message } }) as JSONRPCMessage;
    if (bad.response && bad.id !== undefined) {
      const lost = error(
        bad.id,
        ErrorCode.InternalError,
        `policy-replay: ${who}'s answer could not be passed on (${bad.kind}: ${bad.reason})`,
      );
      if (from === "agent") onClientMessage(lost, "proxy_to_server");
      else if (openClientRequests.has(idKey(bad.id))) onServerMessage(lost, "proxy_to_client");
      return;
    }
    const answer = error(
      bad.id ?? null,
      bad.notJson ? ErrorCode.ParseError : ErrorCode.InvalidRequest,
      `policy-replay: ${bad.notJson ? "Parse error" : "Invalid Request"} (${bad.kind}: ${bad.reason})`,
    );
    if (from === "agent") return toClient(answer, "proxy_to_client");
    if (bad.id !== undefined) {
      record("proxy_to_server", answer);
      toServer(answer);
    }
  };

  client.onmessage = (message) => onClientMessage(message);
  server.onmessage = (message) => onServerMessage(message);

  const closed = new Promise<void>((resolve) => {
    let ended = false;
    const end = (reason: string): void => {
      if (ended) return;
      ended = true;
      sessionEnded = true;
      if (reason === "server_exited") {
        // Nobody will answer these now: say so rather than leave the agent waiting.
        for (const id of openClientRequests.values()) {
          toClient(
            {
              jsonrpc: "2.0",
              id,
              error: {
                code: ErrorCode.ConnectionClosed,
                message: "policy-replay: the MCP server exited",
              },
            },
            "proxy_to_client",
          );
        }
        opts.log(
          `the MCP server exited; answered ${openClientRequests.size} pending request(s) with an error`,
        );
      }
      for (const key of [...waiting.keys()]) stopWaiting(key);
      quietly(() => {
        for (const p of pendingCalls.values())
          store.recordOutcome(p.callId, { outcome: "no_answer", latencyMs: null });
      });
      quietly(() => store.updateSession(session.id, { endedAt: clock.now(), endReason: reason }));
      quietly(() => store.flush());
      void Promise.allSettled([client.close(), server.close()]).then(() => resolve());
    };
    client.onclose = () => end("client_disconnected");
    server.onclose = () => end("server_exited");
    client.onerror = (err) =>
      err instanceof BadInputError
        ? onBadInput("agent", err.bad)
        : opts.log(`agent side: ${err.message}`);
    server.onerror = (err) =>
      err instanceof BadInputError
        ? onBadInput("server", err.bad)
        : opts.log(`server side: ${err.message}`);
  });
  // The server first, so nothing from the agent arrives before there is somewhere to send it.
  try {
    await server.start();
  } catch (err) {
    // Nothing was relayed and the caller winds the session up (and may close the store): the
    // failed server's close event must not end it a second time.
    server.onclose = client.onclose = undefined;
    throw err;
  }
  await client.start();
  return { closed };
}

/** A listed tool's name; a server may send anything in place of a tool. */
function toolName(t: unknown): string | undefined {
  const name = t !== null && typeof t === "object" ? (t as { name?: unknown }).name : undefined;
  return typeof name === "string" ? name : undefined;
}

function noteOutputSchemas(tools: unknown[], into: Set<string>): void {
  for (const t of tools) {
    const name = toolName(t);
    if (name !== undefined && (t as { outputSchema?: unknown }).outputSchema !== undefined)
      into.add(name);
  }
}

/** The message with a tools/call's arguments redacted: the only place secrets travel. */
function redactMessage(message: JSONRPCMessage, redactor: Redactor): JSONRPCMessage {
  if (isRequest(message) && message.method === "tools/call" && message.params) {
    const p = message.params as { arguments?: unknown };
    if (p.arguments !== undefined) {
      return { ...message, params: { ...message.params, arguments: redactor.redact(p.arguments) } };
    }
  }
  return message;
}

/**
 * The first characters of a line that was turned away, with secret-looking values masked. The
 * line need not be JSON, so `"key": value` pairs are found by pattern (a string cut off at the
 * end counts too) and each is put to the redactor as {key: value}; a string that still holds
 * a token shape is then redacted whole.
 */
function redactHead(head: string, redactor: Redactor): unknown {
  const masked = head.replace(
    /"((?:[^"\\]|\\.)*)"\s*:\s*("(?:[^"\\]|\\.)*"?|[-+.\w]+)/g,
    (pair: string, key: string, value: string) => {
      const name = parseOr(`"${key}"`, key) as string;
      const probe = { [name]: parseOr(value, value.startsWith('"') ? value.slice(1) : value) };
      return redactor.redact(probe) === probe ? pair : `"${key}":"$redacted"`;
    },
  );
  return redactor.redact(masked);
}

function parseOr(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return fallback;
  }
}

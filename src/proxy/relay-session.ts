import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ErrorCode, type JSONRPCMessage, type RequestId } from "@modelcontextprotocol/sdk/types.js";
import type { Call, Decision } from "../engine/index.js";
import type { Direction } from "../store/types.js";
import { Approvals } from "./approvals.js";
import { AuditLog, AuditUnavailable } from "./audit.js";
import { denialResult } from "./denial.js";
import { ForwardedRequests, idKey } from "./forwarded.js";
import { isErrorResponse, isRequest, isResult } from "./guards.js";
import { approvalPrompt, redactHead } from "./redact-message.js";
import type { RelayOptions } from "./relay-options.js";
import type { BadInput } from "./bad-input.js";
import type { FlowControl } from "./backpressure.js";
import type { DecidedCall, DecisionRow, LookedUp } from "./counters.js";
import { type DecisionGroup, decisionGroup } from "./group-commit.js";
import { type Looked, SessionQueue } from "./session-queue.js";
import { realTimers } from "./timers.js";
import { ToolLists } from "./tool-lists.js";
import { readToolsCall, type ReadCall, type RefusedCall } from "./tools-call.js";

/** A backstop above MCP clients' usual request timeouts (the SDK's is 60 s). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;

/** JSON-RPC error code (implementation-defined server error) for a call the store could not log. */
export const AUDIT_UNAVAILABLE = -32000;

/**
 * Messages a session may hold behind its calls' lookups before the agent is no longer read
 * (backpressure, as toward a peer that does not read); read again at half.
 */
export const MAX_QUEUED = 4096;

/** JSON-RPC error code for a request that timed out (the MCP SDK's RequestTimeout). */
const REQUEST_TIMEOUT = -32001;

type Request = JSONRPCMessage & { id: RequestId; method: string; params?: unknown };

/** A message from the agent, recorded as message `seq`; `call`: what a tools/call asks for. */
interface Arrived {
  message: JSONRPCMessage;
  call: ReadCall | undefined;
  ts: number;
  seq: number;
}

/**
 * One MCP session between an agent and a server: every message is recorded and passed on,
 * except where the policy speaks (SPEC section 4). The session's state lives in its parts:
 * the requests forwarded and waiting for the server, the proxy's own approval requests, and
 * what the tools/list answers said.
 */
export class RelaySession {
  private readonly client: Transport;
  private readonly server: Transport;
  private readonly audit: AuditLog;
  private readonly forwarded: ForwardedRequests;
  private readonly approvals: Approvals;
  private readonly toolLists: ToolLists;
  private readonly requestTimeoutMs: number;
  private clientCanElicit = false;
  private ended = false;
  /**
   * The agent's messages in their order: each goes on once the calls before it have, so the
   * server sees the agent's order while the calls' lookups are out together.
   */
  private readonly queue: SessionQueue<Arrived, LookedUp>;
  /** Whether the agent is not read because the queue is over MAX_QUEUED. */
  private readingPaused = false;
  /** Where calls wait to be decided and committed with the others of their turn; null: at once. */
  private readonly group: DecisionGroup | null;
  /**
   * While calls of this session wait for their group's commit: what goes on after it, in the
   * order it came (those calls, and every message bound for the server); null otherwise.
   */
  private afterCommit: (() => void)[] | null = null;
  /** Calls of this session in the group not yet told their decision. */
  private inGroup = 0;
  /** Told when the session's calls in the group have all been told (see settled()). */
  private groupDone: (() => void)[] = [];

  constructor(private readonly opts: RelayOptions) {
    this.client = opts.client;
    this.server = opts.server;
    const timers = opts.timers ?? realTimers;
    this.audit = new AuditLog(opts.store, opts.session.id, opts.redactor, opts.log);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.forwarded = new ForwardedRequests(timers, this.requestTimeoutMs, (key) =>
      this.giveUp(key),
    );
    this.approvals = new Approvals(timers, opts.approvalTimeoutMs, (request) =>
      this.toClient(request, "proxy_to_client"),
    );
    this.toolLists = new ToolLists(opts.compiled, opts.session.identity);
    this.group = decisionGroup(opts.counters, opts.store);
    this.queue = new SessionQueue(
      (m, looked) => this.inTurn(m, looked),
      (err) => opts.log(`relaying the agent's message failed: ${String(err)}`),
    );
  }

  /** A message from the agent. `direction` is the proxy's own when it answers for the agent. */
  onClientMessage(
    message: JSONRPCMessage,
    direction: Direction = "client_to_server",
    arrivedAt?: number,
  ): void {
    const ts = arrivedAt ?? this.opts.clock.now();
    if ("method" in message && message.method === "tools/call") {
      const read = readToolsCall(message);
      if (!read.ok) return this.refuseCall(message, read, ts);
      const lookup = this.lookupOf(read, ts);
      // Asked first when its turn has come, so the message is recorded while the service answers.
      const looking = lookup && this.queue.canAsk ? lookup() : lookup;
      const seq = this.audit.message(direction, message, ts);
      this.queue.add({ message, call: read, ts, seq }, looking);
    } else {
      this.audit.message(direction, message, ts);
      this.queue.add({ message, call: undefined, ts, seq: 0 });
    }
    // An agent far ahead of the counter service is not read until the session catches up.
    if (this.queue.size > MAX_QUEUED) {
      this.readingPaused = true;
      (this.client as Partial<FlowControl>).pauseReading?.();
    }
  }

  /** Read the agent again once its queue is down to half, unless the server is not reading. */
  private caughtUp(): void {
    if (this.queue.size > MAX_QUEUED / 2) return;
    this.readingPaused = false;
    if ((this.server as { writesBlocked?: boolean }).writesBlocked !== true)
      (this.client as Partial<FlowControl>).resumeReading?.();
  }

  /**
   * The call's lookup at the counter service, started when its turn comes (in arrival order);
   * undefined when the counters need none. Once the session has ended nothing more is counted.
   */
  private lookupOf(call: ReadCall, ts: number): (() => Promise<LookedUp> | null) | undefined {
    const { counters } = this.opts;
    if (counters.lookup === undefined) return undefined;
    return () => (this.ended ? null : (counters.lookup?.(this.callInput(call), ts) ?? null));
  }

  /**
   * The agent's message in its turn: everything before it has gone, and a call's lookup has
   * answered. After the session's end only a call counted at the service goes on, to be
   * recorded.
   */
  private inTurn(m: Arrived, looked: Looked<LookedUp>): void {
    if (this.readingPaused) this.caughtUp();
    const { message, call } = m;
    if (call) {
      if ("failed" in looked) {
        // A lookup never rejects; should one, the call fails closed.
        this.opts.log(`the counter service failed: ${String(looked.failed)}`);
        return this.ended ? undefined : this.auditError(call.id, looked.failed);
      }
      if (this.ended && looked.looked === null) return;
      return this.onToolsCall(call, m.ts, m.seq, looked.looked ?? undefined);
    }
    if (this.ended) return;
    if (isRequest(message)) {
      if (message.method === "initialize") {
        const p = message.params as
          { capabilities?: { elicitation?: unknown } | null; clientInfo?: unknown } | undefined;
        this.clientCanElicit = p?.capabilities?.elicitation !== undefined;
        this.audit.updateSession({ clientInfo: p?.clientInfo ?? null });
      }
      if (message.method === "tools/list" && this.opts.mode === "enforce")
        this.toolLists.requested(message.id);
      return this.forward(message);
    }
    if ("method" in message && message.method === "notifications/cancelled" && !("id" in message))
      // The agent gave up: the server need not answer, so its clock stops.
      this.forwarded.cancelled((message.params as { requestId?: unknown } | undefined)?.requestId);
    if ((isResult(message) || isErrorResponse(message)) && message.id !== undefined) {
      if (this.approvals.take(message.id, message)) return;
    }
    this.toServer(message);
  }

  /** A message from the server. `direction` is the proxy's own when it answers for it. */
  onServerMessage(message: JSONRPCMessage, direction: Direction = "server_to_client"): void {
    const ts = this.opts.clock.now();
    this.audit.message(direction, message, ts);
    if ("method" in message && message.method === "notifications/progress" && !("id" in message))
      this.forwarded.progress(
        (message.params as { progressToken?: unknown } | undefined)?.progressToken,
      );
    if ((isResult(message) || isErrorResponse(message)) && message.id !== undefined) {
      const { late, call } = this.forwarded.answered(message.id);
      if (late) {
        this.opts.log(
          `the MCP server answered id ${idKey(message.id)} after the proxy gave up on it; recorded, not passed on`,
        );
        return;
      }
      if (call) {
        const isError =
          isResult(message) && (message.result as { isError?: unknown }).isError === true;
        this.audit.outcome(call.callId, {
          outcome: isErrorResponse(message) ? "error" : isError ? "tool_error" : "result",
          latencyMs: ts - call.ts,
        });
      }
      if (isResult(message)) {
        const { serverInfo, protocolVersion } = message.result as {
          serverInfo?: unknown;
          protocolVersion?: unknown;
        };
        if (serverInfo !== undefined && typeof protocolVersion === "string")
          this.audit.updateSession({ serverInfo, protocolVersion });
        return this.toClient(this.toolLists.answer(message));
      }
    }
    this.toClient(message);
  }

  /**
   * A line that one side sent and its transport could not pass on (not JSON, not JSON-RPC,
   * over a limit): said on stderr and recorded as a message without a method whose body is
   * {"$malformed": <its first characters, secrets masked>, reason, bytes}. Whoever would
   * otherwise wait is answered: the sender of an unreadable request gets a JSON-RPC error (the
   * agent gets one even when the id is unknown: id null, as JSON-RPC 2.0 says); the side
   * waiting for an unreadable answer gets an error in its place.
   */
  onBadInput(from: "agent" | "server", bad: BadInput): void {
    const seq = this.audit.nextSeq();
    this.audit.raw({
      session: this.opts.session.id,
      direction: from === "agent" ? "client_to_server" : "server_to_client",
      seq,
      ts: this.opts.clock.now(),
      method: null,
      jsonrpcId: bad.id === undefined ? null : idKey(bad.id),
      message: {
        $malformed: redactHead(bad.head, this.opts.redactor),
        reason: bad.reason,
        bytes: bad.bytes,
      },
    });
    const who = from === "agent" ? "the agent" : "the MCP server";
    this.opts.log(
      `${who} sent ${bad.kind === "oversized" ? "an" : "a"} ${bad.kind} message (${bad.bytes} bytes: ${bad.reason}); recorded as message ${seq}`,
    );
    if (bad.answered) return;
    if (bad.response && bad.id !== undefined) {
      const lost = errorMessage(
        bad.id,
        ErrorCode.InternalError,
        `policy-replay: ${who}'s answer could not be passed on (${bad.kind}: ${bad.reason})`,
      );
      if (from === "agent") this.onClientMessage(lost, "proxy_to_server");
      else if (this.forwarded.isOpen(bad.id)) this.onServerMessage(lost, "proxy_to_client");
      return;
    }
    const answer = errorMessage(
      bad.id ?? null,
      bad.notJson ? ErrorCode.ParseError : ErrorCode.InvalidRequest,
      `policy-replay: ${bad.notJson ? "Parse error" : "Invalid Request"} (${bad.kind}: ${bad.reason})`,
    );
    if (from === "agent") return this.toClient(answer, "proxy_to_client");
    if (bad.id !== undefined) {
      this.audit.message("proxy_to_server", answer, this.opts.clock.now());
      this.toServer(answer);
    }
  }

  /** The session is over (`reason` as recorded): nothing is left waiting, and it is written. */
  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    const { ids, calls } = this.forwarded.end();
    if (reason === "server_exited") {
      // Nobody will answer these now: say so rather than leave the agent waiting.
      for (const id of ids)
        this.toClient(
          errorMessage(id, ErrorCode.ConnectionClosed, "policy-replay: the MCP server exited"),
          "proxy_to_client",
        );
      this.opts.log(
        `the MCP server exited; answered ${ids.length} pending request(s) with an error`,
      );
    }
    for (const c of calls) this.audit.outcome(c.callId, { outcome: "no_answer", latencyMs: null });
    this.audit.updateSession({ endedAt: this.opts.clock.now(), endReason: reason });
    this.audit.flush();
  }

  /**
   * Resolves once the calls whose lookups were out at the end have their decisions recorded
   * (each was counted at the service), and written. Never rejects.
   */
  async settled(): Promise<void> {
    if (this.queue.size === 0 && this.inGroup === 0) return;
    await this.queue.idle();
    if (this.inGroup > 0) await new Promise<void>((resolve) => this.groupDone.push(resolve));
    this.audit.flush();
  }

  private callInput(call: ReadCall): Omit<Call, "ts"> {
    const { session } = this.opts;
    return {
      tool: call.tool,
      identity: session.identity,
      session: session.id,
      arguments: call.arguments,
    };
  }

  /** `looked`: what the counter service found for the call, when it was asked. */
  private onToolsCall(call: ReadCall, arrival: number, seq: number, looked?: LookedUp): void {
    if (this.group !== null) return this.joinGroup(this.group, call, arrival, seq, looked);
    this.decideCall(call, arrival, seq, looked);
  }

  /** The call goes with the others of this turn: decided and committed at its end. */
  private joinGroup(
    group: DecisionGroup,
    call: ReadCall,
    arrival: number,
    seq: number,
    looked: LookedUp | undefined,
  ): void {
    let result: { decided: DecidedCall } | { failed: unknown } | undefined;
    this.inGroup++;
    this.afterCommit ??= [];
    this.afterCommit.push(() => {
      if (result === undefined || "failed" in result)
        return this.auditError(call.id, result?.failed);
      this.decided(call, result.decided);
    });
    group.add({
      call: this.callInput(call),
      arrival,
      row: this.decisionRow(call, seq),
      looked,
      mustWrite: (write) => this.audit.mustWrite(write),
      settle: (r) => {
        result = r;
        if (--this.inGroup > 0) return;
        const after = this.afterCommit ?? [];
        this.afterCommit = null;
        for (const go of after) go();
        for (const resolve of this.groupDone.splice(0)) resolve();
      },
    });
  }

  /** The row that records `call`'s decision (see Counters.decide). */
  private decisionRow(call: ReadCall, seq: number): DecisionRow {
    const { opts } = this;
    const { session } = opts;
    return (ts, decision, counts, counterSeq) => ({
      session: session.id,
      seq,
      ts,
      identity: session.identity,
      tool: call.tool,
      arguments: opts.redactor.redact(call.arguments ?? null),
      jsonrpcId: idKey(call.id),
      mode: opts.mode,
      decision,
      counts,
      counterSeq,
    });
  }

  private decideCall(call: ReadCall, arrival: number, seq: number, looked?: LookedUp): void {
    const { opts } = this;
    let decided;
    try {
      // Decided, counted and written in one step; write-ahead: the decision is on disk before
      // the call can reach the server.
      decided = this.audit.mustWrite(() =>
        opts.counters.decide(
          this.callInput(call),
          arrival,
          opts.store,
          this.decisionRow(call, seq),
          looked,
        ),
      );
    } catch (err) {
      return this.auditError(call.id, err);
    }
    this.decided(call, decided);
  }

  /** A call's decision is committed: forward it, ask for approval, or deny it. */
  private decided(call: ReadCall, decided: DecidedCall): void {
    const { opts } = this;
    const { tool, id } = call;
    const { decision, callId, ts } = decided;
    // The session ended while Redis or the group commit was deciding: recorded, but nobody is
    // left to answer.
    if (this.ended) return this.audit.outcome(callId, { outcome: "no_answer", latencyMs: null });
    const forward = (): void => this.forward(call.forward as Request, { callId, ts });
    if (opts.mode === "observe" || decision.decision === "allow") return forward();
    if (decision.decision === "approval_required" && this.clientCanElicit) {
      const text = approvalPrompt(tool, decision.reason, call.arguments, opts.redactor);
      void this.approvals.ask(text).then((answer) => {
        // The session may have ended while the human thought it over: nothing left to answer.
        if (this.ended) return;
        try {
          this.audit.approval(callId, answer);
        } catch (err) {
          return this.auditError(id, err);
        }
        if (answer === "approved") forward();
        else this.deny(id, tool, decision, callId, ts);
      });
      return;
    }
    if (decision.decision === "approval_required") {
      try {
        this.audit.approval(callId, "unavailable");
      } catch {
        // Said on stderr; the call is denied either way.
      }
    }
    this.deny(id, tool, decision, callId, ts);
  }

  private deny(id: RequestId, tool: string, decision: Decision, callId: number, ts: number): void {
    // A hidden tool answers as an unknown tool would.
    const answer: JSONRPCMessage =
      decision.code === "hidden"
        ? errorMessage(id, ErrorCode.InvalidParams, `Tool ${tool} not found`)
        : {
            jsonrpc: "2.0",
            id,
            result: denialResult(tool, decision, this.toolLists.declaresNoOutputSchema(tool)),
          };
    this.toClient(answer, "proxy_to_client");
    this.audit.outcome(callId, { outcome: "denied", latencyMs: this.opts.clock.now() - ts });
  }

  /** Fail closed: a call whose decision or approval cannot be written is not forwarded. */
  private auditError(id: RequestId, err: unknown): void {
    const why = err instanceof AuditUnavailable ? err.why : String(err);
    this.toClient(
      errorMessage(id, AUDIT_UNAVAILABLE, `policy-replay: audit log unavailable: ${why}`),
      "proxy_to_client",
    );
  }

  /**
   * A tools/call that cannot be decided (SPEC section 4): recorded as malformed, never
   * forwarded; a request is answered with the JSON-RPC error, a notification dropped.
   */
  private refuseCall(message: JSONRPCMessage, refused: RefusedCall, ts: number): void {
    const seq = this.audit.nextSeq();
    this.audit.raw({
      session: this.opts.session.id,
      direction: "client_to_server",
      seq,
      ts,
      method: null,
      jsonrpcId: refused.id === undefined ? null : idKey(refused.id),
      message: { $malformed: this.opts.redactor.redact(message), reason: refused.reason },
    });
    this.opts.log(
      `the agent sent a tools/call that cannot be decided (${refused.reason}); ${refused.id === undefined ? "dropped" : "answered with an error"}, not forwarded; recorded as message ${seq}`,
    );
    if (refused.id === undefined) return;
    this.toClient(
      errorMessage(
        refused.id,
        refused.code,
        `policy-replay: invalid tools/call: ${refused.reason}`,
      ),
      "proxy_to_client",
    );
  }

  /** The server has not answered in time: answer the agent, cancel at the server. */
  private giveUp(key: string): void {
    if (this.ended) return;
    const gone = this.forwarded.giveUp(key);
    if (!gone) return;
    const seconds = this.requestTimeoutMs / 1000;
    this.opts.log(
      `the MCP server did not answer ${gone.method} (id ${key}) within ${seconds}s; answered the agent with an error and cancelled it`,
    );
    if (gone.call) this.audit.outcome(gone.call.callId, { outcome: "no_answer", latencyMs: null });
    this.toClient(
      errorMessage(
        gone.id,
        REQUEST_TIMEOUT,
        `policy-replay: the MCP server did not answer within ${seconds}s`,
      ),
      "proxy_to_client",
    );
    const cancel: JSONRPCMessage = {
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: gone.id, reason: `no answer within ${seconds}s (policy-replay)` },
    };
    this.audit.message("proxy_to_server", cancel, this.opts.clock.now());
    this.toServer(cancel);
  }

  /** A request from the agent goes on to the server, and its clock starts. */
  private forward(message: Request, call?: { callId: number; ts: number }): void {
    this.forwarded.add(message.id, message.method, message.params, call);
    this.toServer(message);
  }

  private toClient(message: JSONRPCMessage, direction: Direction = "server_to_client"): void {
    // Messages from the server were recorded as they arrived; the proxy's own are recorded here.
    if (direction !== "server_to_client")
      this.audit.message(direction, message, this.opts.clock.now());
    this.client
      .send(message)
      .catch((err: unknown) => this.opts.log(`sending to the agent failed: ${String(err)}`));
  }

  private toServer(message: JSONRPCMessage): void {
    // Nothing overtakes a call waiting for its commit: the server sees the agent's order.
    if (this.afterCommit !== null) {
      this.afterCommit.push(() => this.toServer(message));
      return;
    }
    this.server
      .send(message)
      .catch((err: unknown) => this.opts.log(`sending to the server failed: ${String(err)}`));
  }
}

/** A JSON-RPC error answer; id null answers a request whose id cannot be read. */
function errorMessage(id: RequestId | null, code: number, message: string): JSONRPCMessage {
  return { jsonrpc: "2.0", id, error: { code, message } } as JSONRPCMessage;
}

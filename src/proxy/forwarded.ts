import type { RequestId } from "@modelcontextprotocol/sdk/types.js";
import type { Timer, Timers } from "./timers.js";

/** The key of a JSON-RPC id in the relay's maps (1 and "1" are different ids). */
export const idKey = (id: RequestId): string => JSON.stringify(id);

/** A tools/call forwarded to the server: its decision row, to record how it ended. */
export interface ForwardedCall {
  callId: number;
  ts: number;
}

interface Waiting {
  method: string;
  timer: Timer;
  progressKey: string | undefined;
}

/**
 * The agent's requests that went on to the server and have no answer yet: their ids (to fail
 * them if the server goes away), their timeouts (restarted by progress), the tools/call rows
 * they belong to, and the ones the proxy gave up on (a late answer is not passed on).
 */
export class ForwardedRequests {
  private readonly open = new Map<string, RequestId>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly byProgressToken = new Map<string, string>();
  private readonly abandoned = new Set<string>();
  private readonly calls = new Map<string, ForwardedCall>();

  constructor(
    private readonly timers: Timers,
    /** 0: wait for ever. */
    private readonly timeoutMs: number,
    private readonly onTimeout: (key: string) => void,
  ) {}

  /** A request went to the server: its clock starts. */
  add(id: RequestId, method: string, params: unknown, call?: ForwardedCall): void {
    const key = idKey(id);
    this.open.set(key, id);
    if (call) this.calls.set(key, call);
    if (this.timeoutMs <= 0) return;
    const token = (params as { _meta?: { progressToken?: unknown } } | undefined)?._meta
      ?.progressToken;
    const progressKey =
      typeof token === "string" || typeof token === "number" ? idKey(token) : undefined;
    const timer = this.timers.start(this.timeoutMs, () => this.onTimeout(key));
    this.waiting.set(key, { method, timer, progressKey });
    if (progressKey !== undefined) this.byProgressToken.set(progressKey, key);
  }

  /** Progress means the server is working on it: its clock starts again. */
  progress(token: unknown): void {
    if (this.waiting.size === 0 || (typeof token !== "string" && typeof token !== "number")) return;
    const key = this.byProgressToken.get(idKey(token));
    if (key !== undefined) this.waiting.get(key)?.timer.refresh();
  }

  /** The agent cancelled it: the server need not answer, so its clock stops. */
  cancelled(requestId: unknown): void {
    if (typeof requestId === "string" || typeof requestId === "number")
      this.stopWaiting(idKey(requestId));
  }

  /**
   * The server answered `id`. `late`: the proxy gave up on it already (record it, pass nothing
   * on); otherwise the tools/call it answers, if it was one.
   */
  answered(id: RequestId): { late: boolean; call?: ForwardedCall } {
    const key = idKey(id);
    if (this.abandoned.delete(key)) return { late: true };
    this.stopWaiting(key);
    this.open.delete(key);
    const call = this.calls.get(key);
    this.calls.delete(key);
    return call ? { late: false, call } : { late: false };
  }

  /** Whether the agent still waits for an answer to `id` from the server. */
  isOpen(id: RequestId): boolean {
    return this.open.has(idKey(id));
  }

  /**
   * Give up on the request under `key` (its time ran out): it is abandoned, and what the agent
   * is owed is returned, or undefined if nothing is waiting any more.
   */
  giveUp(key: string): { id: RequestId; method: string; call?: ForwardedCall } | undefined {
    const w = this.waiting.get(key);
    const id = this.open.get(key);
    this.stopWaiting(key);
    if (!w || id === undefined) return undefined;
    this.open.delete(key);
    this.abandoned.add(key);
    const call = this.calls.get(key);
    this.calls.delete(key);
    return call ? { id, method: w.method, call } : { id, method: w.method };
  }

  /** The session ends: every clock stops; what was still open is returned. */
  end(): { ids: RequestId[]; calls: ForwardedCall[] } {
    for (const key of [...this.waiting.keys()]) this.stopWaiting(key);
    return { ids: [...this.open.values()], calls: [...this.calls.values()] };
  }

  private stopWaiting(key: string): void {
    const w = this.waiting.get(key);
    if (!w) return;
    w.timer.cancel();
    this.waiting.delete(key);
    if (w.progressKey !== undefined) this.byProgressToken.delete(w.progressKey);
  }
}

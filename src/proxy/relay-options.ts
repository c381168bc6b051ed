import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { CompiledPolicy } from "../engine/index.js";
import type { Counters } from "./counters.js";
import type { Mode, Redactor, Store } from "../store/types.js";
import type { Timers } from "./timers.js";

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
  /**
   * Where the counters live, shared by every session of this proxy (and, for the recording or
   * a counter service, by other proxies), so grant and global counters add up across them.
   */
  counters: Counters;
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
  /** Where the request and approval timeouts come from (tests drive them by hand). */
  timers?: Timers;
  /** Where the proxy says what went wrong (stderr in the CLI). */
  log: (line: string) => void;
}

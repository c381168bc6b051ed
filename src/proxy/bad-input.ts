import type { RequestId } from "@modelcontextprotocol/sdk/types.js";

// What a transport reports when it turns a line or body away: the relay records it as a
// malformed message and answers whoever would otherwise wait (RelaySession.onBadInput).

/** How much of a turned-away line is kept, for the log's reader and the recording. */
export const BAD_INPUT_HEAD_CHARS = 200;

/** A line turned away: not JSON, not a JSON-RPC message, nested too deep, or over the size
 * limit. */
export interface BadInput {
  kind: "malformed" | "oversized";
  /** The line's length in bytes. */
  bytes: number;
  /** Its first BAD_INPUT_HEAD_CHARS characters, as received (not redacted). */
  head: string;
  /** Why it was turned away, in words. */
  reason: string;
  /** The JSON-RPC id, when it could be told: the sender may be waiting on an answer to it. */
  id?: RequestId;
  /** It was an answer (it had a result or an error), not a request or notification. */
  response: boolean;
  /** It was not even JSON (for a JSON-RPC "Parse error" answer, rather than "Invalid Request"). */
  notJson: boolean;
  /** The transport has answered the sender already (HTTP: the 400 or 413 response). */
  answered?: boolean;
}

/** What a transport here passes to onerror for a line it turned away. */
export class BadInputError extends Error {
  constructor(readonly bad: BadInput) {
    super(`${bad.kind} message (${bad.bytes} bytes): ${bad.reason}`);
    this.name = "BadInputError";
  }
}

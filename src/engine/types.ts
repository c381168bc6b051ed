/** One `tools/call` as the engine sees it (SPEC section 2's inputs, minus the counters). */
export interface Call {
  tool: string;
  /** The session's identity; "anonymous" when the session has none (SPEC section 3). */
  identity: string;
  session: string;
  /** Arrival time, integer milliseconds since the Unix epoch. */
  ts: number;
  arguments?: unknown;
}

export type DecisionKind = "allow" | "deny" | "approval_required";

export type DecisionCode =
  | "hidden"
  | "rule_allow"
  | "rule_deny"
  | "approval_required"
  | "condition_deny"
  | "requirement_failed"
  | "rate_limited"
  | "counters_unavailable"
  | "default_allow"
  | "default_deny"
  | "default_approval";

export type Scope = "grant" | "session" | "global";

/** The limit that denied a call: which counter, how full it was, and against what. */
export interface LimitHit {
  /** The counter's name; `rate_limit(<pattern>)` for a rule's private shorthand counter. */
  counter: string;
  scope: Scope;
  algorithm: "sliding" | "fixed";
  window_ms: number;
  max: number;
  /** Calls already counted in the window when this call arrived. */
  count: number;
}

/** The outcome of deciding one call (SPEC section 2's outputs). */
export interface Decision {
  decision: DecisionKind;
  code: DecisionCode;
  /** The matched rule's pattern as written in the policy, or null (hidden, default_*). */
  rule: string | null;
  /** The rule's `reason`, when it has one and the call was not allowed. */
  reason: string | null;
  /**
   * For rate_limited: ms until the named limit's count drops below max; null if it never will.
   * For counters_unavailable: a hint of when the shared counters may answer again.
   */
  retry_after_ms: number | null;
  /** For rate_limited: the limit that denied. */
  limit: LimitHit | null;
  /** True when a condition looked at an argument value the recording does not hold in clear. */
  inexact: boolean;
}

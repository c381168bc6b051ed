import type { Decision, DecisionCode, DecisionKind } from "./types.js";

/** A decision without a rate-limit hit. */
export function plain(
  decision: DecisionKind,
  code: DecisionCode,
  rule: string | null,
  reason: string | null,
  inexact: boolean,
): Decision {
  return { decision, code, rule, reason, retry_after_ms: null, limit: null, inexact };
}

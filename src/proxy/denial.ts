import type { Decision } from "../engine/index.js";

/** The machine-readable facts of a denial, as the agent receives them. */
export interface DenialFacts {
  decision: Decision["decision"];
  code: Decision["code"];
  rule: string | null;
  reason: string | null;
  retry_after_ms: number | null;
  counter: string | null;
}

/**
 * The tool result a denied call gets instead of the server's (SPEC section 4): isError, a text
 * a model can read and adapt to, and the same facts machine-readable in _meta, and in
 * structuredContent when `structured`: only for a tool known to declare no outputSchema, since
 * clients check structuredContent against a tool's outputSchema even on errors (the SDK's
 * Client does, whenever it has the schema from a tools/list, of this session or an earlier one).
 */
export function denialResult(
  tool: string,
  d: Decision,
  structured: boolean,
): Record<string, unknown> {
  const facts: DenialFacts = {
    decision: d.decision,
    code: d.code,
    rule: d.rule,
    reason: d.reason,
    retry_after_ms: d.retry_after_ms,
    counter: d.limit?.counter ?? null,
  };
  const what =
    d.decision === "approval_required"
      ? "needs a human's approval, and none was given"
      : d.code === "rate_limited"
        ? "was rate-limited"
        : d.code === "counters_unavailable"
          ? "was refused: its limits could not be checked, the shared counters did not answer"
          : "was denied by policy";
  let text = `policy-replay: the call to ${tool} ${what} (${d.code}${d.rule ? `, rule "${d.rule}"` : ""})`;
  if (d.reason) text += `: ${d.reason}`;
  if (d.retry_after_ms !== null)
    text += `. It can be retried in ${Math.ceil(d.retry_after_ms / 1000)} s`;
  text += ".";
  return {
    content: [{ type: "text", text }],
    isError: true,
    ...(structured ? { structuredContent: { policy: facts } } : {}),
    _meta: { "policy-replay/decision": facts },
  };
}

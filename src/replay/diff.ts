import type { Decision, DecisionKind } from "../engine/index.js";
import type {
  ApprovalAnswer,
  ChangeClass,
  GateClass,
  Outcome,
  RecordedDecision,
  VisibilityClass,
} from "./types.js";

export type { ChangeClass, GateClass, Outcome, VisibilityClass } from "./types.js";

export const CHANGE_CLASSES = [
  "tightened",
  "loosened",
  "changed",
] as const satisfies readonly ChangeClass[];

export const VISIBILITY_CLASSES = [
  "hidden",
  "unhidden",
] as const satisfies readonly VisibilityClass[];

/** Every class `--fail-on` and `--only` take (`all`): the calls' classes, then the lists'. */
export const GATE_CLASSES = [
  ...CHANGE_CLASSES,
  ...VISIBILITY_CLASSES,
] as const satisfies readonly GateClass[];

/** Whether a gate class is one of a changed call (not of a tool list). */
export function isChangeClass(c: GateClass): c is ChangeClass {
  return c !== "hidden" && c !== "unhidden";
}

/**
 * Apply a recorded approval answer (SPEC section 5): a call sent to approval for which the
 * recording holds a human answer is decided by that answer; the code still says it went
 * through approval. With `into`, that outcome is refilled and returned instead of a new one.
 */
export function withApproval(
  d: Decision | RecordedDecision,
  answer: ApprovalAnswer | null,
  into?: Outcome,
): Outcome {
  const answered = d.decision === "approval_required" && answer !== null;
  const decision = answered ? (answer === "approved" ? "allow" : "deny") : d.decision;
  const retry = answered ? null : d.retry_after_ms;
  const approval = answered ? answer : null;
  if (into === undefined) {
    return { decision, code: d.code, rule: d.rule, retry_after_ms: retry, approval };
  }
  into.decision = decision;
  into.code = d.code;
  into.rule = d.rule;
  into.retry_after_ms = retry;
  into.approval = approval;
  return into;
}

const STRICTNESS: Record<DecisionKind, number> = { allow: 0, approval_required: 1, deny: 2 };

/**
 * Class of the change from `before` to `after` (SPEC section 6), or null when they agree.
 * SPEC names allow <-> deny/approval; between deny and approval_required we class by
 * strictness too: deny -> approval_required is loosened (a human may now let it through),
 * approval_required -> deny is tightened. A different retry time alone is not a change.
 */
export function classify(before: Outcome, after: Outcome): ChangeClass | null {
  if (before.decision === after.decision) {
    return before.code === after.code && before.rule === after.rule ? null : "changed";
  }
  return STRICTNESS[after.decision] > STRICTNESS[before.decision] ? "tightened" : "loosened";
}

/**
 * Whether the agent could have told the compared decisions apart (SPEC section 6), so that the
 * rest of its session may have gone differently: another decision, or a refusal (a denial, or
 * an approval no human gave) with another code or reason. An allow is an allow under any rule.
 * `before` and `after` are the outcomes, `against` and `decision` the decisions they came from,
 * for their reasons. A recorded decision does not keep its reason: then a refusal by another
 * rule counts as seen, since its reason may have differed.
 */
export function agentSees(
  before: Outcome,
  after: Outcome,
  against: Decision | RecordedDecision,
  decision: Decision,
): boolean {
  if (before.decision !== after.decision) return true;
  if (after.decision === "allow") return false;
  if (before.code !== after.code) return true;
  return "reason" in against ? against.reason !== decision.reason : before.rule !== after.rule;
}

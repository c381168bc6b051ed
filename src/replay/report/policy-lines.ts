import { decidingLines } from "../../policy/deciding-line.js";
import type { CallResult } from "../replay.js";

/** Where in the candidate policy the decision of a result was made: a 1-based line, or null. */
export type PolicyLineOf = (r: CallResult) => number | null;

/**
 * The line of the candidate policy's text that decided each result (see decidingLines): the
 * rule's key, the `hide` list or the `default`, in the identity's grant first.
 */
export function policyLines(text: string): PolicyLineOf {
  const lineOf = decidingLines(text);
  return (r) => lineOf(r.source.call.identity, r.after.rule, r.after.code);
}

import type { DecisionCode, DecisionKind } from "../../engine/index.js";

/**
 * What a finding says NEW gives that OLD did not: a call allowed (from a denial, a hidden tool
 * or an approval), a call sent to approval that was denied, a hidden tool now listed, a call
 * allowed for arguments OLD's conditions denied, or a run of calls that OLD's limits stopped.
 */
export type FindingClass =
  "newly_allowed" | "newly_approvable" | "newly_visible" | "arguments_allowed" | "limits_loosened";

export const CLASS_ORDER: readonly FindingClass[] = [
  "newly_allowed",
  "newly_approvable",
  "newly_visible",
  "arguments_allowed",
  "limits_loosened",
];

/** A decision as a finding states it. */
export interface Outcome {
  decision: DecisionKind;
  code: DecisionCode;
  /** The deciding rule's pattern, or null (hidden, default). */
  rule: string | null;
}

/** One call of an example: who, what, when (ms after the example's start), where, with what. */
export interface ExampleCall {
  identity: string;
  tool: string;
  session: string;
  offset_ms: number;
  arguments: Record<string, unknown>;
}

export interface Finding {
  class: FindingClass;
  identity: string;
  /** The identity is a generated stand-in for every identity no grant names. */
  other_identity: boolean;
  tool: string;
  /** The tool is a generated stand-in for every name these patterns (and no others) match. */
  generated_tool: boolean;
  /** The patterns of either policy that match the tool. */
  patterns: string[];
  /** OLD's decision of the example's call `decisive` (the one OLD does not allow). */
  old: Outcome;
  /** NEW's decision of that same call. */
  new: Outcome;
  /** Calls that NEW decides as `new` says (all allowed, for a sequence) and OLD does not. */
  example: ExampleCall[];
  /** Index in `example` of the call OLD decides as `old` says. */
  decisive: number;
  /** No condition of either policy looks at this call's arguments: any arguments do. */
  any_arguments: boolean;
  /** For limits: how the limits of the two rules differ, in words. */
  limits?: string[];
}

/** A call the comparison could not settle either way, and why. */
export interface Undecided {
  identity: string;
  tool: string;
  why: string;
}

export interface CompareResult {
  findings: Finding[];
  undecided: Undecided[];
  identities: string[];
  tools: number;
  /** Every set of patterns a name can match has a tool here. */
  tools_complete: boolean;
  /** The search seed for call sequences. */
  seed: number;
  /** Findings whose example did not replay as claimed: bugs, never printed as findings. */
  internal_errors: string[];
}

/** The start of every example: a UTC day boundary, so fixed windows start on it too. */
export const EXAMPLE_START = Date.UTC(2025, 0, 1);

/** The session of an identity's k-th session in an example. */
export const sessionOf = (identity: string, k = 1): string => `${identity}/s${k}`;

import type { ReadOpenOptions } from "../../store/sqlite.js";
import { buildSuggestion, type SuggestOptions, type Suggestion } from "./build.js";
import {
  emptySuggestEvidence,
  readEvidence,
  type SuggestEvidence,
  type SuggestFilter,
  type SuggestSource,
} from "./evidence.js";
import { summaryText } from "./summary.js";

export type { SuggestFilter, SuggestSource } from "./evidence.js";
export type { SuggestOptions, Suggestion } from "./build.js";
export { parseHeadroom } from "./rates.js";

export interface SuggestResult {
  evidence: SuggestEvidence;
  suggestion: Suggestion;
  /** What was allowed on what evidence, what hidden: for stderr. */
  summary: string;
}

/**
 * A least-privilege policy from the calls the recordings hold: read the evidence, build the
 * rules, measure the rates. `schema` is the policy's `$schema` value. Throws StoreError (exit 2)
 * for a recording that cannot be read.
 */
export function suggestPolicy(
  sources: readonly SuggestSource[],
  filter: SuggestFilter,
  opts: SuggestOptions & { schema: string },
  readOpts: ReadOpenOptions = {},
): SuggestResult {
  const evidence = emptySuggestEvidence();
  readEvidence(sources, filter, evidence, readOpts);
  const suggestion = buildSuggestion(evidence, sources, filter, opts, opts.schema, readOpts);
  return { evidence, suggestion, summary: summaryText(evidence, suggestion, opts.headroom) };
}

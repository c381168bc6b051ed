import type { CallResult } from "../replay.js";
import type { Summary, SummaryBuilder } from "../summary.js";
import type { GateClass } from "../diff.js";

/** What a report says about the run besides the results: which files, which gate. */
export interface ReportContext {
  candidate: string;
  baseline: string | null;
  source: string;
  failOn: GateClass[];
  /** How many changed calls the text, markdown and github reports list; Infinity for all. */
  show: number;
  /**
   * The classes of change those reports and JUnit list (--only), of calls and of tool lists;
   * every class when absent.
   */
  only?: readonly GateClass[];
  /** The accept list (--accept) as named on the command line, if any. */
  accept?: string | null;
  /** The candidate policy's text, so reports can point at the rule that decided a call. */
  candidateText?: string;
}

/** A report being written: results go in as they are decided; finish() writes the rest. */
export interface ReportWriter {
  add(result: CallResult): void;
  finish(): Summary;
}

/**
 * One view of a replay (a format, a short summary...): it sees each result, then the summary.
 * Several parts can share one SummaryBuilder through combine().
 */
export interface ReportPart {
  add(result: CallResult): void;
  finish(summary: Summary): void;
}

/** A ReportWriter feeding `builder` and every part; finish() ends them in order. */
export function combine(builder: SummaryBuilder, parts: ReportPart[]): ReportWriter {
  const [only] = parts;
  if (parts.length === 1 && only) {
    // The usual case; no loop on the per-call path.
    return {
      add(r) {
        builder.add(r);
        only.add(r);
      },
      finish() {
        const s = builder.finish();
        only.finish(s);
        return s;
      },
    };
  }
  return {
    add(r) {
      builder.add(r);
      for (const p of parts) p.add(r);
    },
    finish() {
      const s = builder.finish();
      for (const p of parts) p.finish(s);
      return s;
    },
  };
}

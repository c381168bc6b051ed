import type { CallResult } from "../replay.js";
import type { Summary } from "../summary.js";
import type { ChangeClass } from "../diff.js";

/** What a report says about the run besides the results: which files, which gate. */
export interface ReportContext {
  candidate: string;
  baseline: string | null;
  source: string;
  failOn: ChangeClass[];
  /** How many changed calls the text report lists; Infinity for all. */
  show: number;
}

/** A report being written: results go in as they are decided; finish() writes the rest. */
export interface ReportWriter {
  add(result: CallResult): void;
  finish(): Summary;
}

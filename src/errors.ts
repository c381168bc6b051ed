/**
 * Local errors carry a string code (stable, for tests and machine output) and an exit code
 * (what the CLI returns when the error is fatal). Wire errors keep their JSON-RPC numeric codes
 * and are not modelled here.
 */
export abstract class PolicyReplayError extends Error {
  abstract readonly code: string;
  /** Exit code of the CLI when this error ends the run (SPEC section 8: 2 for bad input). */
  readonly exitCode: number = 2;
}

/** The command line itself is wrong: unknown flag, missing value, conflicting options. */
export class UsageError extends PolicyReplayError {
  readonly code = "usage";
}

/** One fault found in an input file, located as precisely as the input allows. */
export interface Fault {
  /** JSON path inside the document (`tools.fleet_*.limits[0].window`), or "" for the whole. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** A policy file that cannot be used: unreadable, not JSON, or not valid per SPEC section 1. */
export class PolicyError extends PolicyReplayError {
  readonly code = "policy_invalid";
  constructor(
    readonly file: string,
    readonly faults: Fault[],
  ) {
    super(formatFaults(file, faults));
  }
}

/** A calls file (JSONL trace) or other input that cannot be read or is malformed. */
export class InputError extends PolicyReplayError {
  readonly code = "input_invalid";
  constructor(
    readonly file: string,
    readonly faults: Fault[],
  ) {
    super(formatFaults(file, faults));
  }
}

/** `file:line:col: path: message`, one line per fault, the way compilers print them. */
export function formatFaults(file: string, faults: Fault[]): string {
  return faults
    .map((f) => {
      let where = file;
      if (f.line !== undefined) where += `:${f.line}`;
      if (f.line !== undefined && f.column !== undefined) where += `:${f.column}`;
      return f.path ? `${where}: ${f.path}: ${f.message}` : `${where}: ${f.message}`;
    })
    .join("\n");
}

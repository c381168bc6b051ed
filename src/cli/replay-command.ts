import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { compile } from "../engine/index.js";
import { UsageError } from "../errors.js";
import { loadPolicyFile } from "../policy/load.js";
import { loadAcceptFile } from "../replay/accept.js";
import { CHANGE_CLASSES, type ChangeClass } from "../replay/diff.js";
import { createReplayer } from "../replay/replay.js";
import type { ReportContext } from "../replay/report/context.js";
import { SummaryBuilder } from "../replay/summary.js";
import { readTrace } from "../replay/trace.js";
import type { Io } from "./io.js";
import { type Format, openReport } from "./report-output.js";

export { FORMATS, type Format } from "./report-output.js";

/** The default source when neither --calls nor --db is given: the recording shipped with the project. */
export const DEFAULT_DB = "recordings/demo.sqlite";

export interface ReplayCommandOptions {
  policy: string;
  calls?: string;
  /** A SQLite recording (from `policy-replay record`) instead of a JSONL trace. */
  db?: string;
  baseline?: string;
  format: Format;
  failOn: ChangeClass[];
  show: number;
  /** An accept list: changes it names still show, but never fail the gate. */
  accept?: string;
  /** Write the full report here; stdout then gets the headline and the gate. */
  out?: string;
}

/** Parse `--fail-on` ("tightened,loosened", "all", "none"). */
export function parseFailOn(value: string): ChangeClass[] {
  const v = value.trim();
  if (v === "none" || v === "") return [];
  if (v === "all") return [...CHANGE_CLASSES];
  const out: ChangeClass[] = [];
  for (const part of v.split(",").map((p) => p.trim())) {
    if (!(CHANGE_CLASSES as readonly string[]).includes(part)) {
      throw new UsageError(
        `--fail-on: unknown class "${part}"; use any of ${CHANGE_CLASSES.join(", ")}, or all, or none`,
      );
    }
    if (!out.includes(part as ChangeClass)) out.push(part as ChangeClass);
  }
  return out;
}

/** Parse `--show` (a count, or "all"). */
export function parseShow(value: string): number {
  if (value === "all") return Infinity;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--show: expected a whole number or "all", not "${value}"`);
  return n;
}

/**
 * `policy-replay --policy P [--calls F | --db F] [--baseline B]`: replay, diff, report;
 * resolves to the exit code (0 pass, 1 the gate failed). Bad input rejects with a
 * PolicyReplayError (exit 2).
 */
export async function replayCommand(opts: ReplayCommandOptions, io: Io): Promise<number> {
  if (opts.calls !== undefined && opts.db !== undefined) {
    throw new UsageError("--calls and --db: replay one source at a time");
  }
  const candidate = loadPolicyFile(resolve(io.cwd, opts.policy));
  const baseline = opts.baseline ? loadPolicyFile(resolve(io.cwd, opts.baseline)) : null;
  const accept = opts.accept ? loadAcceptFile(resolve(io.cwd, opts.accept), opts.accept) : null;
  const db = opts.calls === undefined ? (opts.db ?? DEFAULT_DB) : undefined;
  const callsFile = db ?? opts.calls!;
  const callsPath = resolve(io.cwd, callsFile);
  if (opts.calls === undefined && opts.db === undefined && !existsSync(callsPath)) {
    throw new UsageError(
      `no calls to replay: pass --db FILE or --calls FILE (the default ${DEFAULT_DB} does not exist in ${io.cwd})`,
    );
  }
  const ctx: ReportContext = {
    candidate: opts.policy,
    baseline: opts.baseline ?? null,
    source: callsFile,
    failOn: opts.failOn,
    show: opts.show,
    accept: opts.accept ?? null,
    candidateText: candidate.text,
  };
  const step = createReplayer({
    candidate: compile(candidate.policy),
    ...(baseline ? { baseline: compile(baseline.policy) } : {}),
    file: callsFile,
  });
  const builder = new SummaryBuilder(baseline ? "baseline" : "recorded", opts.failOn);
  // The SQLite reader is loaded only for recordings: JSONL replays never pay for it.
  const source = db
    ? (await import("../replay/recording.js")).readRecording(callsPath)
    : readTrace(callsPath, callsFile);
  const report = openReport(
    {
      format: opts.format,
      ctx,
      builder,
      accept,
      ...(opts.out !== undefined ? { out: opts.out } : {}),
    },
    io,
  );
  try {
    for (const tc of source) report.add(step(tc));
  } catch (err) {
    report.abort();
    throw err;
  }
  const summary = report.finish();
  return summary.gate.failed ? 1 : 0;
}

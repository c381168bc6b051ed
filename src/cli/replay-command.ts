import { resolve } from "node:path";
import { compile } from "../engine/index.js";
import { UsageError } from "../errors.js";
import { type LoadedPolicy, loadPolicyFile } from "../policy/load.js";
import { loadAcceptFile } from "../replay/accept.js";
import type { GateClass } from "../replay/diff.js";
import { type CallFilter, filterCalls, isEmptyFilter } from "../replay/filter.js";
import { type CallResult, createReplayer, warmUpSpan } from "../replay/replay.js";
import type { ReportContext } from "../replay/report/context.js";
import { type Summary, SummaryBuilder } from "../replay/summary.js";
import { readTrace } from "../replay/trace.js";
import type { TraceCall } from "../replay/types.js";
import { ListedCalls, unknownVisibility } from "../replay/visibility.js";
import type { RunRecord, RunResultRecord, RunWriter } from "../store/runs.js";
import type { Io } from "./io.js";
import { type Format, openReport } from "./report-output.js";
import { type Recordings, resolveRecordings, upgradeNotice } from "./sources.js";
import { spoolStdin, STDIN_NAME } from "./stdin.js";

export { DEFAULT_DB } from "./sources.js";

export { FORMATS, type Format } from "./report-output.js";

export interface ReplayCommandOptions {
  policy: string;
  calls?: string;
  /** SQLite recordings or directories of them (from `policy-replay record`); default recordings/. */
  db?: string[];
  baseline?: string;
  format: Format;
  failOn: GateClass[];
  show: number;
  /** The classes of change the report lists (--only); every class when absent. */
  only?: GateClass[];
  /** An accept list: changes it names still show, but never fail the gate. */
  accept?: string;
  /** Write the full report here; stdout then gets the headline and the gate. */
  out?: string;
  filter?: CallFilter;
  /** Save the run beside the recordings it read, in their runs files (default true; --no-save). */
  save?: boolean;
}

export { parseFailOn, parseShow } from "./options.js";

/**
 * `policy-replay --policy P [--calls F | --db F...] [--baseline B] [filters]`: replay, diff,
 * report, and save the run beside the recordings read (each one's runs file; the recordings
 * are only read); resolves to the exit code (0 pass, 1 the gate failed). Bad input rejects
 * with a PolicyReplayError (exit 2). A run that cannot be saved (a read-only directory) is
 * said on stderr and does not change the exit code. `--calls -` reads the trace from stdin.
 */
export async function replayCommand(opts: ReplayCommandOptions, io: Io): Promise<number> {
  if (opts.calls !== undefined && opts.db !== undefined && opts.db.length > 0) {
    throw new UsageError("--calls and --db: replay one source at a time");
  }
  if (opts.calls !== "-") return replay(opts, io, opts.calls);
  const stdin = await spoolStdin(io);
  try {
    return await replay({ ...opts, calls: stdin.path }, io, STDIN_NAME);
  } finally {
    stdin.remove();
  }
}

/** replayCommand, with a trace (if any) named `callsName` in reports and messages. */
async function replay(
  opts: ReplayCommandOptions,
  io: Io,
  callsName: string | undefined,
): Promise<number> {
  const candidate = loadPolicyFile(resolve(io.cwd, opts.policy));
  const baseline = opts.baseline ? loadPolicyFile(resolve(io.cwd, opts.baseline)) : null;
  const accept = opts.accept ? loadAcceptFile(resolve(io.cwd, opts.accept), opts.accept) : null;
  const filter = opts.filter ?? {};
  const recordings = opts.calls === undefined ? resolveRecordings(opts.db, io.cwd) : null;
  const source = recordings ? recordings.label : callsName!;
  const ctx: ReportContext = {
    candidate: opts.policy,
    baseline: opts.baseline ?? null,
    source,
    failOn: opts.failOn,
    show: opts.show,
    ...(opts.only ? { only: opts.only } : {}),
    accept: opts.accept ?? null,
    candidateText: candidate.text,
  };
  const compiledCandidate = compile(candidate.policy);
  const compiledBaseline = baseline ? compile(baseline.policy) : null;
  const needsArguments =
    compiledCandidate.needsArguments || (compiledBaseline?.needsArguments ?? false);
  const read = async (f: CallFilter): Promise<Iterable<TraceCall>> => {
    if (!recordings) {
      // Each call is done with before the next is read (reports keep copies).
      const trace = readTrace(resolve(io.cwd, opts.calls!), callsName, true);
      return isEmptyFilter(f) ? trace : filterCalls(trace, f);
    }
    // The SQLite reader is loaded only for recordings: JSONL replays never pay for it.
    const { readRecordings } = await import("../replay/recording.js");
    return readRecordings(recordings.paths, {
      filter: f,
      onUpgrade: upgradeNotice(io),
      arguments: needsArguments,
      argumentsFor: baseline ? [candidate.policy, baseline.policy] : [candidate.policy],
    });
  };
  // A range that starts later than the recording: the calls of the preceding longest window
  // are decided first, undiffed, so its first calls meet the counters they met live.
  const span = warmUpSpan(compiledCandidate, compiledBaseline);
  const warmUp =
    filter.since !== undefined && span > 0
      ? await read({ ...filter, since: filter.since - span, until: filter.since })
      : undefined;
  const step = createReplayer({
    candidate: compiledCandidate,
    ...(compiledBaseline ? { baseline: compiledBaseline } : {}),
    file: source,
    ...(warmUp ? { warmUp } : {}),
    reuse: true,
  });
  const builder = new SummaryBuilder(baseline ? "baseline" : "recorded", opts.failOn);
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

  const calls = await read(filter);
  let writer: RunWriter | null = null;
  // Started now, so the thread is ready when the first results come; it opens the files only
  // then, after the stream has checked (and upgraded) them.
  if (recordings && opts.save !== false)
    writer = new (await import("../store/runs.js")).RunWriter(recordings.paths);
  const perFile: number[] = recordings ? recordings.paths.map(() => 0) : [];
  // Each identity's calls of each tool, for the tool lists; a trace has none to compare.
  const listed = recordings ? new ListedCalls() : null;
  // How often to ask whether stdout is keeping up: a report's 1 MiB chunk holds about 3,000 calls.
  const CHECK_EVERY = 1024;
  let n = 0;
  try {
    if (writer) {
      for (const tc of calls) {
        const r = step(tc);
        report.add(r);
        listed?.add(tc);
        perFile[tc.file ?? 0]!++;
        if ((r.change !== null || r.inexact) && r.before) writer.add(tc.file ?? 0, resultRecord(r));
        if (++n % CHECK_EVERY === 0) await report.ready();
      }
    } else if (listed) {
      for (const tc of calls) {
        report.add(step(tc));
        listed.add(tc);
        if (++n % CHECK_EVERY === 0) await report.ready();
      }
    } else {
      for (const tc of calls) {
        report.add(step(tc));
        if (++n % CHECK_EVERY === 0) await report.ready();
      }
    }
    // After the calls: the answers are few, and the calls' reader has the disk to itself.
    builder.visibility(
      recordings
        ? (await import("../replay/recording.js")).compareToolLists(recordings.paths, {
            candidate: { loaded: candidate, compiled: compiledCandidate },
            baseline:
              baseline && compiledBaseline
                ? { loaded: baseline, compiled: compiledBaseline }
                : null,
            filter,
            calls: listed,
          })
        : unknownVisibility(),
    );
  } catch (err) {
    report.abort();
    await writer?.close();
    throw err;
  }
  try {
    // The run's results are written while the report is made.
    writer?.write();
    const summary = report.finish();
    if (writer && recordings) {
      await saveRuns(recordings, writer, perFile, summary, {
        opts,
        candidate,
        baseline,
        filter,
        io,
      });
    }
    return summary.gate.failed ? 1 : 0;
  } finally {
    await writer?.close();
  }
}

function resultRecord(r: CallResult): RunResultRecord {
  const b = r.before!;
  return {
    call: r.source.line,
    class: r.change,
    oldDecision: b.decision,
    oldCode: b.code,
    oldRule: b.rule,
    newDecision: r.after.decision,
    newCode: r.after.code,
    newRule: r.after.rule,
    newReason: r.decision.reason,
    newRetryAfterMs: r.after.retry_after_ms,
    counterfactual: r.counterfactual,
    inexact: r.inexact,
  };
}

/** Save the run beside each recording read; a file that cannot be written is said, not fatal. */
async function saveRuns(
  recordings: Recordings,
  writer: RunWriter,
  perFile: number[],
  summary: Summary,
  run: {
    opts: ReplayCommandOptions;
    candidate: LoadedPolicy;
    baseline: LoadedPolicy | null;
    filter: CallFilter;
    io: Io;
  },
): Promise<void> {
  const { opts, candidate, baseline, filter, io } = run;
  const createdAt = Date.now();
  const runs = recordings.paths.map((_, i): RunRecord => ({
    createdAt,
    policy: { hash: candidate.hash, path: opts.policy, text: candidate.text },
    baseline:
      baseline && opts.baseline
        ? { hash: baseline.hash, path: opts.baseline, text: baseline.text }
        : null,
    options: {
      filters: {
        sessions: filter.sessions ?? null,
        identities: filter.identities ?? null,
        tools: filter.tools ?? null,
        since: filter.since ?? null,
        until: filter.until ?? null,
      },
      fail_on: opts.failOn,
      // The tools that appear in or disappear from an identity's tools/list, run-wide.
      ...(summary.visibility
        ? {
            visibility: {
              hidden: summary.visibility.hidden,
              unhidden: summary.visibility.unhidden,
            },
          }
        : {}),
      sources: recordings.names,
      // Which of the sources this file is, and how many of the run's calls it held.
      source: i,
      source_calls: perFile[i] ?? 0,
    },
    calls: summary.calls,
    sessions: summary.sessions,
    tightened: summary.changes.tightened,
    loosened: summary.changes.loosened,
    changed: summary.changes.changed,
    counterfactual: summary.counterfactual_changes,
    inexact: summary.inexact,
    gateFailed: summary.gate.failed,
  }));
  const saved = await writer.save(runs);
  saved.forEach((s, i) => {
    if (typeof s === "number" || s === null) return;
    // Said with the runs file named as the user named its recording.
    const path = s.file;
    const reason = s.message.startsWith(`${path}: `) ? s.message.slice(path.length + 2) : s.message;
    const name = recordings.names[i]! + path.slice(recordings.paths[i]!.length);
    io.stderr.write(`policy-replay: run not saved in ${name}: ${reason}\n`);
  });
}

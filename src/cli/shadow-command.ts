import { resolve } from "node:path";
import { UsageError } from "../errors.js";
import { loadPolicyFile } from "../policy/load.js";
import type { GateClass } from "../replay/diff.js";
import type { CallFilter } from "../replay/filter.js";
import type { ReportContext } from "../replay/report/context.js";
import { ShadowSource } from "../replay/shadow.js";
import { SummaryBuilder } from "../replay/summary.js";
import type { Io } from "./io.js";
import { type Format, openReport } from "./report-output.js";
import { resolveRecordings, upgradeNotice } from "./sources.js";

export interface ShadowCommandOptions {
  /** Recordings or directories of them; default recordings/. */
  db?: string[];
  format: Format;
  failOn: GateClass[];
  show: number;
  only?: GateClass[];
  out?: string;
  filter?: CallFilter;
  /**
   * The shadow policy's file: reports name it (GitHub annotations point at its rules), and
   * only the sessions shadowed under its text are compared.
   */
  policy?: string;
}

/**
 * `policy-replay shadow`: report the shadow decisions recorded beside the enforced ones, with
 * replay's report formats and gate (the enforced decision stands where a replay has the
 * recorded one). Resolves to the exit code: 1 when the gate fails. Calls recorded without a
 * shadow decision are not compared, and said on stderr.
 */
export async function shadowCommand(opts: ShadowCommandOptions, io: Io): Promise<number> {
  const recordings = resolveRecordings(opts.db, io.cwd, "pass --db FILE or a directory");
  const named = opts.policy === undefined ? null : loadPolicyFile(resolve(io.cwd, opts.policy));
  const source = new ShadowSource(recordings.paths, {
    ...(opts.filter ? { filter: opts.filter } : {}),
    ...(named ? { policyHash: named.hash } : {}),
    onUpgrade: upgradeNotice(io),
  });
  try {
    if (named && !source.policies.has(named.hash)) {
      const recorded = [...source.policies.keys()].map(shortHash).join(", ") || "none";
      throw new UsageError(
        `--policy ${opts.policy}: no session of ${recordings.label} was shadowed under this policy (${shortHash(named.hash)}; recorded: ${recorded})`,
      );
    }
    // Nothing to compare is a misconfigured job, not a pass: a gate over no calls proves nothing.
    if (source.policies.size === 0) {
      throw new UsageError(
        `${recordings.label}: no shadow decisions recorded (record with --shadow CANDIDATE.json to have some)`,
      );
    }
    const policies = named ? [[named.hash, named.text] as const] : [...source.policies];
    const [only] = policies;
    const candidate = named
      ? opts.policy!
      : policies.length === 0
        ? "(no shadow policy recorded)"
        : policies.length === 1
          ? `shadow policy ${shortHash(only![0])}`
          : `${policies.length} shadow policies (${policies.map(([h]) => shortHash(h)).join(", ")})`;
    const ctx: ReportContext = {
      candidate,
      baseline: null,
      source: `${recordings.label}, enforced vs shadow decisions`,
      failOn: opts.failOn,
      show: opts.show,
      ...(opts.only ? { only: opts.only } : {}),
      accept: null,
      ...(policies.length === 1 && only![1] !== null ? { candidateText: only![1] } : {}),
    };
    const report = openReport(
      {
        format: opts.format,
        ctx,
        builder: new SummaryBuilder("recorded", opts.failOn),
        ...(opts.out !== undefined ? { out: opts.out } : {}),
      },
      io,
    );
    try {
      for (const r of source.results()) report.add(r);
    } catch (err) {
      report.abort();
      throw err;
    }
    const summary = report.finish();
    if (source.missing > 0)
      io.stderr.write(
        `policy-replay: note: ${source.missing} ${source.missing === 1 ? "call has" : "calls have"} no shadow decision (recorded without --shadow); not compared\n`,
      );
    if (source.otherPolicy > 0)
      io.stderr.write(
        `policy-replay: note: ${source.otherPolicy} ${source.otherPolicy === 1 ? "call was" : "calls were"} shadowed under another policy than ${opts.policy}; not compared\n`,
      );
    if (policies.length > 1)
      io.stderr.write(
        `policy-replay: note: the sessions read were shadowed under ${policies.length} different policies; name one with --policy FILE to compare its calls alone\n`,
      );
    return summary.gate.failed ? 1 : 0;
  } finally {
    source.close();
  }
}

/** A policy's hash as reports name it: enough of it to tell policies apart. */
function shortHash(hash: string): string {
  return `sha256:${hash.slice(0, 12)}`;
}

import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { analyze } from "../check/analyze.js";
import { emptyEvidence, type Evidence, readRecording } from "../check/evidence.js";
import { PolicyIndex } from "../check/policy-index.js";
import { jsonReport, summarize, textReport } from "../check/report.js";
import { compile } from "../engine/index.js";
import { PolicyError } from "../errors.js";
import { type LoadedPolicy, loadPolicyFile } from "../policy/load.js";
import { checkGithub, checkJunit, invalidGithub, invalidJunit } from "./check-formats.js";
import type { Io } from "./io.js";
import type { CheckFormat } from "./options.js";
import { repoPath } from "./report-output.js";
import { resolveRecordings, upgradeNotice } from "./sources.js";

/** Where `check` looks for recordings when no --db is given. */
export const DEFAULT_RECORDINGS_DIR = "recordings";

export interface CheckCommandOptions {
  policy: string;
  /** Recordings or directories of them; none given: every *.sqlite in recordings/, if any. */
  db?: string[];
  format: CheckFormat;
  /** Exit 1 when there is any warning. */
  strict: boolean;
}

/**
 * `policy-replay check --policy P [--db F ...]`: validate P, then report what the recordings
 * say about it. Resolves to 0 (valid; findings are warnings) or 1 (--strict and a warning);
 * an invalid policy or unreadable recording rejects with a PolicyReplayError (exit 2).
 */
export async function checkCommand(opts: CheckCommandOptions, io: Io): Promise<number> {
  let loaded: LoadedPolicy;
  try {
    loaded = loadPolicyFile(resolve(io.cwd, opts.policy));
  } catch (err) {
    // Machine formats get the faults on stdout too; the message on stderr stays the contract.
    if (err instanceof PolicyError) {
      if (opts.format === "json") {
        io.stdout.write(
          JSON.stringify({ policy: opts.policy, valid: false, faults: err.faults }, null, 2) + "\n",
        );
      } else if (opts.format === "junit") {
        io.stdout.write(invalidJunit(opts.policy, err.faults));
      } else if (opts.format === "github") {
        io.stdout.write(invalidGithub(repoPath(opts.policy, io), err.faults));
      }
    }
    throw err;
  }
  const index = new PolicyIndex(loaded, compile(loaded.policy));

  // Named recordings are resolved as replay resolves them; with none named, recordings/ is
  // looked in, and finding nothing there is no error: the policy is still checked.
  let sources: { name: string; path: string }[];
  if (opts.db && opts.db.length > 0) {
    const { names, paths } = resolveRecordings(opts.db, io.cwd, "pass --db FILE or a directory");
    sources = names.map((name, i) => ({ name, path: paths[i]! }));
  } else {
    sources = defaultRecordings(io.cwd);
  }
  let evidence: Evidence | null = null;
  if (sources.length > 0) {
    evidence = emptyEvidence();
    const onUpgrade = upgradeNotice(io);
    for (const src of sources) readRecording(src, index, evidence, { onUpgrade });
  }

  const result = analyze(index, evidence);
  const summary = summarize(result, opts.strict);
  const ctx = {
    policy: opts.policy,
    index,
    evidence,
    noRecording:
      evidence === null
        ? `No recording (no --db, and no *.sqlite in ${DEFAULT_RECORDINGS_DIR}/)`
        : null,
  };
  io.stdout.write(
    opts.format === "json"
      ? jsonReport(ctx, result, summary)
      : opts.format === "junit"
        ? checkJunit(ctx, result, summary)
        : opts.format === "github"
          ? checkGithub(ctx, result, summary, repoPath(opts.policy, io))
          : textReport(ctx, result, summary),
  );
  return summary.failed ? 1 : 0;
}

/** Every *.sqlite file in recordings/ under cwd, by name; none when the folder is missing. */
function defaultRecordings(cwd: string): { name: string; path: string }[] {
  let entries: string[];
  try {
    entries = readdirSync(join(cwd, DEFAULT_RECORDINGS_DIR));
  } catch {
    return [];
  }
  return entries
    .filter((f) => f.endsWith(".sqlite"))
    .sort()
    .map((f) => ({
      name: `${DEFAULT_RECORDINGS_DIR}/${f}`,
      path: join(cwd, DEFAULT_RECORDINGS_DIR, f),
    }));
}

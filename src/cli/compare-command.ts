import { resolve } from "node:path";
import { compare } from "../check/compare/compare.js";
import {
  type CompareContext,
  gateFails,
  jsonReport,
  markdownReport,
  textReport,
} from "../check/compare/report.js";
import { loadPolicyFile } from "../policy/load.js";
import { compareGithub, compareJunit } from "./compare-formats.js";
import type { Io } from "./io.js";
import { repoPath } from "./report-output.js";

export const COMPARE_FORMATS = ["text", "json", "markdown", "junit", "github"] as const;
export type CompareFormat = (typeof COMPARE_FORMATS)[number];

export interface CompareCommandOptions {
  /** NEW: the policy about to roll out. */
  policy: string;
  /** OLD: the policy in force. */
  baseline: string;
  format: CompareFormat;
  identities?: string[];
  seed?: number;
}

/**
 * `policy-replay compare --policy NEW --baseline OLD`: 0 when NEW allows nothing OLD did not, 1
 * when it does (or that could not be ruled out), 70 when a finding failed its own replay (a
 * bug); an invalid policy rejects with its located faults (exit 2).
 */
export async function compareCommand(opts: CompareCommandOptions, io: Io): Promise<number> {
  const newLoaded = loadPolicyFile(resolve(io.cwd, opts.policy));
  const oldLoaded = loadPolicyFile(resolve(io.cwd, opts.baseline));
  const result = compare(oldLoaded.policy, newLoaded.policy, {
    ...(opts.identities ? { identities: opts.identities } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  });
  if (result.internal_errors.length > 0) {
    io.stderr.write(
      `policy-replay: internal error: ${result.internal_errors.length} finding(s) did not replay as claimed:\n` +
        result.internal_errors.map((e) => `  ${e}\n`).join(""),
    );
    return 70;
  }
  const ctx: CompareContext = {
    newFile: opts.policy,
    oldFile: opts.baseline,
    newText: newLoaded.text,
    newPolicy: newLoaded.policy,
  };
  const write = {
    text: () => textReport(ctx, result),
    json: () => jsonReport(ctx, result),
    markdown: () => markdownReport(ctx, result),
    junit: () => compareJunit(ctx, result),
    github: () => compareGithub(ctx, result, repoPath(opts.policy, io)),
  }[opts.format];
  io.stdout.write(write());
  return gateFails(result) ? 1 : 0;
}

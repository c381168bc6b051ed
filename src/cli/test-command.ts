import { readdirSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { PolicyUnderTest } from "../check/eval.js";
import { type LoadedTestFile, loadTestFile } from "../check/policy-tests/load.js";
import { type FileResult, loadPolicyUnderTest, runFile } from "../check/policy-tests/run.js";
import { InputError, PolicyError, PolicyReplayError, UsageError } from "../errors.js";
import { describeIoError } from "../policy/load.js";
import { ansi, plain } from "../replay/report/style.js";
import { wantsColour } from "./colour.js";
import type { Io } from "./io.js";
import { repoPath } from "./report-output.js";
import {
  anyFailed,
  faultsGithub,
  testGithub,
  testJson,
  testJunit,
  testText,
  type TestFormat,
} from "./test-formats.js";

/** Where `test` looks when no file or directory is named. */
export const DEFAULT_TESTS_DIR = "policy-tests";

export interface TestCommandOptions {
  /** Test files and directories of them; none: DEFAULT_TESTS_DIR. */
  paths: string[];
  /** Run every file against this policy instead of its own. */
  policy?: string;
  format: TestFormat;
}

/**
 * `policy-replay test [FILE|DIR ...]`: run policy unit tests. Resolves to 0 when every case
 * passed, 1 when any failed, 2 when a test or policy file is bad (every such file is named,
 * with each fault located, and nothing is run).
 */
export async function testCommand(opts: TestCommandOptions, io: Io): Promise<number> {
  const files = testFiles(opts.paths, io.cwd);
  const errors: PolicyReplayError[] = [];
  let candidate: { name: string; policy: PolicyUnderTest } | null = null;
  if (opts.policy !== undefined) {
    try {
      candidate = {
        name: opts.policy,
        policy: loadPolicyUnderTest(resolve(io.cwd, opts.policy), opts.policy),
      };
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      errors.push(err);
    }
  }
  const policies = new Map<string, PolicyUnderTest | PolicyError>();
  const runs: { test: LoadedTestFile; policy: PolicyUnderTest; policyName: string }[] = [];
  for (const f of files) {
    let test: LoadedTestFile;
    try {
      test = loadTestFile(f.path, f.name);
    } catch (err) {
      if (!(err instanceof PolicyReplayError)) throw err;
      errors.push(err);
      continue;
    }
    if (opts.policy !== undefined) {
      if (candidate) runs.push({ test, policy: candidate.policy, policyName: candidate.name });
      continue;
    }
    const policyName = shown(test.policyPath, io.cwd);
    let policy = policies.get(test.policyPath);
    if (policy === undefined) {
      try {
        policy = loadPolicyUnderTest(
          test.policyPath,
          policyName,
          (why) =>
            new InputError(test.file, [
              {
                path: "policy",
                message: `cannot read ${policyName} (${why})`,
                ...test.policyAt,
              },
            ]),
        );
      } catch (err) {
        // Unreadable: the fault of each test file that names it, at its `policy` key.
        if (err instanceof InputError) {
          errors.push(err);
          continue;
        }
        if (!(err instanceof PolicyError)) throw err;
        // Invalid: said once, however many test files share it.
        errors.push(err);
        policy = err;
      }
      policies.set(test.policyPath, policy);
    }
    if (!(policy instanceof PolicyError)) runs.push({ test, policy, policyName });
  }
  if (errors.length > 0) {
    if (opts.format === "github") {
      for (const e of errors) {
        if (e instanceof PolicyError || e instanceof InputError) {
          io.stdout.write(faultsGithub(e, (file) => repoPath(file, io)));
        }
      }
    }
    for (const e of errors) io.stderr.write(errorText(e));
    return 2;
  }

  const results: FileResult[] = runs.map((r) => runFile(r.test, r.policy, r.policyName));
  const colour = wantsColour(io.stdout, io.env);
  io.stdout.write(
    opts.format === "json"
      ? testJson(results)
      : opts.format === "junit"
        ? testJunit(results)
        : opts.format === "github"
          ? testGithub(results, (file) => repoPath(file, io))
          : testText(results, colour ? ansi : plain, colour),
  );
  return anyFailed(results) ? 1 : 0;
}

/** A bad file's error as the CLI prints a fatal one: one fault on one line, else a list. */
function errorText(err: PolicyReplayError): string {
  if ((err instanceof PolicyError || err instanceof InputError) && err.faults.length > 1) {
    return `policy-replay: ${err.file}: ${err.faults.length} faults\n${err.message}\n`;
  }
  return `policy-replay: ${err.message}\n`;
}

/** `path` as messages name it: relative to the working directory when under it. */
function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel === "" || isAbsolute(rel) ? path : rel;
}

/**
 * The test files to run, in order: each file named, and every *.json under each directory
 * named (sorted, subdirectories included); DEFAULT_TESTS_DIR when nothing is named.
 */
export function testFiles(paths: string[], cwd: string): { path: string; name: string }[] {
  const named = paths.length > 0 ? paths : [DEFAULT_TESTS_DIR];
  const out: { path: string; name: string }[] = [];
  for (const name of named) {
    const path = resolve(cwd, name);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch (err) {
      if (paths.length === 0) {
        throw new UsageError(
          `no ${DEFAULT_TESTS_DIR}/ directory here (${cwd}): name test files or directories (policy-replay test FILE|DIR ...), or create ${DEFAULT_TESTS_DIR}/ (see docs/testing-policies.md)`,
        );
      }
      throw new UsageError(`${name}: ${describeIoError(err)}`);
    }
    if (!isDir) {
      out.push({ path, name });
      continue;
    }
    const found = jsonUnder(path).map((rel) => ({ path: join(path, rel), name: join(name, rel) }));
    if (found.length === 0) throw new UsageError(`${name}: no test files (*.json) in it`);
    out.push(...found);
  }
  return out;
}

/** Every *.json under `dir`, relative to it, sorted; hidden entries and node_modules left out. */
function jsonUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const entries = readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const e of entries) {
      if (e.name.startsWith(".") || e.name === "node_modules") continue;
      const p = rel === "" ? e.name : join(rel, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith(".json")) out.push(p);
    }
  };
  walk("");
  return out;
}

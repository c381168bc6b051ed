import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type * as z from "zod";
import { type Fault, InputError } from "../../errors.js";
import {
  decodeUtf8,
  describe,
  describeIoError,
  formatPath,
  locate,
  MISSING,
  readJsonDocument,
  valueAt,
} from "../../policy/load.js";
import { didYouMean } from "../../policy/suggest.js";
import { DEFAULT_IDENTITY, DEFAULT_SESSION } from "../eval.js";
import {
  durationMs,
  EXPECTATIONS,
  type PolicyTestFile,
  PolicyTestSchema,
  TEST_KEYS,
  type TestStep,
} from "./schema.js";

// Reading a policy test file: strict JSON, validated by the schema, every fault located at its
// line and column as the policy loader locates a policy's, with its JSON path and a "did you mean".

/** The time between two steps, and between the repeats of one, when the file says nothing. */
export const DEFAULT_GAP_MS = 1;
/** The latest a case may reach, in ms from its start: the latest time a Date can hold. */
const MAX_CASE_MS = 8.64e15;

/** A step of a case, with its defaults filled in and its place in the file. */
export interface LoadedStep {
  /** 0-based position among the case's calls. */
  index: number;
  tool: string;
  args: Record<string, unknown> | undefined;
  identity: string;
  session: string;
  repeat: number;
  everyMs: number;
  /** When its first call is made, in ms from the start of the case. */
  atMs: number;
  expect: Expectation;
  /** Where the step's object starts in the test file (1-based). */
  line: number;
  column: number;
}

/** What a step expects: a decision, and a code when the file names one. */
export interface Expectation {
  decision: string;
  code: string | null;
  /** As written: "deny:rate_limited". */
  text: string;
}

export interface LoadedCase {
  name: string;
  index: number;
  line: number;
  steps: LoadedStep[];
}

export interface LoadedTestFile {
  /** The file as messages name it. */
  file: string;
  /** The `policy` key's value, resolved against the test file's directory. */
  policyPath: string;
  /** Where the `policy` key's value is, for a fault about the policy file itself. */
  policyAt: { line?: number; column?: number };
  cases: LoadedCase[];
}

/** Read and validate a test file (`name` in messages); throws InputError listing every fault. */
export function loadTestFile(path: string, name: string): LoadedTestFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new InputError(name, [
      { path: "", message: `cannot read the test file (${describeIoError(err)})` },
    ]);
  }
  const text = decodeUtf8(bytes, (f) => new InputError(name, f));
  const parsed = parseTestText(text, name);
  return { ...parsed, policyPath: resolve(dirname(path), parsed.policy) };
}

type Segment = string | number;

/** Validate test file text (named `file` in messages); throws InputError listing every fault. */
export function parseTestText(
  text: string,
  file: string,
): Omit<LoadedTestFile, "policyPath"> & { policy: string } {
  const doc = readJsonDocument(text, (f) => new InputError(file, f));
  const { lines, value, faults } = doc;
  const at = (path: Segment[], onKey = false) => locate(doc.tree, path, lines, onKey);
  const result = PolicyTestSchema.safeParse(value);
  if (!result.success) {
    for (const issue of result.error.issues) faults.push(...issueFaults(issue, value, at));
  }
  if (faults.length > 0 || !result.success) throw new InputError(file, tidy(faults));
  const data: PolicyTestFile = result.data;
  const cases = data.cases.map((c, i): LoadedCase => {
    let atMs = 0;
    const steps = c.calls.map((s, j): LoadedStep => {
      if (j > 0) atMs += s.after === undefined ? DEFAULT_GAP_MS : durationMs(s.after);
      const step = loadedStep(s, j, c, atMs, at(["cases", i, "calls", j]));
      atMs += (step.repeat - 1) * step.everyMs;
      if (atMs > MAX_CASE_MS) {
        const path = ["cases", i, "calls", j, s.repeat !== undefined ? "repeat" : "after"];
        faults.push({
          path: formatPath(path),
          message: `the case's calls would run past ${MAX_CASE_MS / 86_400_000} days`,
          ...at(path),
        });
      }
      return step;
    });
    return { name: c.name, index: i, line: at(["cases", i]).line ?? 1, steps };
  });
  // Reports (JUnit's above all) tell cases apart by name.
  const named = new Set<string>();
  data.cases.forEach((c, i) => {
    if (!named.has(c.name)) named.add(c.name);
    else {
      const path = ["cases", i, "name"];
      faults.push({ path: formatPath(path), message: "another case has this name", ...at(path) });
    }
  });
  if (faults.length > 0) throw new InputError(file, tidy(faults));
  return { file, policy: data.policy, policyAt: at(["policy"]), cases };
}

function loadedStep(
  s: TestStep,
  index: number,
  c: { identity?: string | undefined; session?: string | undefined },
  atMs: number,
  where: { line?: number; column?: number },
): LoadedStep {
  const colon = s.expect.indexOf(":");
  return {
    index,
    tool: s.tool,
    args: s.args,
    identity: s.identity ?? c.identity ?? DEFAULT_IDENTITY,
    session: s.session ?? c.session ?? DEFAULT_SESSION,
    repeat: s.repeat ?? 1,
    everyMs: s.every === undefined ? DEFAULT_GAP_MS : durationMs(s.every),
    atMs,
    expect: {
      decision: colon < 0 ? s.expect : s.expect.slice(0, colon),
      code: colon < 0 ? null : s.expect.slice(colon + 1),
      text: s.expect,
    },
    line: where.line ?? 1,
    column: where.column ?? 1,
  };
}

type Locate = (path: Segment[], onKey?: boolean) => { line?: number; column?: number };

/** One zod issue as located faults, worded as the policy loader words its own. */
function issueFaults(issue: z.core.$ZodIssue, root: unknown, at: Locate): Fault[] {
  const path = issue.path.filter((p): p is Segment => typeof p !== "symbol");
  if (issue.code === "unrecognized_keys") {
    const known = knownKeysAt(path);
    return issue.keys.map((key) => ({
      path: formatPath([...path, key]),
      message: `unknown key${didYouMean(key, known)}`,
      ...at([...path, key], true),
    }));
  }
  const found = valueAt(root, path);
  if (found === MISSING) {
    return [
      {
        path: formatPath(path),
        message: `missing required key "${String(path[path.length - 1])}"`,
        ...at(path.slice(0, -1)),
      },
    ];
  }
  let message = issue.message;
  if (issue.code === "invalid_value") {
    message = `${message}, not ${describe(found)}${didYouMean(found, EXPECTATIONS)}`;
  } else if (
    issue.code === "invalid_type" ||
    (issue.code !== "custom" && (found === null || typeof found !== "object"))
  ) {
    message = `${message}, not ${describe(found)}`;
  }
  return [{ path: formatPath(path), message, ...at(path) }];
}

/** Which keys the object at `path` accepts, judged from the path's shape. */
function knownKeysAt(path: Segment[]): readonly string[] {
  if (path.length === 0) return TEST_KEYS.file;
  if (path.length === 2 && path[0] === "cases") return TEST_KEYS.case;
  if (path.length === 4 && path[2] === "calls") return TEST_KEYS.step;
  return [];
}

/**
 * In file order, without the echo of a misspelt required key: it shows up as unknown, with a
 * "did you mean", and as missing; the first says both what is wrong and how to fix it.
 */
function tidy(faults: Fault[]): Fault[] {
  const suggested = new Set<string>();
  for (const f of faults) {
    const m = /^unknown key; did you mean "([^"]+)"\?$/.exec(f.message);
    if (m) suggested.add(`${parentOf(f.path)}\u0000${m[1]}`);
  }
  return faults
    .filter((f) => {
      const m = /^missing required key "([^"]+)"$/.exec(f.message);
      return !m || !suggested.has(`${parentOf(f.path)}\u0000${m[1]}`);
    })
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

/** `cases[0].calls[1]` for `cases[0].calls[1].tool`; "" for a top-level key. */
const parentOf = (path: string): string => path.replace(/(^|\.)[^.[\]]+$|\[[^\]]+\]$/, "");

import { readFileSync } from "node:fs";
import type { Call, Decision } from "../../engine/index.js";
import { type InputError, PolicyError } from "../../errors.js";
import {
  decodeUtf8,
  describeIoError,
  type LoadedPolicy,
  parsePolicyText,
} from "../../policy/load.js";
import { type Decided, decider, type PolicyUnderTest, START_TS, underTest } from "../eval.js";
import type { Expectation, LoadedCase, LoadedStep, LoadedTestFile } from "./load.js";

// Running policy tests: each case is a fresh run of the engine (counters empty, the clock at
// START_TS), its steps decided in order at the times they say. A case stops at its first
// unexpected decision: later ones would mostly follow from it.

/** The first call of a case that was not decided as expected. */
export interface StepFailure {
  step: LoadedStep;
  /** Which of the step's calls, 1-based (1 for a step without repeat). */
  repeat: number;
  got: Decided;
}

export interface CaseResult {
  case: LoadedCase;
  /** Calls decided, up to and with the failing one. */
  calls: number;
  failure: StepFailure | null;
}

export interface FileResult {
  test: LoadedTestFile;
  /** The policy the file ran against, as messages name it. */
  policyName: string;
  cases: CaseResult[];
}

/** Whether a decision is what a step expects: the same decision, and code when one is named. */
export function meets(expect: Expectation, d: Decision): boolean {
  return d.decision === expect.decision && (expect.code === null || expect.code === d.code);
}

/** Run one case under `policy`. */
export function runCase(policy: PolicyUnderTest, c: LoadedCase): CaseResult {
  const next = decider(policy);
  let calls = 0;
  for (const step of c.steps) {
    for (let k = 0; k < step.repeat; k++) {
      const call: Call = {
        tool: step.tool,
        identity: step.identity,
        session: step.session,
        ts: START_TS + step.atMs + k * step.everyMs,
      };
      if (step.args !== undefined) call.arguments = step.args;
      const got = next(call);
      calls++;
      if (!meets(step.expect, got.decision)) {
        return { case: c, calls, failure: { step, repeat: k + 1, got } };
      }
    }
  }
  return { case: c, calls, failure: null };
}

/** Run every case of a test file under `policy` (named `policyName` in reports). */
export function runFile(
  test: LoadedTestFile,
  policy: PolicyUnderTest,
  policyName: string,
): FileResult {
  return { test, policyName, cases: test.cases.map((c) => runCase(policy, c)) };
}

/**
 * The policy at `path`, named `name` in messages, ready to test. A file that cannot be read is
 * `unreadable`'s error when given (a test file's `policy` key, located); otherwise, as any
 * fault of the policy itself, a PolicyError.
 */
export function loadPolicyUnderTest(
  path: string,
  name: string,
  unreadable?: (why: string) => InputError,
): PolicyUnderTest {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const why = describeIoError(err);
    if (unreadable) throw unreadable(why);
    throw new PolicyError(name, [{ path: "", message: `cannot read the file (${why})` }]);
  }
  const text = decodeUtf8(bytes, (f) => new PolicyError(name, f));
  const loaded: LoadedPolicy = parsePolicyText(text, name);
  return underTest(loaded);
}

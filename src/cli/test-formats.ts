import { type Decided, START_TS } from "../check/eval.js";
import type { CaseResult, FileResult, StepFailure } from "../check/policy-tests/run.js";
import type { Decision } from "../engine/index.js";
import type { InputError, PolicyError } from "../errors.js";
import { clean } from "../replay/report/fit.js";
import { command } from "../replay/report/github.js";
import { junitCase, junitDocument, junitSuite } from "../replay/report/junit.js";
import { plain as PLAIN, type Style } from "../replay/report/style.js";
import { formatMs } from "../replay/report/words.js";

// The reports of `policy-replay test`: text for people (the shape of a test runner's), JSON,
// JUnit XML and GitHub workflow annotations for CI. Each names a failure's step by its file,
// line and column, and the policy line that decided it.

export const TEST_FORMATS = ["text", "json", "junit", "github"] as const;
export type TestFormat = (typeof TEST_FORMATS)[number];

const TITLE = "policy-replay test";

/** `deny:rate_limited`: a decision and its code, as a step's expect is written. */
export const decisionCode = (d: Pick<Decision, "decision" | "code">): string =>
  `${d.decision}:${d.code}`;

/**
 * What decided a call: `rule fleet_*`, the hide list or the default, and where. Names from files
 * are printed with control characters as spaces, here and below: they may be hostile.
 */
export function decidedBy(d: Decided, policyName: string): string {
  const { rule, code } = d.decision;
  policyName = clean(policyName);
  const what =
    rule !== null ? `rule ${clean(rule)}` : code === "hidden" ? "the hide list" : "the default";
  if (d.line !== null) return `${what} at ${policyName}:${d.line}`;
  return code.startsWith("default_")
    ? `${what} (not written: "deny" when absent) in ${policyName}`
    : `${what} in ${policyName}`;
}

/** `step 2, call 3 of 5`: which step failed, and which of its repeats. */
export function stepText(f: StepFailure): string {
  const step = `step ${f.step.index + 1}`;
  return f.step.repeat > 1 ? `${step}, call ${f.repeat} of ${f.step.repeat}` : step;
}

/** `62ms`, `45.001s`: a time into a case, to the millisecond its steps are written in. */
const caseTime = (ms: number): string =>
  ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(3).replace(/\.?0+$/, "")}s`;

/** `file:line:col`: where a failing step is written. */
const stepAt = (file: string, f: StepFailure): string => `${file}:${f.step.line}:${f.step.column}`;

const totals = (results: FileResult[]): { passed: number; failed: number } => {
  let passed = 0;
  let failed = 0;
  for (const r of results) {
    for (const c of r.cases) {
      if (c.failure) failed++;
      else passed++;
    }
  }
  return { passed, failed };
};

/** Whether any case failed. */
export const anyFailed = (results: FileResult[]): boolean => totals(results).failed > 0;

/** The lines that explain a failure, unindented. */
function failureLines(file: string, policyName: string, f: StepFailure, style: Style): string[] {
  const d = f.got.decision;
  const call = f.got.call;
  const lines = [
    `${clean(stepAt(file, f))}: ${stepText(f)}: ${clean(call.tool)} as ${clean(call.identity)}, ${caseTime(call.ts - START_TS)} into the case`,
    `expected ${style.green(f.step.expect.text)}, got ${style.red(decisionCode(d))}`,
    `decided by ${decidedBy(f.got, policyName)}`,
  ];
  if (d.reason !== null) lines.push(`reason: ${clean(d.reason)}`);
  if (d.code === "rate_limited") {
    const l = d.limit;
    const limit = l
      ? ` (counter ${clean(l.counter)}, ${l.count} of ${l.max}, scope ${l.scope})`
      : "";
    const retry = d.retry_after_ms === null ? "never" : `after ${formatMs(d.retry_after_ms)}`;
    lines.push(`retry: ${retry}${limit}`);
  }
  return lines;
}

/** The text report: each file, each case passed or failed, then `N passed, N failed`. */
export function testText(results: FileResult[], style: Style, unicode: boolean): string {
  const pass = unicode ? "✓" : "ok  ";
  const fail = unicode ? "✗" : "FAIL";
  const out: string[] = [];
  for (const r of results) {
    out.push(style.bold(clean(r.test.file)) + style.dim(` (policy ${clean(r.policyName)})`));
    for (const c of r.cases) {
      if (!c.failure) {
        out.push(`  ${style.green(pass)} ${clean(c.case.name)}`);
        continue;
      }
      out.push(`  ${style.red(fail)} ${clean(c.case.name)}`);
      for (const l of failureLines(r.test.file, r.policyName, c.failure, style)) {
        out.push(`      ${l}`);
      }
    }
    out.push("");
  }
  out.push(summaryLine(results, style));
  return out.join("\n") + "\n";
}

/** `3 passed, 1 failed`. */
export function summaryLine(results: FileResult[], style: Style): string {
  const { passed, failed } = totals(results);
  const p = `${passed} passed`;
  const f = `${failed} failed`;
  return `${passed > 0 ? style.green(p) : p}, ${failed > 0 ? style.red(f) : f}`;
}

function failureJson(f: StepFailure, policyName: string): Record<string, unknown> {
  const d = f.got.decision;
  return {
    step: f.step.index + 1,
    repeat: f.repeat,
    repeats: f.step.repeat,
    line: f.step.line,
    column: f.step.column,
    call: f.got.call,
    expected: f.step.expect.text,
    got: {
      decision: d.decision,
      code: d.code,
      rule: d.rule,
      reason: d.reason,
      retry_after_ms: d.retry_after_ms,
      limit: d.limit,
      policy: policyName,
      policy_line: f.got.line,
    },
  };
}

/** The JSON report: every file and case, and the totals. */
export function testJson(results: FileResult[]): string {
  const caseJson = (c: CaseResult, r: FileResult) => ({
    name: c.case.name,
    line: c.case.line,
    passed: c.failure === null,
    calls: c.calls,
    failure: c.failure ? failureJson(c.failure, r.policyName) : null,
  });
  const report = {
    files: results.map((r) => ({
      file: r.test.file,
      policy: r.policyName,
      cases: r.cases.map((c) => caseJson(c, r)),
    })),
    summary: totals(results),
  };
  return JSON.stringify(report, null, 2) + "\n";
}

/** JUnit XML: a suite per file, a case per test case; a failure holds the explanation. */
export function testJunit(results: FileResult[]): string {
  const { passed, failed } = totals(results);
  const suites = results.map((r) => {
    const failures = r.cases.filter((c) => c.failure).length;
    const cases = r.cases.map((c) => {
      const kase = {
        classname: r.test.file,
        name: c.case.name,
        attrs: { file: r.test.file, line: c.case.line },
      };
      const f = c.failure;
      if (!f) return junitCase(kase);
      const message = `${stepText(f)}: expected ${f.step.expect.text}, got ${decisionCode(f.got.decision)}`;
      const text = failureLines(r.test.file, r.policyName, f, PLAIN).join("\n");
      return junitCase({ ...kase, failure: { type: "unexpected_decision", message, text } });
    });
    return junitSuite(r.test.file, cases, { failures, properties: [["policy", r.policyName]] });
  });
  return junitDocument(TITLE, suites, { tests: passed + failed, failures: failed });
}

/**
 * GitHub workflow commands: the text report for the log, then an error on each failing step's
 * line of its test file (`repoPath` names files as the repository does).
 */
export function testGithub(results: FileResult[], repoPath: (file: string) => string): string {
  let out = testText(results, PLAIN, false);
  for (const r of results) {
    for (const c of r.cases) {
      const f = c.failure;
      if (!f) continue;
      const d = f.got.decision;
      out += command(
        "error",
        {
          file: repoPath(r.test.file),
          line: f.step.line,
          col: f.step.column,
          title: `${TITLE}: ${c.case.name}`,
        },
        `${stepText(f)}: expected ${f.step.expect.text}, got ${decisionCode(d)}, decided by ${decidedBy(f.got, r.policyName)}${d.reason !== null ? `: ${d.reason}` : ""}`,
      );
    }
  }
  return out;
}

/** A bad test or policy file as GitHub workflow commands: an error on each fault's line. */
export function faultsGithub(
  err: PolicyError | InputError,
  repoPath: (file: string) => string,
): string {
  return err.faults
    .map((f) =>
      command(
        "error",
        { file: repoPath(err.file), line: f.line, col: f.column, title: `${TITLE}: bad file` },
        f.path ? `${f.path}: ${f.message}` : f.message,
      ),
    )
    .join("");
}

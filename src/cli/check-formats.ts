import type { CheckResult } from "../check/analyze.js";
import {
  type CheckContext,
  type CheckSummary,
  findingNotes,
  type FindingNote,
  textReport,
} from "../check/report.js";
import { type Fault, formatFaults } from "../errors.js";
import { command } from "../replay/report/github.js";
import { junitCase, junitDocument, junitSuite } from "../replay/report/junit.js";

// `check --format junit|github`, for CI: the findings of check's report in the shapes replay's
// reports use, escaped by the same functions. A warning fails only with --strict, as the exit
// code does; notes never fail.

const TITLE = "policy-replay check";

const fails = (n: FindingNote, summary: CheckSummary): boolean =>
  summary.strict && n.severity === "warning";

const where = (policy: string, n: FindingNote): string =>
  n.line === null ? policy : `${policy}:${n.line}:${n.column ?? 1}`;

/**
 * JUnit XML: a first suite whose one passing case holds the text report, then one suite per
 * kind of finding with a case per finding (named by its rule or tool, so a case keeps its name
 * as the policy's lines move), failing when --strict makes it fail the run.
 */
export function checkJunit(ctx: CheckContext, result: CheckResult, summary: CheckSummary): string {
  const suites = new Map<string, FindingNote[]>();
  for (const n of findingNotes(result)) {
    const list = suites.get(n.title);
    if (list) list.push(n);
    else suites.set(n.title, [n]);
  }
  let tests = 1;
  let failures = 0;
  const body: string[] = [];
  for (const [title, notes] of suites) {
    const failing = notes.filter((n) => fails(n, summary)).length;
    tests += notes.length;
    failures += failing;
    const cases = notes.map((n) => {
      const text = `${where(ctx.policy, n)}: ${n.message}`;
      const kase = { classname: n.kind, name: n.subject || n.message };
      return fails(n, summary)
        ? junitCase({ ...kase, failure: { type: n.kind, message: n.message, text } })
        : junitCase({ ...kase, out: text });
    });
    body.push(junitSuite(title, cases, { failures: failing }));
  }
  const out = textReport(ctx, result, summary);
  const head = junitSuite(TITLE, [junitCase({ classname: TITLE, name: "check summary", out })], {
    failures: 0,
  });
  return junitDocument(TITLE, [head, ...body], { tests, failures });
}

/**
 * GitHub workflow commands: the text report for the log, one summary annotation (an error
 * when --strict failed the run), then one annotation per warning on its line of the policy
 * (`file`, as the repository names it): an error when it fails the run, else a warning. Notes
 * (what grants are for) stay in the log, not on the diff. GitHub shows ten of each level per
 * step, hence the summary first.
 */
export function checkGithub(
  ctx: CheckContext,
  result: CheckResult,
  summary: CheckSummary,
  file: string,
): string {
  const tally =
    summary.warnings + summary.notes === 0
      ? "No findings."
      : `${summary.warnings} warning${summary.warnings === 1 ? "" : "s"}, ${summary.notes} note${summary.notes === 1 ? "" : "s"}.`;
  let out = textReport(ctx, result, summary);
  out += summary.failed
    ? command("error", { title: `${TITLE}: --strict failed` }, `${ctx.policy}: ${tally}`)
    : command("notice", { title: TITLE }, `${ctx.policy}: valid. ${tally}`);
  for (const n of findingNotes(result)) {
    if (n.severity !== "warning") continue;
    const level = fails(n, summary) ? "error" : "warning";
    out += command(
      level,
      { file, line: n.line, col: n.column, title: `${TITLE}: ${n.title}` },
      n.message,
    );
  }
  return out;
}

/** An invalid policy as JUnit XML: one failing case holding every fault. */
export function invalidJunit(policy: string, faults: Fault[]): string {
  const message = `${policy}: ${faults.length === 1 ? "1 fault" : `${faults.length} faults`}`;
  const failure = { type: "policy_invalid", message, text: formatFaults(policy, faults) };
  const kase = junitCase({ classname: TITLE, name: "the policy is valid", failure });
  return junitDocument(TITLE, [junitSuite(TITLE, [kase], { failures: 1 })], {
    tests: 1,
    failures: 1,
  });
}

/** An invalid policy as GitHub workflow commands: an error on each fault's line. */
export function invalidGithub(file: string, faults: Fault[]): string {
  return faults
    .map((f) =>
      command(
        "error",
        { file, line: f.line, col: f.column, title: `${TITLE}: invalid policy` },
        f.path ? `${f.path}: ${f.message}` : f.message,
      ),
    )
    .join("");
}

import {
  CLASS_WORDS,
  type CompareContext,
  findingText,
  gateFails,
  headline,
  identityWords,
  outcomeWords,
  policyLineOf,
  textReport,
} from "../check/compare/report.js";
import type { CompareResult } from "../check/compare/types.js";
import { command } from "../replay/report/github.js";
import { junitCase, junitDocument, junitSuite } from "../replay/report/junit.js";

// `compare --format junit|github`, for CI, escaped by the functions replay's reports use: every
// finding fails (it is new access), and so does a call the comparison could not decide.

const TITLE = "policy-replay compare";

/**
 * JUnit XML: a passing case holding the text report, then one suite per class of finding with
 * a failing case per finding (named by identity and tool, stable as the policy's lines move),
 * and a suite of the calls that could not be decided.
 */
export function compareJunit(ctx: CompareContext, r: CompareResult): string {
  const lineOf = policyLineOf(ctx);
  const suites = new Map<string, string[]>();
  const add = (suite: string, kase: string): void => {
    const list = suites.get(suite);
    if (list) list.push(kase);
    else suites.set(suite, [kase]);
  };
  for (const f of r.findings) {
    const text = findingText(f, lineOf(f), ctx).join("\n");
    const message = `${CLASS_WORDS[f.class]}: ${f.identity} ${f.tool}: ${outcomeWords(f.old)} -> ${outcomeWords(f.new)}`;
    const failure = { type: f.class, message, text };
    add(
      CLASS_WORDS[f.class],
      junitCase({ classname: f.class, name: `${f.identity} ${f.tool}`, failure }),
    );
  }
  for (const u of r.undecided) {
    const failure = { type: "undecided", message: u.why, text: u.why };
    add(
      "could not decide",
      junitCase({ classname: "undecided", name: `${u.identity} ${u.tool}`, failure }),
    );
  }
  let tests = 1;
  let failures = 0;
  const body: string[] = [];
  for (const [name, cases] of suites) {
    tests += cases.length;
    failures += cases.length;
    body.push(junitSuite(name, cases, { failures: cases.length }));
  }
  const summary = junitCase({ classname: TITLE, name: "compare summary", out: textReport(ctx, r) });
  const head = junitSuite(TITLE, [summary], { failures: 0 });
  return junitDocument(TITLE, [head, ...body], { tests, failures });
}

/**
 * GitHub workflow commands: the headline, one summary annotation (an error when the gate
 * failed), then an error per finding on the line of NEW (`file`, as the repository names it)
 * that decides its call, and one per call that could not be decided.
 */
export function compareGithub(ctx: CompareContext, r: CompareResult, file: string): string {
  const lineOf = policyLineOf(ctx);
  let out = headline(r) + "\n";
  out += gateFails(r)
    ? command("error", { title: `${TITLE}: new access` }, headline(r))
    : command("notice", { title: TITLE }, headline(r));
  for (const f of r.findings) {
    out += command(
      "error",
      { file, line: lineOf(f), title: `${TITLE}: ${CLASS_WORDS[f.class]} ${f.tool}` },
      `${identityWords(f)}: ${findingText(f, null, ctx).slice(1).join("\n").replace(/^ {2}/gm, "")}`,
    );
  }
  for (const u of r.undecided) {
    out += command(
      "error",
      { file, title: `${TITLE}: could not decide ${u.tool}` },
      `${u.identity} -> ${u.tool}: ${u.why}`,
    );
  }
  return out;
}

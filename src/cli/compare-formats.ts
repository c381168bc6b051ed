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
import { xmlAttr, xmlText } from "../replay/report/junit.js";

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
    add(
      CLASS_WORDS[f.class],
      `    <testcase classname="${xmlAttr(f.class)}" name="${xmlAttr(`${f.identity} ${f.tool}`)}">\n` +
        `      <failure type="${f.class}" message="${xmlAttr(message)}">${xmlText(text)}</failure>\n` +
        `    </testcase>\n`,
    );
  }
  for (const u of r.undecided) {
    add(
      "could not decide",
      `    <testcase classname="undecided" name="${xmlAttr(`${u.identity} ${u.tool}`)}">\n` +
        `      <failure type="undecided" message="${xmlAttr(u.why)}">${xmlText(u.why)}</failure>\n` +
        `    </testcase>\n`,
    );
  }
  let tests = 1;
  let failures = 0;
  const body: string[] = [];
  for (const [name, cases] of suites) {
    tests += cases.length;
    failures += cases.length;
    body.push(
      `  <testsuite name="${xmlAttr(name)}" tests="${cases.length}" failures="${cases.length}" errors="0" skipped="0">\n${cases.join("")}  </testsuite>\n`,
    );
  }
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites name="${TITLE}" tests="${tests}" failures="${failures}" errors="0" skipped="0">\n` +
    `  <testsuite name="${TITLE}" tests="1" failures="0" errors="0" skipped="0">\n` +
    `    <testcase classname="${TITLE}" name="compare summary">\n` +
    `      <system-out>${xmlText(textReport(ctx, r))}</system-out>\n` +
    `    </testcase>\n` +
    `  </testsuite>\n` +
    body.join("") +
    `</testsuites>\n`
  );
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

import type { CallResult } from "../replay.js";
import type { Summary, SummaryBuilder } from "../summary.js";
import { combine, type ReportContext, type ReportPart, type ReportWriter } from "./context.js";
import type { Sink } from "./sink.js";
import { contextLines } from "./text.js";
import { listedClasses, listRank, RankedListing } from "./listing.js";
import { listedVisibility, visibilityFails, visibilitySentence } from "./tool-lists.js";
import {
  decisionText,
  fails,
  gateLine,
  headline,
  iso,
  marks,
  n,
  outcomeText,
  plural,
} from "./words.js";

/**
 * Characters XML 1.0 cannot hold at all, not even as character references: C0 controls other
 * than tab, newline and return, U+FFFE/U+FFFF, and unpaired surrogates. They are written as
 * a visible `\uXXXX` instead.
 */
const NOT_XML =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const visible = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/** Text content for XML: escaped, and characters XML cannot hold made visible. */
export function xmlText(s: string): string {
  return s
    .replace(NOT_XML, visible)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

/** An attribute value for XML (in double quotes); newlines and tabs kept as references. */
export function xmlAttr(s: string): string {
  return xmlText(s)
    .replace(/"/g, "&quot;")
    .replace(/\n/g, "&#10;")
    .replace(/\r/g, "&#13;")
    .replace(/\t/g, "&#9;");
}

/** A failure in a JUnit case; without text it is written as an empty element. */
export interface JunitFailure {
  type: string;
  message: string;
  text?: string;
}

/** One JUnit case: a failure, a skip and system-out, each when given, in that order. */
export interface JunitCase {
  classname: string;
  name: string;
  /** More attributes after classname and name (such as file and line), in this order. */
  attrs?: Record<string, string | number>;
  failure?: JunitFailure;
  /** The skipped element's message: set when the case is skipped. */
  skipped?: string;
  out?: string;
}

const attrList = (attrs: Record<string, string | number>): string =>
  Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join("");

/** A <testcase>, indented to sit in a junitSuite; a case with nothing inside is `<testcase/>`. */
export function junitCase(c: JunitCase): string {
  const open = `    <testcase${attrList({ classname: c.classname, name: c.name, ...c.attrs })}`;
  let body = "";
  if (c.failure) {
    const { type, message, text } = c.failure;
    const attrs = attrList({ type, message });
    body +=
      text === undefined
        ? `      <failure${attrs}/>\n`
        : `      <failure${attrs}>${xmlText(text)}</failure>\n`;
  }
  if (c.skipped !== undefined) body += `      <skipped${attrList({ message: c.skipped })}/>\n`;
  if (c.out !== undefined) body += `      <system-out>${xmlText(c.out)}</system-out>\n`;
  return body === "" ? `${open}/>\n` : `${open}>\n${body}    </testcase>\n`;
}

/** Counts a <testsuite> or <testsuites> carries; errors are always 0, skipped 0 unless told. */
export interface JunitCounts {
  tests: number;
  failures: number;
  skipped?: number;
}

const countAttrs = (name: string, c: JunitCounts): string =>
  attrList({ name, tests: c.tests, failures: c.failures, errors: 0, skipped: c.skipped ?? 0 });

/**
 * A <testsuite> of junitCase cases, indented to sit in a junitDocument. Tests default to the
 * number of cases; properties (those with a value) come before the cases.
 */
export function junitSuite(
  name: string,
  cases: string[],
  counts: Omit<JunitCounts, "tests"> & {
    tests?: number;
    properties?: [string, string | null | undefined][];
  },
): string {
  const props = (counts.properties ?? []).filter(
    (p): p is [string, string] => typeof p[1] === "string",
  );
  const properties =
    props.length === 0
      ? ""
      : `    <properties>\n${props.map(([k, v]) => `      <property${attrList({ name: k, value: v })}/>\n`).join("")}    </properties>\n`;
  const head = countAttrs(name, { ...counts, tests: counts.tests ?? cases.length });
  return `  <testsuite${head}>\n${properties}${cases.join("")}  </testsuite>\n`;
}

/** A whole JUnit document: the XML declaration and a <testsuites> of junitSuite suites. */
export function junitDocument(name: string, suites: string[], counts: JunitCounts): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites${countAttrs(name, counts)}>\n${suites.join("")}</testsuites>\n`;
}

/**
 * Most changed calls listed as test cases. Beyond it each tool gets one "and N more" case (a
 * failure if any of them fails the gate), so memory stays bounded; --format json has them all.
 */
export const JUNIT_MAX_CASES = 10_000;

interface ToolSuite {
  tool: string;
  cases: string[];
  tests: number;
  failures: number;
  skipped: number;
  /** Changed calls not listed (past JUNIT_MAX_CASES, or left out by --only), and how many fail. */
  more: number;
  moreFailing: number;
}

/** A rendered case waiting for the end, when suites get their counts. */
interface Case {
  suite: ToolSuite;
  failing: boolean;
  accepted: boolean;
  xml: string;
}

/**
 * JUnit XML for CI: one <testsuite> per tool with a changed decision, one <testcase> per changed
 * call (named `<session> call <n>: <before> -> <after>`, classname the tool) that fails when its
 * class is in --fail-on, is skipped when an accept list covers it and passes otherwise; plus a
 * first suite, "policy-replay", whose one passing case carries the summary, so an all-clear run
 * still shows a test. Suites with failures come first, and in each the failing cases. Suites
 * need their counts up front, so cases are kept (rendered) until the end, up to
 * JUNIT_MAX_CASES, failing ones first; --only leaves the other classes' cases out. Calls not
 * listed are counted in an "and N more" case of their tool, which fails if any of them does.
 */
export function junitReportWriter(
  ctx: ReportContext,
  builder: SummaryBuilder,
  out: Sink,
): ReportWriter {
  return combine(builder, [junitReportPart(ctx, out)]);
}

/** junitReportWriter's view, for combining with others over one summary. */
export function junitReportPart(
  ctx: ReportContext,
  out: Sink,
  maxCases = JUNIT_MAX_CASES,
): ReportPart {
  const suites = new Map<string, ToolSuite>();
  const unlisted = (suite: ToolSuite, failing: boolean): void => {
    suite.more++;
    if (failing) suite.moreFailing++;
  };
  const cases = new RankedListing<Case>(maxCases, (c) => unlisted(c.suite, c.failing));
  const only = listedClasses(ctx);
  return {
    add(r) {
      if (r.change === null) return;
      const tool = r.source.call.tool;
      let suite = suites.get(tool);
      if (!suite) {
        suite = { tool, cases: [], tests: 0, failures: 0, skipped: 0, more: 0, moreFailing: 0 };
        suites.set(tool, suite);
      }
      const failing = fails(r, ctx.failOn);
      if (!only.includes(r.change)) return unlisted(suite, failing);
      cases.add(
        { suite, failing, accepted: r.accepted, xml: testcase(r, failing, ctx) },
        listRank(r, ctx.failOn),
      );
    },
    finish(s) {
      for (const c of cases.items()) {
        c.suite.cases.push(c.xml);
        c.suite.tests++;
        if (c.failing) c.suite.failures++;
        else if (c.accepted) c.suite.skipped++;
      }
      out.write(replayDocument(ctx, s, suites));
    },
  };
}

function testcase(r: CallResult, failing: boolean, ctx: ReportContext): string {
  const { call } = r.source;
  const before = outcomeText(r.before!);
  const after = outcomeText(r.after);
  // No retry time in the name: CI systems track a test's history by its name.
  const name = `${call.session} call ${r.ordinal}: ${decisionText(r.before!)} -> ${decisionText(r.after)}`;
  const message = `${r.change}: ${before} -> ${after}${r.after.rule ? ` (rule ${r.after.rule})` : ""}`;
  const text = details(r, ctx);
  const kase = { classname: call.tool, name };
  if (failing) return junitCase({ ...kase, failure: { type: r.change!, message, text } });
  if (r.accepted) {
    const skipped = `accepted (${ctx.accept ?? "accept list"}): ${message}`;
    return junitCase({ ...kase, skipped, out: text });
  }
  return junitCase({ ...kase, out: text });
}

/** What a reader of a failed case needs: where the call was, both decisions, how to accept it. */
function details(r: CallResult, ctx: ReportContext): string {
  const { call } = r.source;
  const rule = (rule: string | null) => (rule === null ? "no rule" : `rule ${rule}`);
  const lines = [
    `${r.change}: call ${r.ordinal} of session ${call.session} (index ${r.source.index})`,
    `identity: ${call.identity}`,
    `time: ${iso(call.ts)}`,
    `tool: ${call.tool}`,
    `before: ${outcomeText(r.before!)} (${rule(r.before!.rule)})`,
    `after: ${outcomeText(r.after)} (${rule(r.after.rule)}) under ${ctx.candidate}`,
  ];
  if (r.decision.reason) lines.push(`reason: ${r.decision.reason}`);
  const m = marks(r);
  if (m.length > 0) lines.push(`marks: ${m.join(", ")}`);
  if (!r.accepted) {
    lines.push(
      `to accept it, add to the accept list: ${JSON.stringify({ session: call.session, call: r.ordinal, change: r.change, code: r.after.code })}`,
    );
  }
  return lines.join("\n");
}

function replayDocument(ctx: ReportContext, s: Summary, suites: Map<string, ToolSuite>): string {
  // Suites that fail first, then the rest; each in the summary's order, most-changed first.
  const failed = (t: ToolSuite) => t.failures + t.moreFailing > 0;
  const inOrder = Object.keys(s.by_tool).flatMap((t) => suites.get(t) ?? []);
  const order = [...inOrder.filter(failed), ...inOrder.filter((t) => !failed(t))].map(
    (t) => t.tool,
  );
  let tests = 1;
  let failures = 0;
  let skipped = 0;
  const body: string[] = [];
  const lists = toolListSuite(ctx, s);
  if (lists) {
    tests += lists.tests;
    failures += lists.failures;
  }
  for (const tool of order) {
    const suite = suites.get(tool)!;
    const cases = [...suite.cases];
    let t = suite.tests;
    let f = suite.failures;
    if (suite.more > 0) {
      t++;
      const name = `and ${plural(suite.more, "more changed call", "more changed calls")}`;
      const why = `${n(suite.more)} more changed calls of ${tool} are not listed (${n(suite.moreFailing)} fail the gate); --format json lists every call`;
      if (suite.moreFailing > 0) f++;
      cases.push(unlistedCase(tool, name, why, suite.moreFailing > 0));
    }
    tests += t;
    failures += f;
    skipped += suite.skipped;
    body.push(junitSuite(tool, cases, { tests: t, failures: f, skipped: suite.skipped }));
  }
  const props: [string, string | null | undefined][] = [
    ["candidate", ctx.candidate],
    ["baseline", ctx.baseline],
    ["source", ctx.source],
    ["accept", ctx.accept],
    ["fail_on", ctx.failOn.join(",")],
  ];
  const summaryText = [headline(s), gateLine(s), "", ...contextLines(ctx, s)]
    .filter((l) => l !== null)
    .join("\n");
  const summary = junitCase({
    classname: "policy-replay",
    name: "replay summary",
    out: summaryText,
  });
  const head = junitSuite("policy-replay", [summary], { failures: 0, properties: props });
  // The tool lists' suite comes first when it fails, else after the calls' suites.
  const tail = lists && lists.failures === 0 ? [lists.xml] : [];
  const lead = lists && lists.failures > 0 ? [lists.xml] : [];
  return junitDocument("policy-replay", [head, ...lead, ...body, ...tail], {
    tests,
    failures,
    skipped,
  });
}

/** The "and N more" case: failing when any of the calls or changes it stands for fails. */
function unlistedCase(classname: string, name: string, why: string, failing: boolean): string {
  return failing
    ? junitCase({ classname, name, failure: { type: "unlisted", message: why } })
    : junitCase({ classname, name, out: why });
}

/**
 * The suite "tool lists": a case per tool that appears in or disappears from an identity's
 * tools/list (classname the tool, named `<identity>: hidden`), failing when --fail-on names its
 * class; the classes --only leaves out in one "and N more" case. None when no list changed.
 */
function toolListSuite(
  ctx: ReportContext,
  s: Summary,
): { xml: string; tests: number; failures: number } | null {
  const v = s.visibility;
  if (!v || v.changes.length === 0) return null;
  const only = listedVisibility(ctx);
  const cases: string[] = [];
  let failures = 0;
  let more = 0;
  let moreFailing = 0;
  const listed = v.changes.filter((c) => only.includes(c.change));
  for (const c of [
    ...listed.filter((c) => visibilityFails(c, ctx.failOn)),
    ...listed.filter((c) => !visibilityFails(c, ctx.failOn)),
  ]) {
    const failing = visibilityFails(c, ctx.failOn);
    const kase = { classname: c.tool, name: `${c.identity}: ${c.change}` };
    const text = `${visibilitySentence(c)}\nidentity: ${c.identity}\ntool: ${c.tool}\nunder: ${ctx.candidate}`;
    if (failing) {
      failures++;
      const failure = { type: c.change, message: visibilitySentence(c), text };
      cases.push(junitCase({ ...kase, failure }));
    } else {
      cases.push(junitCase({ ...kase, out: text }));
    }
  }
  for (const c of v.changes) {
    if (only.includes(c.change)) continue;
    more++;
    if (visibilityFails(c, ctx.failOn)) moreFailing++;
  }
  if (more > 0) {
    const name = `and ${plural(more, "more tool-list change", "more tool-list changes")}`;
    const why = `${n(more)} more tool-list changes are not listed (${n(moreFailing)} fail the gate); --format json lists every one`;
    if (moreFailing > 0) failures++;
    cases.push(unlistedCase("tool lists", name, why, moreFailing > 0));
  }
  return { xml: junitSuite("tool lists", cases, { failures }), tests: cases.length, failures };
}

// The tool-list section of every report format, from a summary alone: absent when the summary
// has no comparison (a source that never compares lists), capped by --show, narrowed by --only.
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import type { GateClass } from "../../../src/replay/diff.js";
import {
  combine,
  type ReportContext,
  type ReportPart,
} from "../../../src/replay/report/context.js";
import { githubReportPart } from "../../../src/replay/report/github.js";
import { jsonReportPart } from "../../../src/replay/report/json.js";
import { junitReportPart } from "../../../src/replay/report/junit.js";
import { markdownReportPart } from "../../../src/replay/report/markdown.js";
import type { Sink } from "../../../src/replay/report/sink.js";
import { textReportPart } from "../../../src/replay/report/text.js";
import { SummaryBuilder } from "../../../src/replay/summary.js";
import type { Visibility, VisibilityChange } from "../../../src/replay/types.js";

const change = (
  identity: string,
  tool: string,
  c: "hidden" | "unhidden",
  sessions = 1,
): VisibilityChange => ({ identity, tool, change: c, sessions, calls: 0 });

const LISTS: Visibility = {
  known: true,
  lists_read: true,
  answers: 4,
  sessions: 4,
  malformed: 0,
  unknown_policy: 0,
  changes: [
    change("ops", "wipe", "hidden", 3),
    change("ci", "deploy", "unhidden", 2),
    change("ci", "wipe", "hidden"),
  ],
};

const POLICY = `{
  "version": "1",
  "hide": [
    "deploy_*",
    "wi?e"
  ]
}`;

type Part = (ctx: ReportContext, out: Sink) => ReportPart;
const FORMATS: Record<string, Part> = {
  text: (ctx, out) => textReportPart(ctx, out),
  json: jsonReportPart,
  markdown: markdownReportPart,
  junit: (ctx, out) => junitReportPart(ctx, out),
  github: (ctx, out) => githubReportPart(ctx, out),
};

/** A report of no calls in `format`, with `lists` (or none) as its tool-list comparison. */
function report(
  format: string,
  lists: Visibility | null,
  opts: { failOn?: GateClass[]; show?: number; only?: GateClass[] } = {},
): string {
  const ctx: ReportContext = {
    candidate: "p.json",
    baseline: null,
    source: "r.sqlite",
    failOn: opts.failOn ?? ["tightened", "loosened"],
    show: opts.show ?? 50,
    ...(opts.only ? { only: opts.only } : {}),
    candidateText: POLICY,
  };
  let text = "";
  const builder = new SummaryBuilder("recorded", ctx.failOn);
  if (lists) builder.visibility(lists);
  combine(builder, [FORMATS[format]!(ctx, { write: (s) => (text += s) })]).finish();
  return text;
}

describe("the tool-list section", () => {
  it("is absent from every format when the summary has no comparison", () => {
    for (const format of Object.keys(FORMATS)) {
      const out = report(format, null);
      expect(out, format).not.toMatch(/tool list|visibility/i);
    }
  });

  it("text: those failing the gate first, then the rest; --show caps it and says so", () => {
    const out = report("text", LISTS, { failOn: ["unhidden"], show: 2 });
    const lines = out.split("\n");
    const at = lines.indexOf("Tool lists (first 2 of 3; --show all lists every one):");
    expect(lines.slice(at + 1, at + 3)).toEqual([
      "  unhidden  deploy appears in ci's tool list (2 sessions had it hidden; 0 calls)",
      "  hidden    wipe disappears from ops's tool list (3 sessions listed it; 0 calls)",
    ]);
    expect(lines[0]).toBe(
      "0 calls in 0 sessions replayed. No decision changed; tool lists: 2 hidden, 1 unhidden.",
    );
    expect(lines[1]).toBe("Gate: FAIL — 1 change of a failing class (fails on unhidden).");
  });

  it("json: every change, in the summary's order, and the counts", () => {
    const doc = JSON.parse(report("json", LISTS, { show: 1 })) as {
      visibility: VisibilityChange[];
      summary: { visibility: Record<string, unknown> };
    };
    expect(doc.visibility).toEqual(LISTS.changes);
    expect(doc.summary.visibility).toMatchObject({ hidden: 2, unhidden: 1 });
    expect(doc.summary.visibility).not.toHaveProperty("changes");
  });

  it("markdown: --only narrows the table, the heading says of how many", () => {
    const out = report("markdown", LISTS, { only: ["unhidden"] });
    expect(out).toContain("3 tool-list changes (unhidden only: 1 of 3)");
    expect(out).toContain("| ci | deploy | unhidden | 2 | 0 | passes |");
    expect(out).not.toContain("| ops |");
  });

  it("junit: a case each; the classes --only leaves out in one case that fails if any would", () => {
    const xml = report("junit", LISTS, { failOn: ["hidden"], only: ["unhidden"] });
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, isArray: (n) => n === "testcase" }).parse(
      xml,
    ) as {
      testsuites: {
        "@_tests": string;
        "@_failures": string;
        testsuite: { "@_name": string; testcase: { "@_name": string; failure?: unknown }[] }[];
      };
    };
    const suite = doc.testsuites.testsuite.find((s) => s["@_name"] === "tool lists")!;
    expect(suite.testcase.map((c) => [c["@_name"], c.failure !== undefined])).toEqual([
      ["ci: unhidden", false],
      ["and 2 more tool-list changes", true],
    ]);
    expect(doc.testsuites["@_tests"]).toBe("3");
    expect(doc.testsuites["@_failures"]).toBe("1");
  });

  it("github: each at the hide entry that matches it, or the hide list for one it no longer hides", () => {
    const out = report("github", LISTS, { failOn: ["hidden"] });
    const lines = out.split("\n").filter((l) => l.startsWith("::") && l.includes("file="));
    expect(
      lines.map((l) => /^::(\w+) file=p\.json,line=(\d+),title=([^:]*)::/.exec(l)!.slice(1)),
    ).toEqual([
      ["error", "5", "policy-replay%3A hidden wipe"],
      ["error", "5", "policy-replay%3A hidden wipe"],
      ["warning", "3", "policy-replay%3A unhidden deploy"],
    ]);
  });
});

import { join } from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { compile } from "../../../src/engine/index.js";
import { loadPolicyFile } from "../../../src/policy/load.js";
import { replay } from "../../../src/replay/replay.js";
import type { ReportContext } from "../../../src/replay/report/context.js";
import { junitReportPart, xmlAttr, xmlText } from "../../../src/replay/report/junit.js";
import { SummaryBuilder } from "../../../src/replay/summary.js";
import { combine } from "../../../src/replay/report/context.js";
import { readTrace } from "../../../src/replay/trace.js";

const root = join(import.meta.dirname, "../../..");
const policy = (name: string) =>
  compile(loadPolicyFile(join(root, "fixtures/policies", name)).policy);

describe("XML escaping", () => {
  it("escapes markup in text and quotes and whitespace in attributes", () => {
    expect(xmlText(`a<b>&"c'`)).toBe(`a&lt;b&gt;&amp;"c'`);
    expect(xmlAttr(`a<b>&"c'\n\r\t`)).toBe(`a&lt;b&gt;&amp;&quot;c'&#10;&#13;&#9;`);
  });

  it("writes characters XML 1.0 cannot hold as visible \\u escapes, keeps the rest", () => {
    const all = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join("");
    const text = xmlText(all + "\ufffe\uffff\ud800x\udc00😀é");
    expect(XMLValidator.validate(`<a b="${xmlAttr(all)}">${text}</a>`)).toBe(true);
    expect(text).toContain("\\u0000\\u0001");
    expect(text).toContain("\t\n\\u000b\\u000c\r\\u000e");
    expect(text.endsWith("\\ufffe\\uffff\\ud800x\\udc00😀é")).toBe(true);
  });
});

describe("the case cap", () => {
  it("beyond it, one 'and N more' case per tool; the counts stay exact", () => {
    const ctx: ReportContext = {
      candidate: "c",
      baseline: "b",
      source: "s",
      failOn: ["tightened"],
      show: 50,
    };
    let xml = "";
    const builder = new SummaryBuilder("baseline", ctx.failOn);
    const writer = combine(builder, [junitReportPart(ctx, { write: (s) => (xml += s) }, 20)]);
    for (const r of replay(readTrace(join(root, "fixtures/traces/fleet-loop.jsonl")), {
      candidate: policy("fleet.tightened.json"),
      baseline: policy("fleet.json"),
      file: "t",
    }))
      writer.add(r);
    const summary = writer.finish();
    expect(XMLValidator.validate(xml)).toBe(true);
    type Case = { "@_name": string; failure?: unknown };
    type Suite = {
      "@_name": string;
      "@_tests": string;
      "@_failures": string;
      testcase: Case | Case[];
    };
    const doc = new XMLParser({ ignoreAttributes: false }).parse(xml) as {
      testsuites: { "@_tests": string; "@_failures": string; testsuite: Suite[] };
    };
    const suites = doc.testsuites.testsuite.slice(1);
    const cases = suites.flatMap((s) => (Array.isArray(s.testcase) ? s.testcase : [s.testcase]));
    const more = cases.filter((c) => c["@_name"].startsWith("and "));
    // 56 changed calls: 20 listed, the other 36 summed up per tool. The cases kept are the
    // failing ones, so the one `changed` call (index 42, within the first 20) is summed up.
    expect(cases.length - more.length).toBe(20);
    expect(cases.filter((c) => !c["@_name"].startsWith("and ")).every((c) => c.failure)).toBe(true);
    expect(more.map((c) => c["@_name"]).sort()).toEqual([
      "and 1 more changed call", // fleet_hosts_list: passes
      "and 26 more changed calls", // fleet_secrets_set
      "and 9 more changed calls", // fleet_secrets_get
    ]);
    expect(more.filter((c) => c.failure !== undefined)).toHaveLength(2);
    expect(Number(doc.testsuites["@_tests"])).toBe(1 + cases.length);
    // Failures: 20 listed tightened calls + 2 summaries.
    expect(Number(doc.testsuites["@_failures"])).toBe(20 + 2);
    // The suite with no failure comes last.
    expect(suites.at(-1)!["@_name"]).toBe("fleet_hosts_list");
    expect(summary.gate.failing).toBe(55);
  });
});

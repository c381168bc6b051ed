import type { CallResult } from "../replay.js";
import type { Summary, SummaryBuilder } from "../summary.js";
import { combine, type ReportContext, type ReportPart, type ReportWriter } from "./context.js";
import type { Sink } from "./sink.js";
import { ChangedCalls, listable, listedClasses, listingScope } from "./listing.js";
import { CHANGED_HEAD, contextLines, TABLE_ROWS, tallyHead, tallyRows } from "./text.js";
import { visibilityFails, visibilityListing, visibilityScope } from "./tool-lists.js";
import { gateLine, headline, marks, n, outcomeText, plural, ruleText, tableTime } from "./words.js";

/**
 * Markdown text that renders as itself: control characters become spaces (a newline would end
 * a table row) and every character Markdown or HTML would act on is backslash-escaped, which
 * CommonMark allows for any ASCII punctuation (and GFM tables need for `|`).
 */
export function mdEscape(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]+/g, " ").replace(/[\\`*_[\]<>|~&]/g, "\\$&");
}

function mdTable(head: readonly string[], rows: (string | number)[][], right: boolean[]): string {
  const cell = (c: string | number) => (typeof c === "number" ? n(c) : mdEscape(c));
  return [
    `| ${head.map(mdEscape).join(" | ")} |`,
    `| ${right.map((r) => (r ? "---:" : ":---")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

/**
 * The tools that appear in or disappear from an identity's tools/list, as a table (those
 * failing the gate first, up to --show); nothing when no list changed.
 */
function toolLists(ctx: ReportContext, s: Summary): string[] {
  const v = s.visibility;
  if (!v || v.changes.length === 0) return [];
  const { items, eligible } = visibilityListing(ctx, v);
  const scope = visibilityScope(ctx, v, items.length, eligible, null);
  const out = ["", "### Tool lists", ""];
  out.push(
    `${plural(v.changes.length, "tool-list change")}${scope === null ? "" : ` (${scope})`}: a tool that disappears from an identity's \`tools/list\` (hidden), or appears in it (unhidden).`,
  );
  if (items.length > 0) {
    out.push(
      "",
      mdTable(
        ["identity", "tool", "change", "sessions", "calls", "gate"],
        items.map((c) => [
          c.identity,
          c.tool,
          c.change,
          c.sessions,
          c.calls,
          visibilityFails(c, ctx.failOn) ? "fails" : "passes",
        ]),
        [false, false, false, true, true, false],
      ),
    );
  }
  return out;
}

/**
 * A report for a pull-request comment or a job summary: the answer and the gate, the context,
 * tables by tool and identity, then the first `show` changed calls in a collapsible block with
 * "and N more". Keeps only those calls.
 */
export function markdownReportWriter(
  ctx: ReportContext,
  builder: SummaryBuilder,
  out: Sink,
): ReportWriter {
  return combine(builder, [markdownReportPart(ctx, out)]);
}

/** markdownReportWriter's view, for combining with others over one summary. */
export function markdownReportPart(ctx: ReportContext, out: Sink): ReportPart {
  const listed = new ChangedCalls(ctx);
  return {
    add(r) {
      listed.add(r);
    },
    finish(s) {
      out.write(markdownReport(ctx, s, listed.items()));
    },
  };
}

/**
 * The whole markdown report for a finished replay; `listed` holds the changed calls to show,
 * in the order to show them (those failing the gate first).
 */
export function markdownReport(ctx: ReportContext, s: Summary, listed: CallResult[]): string {
  const compared = s.basis !== "none";
  const status = !compared
    ? "nothing to compare"
    : s.gate.failed
      ? "❌ gate failed"
      : "✅ gate passed";
  const out: string[] = [`## policy-replay: ${status}`, "", `**${mdEscape(headline(s))}**`];
  const gate = gateLine(s);
  if (gate) out.push("", mdEscape(gate).replace(/^Gate: (FAIL|pass)/, "**Gate: $1**"));
  out.push("", ...contextLines(ctx, s).map((l) => `- ${mdEscape(l)}`));

  const head = tallyHead(compared);
  for (const [title, by, many] of [
    ["tool", s.by_tool, "tools"],
    ["identity", s.by_identity, "identities"],
  ] as const) {
    const keys = Object.keys(by).length;
    out.push("", `### By ${title}`, "");
    out.push(
      mdTable([title, ...head], tallyRows(by, compared, TABLE_ROWS), [
        false,
        ...head.map(() => true),
      ]),
    );
    if (keys > TABLE_ROWS) out.push("", `_… and ${n(keys - TABLE_ROWS)} more ${many}._`);
  }

  out.push(...toolLists(ctx, s));

  if (compared && s.changes.total > 0) {
    const more = s.changes.total - listed.length;
    const scope = listingScope(s, ctx, listed.length, null);
    out.push("", "### Changed calls", "");
    out.push(
      "<details>",
      `<summary>${plural(s.changes.total, "changed call")}${scope === null ? "" : ` (${scope})`}</summary>`,
      "",
    );
    if (listed.length > 0) {
      out.push(
        mdTable(
          CHANGED_HEAD,
          listed.map((r) => [
            r.source.index,
            r.source.call.session,
            r.ordinal,
            tableTime(r.source.call.ts),
            r.source.call.tool,
            r.change!,
            outcomeText(r.before!),
            outcomeText(r.after),
            ruleText(r),
            marks(r).join(" "),
          ]),
          [true, false, true, false, false, false, false, false, false, false],
        ),
      );
    }
    if (more > 0) {
      const cut = listed.length < listable(s, listedClasses(ctx));
      out.push(
        "",
        `… and ${plural(more, "more changed call", "more changed calls")} (${cut ? "`--show all` lists every one; " : ""}\`--format json\` has every call).`,
      );
    }
    out.push("", "</details>");
  }
  return out.join("\n") + "\n";
}

import Table from "cli-table3";
import type { CallResult } from "../replay.js";
import type { Summary, SummaryBuilder, Tally } from "../summary.js";
import { combine, type ReportContext, type ReportPart, type ReportWriter } from "./context.js";
import { ChangedCalls, listRank, listingScope } from "./listing.js";
import type { Sink } from "./sink.js";
import { plain, type Style } from "./style.js";
import {
  classStyle,
  gateLine,
  headline,
  iso,
  marks,
  n,
  outcomeText,
  plural,
  ruleText,
  tableTime,
} from "./words.js";

export { formatMs } from "./words.js";

/** How many rows the by-tool and by-identity tables show. */
export const TABLE_ROWS = 20;

function table(head: string[], rows: (string | number)[][], aligns: ("left" | "right")[]): string {
  const t = new Table({
    head,
    chars: {
      top: "",
      "top-mid": "",
      "top-left": "",
      "top-right": "",
      bottom: "",
      "bottom-mid": "",
      "bottom-left": "",
      "bottom-right": "",
      left: "  ",
      "left-mid": "",
      mid: "",
      "mid-mid": "",
      right: "",
      "right-mid": "",
      middle: "  ",
    },
    // No colours from cli-table3 itself: it would decide on its own whether the terminal
    // takes them. Cells arrive already styled (or not).
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0, compact: true },
    colAligns: aligns,
  });
  t.push(...rows.map((r) => r.map((c) => (typeof c === "number" ? n(c) : c))));
  return t.toString();
}

/** The changed calls' table's columns, in the text and markdown reports alike. */
export const CHANGED_HEAD: readonly string[] = [
  "#",
  "session",
  "call",
  "time (UTC)",
  "tool",
  "class",
  "before",
  "after",
  "rule",
  "marks",
];

/** The by-tool / by-identity table's columns after the key. */
export function tallyHead(compared: boolean): string[] {
  return compared
    ? ["calls", "allow", "deny", "approval", "tightened", "loosened", "changed"]
    : ["calls", "allow", "deny", "approval"];
}

/** The first `limit` rows of a tally table, most-changed first (the summary's order). */
export function tallyRows(
  byKey: Record<string, Tally>,
  compared: boolean,
  limit: number,
): (string | number)[][] {
  return Object.entries(byKey)
    .slice(0, limit)
    .map(([k, t]) =>
      compared
        ? [k, t.calls, t.allow, t.deny, t.approval_required, t.tightened, t.loosened, t.changed]
        : [k, t.calls, t.allow, t.deny, t.approval_required],
    );
}

/** The lines under the headline and gate: where the calls came from and what they were held to. */
export function contextLines(ctx: ReportContext, s: Summary): string[] {
  const lines: string[] = [];
  const span =
    s.from_ts !== null && s.to_ts !== null
      ? `; calls from ${iso(s.from_ts)} to ${iso(s.to_ts)}`
      : "";
  lines.push(`Source: ${ctx.source} (${plural(s.identities, "identity", "identities")}${span}).`);
  const against =
    s.basis === "baseline"
      ? `, compared with baseline ${ctx.baseline}`
      : s.basis === "recorded"
        ? ", compared with the recorded decisions"
        : "";
  lines.push(`Policy: ${ctx.candidate}${against}.`);
  if (ctx.accept) {
    const a = s.accepted;
    const by = (["tightened", "loosened", "changed"] as const)
      .filter((c) => a[c] > 0)
      .map((c) => `${n(a[c])} ${c}`)
      .join(", ");
    lines.push(
      `Accept list: ${ctx.accept}; ${plural(a.total, "change")} accepted${by ? ` (${by})` : ""}, which never fail the gate.`,
    );
  }
  if (s.counterfactual_changes > 0) {
    lines.push(
      `${n(s.counterfactual_changes)} of the ${plural(s.changes.total, "changed call")} follow an earlier change in their session (counterfactual: the agent might have acted differently).`,
    );
  }
  lines.push(
    `Decisions: ${n(s.decisions.allow)} allow, ${n(s.decisions.deny)} deny, ${n(s.decisions.approval_required)} approval_required.`,
  );
  if (s.inexact > 0)
    lines.push(
      `${plural(s.inexact, "call")} depended on values the recording does not hold in clear (inexact).`,
    );
  return lines;
}

/**
 * The human report: the answer first (how many calls, how many changed and how, the gate), then
 * tables by tool and identity, then the changed calls, those failing the gate first. Changed
 * calls beyond `show` are counted, not kept. `style` colours it (for a terminal).
 */
export function textReportWriter(
  ctx: ReportContext,
  builder: SummaryBuilder,
  out: Sink,
  style: Style = plain,
): ReportWriter {
  return combine(builder, [textReportPart(ctx, out, style)]);
}

/** textReportWriter's view, for combining with others over one summary. */
export function textReportPart(ctx: ReportContext, out: Sink, style: Style = plain): ReportPart {
  const listed = new ChangedCalls(ctx);
  return {
    add(r) {
      listed.add(r);
    },
    finish(s) {
      out.write(textReport(ctx, s, listed.items(), style));
    },
  };
}

/**
 * The whole text report for a finished replay; `listed` holds the changed calls to show, in
 * the order to show them.
 */
export function textReport(
  ctx: ReportContext,
  s: Summary,
  listed: CallResult[],
  style: Style = plain,
): string {
  const compared = s.basis !== "none";
  const lines: string[] = [style.bold(headline(s, style))];
  const gate = gateLine(s, style);
  if (gate) lines.push(gate);
  lines.push("", ...contextLines(ctx, s));

  const head = tallyHead(compared);
  const aligns = (k: number): ("left" | "right")[] => ["left", ...Array<"right">(k).fill("right")];
  for (const [title, by] of [
    ["tool", s.by_tool],
    ["identity", s.by_identity],
  ] as const) {
    const keys = Object.keys(by).length;
    lines.push(
      "",
      style.bold(`By ${title}${keys > TABLE_ROWS ? ` (top ${TABLE_ROWS} of ${n(keys)})` : ""}:`),
    );
    lines.push(
      table(
        [title, ...head].map((h) => style.dim(h)),
        tallyRows(by, compared, TABLE_ROWS),
        aligns(head.length),
      ),
    );
  }

  if (compared && s.changes.total > 0) {
    const scope = listingScope(s, ctx, listed.length, "--show all lists every one");
    lines.push("", style.bold(`Changed calls${scope === null ? "" : ` (${scope})`}:`));
    if (listed.length > 0) {
      const rows = listed.map((r) => [
        r.source.index,
        r.source.call.session,
        r.ordinal,
        tableTime(r.source.call.ts),
        r.source.call.tool,
        classStyle(r.change!, style)(r.change!),
        outcomeText(r.before!),
        outcomeText(r.after),
        ruleText(r),
        marks(r)
          .map((m) => (m === "accepted" ? style.green(m) : style.dim(m)))
          .join(" "),
      ]);
      lines.push(
        table(
          CHANGED_HEAD.map((h) => style.dim(h)),
          rows,
          ["right", "left", "right", "left", "left", "left", "left", "left", "left", "left"],
        ),
      );
    }
    const failingFirst =
      listed.some((r) => listRank(r, ctx.failOn) === 0) &&
      listed.some((r) => listRank(r, ctx.failOn) > 0);
    lines.push(
      "",
      style.dim(
        `${failingFirst ? "Calls that fail the gate come first. " : ""}tightened: allow became deny or approval (or approval became deny); loosened: the reverse; changed: same decision, other code or rule.`,
      ),
    );
  }
  return lines.join("\n") + "\n";
}

/** The headline and the gate line: what --out leaves on stdout. */
export function shortSummary(s: Summary, style: Style = plain): string {
  const gate = gateLine(s, style);
  return [style.bold(headline(s, style)), ...(gate ? [gate] : [])].join("\n") + "\n";
}

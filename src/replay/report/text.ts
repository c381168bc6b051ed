import type { CallResult } from "../replay.js";
import type { Summary, SummaryBuilder, Tally } from "../summary.js";
import { combine, type ReportContext, type ReportPart, type ReportWriter } from "./context.js";
import {
  type Cell,
  clean,
  type Column,
  cut,
  fitWidths,
  naturalWidths,
  narrowest,
  renderTable,
  tableWidth,
  wrap,
} from "./fit.js";
import { ChangedCalls, listRank, listingScope } from "./listing.js";
import type { Sink } from "./sink.js";
import { plain, type Style } from "./style.js";
import {
  visibilityContext,
  visibilityListing,
  visibilityScope,
  visibilitySentence,
} from "./tool-lists.js";
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
  visibilityStyle,
} from "./words.js";

export { formatMs } from "./words.js";

/** How many rows the by-tool and by-identity tables show. */
export const TABLE_ROWS = 20;

/** A table in `width` columns, cutting the columns that have a `min` (as far as they go). */
function table(cols: Column[], rows: Cell[][], width: number, style: Style): string[] {
  return renderTable(cols, rows, narrowest(cols, rows, width), style);
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
  const lists = visibilityContext(s);
  if (lists !== null) lines.push(lists);
  return lines;
}

/**
 * The human report: the answer first (how many calls, how many changed and how, the gate), then
 * tables by tool and identity, then the changed calls, those failing the gate first. Changed
 * calls beyond `show` are counted, not kept. `style` colours it (for a terminal); `width` is
 * the terminal's, which the report keeps to (Infinity: no limit, for files and pipes).
 */
export function textReportWriter(
  ctx: ReportContext,
  builder: SummaryBuilder,
  out: Sink,
  style: Style = plain,
  width = Infinity,
): ReportWriter {
  return combine(builder, [textReportPart(ctx, out, style, width)]);
}

/** textReportWriter's view, for combining with others over one summary. */
export function textReportPart(
  ctx: ReportContext,
  out: Sink,
  style: Style = plain,
  width = Infinity,
): ReportPart {
  const listed = new ChangedCalls(ctx);
  return {
    add(r) {
      listed.add(r);
    },
    finish(s) {
      out.write(textReport(ctx, s, listed.items(), style, width));
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
  width = Infinity,
): string {
  const compared = s.basis !== "none";
  const lines: string[] = [];
  // Prose breaks at spaces to fit the width; tables are fitted on their own.
  const say = (...ls: string[]) => {
    for (const l of ls) lines.push(...wrap(l, width));
  };
  say(style.bold(headline(s, style)));
  const gate = gateLine(s, style);
  if (gate) say(gate);
  say("", ...contextLines(ctx, s));

  const head = tallyHead(compared);
  for (const [title, by] of [
    ["tool", s.by_tool],
    ["identity", s.by_identity],
  ] as const) {
    const keys = Object.keys(by).length;
    say(
      "",
      style.bold(`By ${title}${keys > TABLE_ROWS ? ` (top ${TABLE_ROWS} of ${n(keys)})` : ""}:`),
    );
    const cols: Column[] = [
      { head: title, align: "left", min: 8, cutAt: "middle" },
      ...head.map((h): Column => ({ head: h, align: "right" })),
    ];
    const rows = tallyRows(by, compared, TABLE_ROWS).map((r) =>
      r.map((c) => (typeof c === "number" ? n(c) : clean(c))),
    );
    lines.push(...table(cols, rows, width, style));
  }

  for (const l of toolListLines(ctx, s, style)) say(l);

  if (compared && s.changes.total > 0) {
    const [title, ...rows] = changedCallLines(ctx, s, listed, style, width);
    say("", title!);
    lines.push(...rows);
    const failingFirst =
      listed.some((r) => listRank(r, ctx.failOn) === 0) &&
      listed.some((r) => listRank(r, ctx.failOn) > 0);
    say(
      "",
      style.dim(
        `${failingFirst ? "Calls that fail the gate come first. " : ""}tightened: allow became deny or approval (or approval became deny); loosened: the reverse; changed: same decision, other code or rule.`,
      ),
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * The tools that appear in or disappear from an identity's tools/list, a sentence each (those
 * failing the gate first, up to --show), after a blank line; none when no list changed.
 */
function toolListLines(ctx: ReportContext, s: Summary, style: Style): string[] {
  const v = s.visibility;
  if (!v || v.changes.length === 0) return [];
  const { items, eligible } = visibilityListing(ctx, v);
  const scope = visibilityScope(ctx, v, items.length, eligible, "--show all lists every one");
  const out = ["", style.bold(`Tool lists${scope === null ? "" : ` (${scope})`}:`)];
  const width = Math.max(...items.map((c) => c.change.length));
  for (const c of items) {
    const cls = visibilityStyle(c.change, style)(c.change.padEnd(width));
    out.push(`  ${cls}  ${clean(visibilitySentence(c))}`);
  }
  // Said once, to a gate that names neither class (the default).
  if (items.length > 0 && !ctx.failOn.some((c) => c === "hidden" || c === "unhidden"))
    out.push(
      style.dim(
        "These pass the gate: --fail-on hidden fails it when a tool disappears, unhidden when one appears.",
      ),
    );
  return out;
}

/** The changed calls' table, a row a call: in a terminal only session ids may be shortened. */
const ONE_LINE: readonly Column[] = [
  { head: "#", align: "right" },
  // A session id stays recognisable from its first characters, as a commit's does.
  { head: "session", align: "left", min: 9 },
  { head: "call", align: "right" },
  { head: "time (UTC)", align: "left" },
  { head: "tool", align: "left" },
  { head: "class", align: "left" },
  { head: "before", align: "left" },
  { head: "after", align: "left" },
  { head: "rule", align: "left" },
  { head: "marks", align: "left" },
];

/** Two lines a call: these columns, then the decisions and the rule on a line of their own. */
const TWO_LINE: readonly Column[] = [
  ONE_LINE[0]!,
  { ...ONE_LINE[1]!, cutOrder: 0 },
  ONE_LINE[2]!,
  ONE_LINE[3]!,
  // Cut in the middle, so that fleet_secrets_get and fleet_secrets_set stay apart.
  { head: "tool", align: "left", min: 12, cutOrder: 1, cutAt: "middle" },
  ONE_LINE[5]!,
  // Never cut: a cut word would hide a mark.
  ONE_LINE[9]!,
];

/**
 * The changed calls' heading and table, fitted to `width`: a row a call when it fits, else
 * with the date left to the heading (when every listed call shares one) and session ids
 * shortened; narrower, two lines a call (the decisions below the rest); narrower still, a
 * block of short lines a call. Every cut is marked with an ellipsis.
 */
function changedCallLines(
  ctx: ReportContext,
  s: Summary,
  listed: CallResult[],
  style: Style,
  width: number,
): string[] {
  const scope = listingScope(s, ctx, listed.length, "--show all lists every one");
  const title = (on: string) =>
    style.bold(`Changed calls${on}${scope === null ? "" : ` (${scope})`}:`);
  if (listed.length === 0) return [title("")];
  const markCell = (r: CallResult): Cell => ({
    text: marks(r).join(" "),
    style: (t) =>
      t
        .split(" ")
        .map((m) => (m === "accepted" ? style.green(m) : style.dim(m)))
        .join(" "),
  });
  const rowsWith = (time: (ts: number) => string): Cell[][] =>
    listed.map((r) => [
      String(r.source.index),
      clean(r.source.call.session),
      String(r.ordinal),
      time(r.source.call.ts),
      clean(r.source.call.tool),
      { text: r.change!, style: classStyle(r.change!, style) },
      outcomeText(r.before!),
      outcomeText(r.after),
      clean(ruleText(r)),
      markCell(r),
    ]);
  const full = rowsWith(tableTime);
  const natural = naturalWidths(ONE_LINE, full);
  if (tableWidth(natural) <= width) {
    return [title(""), ...renderTable(ONE_LINE, full, natural, style)];
  }
  const day = oneDay(listed);
  const on = day === null ? "" : ` on ${day}`;
  const rows = day === null ? full : rowsWith((ts) => tableTime(ts).slice(11));
  const one = fitWidths(ONE_LINE, rows, width);
  if (one) return [title(on), ...renderTable(ONE_LINE, rows, one, style)];

  const heads = rows.map((r) => [r[0]!, r[1]!, r[2]!, r[3]!, r[4]!, r[5]!, r[9]!]);
  const two = fitWidths(TWO_LINE, heads, width);
  if (two === null) return [title(""), ...stacked(listed, style, width)];
  const table = renderTable(TWO_LINE, heads, two, style);
  // The second line starts under the session column.
  const indent = " ".repeat(2 + two[0]! + 2);
  const room = width - indent.length;
  const out = [title(on), table[0]!, indent + style.dim(cut("before -> after; rule", room))];
  listed.forEach((r, i) => {
    out.push(table[i + 1]!, indent + cut(detail(r), room));
  });
  return out;
}

/** `allow rule_allow -> deny hidden; rule fleet_* -> -`: a change on one line. */
function detail(r: CallResult): string {
  const rule = ruleText(r);
  return `${outcomeText(r.before!)} -> ${outcomeText(r.after)}; ${rule === "-" ? "no rule" : `rule ${clean(rule)}`}`;
}

/** The UTC date every call shares, or null. */
function oneDay(listed: CallResult[]): string | null {
  const day = iso(listed[0]!.source.call.ts).slice(0, 10);
  return listed.every((r) => iso(r.source.call.ts).startsWith(day)) ? day : null;
}

/**
 * Changed calls for a narrow terminal, a block each: the index in the margin, then the class
 * and tool, where and when, before -> after, the rule and marks; every line cut to `width`.
 */
function stacked(listed: CallResult[], style: Style, width: number): string[] {
  const margin = 2 + Math.max(...listed.map((r) => String(r.source.index).length)) + 2;
  const room = Math.max(1, width - margin);
  const indent = " ".repeat(margin);
  const out: string[] = [];
  for (const r of listed) {
    const { call } = r.source;
    const cls = r.change!;
    const first = cut(`${cls}  ${clean(call.tool)}`, room);
    const rule = ruleText(r);
    out.push(
      `${String(r.source.index).padStart(margin - 2)}  ${classStyle(cls, style)(first.slice(0, cls.length))}${first.slice(cls.length)}`,
      indent + cut(`${clean(call.session)} call ${r.ordinal}, ${tableTime(call.ts)}`, room),
      indent + cut(`${outcomeText(r.before!)} -> ${outcomeText(r.after)}`, room),
      indent + cut(rule === "-" ? "no rule" : `rule ${clean(rule)}`, room),
    );
    const m = marks(r).join(" ");
    if (m !== "") out.push(indent + style.dim(cut(m, room)));
  }
  return out;
}

/** The headline and the gate line: what --out leaves on stdout. */
export function shortSummary(s: Summary, style: Style = plain): string {
  const gate = gateLine(s, style);
  return [style.bold(headline(s, style)), ...(gate ? [gate] : [])].join("\n") + "\n";
}

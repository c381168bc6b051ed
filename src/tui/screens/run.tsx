import { Box } from "ink";
import type { DiffRow, RunRow } from "../../store/browse.js";
import {
  type Cell,
  type Column,
  classSeg,
  contentWidths,
  clock,
  count,
  dateTime,
  decisionSeg,
  layoutColumns,
  tableHeader,
  tableRow,
} from "../format.js";
import type { Screen } from "../state.js";
import type { Line, Seg } from "../text.js";
import { LineView } from "../widgets/Lines.js";
import { List } from "../widgets/list/List.js";
import { against, runPolicy } from "./runs.js";

export const DIFF_COLUMNS: readonly Column[] = [
  { title: "time", min: 8, grow: 1, max: 12 },
  { title: "tool", min: 10, grow: 4, max: 36 },
  { title: "identity", min: 8, grow: 1, max: 20, drop: 1 },
  { title: "before", min: 10 },
  { title: "after", min: 10 },
  { title: "class", min: 11 },
  { title: "marks", min: 4 },
];

const CLASS_WORDS = {
  all: "every result",
  tightened: "tightened only",
  loosened: "loosened only",
  changed: "changed only",
  inexact: "inexact only",
} as const;

/**
 * One changed (or inexact) call's cells in a run's diff list; the time to the second when
 * `timeWidth` has no room for the milliseconds (the timeline has them).
 */
export function diffCells(d: DiffRow, timeWidth = 12): Cell[] {
  const marks: Seg[] = [];
  if (d.counterfactual) marks.push({ text: "cf", tone: "muted" });
  if (d.inexact) marks.push({ text: marks.length ? " ≈" : "≈", tone: "changed" });
  return [
    { text: d.ts === null ? "?" : clock(d.ts).slice(0, timeWidth >= 12 ? 12 : 8), tone: "muted" },
    { text: d.tool ?? `call ${d.call}` },
    { text: d.identity ?? "?" },
    decisionSeg(d.old.decision, d.old.code),
    decisionSeg(d.new.decision, d.new.code),
    classSeg(d.class),
    marks.length > 0 ? marks : { text: "" },
  ];
}

/** One changed (or inexact) call as a row of a run's diff list. */
export function diffRow(d: DiffRow, widths: readonly number[]): Line {
  return tableRow(diffCells(d, widths[0] ?? 0), DIFF_COLUMNS, widths);
}

/** The two lines above a run's diff list. */
export function runHeader(r: RunRow, cls: keyof typeof CLASS_WORDS, filter: string): Line[] {
  const m = (text: string): Seg => ({ text, tone: "muted" });
  return [
    [
      { text: ` run ${r.id}`, bold: true },
      m(" · candidate "),
      { text: runPolicy(r) },
      m(" vs "),
      { text: against(r) },
      m(` · ${dateTime(r.createdAt)}`),
    ],
    [
      m(` ${count(r.calls)} calls · `),
      { text: `▲ ${count(r.tightened)}`, tone: r.tightened ? "tightened" : "muted" },
      m(" · "),
      { text: `▼ ${count(r.loosened)}`, tone: r.loosened ? "loosened" : "muted" },
      m(" · "),
      { text: `~ ${count(r.changed)}`, tone: r.changed ? "changed" : "muted" },
      m(` · cf ${count(r.counterfactual)} · ≈ ${count(r.inexact)} · gate `),
      r.gateFailed ? { text: "FAIL", tone: "deny" } : { text: "pass", tone: "allow" },
      m(" · showing "),
      { text: CLASS_WORDS[cls], tone: "accent" },
      ...(filter ? [m(" · filter "), { text: `"${filter}"`, tone: "accent" as const }] : []),
    ],
  ];
}

/** A saved run: its header, then its changed (and inexact) calls, filtered by class and text. */
export function RunView({
  screen,
  width,
}: {
  screen: Extract<Screen, { kind: "run" }>;
  width: number;
}) {
  const widths = layoutColumns(
    DIFF_COLUMNS,
    width - 2,
    // Measured to the second: the milliseconds get only room nothing else needs.
    contentWidths(screen.list.rows.map((d) => diffCells(d, 8))),
  );
  const [a, b] = runHeader(screen.run, screen.query.class, screen.query.filter);
  const filtered = screen.query.filter !== "" || screen.query.class !== "all";
  const empty = filtered
    ? "No result matches. c changes the class shown, Esc clears the filter."
    : "No decision changed in this run, and none was inexact.";
  return (
    <Box flexDirection="column">
      <LineView line={a!} width={width} />
      <LineView line={b!} width={width} />
      <List
        state={screen.list}
        width={width}
        header={tableHeader(DIFF_COLUMNS, widths)}
        row={(d) => diffRow(d, widths)}
        empty={empty}
        rowKey={(d) => d.call}
      />
    </Box>
  );
}

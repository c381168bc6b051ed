import { basename } from "node:path";
import { Box } from "ink";
import type { RunRow } from "../../store/browse.js";
import {
  type Cell,
  type Column,
  contentWidths,
  count,
  dateTime,
  layoutColumns,
  short,
  tableHeader,
  tableRow,
} from "../format.js";
import type { Screen } from "../state.js";
import { type Line, lineText, type Seg, width as textWidth } from "../text.js";
import { LineView } from "../widgets/Lines.js";
import { List } from "../widgets/list/List.js";

export const RUN_COLUMNS: readonly Column[] = [
  { title: "run", min: 4, align: "right" },
  { title: "created", min: 14 },
  { title: "candidate", min: 12, grow: 3, max: 40 },
  { title: "against", min: 9, grow: 1, max: 30, drop: 2 },
  { title: "calls", min: 7, align: "right" },
  { title: "▲", min: 5, align: "right" },
  { title: "▼", min: 5, align: "right" },
  { title: "~", min: 5, align: "right" },
  { title: "cf", min: 5, align: "right", drop: 3 },
  { title: "≈", min: 5, align: "right", drop: 1 },
  { title: "gate", min: 4 },
];

/** A policy path as it fits: the file's name. */
export const policyName = (path: string): string => basename(path) || path;

/** What a run was compared with: a baseline policy, or the recorded decisions. */
export const against = (r: RunRow): string =>
  r.baselinePath === null ? "recorded" : policyName(r.baselinePath);

/** One saved run's cells in the runs table. */
export function runCells(r: RunRow): Cell[] {
  const n = (v: number, tone: Seg["tone"]): Seg => ({
    text: count(v),
    tone: v > 0 ? tone : "muted",
  });
  const created = dateTime(r.createdAt).slice(5);
  return [
    { text: String(r.id) },
    { text: created },
    { text: policyName(r.policyPath) },
    { text: against(r), tone: "muted" },
    { text: count(r.calls) },
    n(r.tightened, "tightened"),
    n(r.loosened, "loosened"),
    n(r.changed, "changed"),
    n(r.counterfactual, "muted"),
    n(r.inexact, "changed"),
    r.gateFailed ? { text: "FAIL", tone: "deny" } : { text: "pass", tone: "allow" },
  ];
}

/** One saved run as a row of the runs table. */
export function runRow(r: RunRow, widths: readonly number[]): Line {
  return tableRow(runCells(r), RUN_COLUMNS, widths);
}

/**
 * The saved runs, newest first, with their candidate policy and counts by class; the header
 * says instead why some are not shown, when some are not.
 */
export function RunsView({
  screen,
  width,
}: {
  screen: Extract<Screen, { kind: "runs" }>;
  width: number;
}) {
  const widths = layoutColumns(
    RUN_COLUMNS,
    width - 2,
    contentWidths(screen.list.rows.map(runCells)),
  );
  const header: Line = [
    {
      text: ` ${count(screen.total)} saved replay run${screen.total === 1 ? "" : "s"}`,
      bold: true,
    },
    screen.notice === null
      ? { text: " · newest first", tone: "muted" }
      : { text: ` · ${screen.notice}`, tone: "changed" },
  ];
  // What the columns hold, when there is room to say it whole.
  const about = " · candidate policy, and what it was compared with";
  if (screen.notice === null && textWidth(lineText(header)) + textWidth(about) <= width)
    header.push({ text: about, tone: "muted" });
  return (
    <Box flexDirection="column">
      <LineView line={header} width={width} />
      <List
        state={screen.list}
        width={width}
        header={tableHeader(RUN_COLUMNS, widths)}
        row={(r) => runRow(r, widths)}
        rowKey={(r) => r.id}
        empty="No saved replay runs for this recording yet: replay it (without --no-save) to see one here."
      />
    </Box>
  );
}

/** The candidate's short hash, for headers. */
export const runPolicy = (r: RunRow): string =>
  `${policyName(r.policyPath)} (${short(r.policyHash)})`;

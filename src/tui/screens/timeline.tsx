import { Box } from "ink";
import type { CallCounts, CallRow, SessionRow } from "../../store/browse.js";
import {
  approvalText,
  type Cell,
  type Column,
  contentWidths,
  clock,
  count,
  dateTime,
  decisionSeg,
  duration,
  layoutColumns,
  limitText,
  retryText,
  tableHeader,
  tableRow,
} from "../format.js";
import type { Screen } from "../state.js";
import type { Line, Seg } from "../text.js";
import { LineView } from "../widgets/Lines.js";
import { List } from "../widgets/list/List.js";

export const CALL_COLUMNS: readonly Column[] = [
  { title: "time", min: 12 },
  { title: "tool", min: 12, grow: 3, max: 36 },
  { title: "decision", min: 10 },
  { title: "code", min: 12, grow: 1, max: 18, drop: 1 },
  { title: "rule · limit", min: 10, grow: 4 },
];

/** What the last column says: the rule, or for a rate limit the counter, how full, the retry. */
export function ruleNote(c: CallRow): Seg[] {
  const segs: Seg[] = [];
  if (c.code === "rate_limited" && c.limit !== null) {
    segs.push({ text: `${limitText(c.limit)}, ${retryText(c.retryAfterMs)}`, tone: "limited" });
  } else {
    segs.push({ text: c.rule ?? "—", ...(c.rule === null ? { tone: "muted" as const } : {}) });
    const approval = approvalText(c.approval);
    if (approval !== null) segs.push({ text: ` · ${approval}`, tone: "muted" });
  }
  if (c.inexact) segs.push({ text: " ≈", tone: "changed" });
  return segs;
}

/** One call's cells in the timeline. */
export function callCells(c: CallRow): Cell[] {
  return [
    { text: clock(c.ts), tone: "muted" },
    { text: c.tool },
    decisionSeg(c.decision, c.code),
    { text: c.code },
    ruleNote(c),
  ];
}

/** One call as a row of the timeline. */
export function callRow(c: CallRow, widths: readonly number[]): Line {
  return tableRow(callCells(c), CALL_COLUMNS, widths);
}

/** The two lines above the timeline: who and what, then when, how long and how it went. */
export function timelineHeader(s: SessionRow, counts: CallCounts | null, filter: string): Line[] {
  const m = (text: string): Seg => ({ text, tone: "muted" });
  const tally: Seg[] = counts
    ? [
        m(" · "),
        { text: `${count(counts.calls)} calls` },
        m(": "),
        {
          text: `${count(counts.denied)} denied`,
          ...(counts.denied > 0 ? { tone: "deny" as const } : {}),
        },
        m(", "),
        {
          text: `${count(counts.rateLimited)} rate-limited`,
          ...(counts.rateLimited > 0 ? { tone: "limited" as const } : {}),
        },
        m(", "),
        {
          text: `${count(counts.approvals)} approval${counts.approvals === 1 ? "" : "s"}`,
          ...(counts.approvals > 0 ? { tone: "approval" as const } : {}),
        },
      ]
    : [m(" · counting calls…")];
  return [
    [
      { text: ` ${s.identity}`, bold: true },
      m(" · "),
      { text: s.client ?? "?" },
      m(" → "),
      { text: s.server ?? "?" },
      m(` · ${s.transport} · ${s.mode}`),
    ],
    [
      m(` ${dateTime(s.startedAt)} · `),
      { text: s.endedAt === null ? "still open" : duration(s.endedAt - s.startedAt) },
      ...tally,
      ...(filter ? [m(" · filter "), { text: `"${filter}"`, tone: "accent" as const }] : []),
    ],
  ];
}

/** A session's timeline: who, when and how it went, then its calls in order. */
export function TimelineView({
  screen,
  width,
  counts,
}: {
  screen: Extract<Screen, { kind: "timeline" }>;
  width: number;
  counts: CallCounts | null;
}) {
  const widths = layoutColumns(
    CALL_COLUMNS,
    width - 2,
    contentWidths(screen.list.rows.map(callCells)),
  );
  // The tally is the whole session's, filtered or not: the filter has its own note beside it.
  const [a, b] = timelineHeader(screen.session, counts, screen.filter);
  const empty = screen.filter
    ? `No call matches "${screen.filter}" (tool, decision, code or rule). Esc clears the filter.`
    : "This session made no tool calls.";
  return (
    <Box flexDirection="column">
      <LineView line={a!} width={width} />
      <LineView line={b!} width={width} />
      <List
        state={screen.list}
        width={width}
        header={tableHeader(CALL_COLUMNS, widths)}
        row={(c) => callRow(c, widths)}
        empty={empty}
        rowKey={(c) => c.id}
      />
    </Box>
  );
}

import { Box } from "ink";
import type { DecisionKind } from "../../engine/index.js";
import { classify, withApproval } from "../../replay/diff.js";
import type { CallCounts, CallRow, SessionRow, ShadowCounts } from "../../store/browse.js";
import {
  approvalText,
  type Cell,
  classSeg,
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

/** The timeline of a session recorded with a shadow policy: its decision beside the enforced. */
export const SHADOW_CALL_COLUMNS: readonly Column[] = [
  ...CALL_COLUMNS.slice(0, 4),
  { title: "shadow", min: 8, grow: 1, max: 30, drop: 2 },
  CALL_COLUMNS[4]!,
];

/** The shadow's decision, marked by how it differs from the enforced one; "—" for none. */
export function shadowSeg(c: CallRow): Seg {
  if (c.shadow === null) return { text: "—", tone: "muted" };
  // Classed as replay classes a change, after any human answer. The list's row has no rules:
  // a change of rule alone shows in the call's detail.
  const answer = c.approval === "unavailable" ? null : c.approval;
  const side = (decision: string, code: string) =>
    withApproval(
      { decision: decision as DecisionKind, code, rule: null, retry_after_ms: null },
      answer,
    );
  const cls = classify(side(c.decision, c.code), side(c.shadow.decision, c.shadow.code));
  if (cls === null) return classSeg(null);
  const look = classSeg(cls);
  return { ...look, text: `${look.text.slice(0, 1)} ${c.shadow.decision} ${c.shadow.code}` };
}

/** The timeline header's note on the shadow: how many calls it would have decided otherwise. */
export function shadowNote(shadow: ShadowCounts): Seg[] {
  const m = (text: string): Seg => ({ text, tone: "muted" });
  const part = (n: number, word: "tightened" | "loosened" | "changed"): Seg => ({
    text: `${count(n)} ${word}`,
    ...(n > 0 ? { tone: word } : {}),
  });
  return [
    m(" · shadow: "),
    part(shadow.tightened, "tightened"),
    m(", "),
    part(shadow.loosened, "loosened"),
    m(", "),
    part(shadow.changed, "changed"),
  ];
}

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

/** One call's cells in the timeline; with `shadow`, its shadow decision too. */
export function callCells(c: CallRow, shadow = false): Cell[] {
  const cells: Cell[] = [
    { text: clock(c.ts), tone: "muted" },
    { text: c.tool },
    decisionSeg(c.decision, c.code),
    { text: c.code },
    ruleNote(c),
  ];
  if (shadow) cells.splice(4, 0, shadowSeg(c));
  return cells;
}

/** One call as a row of the timeline. */
export function callRow(c: CallRow, widths: readonly number[], shadow = false): Line {
  return tableRow(callCells(c, shadow), shadow ? SHADOW_CALL_COLUMNS : CALL_COLUMNS, widths);
}

/** The two lines above the timeline: who and what, then when, how long and how it went. */
export function timelineHeader(
  s: SessionRow,
  counts: CallCounts | null,
  filter: string,
  shadow: ShadowCounts | null = null,
): Line[] {
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
      ...(shadow !== null && shadow.calls > 0 ? shadowNote(shadow) : []),
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
  // The shadow's column only for a session that has shadow decisions.
  const shadow = screen.shadow !== null && screen.shadow.calls > 0;
  const columns = shadow ? SHADOW_CALL_COLUMNS : CALL_COLUMNS;
  const widths = layoutColumns(
    columns,
    width - 2,
    contentWidths(screen.list.rows.map((c) => callCells(c, shadow))),
  );
  // The tally is the whole session's, filtered or not: the filter has its own note beside it.
  const [a, b] = timelineHeader(screen.session, counts, screen.filter, screen.shadow);
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
        header={tableHeader(columns, widths)}
        row={(c) => callRow(c, widths, shadow)}
        empty={empty}
        rowKey={(c) => c.id}
      />
    </Box>
  );
}

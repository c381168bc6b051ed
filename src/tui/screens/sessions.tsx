import { Box } from "ink";
import type { CallCounts, SessionRow } from "../../store/browse.js";
import {
  type Cell,
  type Column,
  contentWidths,
  count,
  dateTime,
  duration,
  layoutColumns,
  tableHeader,
  tableRow,
} from "../format.js";
import type { Screen } from "../state.js";
import type { Line, Seg } from "../text.js";
import { LineView } from "../widgets/Lines.js";
import { List } from "../widgets/list/List.js";

export const SESSION_COLUMNS: readonly Column[] = [
  { title: "identity", min: 9, grow: 1, max: 24 },
  { title: "client", min: 8, grow: 2, max: 28, drop: 2 },
  { title: "server", min: 8, grow: 2, max: 28, drop: 1 },
  { title: "started", min: 14 },
  { title: "duration", min: 8, align: "right" },
  { title: "calls", min: 6, align: "right" },
  { title: "deny", min: 5, align: "right" },
  { title: "limit", min: 5, align: "right" },
  { title: "appr", min: 5, align: "right" },
];

const SORT_WORDS = {
  newest: "newest first",
  oldest: "oldest first",
  identity: "by identity",
  longest: "longest first",
} as const;

/** The name part of `name version`. */
const nameOf = (peer: string | null): string =>
  peer === null ? "?" : (peer.split(" ")[0] ?? peer);

const num = (n: number, tone: Seg["tone"]): Seg => ({
  text: count(n),
  ...(n > 0 ? { tone } : { tone: "muted" as const }),
});

/** One session's cells in the sessions table. */
export function sessionCells(s: SessionRow, counts: CallCounts | null): Cell[] {
  const started = dateTime(s.startedAt).slice(5);
  const pending: Seg = { text: "…", tone: "muted" };
  return [
    { text: s.identity },
    { text: nameOf(s.client) },
    { text: nameOf(s.server) },
    { text: started },
    {
      text: s.endedAt === null ? "open" : duration(s.endedAt - s.startedAt),
      tone: s.endedAt === null ? "accent" : undefined,
    },
    counts ? { text: count(counts.calls) } : pending,
    counts ? num(counts.denied, "deny") : pending,
    counts ? num(counts.rateLimited, "limited") : pending,
    counts ? num(counts.approvals, "approval") : pending,
  ];
}

/** One session as a row of the sessions table. */
export function sessionRow(
  s: SessionRow,
  counts: CallCounts | null,
  widths: readonly number[],
): Line {
  return tableRow(sessionCells(s, counts), SESSION_COLUMNS, widths);
}

/** The line above the table: how many sessions, in what order, under what filter. */
export function sessionsHeader(screen: Extract<Screen, { kind: "sessions" }>): Line {
  const q = screen.query;
  return [
    { text: ` ${count(screen.total)} session${screen.total === 1 ? "" : "s"}`, bold: true },
    { text: ` · ${SORT_WORDS[q.sort]}`, tone: "muted" },
    ...(q.filter
      ? [
          { text: " · filter ", tone: "muted" as const },
          { text: `"${q.filter}"`, tone: "accent" as const },
        ]
      : []),
  ];
}

/** The sessions list: a line on its order and filter, then the table (counts as they come). */
export function SessionsView({
  screen,
  width,
  counts,
}: {
  screen: Extract<Screen, { kind: "sessions" }>;
  width: number;
  counts: (id: string) => CallCounts | null;
}) {
  const content = contentWidths(screen.list.rows.map((s) => sessionCells(s, counts(s.id))));
  const widths = layoutColumns(SESSION_COLUMNS, width - 2, content);
  const empty = screen.query.filter
    ? `No session matches "${screen.query.filter}". Esc clears the filter.`
    : "No sessions in this recording yet. Record some with `policy-replay record`.";
  return (
    <Box flexDirection="column">
      <LineView line={sessionsHeader(screen)} width={width} />
      <List
        state={screen.list}
        width={width}
        header={tableHeader(SESSION_COLUMNS, widths)}
        row={(s) => sessionRow(s, counts(s.id), widths)}
        empty={empty}
        rowKey={(s) => s.id}
      />
    </Box>
  );
}

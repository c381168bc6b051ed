import type { Style } from "./style.js";

// Plain-text layout for the text report: tables that fit a terminal's width, and prose wrapped
// at spaces. Widths count code points; recorded names are cleaned of control characters first,
// so a session id cannot move the cursor or break a row.

/** Control characters as spaces: recorded names are printed as they were sent. */
export function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
}

/** How many columns `s` takes (code points; no styling inside). */
export const columns = (s: string): number => Array.from(s).length;

/**
 * `s` in at most `w` columns, with `…` where it was cut: at the end, or in the middle, which
 * keeps a name's last part (`fleet_…s_get` and `fleet_…s_set` stay apart).
 */
export function cut(s: string, w: number, where: "end" | "middle" = "end"): string {
  if (columns(s) <= w) return s;
  if (w <= 0) return "";
  const chars = Array.from(s);
  if (where === "end" || w < 5) return chars.slice(0, w - 1).join("") + "…";
  const tail = Math.floor((w - 1) / 2);
  return chars.slice(0, w - 1 - tail).join("") + "…" + chars.slice(chars.length - tail).join("");
}

/** One column of a table: its heading, how it aligns, and whether and how far it may be cut. */
export interface Column {
  head: string;
  align: "left" | "right";
  /** The narrowest it may be cut to; absent: never cut. */
  min?: number;
  /** Columns with a lower number are cut first (each as far as its min, if need be). */
  cutOrder?: number;
  /** Where a cell is cut: names keep both ends, other text its start. */
  cutAt?: "end" | "middle";
}

/** A cell: its text, and how to style it once it is cut and padded. */
export type Cell = string | { text: string; style: (s: string) => string };

const textOf = (c: Cell): string => (typeof c === "string" ? c : c.text);

/** Two spaces before the table and between columns, as the report's tables have always had. */
const GAP = 2;

/** The width of a table with these column widths. */
export const tableWidth = (widths: readonly number[]): number =>
  widths.reduce((a, b) => a + b, 0) + GAP * widths.length;

/** Each column's width with nothing cut. */
export function naturalWidths(cols: readonly Column[], rows: readonly Cell[][]): number[] {
  return cols.map((c, i) => {
    let w = columns(c.head);
    for (const r of rows) w = Math.max(w, columns(textOf(r[i]!)));
    return w;
  });
}

/**
 * Column widths for a table no wider than `width`, or null when it cannot be: columns are cut
 * in their `cutOrder`, each only as far as needed and never below its `min`, so that the
 * columns read most are cut last, if at all.
 */
export function fitWidths(
  cols: readonly Column[],
  rows: readonly Cell[][],
  width: number,
): number[] | null {
  const widths = narrowest(cols, rows, width);
  return tableWidth(widths) > width ? null : widths;
}

/** As fitWidths, but when the table cannot fit, as narrow as the columns' `min` let it be. */
export function narrowest(
  cols: readonly Column[],
  rows: readonly Cell[][],
  width: number,
): number[] {
  const widths = naturalWidths(cols, rows);
  let over = tableWidth(widths) - width;
  const order = cols
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.min !== undefined)
    .sort((a, b) => (a.c.cutOrder ?? 0) - (b.c.cutOrder ?? 0));
  for (const { c, i } of order) {
    if (over <= 0) break;
    const take = Math.min(over, Math.max(0, widths[i]! - c.min!));
    widths[i]! -= take;
    over -= take;
  }
  return widths;
}

/**
 * The table as lines: each cell cut to its column's width with an ellipsis, padded, then
 * styled; headings dimmed; no trailing spaces.
 */
export function renderTable(
  cols: readonly Column[],
  rows: readonly Cell[][],
  widths: readonly number[],
  style: Style,
): string[] {
  const line = (cells: readonly Cell[], head: boolean): string => {
    let out = "";
    let pending = "";
    cells.forEach((c, i) => {
      const w = widths[i]!;
      const text = cut(textOf(c), w, cols[i]!.cutAt);
      const pad = " ".repeat(w - columns(text));
      const styled = head ? style.dim(text) : typeof c === "string" ? text : c.style(text);
      const [before, after] = cols[i]!.align === "right" ? [pad, ""] : ["", pad];
      // Spaces are held back until something follows them, so no line ends in padding.
      pending += " ".repeat(GAP) + before;
      if (text !== "") {
        out += pending + styled;
        pending = "";
      }
      pending += after;
    });
    return out;
  };
  return [
    line(
      cols.map((c) => c.head),
      true,
    ),
    ...rows.map((r) => line(r, false)),
  ];
}

/** `text` in lines of at most `width` columns, broken at spaces; a longer word keeps its line. */
export function wrap(text: string, width: number, indent = ""): string[] {
  if (!Number.isFinite(width) || visible(text) <= width) return [text];
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    const candidate = line === "" ? word : `${line} ${word}`;
    if (line !== "" && visible(candidate) > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line = candidate;
    }
  }
  lines.push(line);
  return lines;
}

/** Columns of text that may hold SGR styling. */
function visible(s: string): number {
  // eslint-disable-next-line no-control-regex
  return columns(s.replace(/\x1b\[[0-9;]*m/g, ""));
}

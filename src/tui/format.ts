import type { LimitHit } from "../engine/index.js";
import { clean, cut, type Line, pad, type Seg, type Tone, width } from "./text.js";
import { count } from "../numbers.js";

/** Thousands separated: `1,000,000`. */
export { count };

// How recorded facts read on screen. Every decision has a symbol and a word, so a screen reads
// the same without colour.

export interface DecisionLook {
  symbol: string;
  word: string;
  tone: Tone;
}

/** The symbol, word and tone of a recorded decision (rate limits and hidden tools apart). */
export function decisionLook(decision: string, code: string): DecisionLook {
  if (decision === "allow") return { symbol: "✓", word: "allow", tone: "allow" };
  if (decision === "approval_required") return { symbol: "?", word: "approval", tone: "approval" };
  if (code === "rate_limited") return { symbol: "↻", word: "limited", tone: "limited" };
  if (code === "hidden") return { symbol: "✗", word: "hidden", tone: "deny" };
  // Denied because the shared counters did not answer, not by anything in the policy.
  if (code === "counters_unavailable") return { symbol: "✗", word: "offline", tone: "deny" };
  return { symbol: "✗", word: "deny", tone: "deny" };
}

/** `✓ allow` as one segment. */
export function decisionSeg(decision: string, code: string): Seg {
  const d = decisionLook(decision, code);
  return { text: `${d.symbol} ${d.word}`, tone: d.tone };
}

const CLASS_LOOK: Record<string, { symbol: string; tone: Tone }> = {
  tightened: { symbol: "▲", tone: "tightened" },
  loosened: { symbol: "▼", tone: "loosened" },
  changed: { symbol: "~", tone: "changed" },
};

/** A change class as `▲ tightened`; null (an inexact call that kept its decision) as `= same`. */
export function classSeg(cls: string | null): Seg {
  if (cls === null) return { text: "= same", tone: "muted" };
  const look = CLASS_LOOK[cls] ?? { symbol: "~", tone: "changed" as Tone };
  return { text: `${look.symbol} ${cls}`, tone: look.tone };
}

const two = (n: number): string => String(n).padStart(2, "0");

/** Local wall-clock time with milliseconds: `13:10:51.034`. */
export function clock(ts: number): string {
  const d = new Date(ts);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** Local date and time to the second: `2026-11-23 13:10:50`. */
export function dateTime(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** A span of time for people: `578 ms`, `4.2 s`, `3 min 4 s`, `2 h 5 min`, `3 d 4 h`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  if (s < 86_400) {
    const m = Math.floor(s / 60) % 60;
    return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ""}`;
  }
  const h = Math.floor(s / 3600) % 24;
  return `${Math.floor(s / 86_400)} d${h ? ` ${h} h` : ""}`;
}

/** A limit's window: `1 min`, `1 h`, `10 s`, `500 ms`. */
export function windowText(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

/** `fleet_secrets_set_rate 30/30 per 1 min` — the counter and how full it was. */
export function limitText(limit: LimitHit): string {
  const fixed = limit.algorithm === "fixed" ? " fixed" : "";
  return `${limit.counter} ${limit.count}/${limit.max} per ${windowText(limit.window_ms)}${fixed}`;
}

/** A rate limit's retry time: `retry in 59.9 s`, or `no retry` when it never frees up. */
export function retryText(ms: number | null): string {
  if (ms === null) return "no retry";
  // Tenths of a second up to two minutes: "60 s" for 59.9 would round a wait up.
  return ms >= 1000 && ms < 120_000
    ? `retry in ${(ms / 1000).toFixed(1)} s`
    : `retry in ${duration(ms)}`;
}

const APPROVAL_WORDS: Record<string, string> = {
  approved: "approved by a human",
  rejected: "rejected by a human",
  timeout: "approval timed out",
  unavailable: "no human could be asked",
};

/** What happened to an approval request, in words. */
export function approvalText(answer: string | null): string | null {
  return answer === null ? null : (APPROVAL_WORDS[answer] ?? answer);
}

/** The first 8 characters of an id or hash, which is enough to tell them apart on screen. */
export function short(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}

// ---------------------------------------------------------------------------------------------
// Tables

export interface Column {
  title: string;
  /** Columns the cell needs at least. */
  min: number;
  /** Its weight when room is shared: for its content, then for spare (0: content only). */
  grow?: number;
  /** Columns it never grows past. */
  max?: number;
  align?: "left" | "right";
  /**
   * Lower goes first when the terminal is too narrow for every column; a column with a `drop`
   * is also served last when content competes for room.
   */
  drop?: number;
}

/** A table cell: one segment, or several drawn one after the other. */
export type Cell = Seg | Seg[];

/** Columns a cell takes when drawn whole. */
export function cellWidth(cell: Cell): number {
  if (!Array.isArray(cell)) return width(clean(cell.text));
  let w = 0;
  for (const s of cell) w += width(clean(s.text));
  return w;
}

/** The widest cell of each column, over the rows given (those on screen). */
export function contentWidths(rows: readonly (readonly Cell[])[]): number[] {
  const out: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      const w = cellWidth(cell);
      if (w > (out[i] ?? 0)) out[i] = w;
    });
  return out;
}

/**
 * Widths for `columns` in `total` terminal columns with one space between cells, given how wide
 * each column's content is (`content`, from the rows on screen). The least important columns
 * are dropped (width 0) only when even the minimums do not fit. Room then goes, in order, to
 * whole headers, to content (columns without `drop` first, so a column narrower than its share
 * leaves the room to those that need it), and what is left to growing columns up to their max.
 */
export function layoutColumns(
  columns: readonly Column[],
  total: number,
  content: readonly number[] = [],
): number[] {
  const shown = columns.map(() => true);
  const need = (): number =>
    columns.reduce((sum, c, i) => sum + (shown[i] ? c.min : 0), 0) +
    Math.max(0, shown.filter(Boolean).length - 1);
  while (need() > total) {
    let victim = -1;
    columns.forEach((c, i) => {
      if (shown[i] && c.drop !== undefined && (victim < 0 || c.drop < columns[victim]!.drop!))
        victim = i;
    });
    if (victim < 0) break;
    shown[victim] = false;
  }
  const widths = columns.map((c, i) => (shown[i] ? c.min : 0));
  let spare = total - need();
  const cap = (c: Column, w: number): number => Math.min(w, c.max ?? Infinity);
  /** Hand out spare room to `which` columns, up to `target`, by weight in rounds. */
  const fill = (which: number[], target: (i: number) => number, weight: (i: number) => number) => {
    while (spare > 0) {
      const open = which.filter((i) => shown[i] && widths[i]! < target(i));
      if (open.length === 0) return;
      const sum = open.reduce((s, i) => s + weight(i), 0);
      let given = 0;
      for (const i of open) {
        const share = Math.max(1, Math.floor((spare * weight(i)) / sum));
        const add = Math.min(share, target(i) - widths[i]!, spare - given);
        if (add <= 0) continue;
        widths[i]! += add;
        given += add;
      }
      if (given === 0) return;
      spare -= given;
    }
  };
  const all = columns.map((_, i) => i);
  const title = (i: number): number => cap(columns[i]!, width(columns[i]!.title));
  const want = (i: number): number => cap(columns[i]!, Math.max(title(i), content[i] ?? 0));
  const weight = (i: number): number => Math.max(1, columns[i]!.grow ?? 0);
  fill(all, title, () => 1);
  fill(
    all.filter((i) => columns[i]!.drop === undefined),
    want,
    weight,
  );
  // Droppable columns are the less important ones: served after the rest, the least last.
  const droppable = all
    .filter((i) => columns[i]!.drop !== undefined)
    .sort((a, b) => columns[b]!.drop! - columns[a]!.drop!);
  for (const i of droppable) fill([i], want, weight);
  fill(
    all.filter((i) => (columns[i]!.grow ?? 0) > 0),
    (i) => columns[i]!.max ?? Infinity,
    (i) => columns[i]!.grow!,
  );
  return widths;
}

/** One table row: each cell's segments cut or padded to its column's width. */
export function tableRow(
  cells: readonly Cell[],
  columns: readonly Column[],
  widths: readonly number[],
): Line {
  const line: Line = [];
  let first = true;
  cells.forEach((cell, i) => {
    const w = widths[i] ?? 0;
    if (w === 0) return;
    if (!first) line.push({ text: " " });
    first = false;
    const segs = Array.isArray(cell) ? cell : [cell];
    const align = columns[i]?.align ?? "left";
    if (segs.length === 1) {
      line.push({ ...segs[0]!, text: pad(clean(segs[0]!.text), w, align) });
      return;
    }
    let used = 0;
    for (const s of segs) {
      const room = w - used;
      if (room <= 0) break;
      const text = cut(clean(s.text), room);
      line.push({ ...s, text });
      used += width(text);
    }
    if (used < w) line.push({ text: " ".repeat(w - used) });
  });
  return line;
}

/** The header row of a table. */
export function tableHeader(columns: readonly Column[], widths: readonly number[]): Line {
  return tableRow(
    columns.map((c) => ({ text: c.title, tone: "muted" as Tone })),
    columns,
    widths,
  );
}

// ---------------------------------------------------------------------------------------------
// Values (arguments, messages)

function isMarker(v: object): v is { $redacted: string } | { $truncated: number } {
  const keys = Object.keys(v);
  return keys.length === 1 && (keys[0] === "$redacted" || keys[0] === "$truncated");
}

/** How a value the recording does not hold in clear is shown. */
function markerSeg(v: { $redacted: string } | { $truncated: number }): Seg {
  if ("$redacted" in v) {
    const hash = String(v.$redacted);
    const tail = hash.includes(":") ? hash.slice(hash.indexOf(":") + 1) : hash;
    return { text: `‹redacted ${tail.slice(0, 8)}›`, tone: "redacted" };
  }
  return { text: `‹truncated, ${count(Number(v.$truncated))} chars›`, tone: "redacted" };
}

function scalar(v: unknown): Seg {
  if (typeof v === "string") return { text: JSON.stringify(v) };
  if (v === null || typeof v === "boolean") return { text: String(v), tone: "accent" };
  if (typeof v === "number") return { text: String(v), tone: "accent" };
  return { text: JSON.stringify(v) ?? String(v) };
}

/**
 * A JSON value as indented `key: value` lines, redacted and truncated values shown as such,
 * at most `maxLines` lines (the rest summed up in a last line).
 */
export function valueLines(value: unknown, maxLines = 400, indent = "  "): Line[] {
  const out: Line[] = [];
  let more = 0;
  const emit = (line: Line): void => {
    if (out.length < maxLines) out.push(line);
    else more++;
  };
  const walk = (v: unknown, prefix: string, label: Seg[]): void => {
    if (v !== null && typeof v === "object" && !isMarker(v)) {
      const entries = Array.isArray(v)
        ? v.map((x, i) => [String(i), x] as const)
        : Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) {
        emit([{ text: prefix }, ...label, { text: Array.isArray(v) ? "[]" : "{}", tone: "muted" }]);
        return;
      }
      if (label.length > 0) emit([{ text: prefix }, ...label]);
      const inner = label.length > 0 ? prefix + indent : prefix;
      for (const [k, x] of entries) {
        walk(x, inner, [{ text: Array.isArray(v) ? `- ` : `${clean(k)}: `, tone: "muted" }]);
      }
      return;
    }
    const seg =
      v !== null && typeof v === "object" ? markerSeg(v as { $redacted: string }) : scalar(v);
    emit([{ text: prefix }, ...label, { ...seg, text: clean(seg.text) }]);
  };
  if (value === undefined) return [[{ text: `${indent}(none)`, tone: "muted" }]];
  walk(value, indent, []);
  if (more > 0) out.push([{ text: `${indent}… ${count(more)} more lines`, tone: "muted" }]);
  return out;
}

/** A value on one line, for summaries: JSON with markers shown as such. */
export function oneLine(value: unknown, max = 200): string {
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (v !== null && typeof v === "object" && isMarker(v)) return markerSeg(v).text;
    return v;
  });
  return cut(clean(text ?? "undefined"), max);
}

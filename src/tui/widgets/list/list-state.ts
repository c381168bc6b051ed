import type { Keyset } from "../../../store/browse.js";

// A list over a keyset: the state holds only the rows on screen. Moving past an edge asks the
// keyset for the next rows after the last one (or before the first), so a list of a million
// rows costs what a list of twenty does. The reducer reads from the keyset and nothing else.

export interface ListState<T> {
  /** The rows on screen, at most `height`. */
  rows: T[];
  /** Index of the selected row in `rows` (0 when there are none). */
  cursor: number;
  height: number;
  /** Rows of the whole list before `rows[0]`, when known (reached from the start). */
  top: number | null;
  /** Rows of the whole list after the last of `rows`, when known (reached from the end). */
  tail: number | null;
}

export type MoveAction =
  | { type: "down" }
  | { type: "up" }
  | { type: "pageDown" }
  | { type: "pageUp" }
  | { type: "first" }
  | { type: "last" };

export type ListAction = MoveAction | { type: "resize"; height: number };

const clamp = (n: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, n));
const plus = (a: number | null, b: number): number | null => (a === null ? null : a + b);

/** The first page of a list, the first row selected. */
export function firstPage<T>(source: Keyset<T>, height: number): ListState<T> {
  const h = Math.max(1, height);
  const rows = source.after(null, h);
  return { rows, cursor: 0, height: h, top: 0, tail: rows.length < h ? 0 : null };
}

/** The last page of a list, the last row selected. */
export function lastPage<T>(source: Keyset<T>, height: number): ListState<T> {
  const h = Math.max(1, height);
  const rows = source.before(null, h);
  return {
    rows,
    cursor: Math.max(0, rows.length - 1),
    height: h,
    top: rows.length < h ? 0 : null,
    tail: 0,
  };
}

/** A page with `row` selected near the middle of the screen. */
export function pageAround<T>(source: Keyset<T>, row: T, height: number): ListState<T> {
  const h = Math.max(1, height);
  const wantAbove = Math.floor((h - 1) / 2);
  const above = source.before(row, wantAbove);
  const wantBelow = h - 1 - above.length;
  const below = source.after(row, wantBelow);
  // Short below (near the end): fill from above instead.
  const more = wantBelow - below.length;
  const extra = more > 0 && above.length === wantAbove ? source.before(above[0] ?? row, more) : [];
  const atStart = above.length < wantAbove || (more > 0 && extra.length < more);
  return {
    rows: [...extra, ...above, row, ...below],
    cursor: extra.length + above.length,
    height: h,
    top: atStart ? 0 : null,
    tail: below.length < wantBelow ? 0 : null,
  };
}

/** The selected row, or null for an empty list. */
export function selected<T>(s: ListState<T>): T | null {
  return s.rows[s.cursor] ?? null;
}

/** 1-based position of the selected row and the list's length, where they are known. */
export function position<T>(
  s: ListState<T>,
  total: number | null,
): { index: number | null; total: number | null } {
  if (s.rows.length === 0) return { index: null, total: total ?? 0 };
  if (s.top !== null) {
    const t = s.tail !== null ? s.top + s.rows.length + s.tail : total;
    return { index: s.top + s.cursor + 1, total: t };
  }
  if (s.tail !== null && total !== null)
    return { index: total - s.tail - (s.rows.length - 1 - s.cursor), total };
  return { index: null, total };
}

/** The state after a move or a resize; reads only the rows it needs from `source`. */
export function listReducer<T>(s: ListState<T>, a: ListAction, source: Keyset<T>): ListState<T> {
  const h = s.height;
  const last = s.rows[s.rows.length - 1];
  const first = s.rows[0];
  switch (a.type) {
    case "first":
      return firstPage(source, h);
    case "last":
      return lastPage(source, h);
    case "down": {
      if (s.cursor < s.rows.length - 1) return { ...s, cursor: s.cursor + 1 };
      if (last === undefined || s.tail === 0) return s;
      const next = source.after(last, 1);
      if (next.length === 0) return { ...s, tail: 0 };
      const rows = s.rows.length < h ? [...s.rows, ...next] : [...s.rows.slice(1), ...next];
      const shift = rows.length - s.rows.length === 1 ? 0 : 1;
      return {
        ...s,
        rows,
        cursor: rows.length - 1,
        top: plus(s.top, shift),
        tail: plus(s.tail, -1),
      };
    }
    case "up": {
      if (s.cursor > 0) return { ...s, cursor: s.cursor - 1 };
      if (first === undefined || s.top === 0) return s;
      const prev = source.before(first, 1);
      if (prev.length === 0) return { ...s, top: 0 };
      const rows = [...prev, ...s.rows].slice(0, h);
      const dropped = s.rows.length + 1 - rows.length;
      return { ...s, rows, cursor: 0, top: plus(s.top, -1), tail: plus(s.tail, dropped) };
    }
    case "pageDown": {
      if (last === undefined) return s;
      const next = s.tail === 0 ? [] : source.after(last, h);
      if (next.length === 0) return { ...s, cursor: s.rows.length - 1, tail: 0 };
      const all = [...s.rows, ...next];
      const rows = all.slice(-h);
      const shift = all.length - rows.length;
      return {
        rows,
        cursor: clamp(s.cursor + h - shift, 0, rows.length - 1),
        height: h,
        top: plus(s.top, shift),
        tail: next.length < h ? 0 : plus(s.tail, -next.length),
      };
    }
    case "pageUp": {
      if (first === undefined) return s;
      const prev = s.top === 0 ? [] : source.before(first, h);
      if (prev.length === 0) return { ...s, cursor: 0, top: 0 };
      const all = [...prev, ...s.rows];
      const rows = all.slice(0, h);
      const dropped = all.length - rows.length;
      return {
        rows,
        cursor: clamp(prev.length + s.cursor - h, 0, rows.length - 1),
        height: h,
        top: prev.length < h ? 0 : plus(s.top, -prev.length),
        tail: plus(s.tail, dropped),
      };
    }
    case "resize":
      return resize(s, Math.max(1, a.height), source);
  }
}

function resize<T>(s: ListState<T>, h: number, source: Keyset<T>): ListState<T> {
  if (h === s.height) return s;
  if (s.rows.length === 0) return firstPage(source, h);
  if (h < s.rows.length) {
    // Keep the selected row on screen, and as many rows above it as fit.
    const start = s.cursor < h ? 0 : s.cursor - h + 1;
    const rows = s.rows.slice(start, start + h);
    return {
      rows,
      cursor: s.cursor - start,
      height: h,
      top: plus(s.top, start),
      tail: plus(s.tail, s.rows.length - start - rows.length),
    };
  }
  // Taller: fill below first, then above.
  const below = s.tail === 0 ? [] : source.after(s.rows[s.rows.length - 1]!, h - s.rows.length);
  let rows = [...s.rows, ...below];
  let tail = below.length < h - s.rows.length ? 0 : plus(s.tail, -below.length);
  let cursor = s.cursor;
  let top = s.top;
  if (rows.length < h && top !== 0) {
    const above = source.before(rows[0]!, h - rows.length);
    if (above.length < h - rows.length) top = 0;
    else top = plus(top, -above.length);
    rows = [...above, ...rows];
    cursor += above.length;
  }
  if (rows.length < h) tail = 0;
  return { rows, cursor, height: h, top, tail };
}

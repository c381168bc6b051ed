import type { MoveAction } from "../list/list-state.js";

// A scrolled view over lines already in memory (a call's detail): only the offset moves.

export interface ScrollState {
  /** Index of the first line on screen. */
  offset: number;
}

/** The offset after a move, for `lines` lines shown `height` at a time. */
export function scrollReducer(
  s: ScrollState,
  a: MoveAction,
  lines: number,
  height: number,
): ScrollState {
  const h = Math.max(1, height);
  const max = Math.max(0, lines - h);
  const to = (offset: number): ScrollState => {
    const o = Math.max(0, Math.min(max, offset));
    return o === s.offset ? s : { offset: o };
  };
  switch (a.type) {
    case "down":
      return to(s.offset + 1);
    case "up":
      return to(s.offset - 1);
    case "pageDown":
      return to(s.offset + h);
    case "pageUp":
      return to(s.offset - h);
    case "first":
      return to(0);
    case "last":
      return to(max);
  }
}

/** The offset kept inside the lines after they or the height changed. */
export function clampScroll(s: ScrollState, lines: number, height: number): ScrollState {
  const max = Math.max(0, lines - Math.max(1, height));
  return s.offset > max ? { offset: max } : s;
}

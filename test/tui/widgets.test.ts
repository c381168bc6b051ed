import { describe, expect, it } from "vitest";
import type { Key } from "ink";
import type { Keyset } from "../../src/store/browse.js";
import {
  firstPage,
  lastPage,
  type ListState,
  listReducer,
  type MoveAction,
  pageAround,
  position,
  selected,
} from "../../src/tui/widgets/list/list-state.js";
import { moveForKey } from "../../src/tui/widgets/list/list-keys.js";
import { keystrokes } from "../../src/tui/widgets/keystrokes.js";
import { scrollReducer } from "../../src/tui/widgets/scroll/scroll-state.js";
import { helpLines, legendLines } from "../../src/tui/widgets/help/Help.js";
import { fitWhere, statusParts, type Where } from "../../src/tui/widgets/status/StatusLine.js";
import { LEGEND } from "../../src/tui/keys.js";
import { lineText, width } from "../../src/tui/text.js";
import { textEventForKey } from "../../src/tui/widgets/text-input/text-input-keys.js";
import { textInput, textInputReducer } from "../../src/tui/widgets/text-input/text-input-state.js";

/** A keyset over 0..n-1 that counts the rows it hands out, like a query would. */
function numbers(n: number): Keyset<number> & { read: number } {
  const k = {
    read: 0,
    after(row: number | null, count: number): number[] {
      const from = row === null ? 0 : row + 1;
      const out = [];
      for (let i = from; i < n && out.length < count; i++) out.push(i);
      k.read += out.length;
      return out;
    },
    before(row: number | null, count: number): number[] {
      const to = row === null ? n - 1 : row - 1;
      const out = [];
      for (let i = to; i >= 0 && out.length < count; i--) out.unshift(i);
      k.read += out.length;
      return out;
    },
  };
  return k;
}

const run = (s: ListState<number>, src: Keyset<number>, ...moves: MoveAction["type"][]) =>
  moves.reduce((st, type) => listReducer(st, { type }, src), s);

const key = (over: Partial<Key> = {}): Key => ({ ...keystrokes("ab", {} as Key)[0]![1], ...over });

describe("list state over a keyset", () => {
  it("opens on the first page and reads only that page", () => {
    const src = numbers(1_000_000);
    const s = firstPage(src, 5);
    expect(s.rows).toEqual([0, 1, 2, 3, 4]);
    expect(selected(s)).toBe(0);
    expect(src.read).toBe(5);
    expect(position(s, 1_000_000)).toEqual({ index: 1, total: 1_000_000 });
  });

  it("moves the cursor, then scrolls one row at a time", () => {
    const src = numbers(100);
    const s = run(firstPage(src, 3), src, "down", "down", "down", "down");
    expect(s.rows).toEqual([2, 3, 4]);
    expect(selected(s)).toBe(4);
    expect(position(s, 100).index).toBe(5);
    const back = run(s, src, "up", "up", "up", "up");
    expect(selected(back)).toBe(0);
    expect(back.rows).toEqual([0, 1, 2]);
    expect(run(back, src, "up")).toBe(run(back, src, "up"));
  });

  it("pages down and up, keeping the cursor's place on screen", () => {
    const src = numbers(10);
    let s = run(firstPage(src, 4), src, "down", "pageDown");
    expect(s.rows).toEqual([4, 5, 6, 7]);
    expect(selected(s)).toBe(5);
    s = run(s, src, "pageDown");
    expect(s.rows).toEqual([6, 7, 8, 9]);
    expect(selected(s)).toBe(9);
    expect(s.tail).toBe(0);
    s = run(s, src, "pageDown");
    expect(selected(s)).toBe(9);
    s = run(s, src, "pageUp");
    expect(s.rows).toEqual([2, 3, 4, 5]);
    expect(selected(s)).toBe(5);
    s = run(s, src, "pageUp", "pageUp");
    expect(s.rows).toEqual([0, 1, 2, 3]);
    expect(selected(s)).toBe(0);
  });

  it("jumps to the end with G and knows its position from the total", () => {
    const src = numbers(1_000_000);
    const s = lastPage(src, 5);
    expect(s.rows).toEqual([999_995, 999_996, 999_997, 999_998, 999_999]);
    expect(selected(s)).toBe(999_999);
    expect(position(s, 1_000_000)).toEqual({ index: 1_000_000, total: 1_000_000 });
    const up = run(s, src, "pageUp");
    expect(selected(up)).toBe(999_994);
    expect(position(up, 1_000_000).index).toBe(999_995);
    expect(src.read).toBeLessThan(20);
  });

  it("handles lists shorter than the screen and empty ones", () => {
    const src = numbers(2);
    const s = run(firstPage(src, 5), src, "down", "down", "pageDown", "last");
    expect(s.rows).toEqual([0, 1]);
    expect(selected(s)).toBe(1);
    expect(position(s, null)).toEqual({ index: 2, total: 2 });
    const empty = numbers(0);
    const e = run(firstPage(empty, 5), empty, "down", "pageDown", "last", "up");
    expect(e.rows).toEqual([]);
    expect(selected(e)).toBeNull();
  });

  it("resizes: shrinking keeps the selected row, growing reads more", () => {
    const src = numbers(100);
    let s = run(firstPage(src, 6), src, "down", "down", "down", "down", "down");
    s = listReducer(s, { type: "resize", height: 3 }, src);
    expect(s.rows).toEqual([3, 4, 5]);
    expect(selected(s)).toBe(5);
    s = listReducer(s, { type: "resize", height: 8 }, src);
    expect(s.rows).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(selected(s)).toBe(5);
    const end = listReducer(lastPage(src, 3), { type: "resize", height: 6 }, src);
    expect(end.rows).toEqual([94, 95, 96, 97, 98, 99]);
    expect(selected(end)).toBe(99);
  });

  it("opens a page around a row, near the middle, filling at the edges", () => {
    const src = numbers(100);
    expect(pageAround(src, 50, 5).rows).toEqual([48, 49, 50, 51, 52]);
    expect(selected(pageAround(src, 50, 5))).toBe(50);
    expect(pageAround(src, 1, 5).rows).toEqual([0, 1, 2, 3, 4]);
    expect(pageAround(src, 1, 5).top).toBe(0);
    const end = pageAround(src, 99, 5);
    expect(end.rows).toEqual([95, 96, 97, 98, 99]);
    expect(selected(end)).toBe(99);
    expect(end.tail).toBe(0);
  });
});

describe("keys", () => {
  it("maps move keys: arrows, j/k, pages, g/G, Home/End", () => {
    expect(moveForKey("j", key())).toEqual({ type: "down" });
    expect(moveForKey("", key({ downArrow: true }))).toEqual({ type: "down" });
    expect(moveForKey("k", key())).toEqual({ type: "up" });
    expect(moveForKey("", key({ pageDown: true }))).toEqual({ type: "pageDown" });
    expect(moveForKey("", key({ pageUp: true }))).toEqual({ type: "pageUp" });
    expect(moveForKey("g", key())).toEqual({ type: "first" });
    expect(moveForKey("G", key({ shift: true }))).toEqual({ type: "last" });
    expect(moveForKey("", key({ end: true }))).toEqual({ type: "last" });
    expect(moveForKey("x", key())).toBeNull();
  });

  it("splits a chunk of typed characters into keys, Enter and Backspace included", () => {
    const strokes = keystrokes("jG\r\x7f", key());
    expect(strokes.map(([i]) => i)).toEqual(["j", "G", "", ""]);
    expect(strokes[1]![1].shift).toBe(true);
    expect(strokes[2]![1].return).toBe(true);
    expect(strokes[3]![1].delete).toBe(true);
    expect(keystrokes("j", key())).toHaveLength(1);
  });
});

describe("text input", () => {
  it("edits at the caret, in code points", () => {
    let s = textInput("fleet");
    s = textInputReducer(s, { type: "insert", text: "_✓" });
    expect(s).toEqual({ value: "fleet_✓", caret: 7 });
    s = textInputReducer(s, { type: "backspace" });
    s = textInputReducer(s, { type: "home" });
    s = textInputReducer(s, { type: "delete" });
    expect(s).toEqual({ value: "leet_", caret: 0 });
    s = textInputReducer(s, { type: "end" });
    s = textInputReducer(s, { type: "left" });
    s = textInputReducer(s, { type: "clearToStart" });
    expect(s).toEqual({ value: "_", caret: 0 });
    expect(textInputReducer(s, { type: "insert", text: "a\x1b[31mb" }).value).toBe("a [31mb_");
  });

  it("maps keys to edits, submit and cancel", () => {
    expect(textEventForKey("", key({ return: true }))).toEqual({ type: "submit" });
    expect(textEventForKey("", key({ escape: true }))).toEqual({ type: "cancel" });
    expect(textEventForKey("", key({ delete: true }))).toEqual({
      type: "edit",
      edit: { type: "backspace" },
    });
    expect(textEventForKey("q", key())).toEqual({
      type: "edit",
      edit: { type: "insert", text: "q" },
    });
    expect(textEventForKey("", key({ upArrow: true }))).toBeNull();
  });
});

describe("scroll state", () => {
  it("scrolls within the lines", () => {
    let s = { offset: 0 };
    s = scrollReducer(s, { type: "down" }, 30, 10);
    expect(s.offset).toBe(1);
    s = scrollReducer(s, { type: "pageDown" }, 30, 10);
    s = scrollReducer(s, { type: "pageDown" }, 30, 10);
    expect(s.offset).toBe(20);
    expect(scrollReducer(s, { type: "last" }, 30, 10).offset).toBe(20);
    expect(scrollReducer(s, { type: "first" }, 30, 10).offset).toBe(0);
    expect(scrollReducer({ offset: 0 }, { type: "down" }, 5, 10).offset).toBe(0);
  });
});

describe("status line", () => {
  const deep: Where = {
    crumbs: [
      { text: "Sessions" },
      { text: "some-rather-long-identity 76c81072", short: "some-rather-long-identity" },
      { text: "call 39" },
    ],
    at: " lines 1-22/52",
  };
  const HINTS = ["↑↓ scroll", "t timeline", "Esc back", "? help", "q quit"];

  it("shortens where you are from the middle, never cutting its start", () => {
    expect(fitWhere(deep, 80)).toBe(
      " Sessions › some-rather-long-identity 76c81072 › call 39 lines 1-22/52 ",
    );
    expect(fitWhere(deep, 62)).toBe(
      " Sessions › some-rather-long-identity › call 39 lines 1-22/52 ",
    );
    expect(fitWhere(deep, 40)).toBe(" Sessions › … › call 39 lines 1-22/52 ");
    expect(fitWhere(deep, 30)).toBe(" … › call 39 lines 1-22/52 ");
    expect(fitWhere(deep, 12)).toBe(" … › call 3…");
    expect(fitWhere({ crumbs: [{ text: "Sessions" }], at: " 1/3" }, 40)).toBe(" Sessions 1/3 ");
  });

  it("gives where you are its room first, then the keys, keeping help and quit", () => {
    const at80 = statusParts(deep, null, HINTS, 80);
    expect(at80.left).toBe(" Sessions › some-rather-long-identity › call 39 lines 1-22/52 ");
    expect(at80.keys).toBe("? help  q quit");
    expect(width(at80.left) + 2 + width(at80.keys)).toBeLessThanOrEqual(80);
    const at120 = statusParts(deep, null, HINTS, 120);
    expect(at120.keys).toBe(HINTS.join("  "));
    expect(at120.left).toBe(fitWhere(deep, 120));
    const narrow = statusParts(deep, null, HINTS, 50);
    expect(narrow.left).toBe(" … › call 39 lines 1-22/52 ");
    expect(narrow.keys).toBe("? help  q quit");
    // Too narrow to keep help and quit as well: where you are comes first.
    expect(statusParts(deep, null, HINTS, 30)).toEqual({ left: fitWhere(deep, 30), keys: "" });
    expect(statusParts(deep, "copied", HINTS, 80).left).toBe("copied");
  });
});

describe("help overlay", () => {
  const pairs = LEGEND.split(/ {2,}/);

  it("breaks the legend between pairs, and between groups where it can", () => {
    for (const w of [40, 60, 76, 116]) {
      const lines = legendLines(LEGEND, w);
      for (const l of lines) expect(width(l)).toBeLessThanOrEqual(w);
      // Every pair whole on some line, in order.
      expect(lines.join("  ").split(/ {2,}/)).toEqual(pairs);
    }
    expect(legendLines(LEGEND, 76)).toEqual([
      "✓ allow  ✗ deny  ↻ rate-limited  ? approval",
      "▲ tightened  ▼ loosened  ~ changed  = same   cf counterfactual  ≈ inexact",
    ]);
  });

  it("fits every line to the width, what a key does going on under itself", () => {
    for (const w of [50, 80, 120]) {
      const lines = helpLines(w).map(lineText);
      for (const l of lines) expect(width(l)).toBeLessThanOrEqual(w);
    }
    expect(helpLines(80).map(lineText)).toContain(
      "   PgDn PgUp      next / previous page (also Space, Ctrl-F / Ctrl-B)",
    );
    const narrow = helpLines(50).map(lineText);
    const at = narrow.indexOf("   PgDn PgUp      next / previous page (also");
    expect(narrow[at + 1]).toBe("                  Space, Ctrl-F / Ctrl-B)");
  });
});

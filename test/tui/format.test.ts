import { describe, expect, it } from "vitest";
import {
  contentWidths,
  decisionLook,
  duration,
  layoutColumns,
  retryText,
  tableRow,
  valueLines,
  windowText,
} from "../../src/tui/format.js";
import { clean, cut, lineText, pad, width, wrap } from "../../src/tui/text.js";
import { themeFor } from "../../src/tui/theme.js";
import { DIFF_COLUMNS } from "../../src/tui/screens/run.js";
import { CALL_COLUMNS } from "../../src/tui/screens/timeline.js";

describe("text", () => {
  it("measures, cuts and pads by terminal columns", () => {
    expect(width("日本")).toBe(4);
    expect(cut("fleet_secrets_set", 8)).toBe("fleet_s…");
    expect(cut("日本語です", 5)).toBe("日本…");
    expect(pad("ab", 4)).toBe("ab  ");
    expect(pad("ab", 4, "right")).toBe("  ab");
  });

  it("never lets control characters from a recording reach the terminal", () => {
    expect(clean("a\x1b[2Jb\nc\td")).toBe("a·[2Jb↵c d");
  });

  it("wraps at spaces, splitting words longer than a line", () => {
    expect(wrap("at most thirty secret writes a minute", 12)).toEqual([
      "at most",
      "thirty",
      "secret",
      "writes a",
      "minute",
    ]);
    expect(wrap("abcdefghij", 4)).toEqual(["abcd", "efgh", "ij"]);
    expect(wrap("one two three", 9, "  ")).toEqual(["one two", "  three"]);
  });
});

describe("format", () => {
  it("gives every decision a symbol and a word", () => {
    expect(decisionLook("allow", "rule_allow")).toMatchObject({ symbol: "✓", word: "allow" });
    expect(decisionLook("deny", "rate_limited")).toMatchObject({ symbol: "↻", word: "limited" });
    expect(decisionLook("deny", "hidden")).toMatchObject({ symbol: "✗", word: "hidden" });
    expect(decisionLook("deny", "rule_deny")).toMatchObject({ symbol: "✗", word: "deny" });
    expect(decisionLook("approval_required", "approval_required")).toMatchObject({
      symbol: "?",
      word: "approval",
    });
  });

  it("says times the way people read them", () => {
    expect(duration(578)).toBe("578 ms");
    expect(duration(4200)).toBe("4.2 s");
    expect(duration(184_000)).toBe("3 min 4 s");
    expect(duration(7_500_000)).toBe("2 h 5 min");
    expect(windowText(60_000)).toBe("1 min");
    expect(windowText(3_600_000)).toBe("1 h");
    expect(windowText(500)).toBe("500 ms");
    expect(retryText(59_913)).toBe("retry in 59.9 s");
    expect(retryText(null)).toBe("no retry");
  });

  it("lays out columns: drops the least needed when narrow, grows the flexible ones", () => {
    const cols = [
      { title: "a", min: 10 },
      { title: "b", min: 10, grow: 1 },
      { title: "c", min: 10, drop: 1 },
    ];
    expect(layoutColumns(cols, 32)).toEqual([10, 10, 10]);
    expect(layoutColumns(cols, 40)).toEqual([10, 18, 10]);
    expect(layoutColumns(cols, 25)).toEqual([10, 14, 0]);
    const row = tableRow([{ text: "x" }, { text: "y" }, { text: "z" }], cols, [3, 2, 0]);
    expect(lineText(row)).toBe("x   y ");
  });

  it("lays out columns by content: whole headers, room to the columns whose content needs it", () => {
    const cols = [
      { title: "tool", min: 4, grow: 3, max: 36 },
      { title: "note", min: 4, grow: 1 },
    ];
    // A tool column whose names are short leaves the room to the note that needs it.
    expect(layoutColumns(cols, 58, [17, 40])).toEqual([17, 40]);
    expect(layoutColumns(cols, 40, [17, 40])).toEqual([17, 22]);
    // Room to spare once every cell is whole goes to the growing columns, by weight.
    expect(layoutColumns(cols, 62, [17, 40])).toEqual([20, 41]);
    // Nothing to show beyond the header: the header stays whole.
    expect(layoutColumns([{ title: "marks", min: 4 }], 20, [2])).toEqual([5]);
    // Not even the header fits: the minimum it is.
    expect(
      layoutColumns(
        [
          { title: "marks", min: 4 },
          { title: "x", min: 1 },
        ],
        6,
        [],
      ),
    ).toEqual([4, 1]);
    // A column that may be dropped gets room for its content after the others.
    const withCode = [
      { title: "a", min: 5, grow: 1 },
      { title: "code", min: 5, drop: 1 },
    ];
    expect(layoutColumns(withCode, 20, [16, 9])).toEqual([14, 5]);
    expect(layoutColumns(withCode, 30, [16, 9])).toEqual([20, 9]);
    // Widths are measured in terminal columns, over cells of one or more segments.
    expect(
      contentWidths([
        [{ text: "ab" }, [{ text: "cf" }, { text: " ≈" }]],
        [{ text: "abcd" }, { text: "" }],
      ]),
    ).toEqual([4, 4]);
  });

  it("shows the timeline's counter name and the diff's headers whole at 80 and 120 columns", () => {
    const limit = "fleet_secrets_set_rate 30/30 per 1 min, retry in 59.9 s";
    const calls = [12, "fleet_secrets_set".length, 10, "approval_required".length, limit.length];
    for (const total of [78, 118]) {
      const w = layoutColumns(CALL_COLUMNS, total, calls);
      expect(w[1]).toBeGreaterThanOrEqual(17);
      expect(w[4]).toBeGreaterThanOrEqual("fleet_secrets_set_rate".length + 1);
      expect(w.reduce((a, b) => a + b, 0) + w.length - 1).toBeLessThanOrEqual(total);
    }
    expect(layoutColumns(CALL_COLUMNS, 78, calls)[1]).toBe(17);
    expect(layoutColumns(CALL_COLUMNS, 118, calls)[4]).toBeGreaterThanOrEqual(limit.length);
    const diff = [12, 17, 9, 9, 9, 11, 4];
    for (const total of [78, 118]) {
      const w = layoutColumns(DIFF_COLUMNS, total, diff);
      DIFF_COLUMNS.forEach((c, i) => expect(w[i]).toBeGreaterThanOrEqual(width(c.title)));
    }
  });

  it("shows redacted and truncated values as such", () => {
    const lines = valueLines({
      team: "payments",
      value: { $redacted: "hmac-sha256:7d2a89f8b8ea947a" },
      blob: { $truncated: 120000 },
      tags: ["a", 2],
    }).map(lineText);
    expect(lines).toEqual([
      '  team: "payments"',
      "  value: ‹redacted 7d2a89f8›",
      "  blob: ‹truncated, 120,000 chars›",
      "  tags: ",
      '    - "a"',
      "    - 2",
    ]);
  });
});

describe("theme", () => {
  it("drops colour under NO_COLOR, keeps it otherwise", () => {
    expect(themeFor({ NO_COLOR: "1" }).color).toBe(false);
    expect(themeFor({ NO_COLOR: "1" }).look("deny").color).toBeUndefined();
    expect(themeFor({ NO_COLOR: "" }).color).toBe(true);
    expect(themeFor({}).look("deny").color).toBe("red");
  });
});

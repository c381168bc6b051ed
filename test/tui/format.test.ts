import { describe, expect, it } from "vitest";
import {
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

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Column,
  columns,
  cut,
  fitWidths,
  renderTable,
  tableWidth,
  wrap,
} from "../../../src/replay/report/fit.js";
import { ansi, plain } from "../../../src/replay/report/style.js";

describe("cut", () => {
  it("leaves what fits; marks a cut with an ellipsis at the end or in the middle", () => {
    expect(cut("fleet_secrets_get", 17)).toBe("fleet_secrets_get");
    expect(cut("fleet_secrets_get", 10)).toBe("fleet_sec…");
    expect(cut("fleet_secrets_get", 10, "middle")).toBe("fleet…_get");
    expect(cut("fleet_secrets_set", 10, "middle")).toBe("fleet…_set");
    expect(cut("abc", 0)).toBe("");
  });

  it("never exceeds the width, counting code points", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme-composite" }),
        fc.nat(40),
        fc.constantFrom("end" as const, "middle" as const),
        (s, w, where) => {
          const c = cut(s, w, where);
          return columns(c) <= w && (columns(s) <= w ? c === s : c.includes("…") || w === 0);
        },
      ),
    );
  });
});

describe("fitWidths", () => {
  const cols: Column[] = [
    { head: "#", align: "right" },
    { head: "name", align: "left", min: 4, cutOrder: 1 },
    { head: "session", align: "left", min: 6, cutOrder: 0 },
  ];
  const rows = [["1", "a-long-name", "session-0123456789"]];

  it("keeps natural widths when they fit", () => {
    expect(fitWidths(cols, rows, 100)).toEqual([1, 11, 18]);
  });

  it("cuts in cutOrder, each no further than needed or than its min", () => {
    // Natural: 1 + 11 + 18 + 3 gaps of 2 = 36.
    expect(fitWidths(cols, rows, 30)).toEqual([1, 11, 12]);
    expect(fitWidths(cols, rows, 20)).toEqual([1, 7, 6]);
    expect(fitWidths(cols, rows, 17)).toEqual([1, 4, 6]);
    expect(fitWidths(cols, rows, 16)).toBeNull();
  });
});

describe("renderTable", () => {
  const cols: Column[] = [
    { head: "#", align: "right" },
    { head: "tool", align: "left", min: 5 },
    { head: "marks", align: "left" },
  ];

  it("pads, aligns and cuts; no line ends in spaces", () => {
    const rows = [
      ["7", "fleet_status", ""],
      ["12", "x", "counterfactual"],
    ];
    const lines = renderTable(cols, rows, [2, 6, 14], plain);
    expect(lines).toEqual(["   #  tool    marks", "   7  fleet…", "  12  x       counterfactual"]);
    expect(lines.every((l) => columns(l) <= tableWidth([2, 6, 14]))).toBe(true);
  });

  it("styles a cell after cutting and padding it, so the styling never counts", () => {
    const lines = renderTable(
      cols,
      [["1", { text: "fleet_status", style: ansi.red }, "x"]],
      [1, 6, 5],
      ansi,
    );
    expect(lines[1]).toBe(`  1  ${ansi.red("fleet…")}  x`);
  });
});

describe("wrap", () => {
  it("breaks at spaces to fit, a word longer than the width on its own line", () => {
    expect(wrap("one two three four", 9)).toEqual(["one two", "three", "four"]);
    expect(wrap("a verylongword b", 5)).toEqual(["a", "verylongword", "b"]);
    expect(wrap("fits", Infinity)).toEqual(["fits"]);
  });

  it("does not count colour", () => {
    const s = `${ansi.bold("Gate: FAIL")} — 3 changes`;
    expect(wrap(s, 22)).toEqual([s]);
    expect(wrap(s, 21)).toEqual([`${ansi.bold("Gate: FAIL")} — 3`, "changes"]);
  });
});

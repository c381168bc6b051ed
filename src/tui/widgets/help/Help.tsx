import { KEY_GROUPS, LEGEND } from "../../keys.js";
import { type Line, pad, width as cols, wrap } from "../../text.js";
import { Lines } from "../Lines.js";

const KEY_WIDTH = 15;
const INDENT = "   ";

/**
 * The legend's `symbol meaning` pairs, packed into lines of at most `w` columns: a line breaks
 * only between pairs (two spaces apart, three between groups), never inside one, and between
 * groups where it can.
 */
export function legendLines(legend: string, w: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const group of legend.split(/ {3,}/)) {
    // A group that would fit on a line of its own is not split either.
    if (line !== "" && cols(`${line}   ${group}`) > w && cols(group) <= w) {
      out.push(line);
      line = "";
    }
    group.split(/ {2}/).forEach((pair, i) => {
      const sep = line === "" ? "" : i === 0 ? "   " : "  ";
      if (line !== "" && cols(line + sep + pair) > w) {
        out.push(line);
        line = pair;
      } else line += sep + pair;
    });
  }
  if (line !== "") out.push(line);
  return out;
}

/** The help overlay's lines: every key, grouped, then what the marks mean. */
export function helpLines(width: number): Line[] {
  const out: Line[] = [
    [
      { text: " Keys", tone: "title" },
      { text: "  (any key closes this help)", tone: "muted" },
    ],
  ];
  // What a key does goes on under itself, not under the keys, when the line is too narrow.
  const hang = " ".repeat(INDENT.length + KEY_WIDTH);
  for (const g of KEY_GROUPS) {
    out.push([{ text: ` ${g.title}`, tone: "accent" }]);
    for (const k of g.keys) {
      const [first, ...rest] = wrap(k.does, width - hang.length, "");
      out.push([{ text: `${INDENT}${pad(k.keys, KEY_WIDTH)}`, bold: true }, { text: first! }]);
      for (const more of rest) out.push([{ text: hang + more }]);
    }
  }
  out.push([{ text: " Marks", tone: "accent" }]);
  for (const l of legendLines(LEGEND, width - INDENT.length - 1))
    out.push([{ text: `${INDENT}${l}` }]);
  return out;
}

/** The help overlay, in place of the screen's body. */
export function Help({ width, height }: { width: number; height: number }) {
  return <Lines lines={helpLines(width)} width={width} height={height} />;
}

import { KEY_GROUPS, LEGEND } from "../../keys.js";
import { pad, type Line, wrap } from "../../text.js";
import { Lines } from "../Lines.js";

/** The help overlay's lines: every key, grouped, then what the marks mean. */
export function helpLines(width: number): Line[] {
  const out: Line[] = [
    [
      { text: " Keys", tone: "title" },
      { text: "  (any key closes this help)", tone: "muted" },
    ],
  ];
  for (const g of KEY_GROUPS) {
    out.push([{ text: ` ${g.title}`, tone: "accent" }]);
    for (const k of g.keys)
      out.push([{ text: `   ${pad(k.keys, 15)}`, bold: true }, { text: k.does }]);
  }
  out.push([{ text: " Marks", tone: "accent" }]);
  for (const l of wrap(LEGEND, width - 4)) out.push([{ text: `   ${l}` }]);
  return out;
}

/** The help overlay, in place of the screen's body. */
export function Help({ width, height }: { width: number; height: number }) {
  return <Lines lines={helpLines(width)} width={width} height={height} />;
}

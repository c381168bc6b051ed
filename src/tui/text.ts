import stringWidth from "string-width";

// Screen text is built as lines of styled segments and cut to the terminal's width here, so
// Ink never wraps a line on its own and every screen keeps the exact height it was laid out for.

/** A style by meaning; the theme decides what each looks like (or nothing, under NO_COLOR). */
export type Tone =
  | "allow"
  | "deny"
  | "limited"
  | "approval"
  | "tightened"
  | "loosened"
  | "changed"
  | "muted"
  | "accent"
  | "redacted"
  | "title";

export interface Seg {
  text: string;
  tone?: Tone;
  bold?: boolean;
  inverse?: boolean;
}

export type Line = Seg[];

const PLAIN = /^[\x20-\x7e]*$/;
// C0 and C1 controls, DEL: text from a recording must never reach the terminal as a command.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;

/** Text from a recording made safe to print on one line: controls shown, never sent. */
export function clean(s: string): string {
  if (PLAIN.test(s)) return s;
  return s.replace(CONTROL, (c) => (c === "\n" ? "↵" : c === "\t" ? " " : "·"));
}

/**
 * Whether every character of `s` takes exactly one column: printable ASCII, Latin and the
 * arrows, marks and box shapes the screens draw with. string-width answers for the rest; it
 * segments graphemes, which costs far more than this on every cell of every frame.
 */
function narrow(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) continue;
    if (c >= 0xa0 && c < 0x300) continue;
    // General punctuation, arrows, maths, box drawing, shapes, dingbats' ticks and crosses.
    if (c >= 0x2010 && c < 0x2300) continue;
    if (c >= 0x2500 && c < 0x2600) continue;
    if (c === 0x2713 || c === 0x2717) continue;
    return false;
  }
  return true;
}

/** Columns a string takes on a terminal. */
export function width(s: string): number {
  return narrow(s) ? s.length : stringWidth(s);
}

/** `s` cut to at most `w` columns, ending in … when cut. */
export function cut(s: string, w: number): string {
  if (w <= 0) return "";
  if (narrow(s)) return s.length <= w ? s : `${s.slice(0, w - 1)}…`;
  if (stringWidth(s) <= w) return s;
  let out = "";
  let used = 0;
  for (const ch of s) {
    const cw = stringWidth(ch);
    if (used + cw > w - 1) break;
    out += ch;
    used += cw;
  }
  return `${out}…`;
}

/** `s` cut or padded to exactly `w` columns. */
export function pad(s: string, w: number, align: "left" | "right" = "left"): string {
  const c = cut(s, w);
  const fill = " ".repeat(Math.max(0, w - width(c)));
  return align === "left" ? c + fill : fill + c;
}

/** A line cut to `w` columns (segments past the edge dropped, the last one cut). */
export function fitLine(line: Line, w: number): Line {
  const out: Line = [];
  let used = 0;
  for (let i = 0; i < line.length; i++) {
    const seg = line[i]!;
    const sw = width(seg.text);
    if (used + sw <= w) {
      out.push(seg);
      used += sw;
      continue;
    }
    // Cut here; if later segments had room they are lost anyway: the line is over its width.
    const room = w - used;
    if (room > 0) out.push({ ...seg, text: cut(seg.text, room) });
    return out;
  }
  return out;
}

/** A line's text without styles. */
export function lineText(line: Line): string {
  return line.map((s) => s.text).join("");
}

/**
 * Plain text broken into lines of at most `w` columns, at spaces where it can; `indent` is put
 * before every line after the first (and counted in its width).
 */
export function wrap(text: string, w: number, indent = ""): string[] {
  const out: string[] = [];
  const room = (): number => Math.max(1, out.length === 0 ? w : w - width(indent));
  for (const para of text.split("\n")) {
    let line = "";
    for (const word of clean(para).split(" ")) {
      const candidate = line === "" ? word : `${line} ${word}`;
      if (width(candidate) <= room()) {
        line = candidate;
        continue;
      }
      if (line !== "") out.push(line);
      // A word longer than a whole line is split hard.
      let rest = word;
      while (width(rest) > room()) {
        const head = hardSlice(rest, room());
        out.push(head);
        rest = rest.slice(head.length);
      }
      line = rest;
    }
    out.push(line);
  }
  return out.map((l, i) => (i === 0 ? l : indent + l));
}

function hardSlice(s: string, w: number): string {
  let out = "";
  let used = 0;
  for (const ch of s) {
    const cw = width(ch);
    if (used + cw > w) break;
    out += ch;
    used += cw;
  }
  return out.length > 0 ? out : [...s][0]!;
}

import { type Key, useInput } from "ink";

// Ink hands over a chunk of plain characters read at once ("jjj", or "G\r" from a fast typist
// or a terminal multiplexer) as one input, as it would a paste. A key handler wants each key.

const NONE: Key = {
  upArrow: false,
  downArrow: false,
  leftArrow: false,
  rightArrow: false,
  pageDown: false,
  pageUp: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  ctrl: false,
  shift: false,
  tab: false,
  backspace: false,
  delete: false,
  meta: false,
  super: false,
  hyper: false,
  capsLock: false,
  numLock: false,
};

function keyOf(ch: string): [string, Key] {
  if (ch === "\r" || ch === "\n") return ["", { ...NONE, return: true }];
  if (ch === "\t") return ["", { ...NONE, tab: true }];
  if (ch === "\x7f") return ["", { ...NONE, delete: true }];
  if (ch === "\b") return ["", { ...NONE, backspace: true }];
  return [ch, { ...NONE, shift: ch !== ch.toLowerCase() }];
}

/** One input event as the keys it holds: itself, or each character of a chunk of text. */
export function keystrokes(input: string, key: Key): [string, Key][] {
  const chars = [...input];
  if (chars.length <= 1 || key.ctrl || key.meta) return [[input, key]];
  return chars.map(keyOf);
}

/**
 * Calls `onKey` for every key pressed, one at a time, even when several arrive in one read:
 * the app routes each by the state the previous one left (`/` then text goes to the filter).
 */
export function useKeystrokes(onKey: (input: string, key: Key) => void): void {
  useInput((input, key) => {
    for (const [i, k] of keystrokes(input, key)) onKey(i, k);
  });
}

import type { Key } from "ink";
import type { TextInputAction } from "./text-input-state.js";

export type TextInputEvent =
  { type: "edit"; edit: TextInputAction } | { type: "submit" } | { type: "cancel" };

/** What a key does in a one-line text field, or null for keys it ignores. */
export function textEventForKey(input: string, key: Key): TextInputEvent | null {
  if (key.return) return { type: "submit" };
  if (key.escape) return { type: "cancel" };
  // Ink reports the Backspace key (DEL, 0x7f) as `delete`; a real Delete key is rarer than a
  // backspace that does nothing, so both erase backwards.
  if (key.backspace || key.delete) return { type: "edit", edit: { type: "backspace" } };
  if (key.leftArrow) return { type: "edit", edit: { type: "left" } };
  if (key.rightArrow) return { type: "edit", edit: { type: "right" } };
  if (key.home || (key.ctrl && input === "a")) return { type: "edit", edit: { type: "home" } };
  if (key.end || (key.ctrl && input === "e")) return { type: "edit", edit: { type: "end" } };
  if (key.ctrl && input === "u") return { type: "edit", edit: { type: "clearToStart" } };
  if (key.ctrl || key.meta || key.tab || key.upArrow || key.downArrow || key.pageUp || key.pageDown)
    return null;
  if (input === "") return null;
  return { type: "edit", edit: { type: "insert", text: input } };
}

import type { Key } from "ink";
import type { MoveAction } from "./list-state.js";

/** The move a key asks for in a list or a scrolled view, or null if it is not a move key. */
export function moveForKey(input: string, key: Key): MoveAction | null {
  if (key.downArrow || input === "j" || (key.ctrl && input === "n")) return { type: "down" };
  if (key.upArrow || input === "k" || (key.ctrl && input === "p")) return { type: "up" };
  if (key.pageDown || input === " " || (key.ctrl && (input === "f" || input === "d")))
    return { type: "pageDown" };
  if (key.pageUp || (key.ctrl && (input === "b" || input === "u"))) return { type: "pageUp" };
  if (key.home || input === "g") return { type: "first" };
  if (key.end || input === "G") return { type: "last" };
  return null;
}

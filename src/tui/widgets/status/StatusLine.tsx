import { Text } from "ink";
import { cut, width as cols } from "../../text.js";

/** `text` cut from the left to `w` columns, so the end (where you are) stays in view. */
export function cutLeft(text: string, w: number): string {
  if (cols(text) <= w) return text;
  if (w <= 1) return "…".slice(0, w);
  const chars = [...text];
  let out = "";
  for (let i = chars.length - 1; i >= 0 && cols(chars[i]! + out) <= w - 1; i--)
    out = chars[i]! + out;
  return `…${out}`;
}

/**
 * Key hints that fit in `w` columns: the last two (help and quit) stay, the others go from
 * the end of the rest.
 */
export function fitHints(hints: readonly string[], w: number): string {
  const shown = [...hints];
  while (shown.length > 2 && cols(shown.join("  ")) > w) shown.splice(shown.length - 3, 1);
  while (shown.length > 0 && cols(shown.join("  ")) > w) shown.shift();
  return shown.join("  ");
}

/**
 * The bottom line: where you are on the left (or a note about the last key), the keys that
 * work here on the right.
 */
export function StatusLine({
  where,
  note,
  hints,
  width,
}: {
  where: string;
  note: string | null;
  hints: readonly string[];
  width: number;
}) {
  const keys = fitHints(hints, Math.max(0, width - Math.min(30, cols(where)) - 3));
  const room = Math.max(0, width - cols(keys) - 2);
  const left = note !== null ? cut(note, room) : cutLeft(where, room);
  const gap = Math.max(1, width - cols(left) - cols(keys));
  return (
    <Text wrap="truncate">
      <Text inverse={note === null} bold={note !== null}>
        {left}
      </Text>
      {" ".repeat(gap)}
      <Text dimColor>{keys}</Text>
    </Text>
  );
}

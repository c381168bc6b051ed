import { Text } from "ink";
import { cut, width as cols } from "../../text.js";

/** One screen in the path to where you are, with a shorter form for a narrow terminal. */
export interface Crumb {
  text: string;
  short?: string;
}

/** Where you are: the screens down to this one, and the row (` 39/53`, or empty). */
export interface Where {
  crumbs: readonly Crumb[];
  at: string;
}

const show = (crumbs: readonly string[], at: string): string => ` ${crumbs.join(" › ")}${at} `;

/**
 * Where you are in at most `w` columns: whole when it fits; else with shorter crumbs, then
 * with the screens between the first and the last left out; only then cut at the right. The
 * start stays put, so the line never opens in the middle of a name.
 */
export function fitWhere(where: Where, w: number): string {
  const { crumbs, at } = where;
  const full = crumbs.map((c) => c.text);
  const shorter = crumbs.map((c, i) => (i === crumbs.length - 1 ? c.text : (c.short ?? c.text)));
  const shortest = crumbs.map((c) => c.short ?? c.text);
  const tries = [full, shorter, shortest];
  if (shortest.length > 2) tries.push([shortest[0]!, "…", shortest[shortest.length - 1]!]);
  if (shortest.length > 1) tries.push(["…", shortest[shortest.length - 1]!]);
  for (const t of tries) {
    const s = show(t, at);
    if (cols(s) <= w) return s;
  }
  return cut(show(tries[tries.length - 1]!, at), w);
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
 * The status line's two parts in `width` columns: where you are (or a note about the last
 * key) on the left, which comes first, and the keys that work here in the room left over,
 * keeping help and quit while there is room for them.
 */
export function statusParts(
  where: Where,
  note: string | null,
  hints: readonly string[],
  width: number,
): { left: string; keys: string } {
  const essential = cols(hints.slice(-2).join("  "));
  // Help and quit keep their place unless that leaves too little for where you are.
  const room = width - essential - 2 >= 16 ? width - essential - 2 : width;
  const left = note !== null ? cut(note, room) : fitWhere(where, room);
  return { left, keys: fitHints(hints, width - cols(left) - 2) };
}

/** The bottom line: where you are on the left (or a note), the keys that work here on the right. */
export function StatusLine({
  where,
  note,
  hints,
  width,
}: {
  where: Where;
  note: string | null;
  hints: readonly string[];
  width: number;
}) {
  const { left, keys } = statusParts(where, note, hints, width);
  const gap = Math.max(1, width - cols(left) - cols(keys));
  return (
    <Text wrap="truncate">
      <Text inverse={note === null} bold={note !== null}>
        {left}
      </Text>
      {keys === "" ? "" : " ".repeat(gap)}
      <Text dimColor>{keys}</Text>
    </Text>
  );
}

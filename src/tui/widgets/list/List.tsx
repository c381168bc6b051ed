import { Box, Text } from "ink";
import { type Line, wrap } from "../../text.js";
import { LineView } from "../Lines.js";
import type { ListState } from "./list-state.js";

export interface ListProps<T> {
  state: ListState<T>;
  width: number;
  /** The table's header row, drawn above the rows (after the gutter). */
  header: Line;
  /** A row as a line `width - 2` columns wide (the list draws a 2-column gutter before it). */
  row: (row: T, selected: boolean) => Line;
  /** What an empty list says (wrapped to the width). */
  empty: string;
  /** A row's identity, so that a row scrolled up or down keeps its drawn line. */
  rowKey?: (row: T) => string | number;
}

/**
 * A table of the rows on screen: header, rows, the selected one marked with › (and shown in
 * reverse video), then blank lines down to the list's height.
 */
export function List<T>({ state, width, header, row, empty, rowKey }: ListProps<T>) {
  const inner = Math.max(1, width - 2);
  return (
    <Box flexDirection="column" width={width} height={state.height + 1}>
      <LineView line={[{ text: "  " }, ...header]} width={width} />
      {state.rows.length === 0
        ? // An explanation, not a row: broken at spaces to the width rather than cut off.
          wrap(empty, inner)
            .slice(0, state.height)
            .map((l, i) => (
              <Text key={i} dimColor wrap="truncate">
                {`  ${l}`}
              </Text>
            ))
        : state.rows.map((r, i) => {
            const sel = i === state.cursor;
            return (
              <LineView
                key={rowKey ? rowKey(r) : i}
                line={[{ text: sel ? "› " : "  ", bold: sel }, ...row(r, sel)]}
                width={2 + inner}
                inverse={sel}
              />
            );
          })}
    </Box>
  );
}

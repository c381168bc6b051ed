import type { Screen } from "../state.js";
import type { Line } from "../text.js";
import { Lines } from "../widgets/Lines.js";

/** A call's detail: its lines from the offset the screen is scrolled to. */
export function CallView({
  screen,
  lines,
  width,
  height,
}: {
  screen: Extract<Screen, { kind: "call" }>;
  lines: readonly Line[];
  width: number;
  height: number;
}) {
  const shown = lines.slice(screen.scroll.offset, screen.scroll.offset + height);
  return <Lines lines={shown} width={width} height={height} />;
}

import { Box, Text } from "ink";
import { createContext, memo, useContext } from "react";
import { fitLine, type Line } from "../text.js";
import { type Theme, themeFor } from "../theme.js";

/** The theme every view draws with; set once by the app from the environment. */
export const ThemeContext = createContext<Theme>(themeFor({}));

/** The current theme. */
export function useTheme(): Theme {
  return useContext(ThemeContext);
}

interface LineProps {
  line: Line;
  width: number;
  inverse?: boolean;
}

/** Same segments, same styles: the line draws the same, whatever array it came in. */
function sameLine(a: LineProps, b: LineProps): boolean {
  if (a.width !== b.width || a.inverse !== b.inverse || a.line.length !== b.line.length)
    return false;
  for (let i = 0; i < a.line.length; i++) {
    const x = a.line[i]!;
    const y = b.line[i]!;
    if (x.text !== y.text || x.tone !== y.tone || x.bold !== y.bold || x.inverse !== y.inverse)
      return false;
  }
  return true;
}

/**
 * One line of styled segments, cut to `width`. Memoised on content: screens rebuild their
 * lines on every key, and most of them come out the same.
 */
export const LineView = memo(function LineView({ line, width, inverse }: LineProps) {
  const theme = useTheme();
  const segs = fitLine(line, width);
  return (
    <Text wrap="truncate" inverse={inverse}>
      {segs.length === 0
        ? " "
        : segs.map((s, i) => (
            <Text
              key={i}
              {...theme.look(s.tone)}
              bold={s.bold || theme.look(s.tone).bold}
              inverse={s.inverse}
            >
              {s.text}
            </Text>
          ))}
    </Text>
  );
}, sameLine);

/** Lines, cut to `width`, filling exactly `height` rows (blank ones below when short). */
export function Lines({
  lines,
  width,
  height,
}: {
  lines: readonly Line[];
  width: number;
  height: number;
}) {
  const shown = lines.slice(0, height);
  return (
    <Box flexDirection="column" height={height} width={width}>
      {shown.map((l, i) => (
        <LineView key={i} line={l} width={width} />
      ))}
    </Box>
  );
}

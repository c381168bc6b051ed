import { Box, Text } from "ink";
import { createContext, useContext } from "react";
import { fitLine, type Line } from "../text.js";
import { type Theme, themeFor } from "../theme.js";

/** The theme every view draws with; set once by the app from the environment. */
export const ThemeContext = createContext<Theme>(themeFor({}));

/** The current theme. */
export function useTheme(): Theme {
  return useContext(ThemeContext);
}

/** One line of styled segments, cut to `width`. */
export function LineView({
  line,
  width,
  inverse,
}: {
  line: Line;
  width: number;
  inverse?: boolean;
}) {
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
}

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

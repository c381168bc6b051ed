import type { Tone } from "./text.js";

/** What a tone looks like on screen: Ink <Text> props. */
export interface Look {
  color?: string;
  bold?: boolean;
  dimColor?: boolean;
}

export interface Theme {
  /** False under NO_COLOR: meaning is then carried by symbols and words alone. */
  color: boolean;
  look(tone: Tone | undefined): Look;
}

const COLORS: Record<Tone, Look> = {
  allow: { color: "green" },
  deny: { color: "red" },
  limited: { color: "yellow" },
  approval: { color: "magenta" },
  tightened: { color: "red" },
  loosened: { color: "green" },
  changed: { color: "yellow" },
  muted: { dimColor: true },
  accent: { color: "cyan" },
  redacted: { color: "yellow" },
  title: { bold: true },
};

// Without colour, keep the styles that are not colour (NO_COLOR asks only for no colour).
const PLAIN: Record<Tone, Look> = {
  allow: {},
  deny: { bold: true },
  limited: { bold: true },
  approval: { bold: true },
  tightened: { bold: true },
  loosened: {},
  changed: {},
  muted: { dimColor: true },
  accent: {},
  redacted: {},
  title: { bold: true },
};

/** The theme for an environment: no colour when NO_COLOR is set to anything but "". */
export function themeFor(env: Record<string, string | undefined>): Theme {
  const color = !(env.NO_COLOR !== undefined && env.NO_COLOR !== "");
  const table = color ? COLORS : PLAIN;
  return { color, look: (tone) => (tone === undefined ? {} : table[tone]) };
}

/**
 * Terminal styling. Hand-written SGR codes rather than util.styleText: styleText checks
 * process.stdout and process.env itself on newer Node versions (and not on Node 20), while
 * the CLI decides colour once from the Io it was given, which tests inject.
 */
export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const sgr =
  (on: number, off: number) =>
  (s: string): string =>
    s === "" ? s : `\x1b[${on}m${s}\x1b[${off}m`;

/** ANSI colours and weights. */
export const ansi: Style = {
  bold: sgr(1, 22),
  dim: sgr(2, 22),
  red: sgr(31, 39),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
  cyan: sgr(36, 39),
};

const id = (s: string): string => s;

/** No styling at all: for files, pipes and NO_COLOR. */
export const plain: Style = { bold: id, dim: id, red: id, green: id, yellow: id, cyan: id };

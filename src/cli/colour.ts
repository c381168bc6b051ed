import { ansi, plain, type Style } from "../replay/report/style.js";
import type { TerminalSink } from "./io.js";

/**
 * Whether to colour what goes to `out`: FORCE_COLOR decides when set ("0" or "false" turns colour
 * off, anything else on), as it does for Node itself; otherwise NO_COLOR (non-empty, per
 * no-color.org) or TERM=dumb turn it off; otherwise colour exactly when `out` is a terminal.
 */
export function wantsColour(out: TerminalSink, env: Record<string, string | undefined>): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force !== "false";
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.TERM === "dumb") return false;
  return out.isTTY === true;
}

/** The Style for `out`: ANSI colours when wantsColour(), none otherwise. */
export function styleFor(out: TerminalSink, env: Record<string, string | undefined>): Style {
  return wantsColour(out, env) ? ansi : plain;
}

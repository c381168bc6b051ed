import { render, renderToString } from "ink";
import type { Browser } from "../store/browse.js";
import { App } from "./app.js";
import { idleCollector } from "./gc.js";
import { openingScreen } from "./opening.js";
import { themeFor } from "./theme.js";

export interface RunTuiOptions {
  browser: Browser;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: Record<string, string | undefined>;
  /** Settles when Ink can lay out (Yoga compiled); the opening screen is read meanwhile. */
  ready?: Promise<void>;
}

// The alternate screen: the UI takes the whole terminal and gives it back as it was on quit.
const ENTER = "\x1b[?1049h\x1b[H";
const LEAVE = "\x1b[?1049l";

/** Run the UI on a terminal until the user quits; resolves to the exit code (0). */
export async function runTui(opts: RunTuiOptions): Promise<number> {
  const { stdout } = opts;
  const opening = openingScreen(opts.browser, {
    columns: stdout.columns || 80,
    rows: stdout.rows || 24,
  });
  await opts.ready;
  stdout.write(ENTER);
  let left = false;
  const leave = (): void => {
    if (left) return;
    left = true;
    stdout.write(LEAVE);
  };
  // However the process ends (a signal, an uncaught error), the terminal gets its screen back.
  process.once("exit", leave);
  const collector = idleCollector();
  const app = render(
    <App
      browser={opts.browser}
      theme={themeFor(opts.env)}
      onKey={collector.key}
      opening={opening}
    />,
    {
      stdin: opts.stdin,
      stdout,
      stderr: opts.stderr,
      exitOnCtrlC: true,
      patchConsole: false,
      // A frame at most every 16 ms: a held key scrolls smoothly, and no key waits long for one.
      maxFps: 60,
    },
  );
  try {
    await app.waitUntilExit();
  } finally {
    collector.stop();
    app.cleanup();
    opts.browser.close();
    leave();
    process.off("exit", leave);
  }
  return 0;
}

/**
 * Draw the opening screen of a recording once, to a string and off any terminal. The build
 * runs it so that V8's code cache for the bundle holds the drawing code, compiled.
 */
export function drawOnce(browser: Browser): string {
  const size = { columns: 80, rows: 24 };
  const opening = openingScreen(browser, size);
  try {
    return renderToString(
      <App browser={browser} theme={themeFor({})} size={size} opening={opening} />,
      { columns: 80 },
    );
  } finally {
    opening?.counts.stop();
  }
}

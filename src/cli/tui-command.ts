import { existsSync, readdirSync } from "node:fs";
import { isFresh } from "./fresh.js";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../errors.js";
import { openBrowser } from "../store/browse.js";
import type { runTui as RunTui } from "../tui/run.js";
import type { Io } from "./io.js";
import { oneRecording } from "./sources.js";

export interface TuiCommandOptions {
  /**
   * The recording, or a directory holding one; by default recordings/demo.sqlite, else the
   * first *.sqlite in recordings/.
   */
  db?: string;
  /** --config FILE, or false for --no-config; by default ./policy-replay.config.json if any. */
  config?: string | false;
}

const DEFAULT_DIR = "recordings";
const DEFAULT_DB = "recordings/demo.sqlite";

/** The recording to open when none is named, or null when there is none to be found. */
export function defaultRecording(cwd: string): string | null {
  if (existsSync(resolve(cwd, DEFAULT_DB))) return DEFAULT_DB;
  let names: string[];
  try {
    names = readdirSync(resolve(cwd, DEFAULT_DIR));
  } catch {
    return null;
  }
  const first = names.filter((n) => n.endsWith(".sqlite")).sort()[0];
  return first === undefined ? null : join(DEFAULT_DIR, first);
}

/**
 * `policy-replay tui [--db FILE]`: browse a recording in the terminal. Resolves to the exit
 * code; a recording that cannot be opened, or no terminal, rejects with a PolicyReplayError
 * (exit 2) before anything is drawn.
 */
export async function tuiCommand(opts: TuiCommandOptions, io: Io): Promise<number> {
  let name: string | null;
  if (opts.db !== undefined) {
    name = oneRecording([opts.db], io.cwd, "tui")!;
  } else {
    // Only without --db: a config is read with its policy's parser (zod, re2js), which the
    // plain `tui --db FILE` bundle (tui-main.ts) would otherwise carry.
    const { readConfig } = await import("./config-options.js");
    const config = await readConfig(opts.config, io);
    name = config?.recordings
      ? oneRecording(config.recordings, io.cwd, "tui", config.file)!
      : defaultRecording(io.cwd);
  }
  if (name === null)
    throw new UsageError(
      `no recording to open: pass --db FILE (neither ${DEFAULT_DB} nor any ${DEFAULT_DIR}/*.sqlite exists in ${io.cwd})`,
    );
  const browser = openBrowser(resolve(io.cwd, name));
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    browser.close();
    throw new UsageError("tui needs a terminal: run it with stdin and stdout on a TTY");
  }
  // React's development build is several times slower to load and to render; nothing here
  // needs its warnings.
  process.env.NODE_ENV ??= "production";
  // Ink draws nothing but the last frame when it believes it runs in CI (CI=true). On a real
  // terminal that belief is wrong, so hide the variables while Ink reads them at import.
  const hidden = hideCi(process.env);
  let ui: Awaited<ReturnType<typeof loadUi>>;
  try {
    ui = await loadUi();
  } finally {
    Object.assign(process.env, hidden);
  }
  return ui.runTui({
    browser,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: io.env,
    ready: ui.ready,
  });
}

/**
 * The UI's entry: the bundle `npm run build` makes (scripts/bundle-tui.ts), which loads several
 * times faster, unless it is missing or older than the modules it was made from (tsc ran
 * again since); then the modules themselves.
 */
async function loadUi(): Promise<{ runTui: typeof RunTui; ready?: Promise<void> }> {
  const bundle = fileURLToPath(new URL("../tui/tui.bundle.cjs", import.meta.url));
  const modules = fileURLToPath(new URL("../tui/run.js", import.meta.url));
  if (isFresh(bundle, modules)) {
    const { loadUiBundle } = await import("./tui-bundle.js");
    const { ui } = loadUiBundle(bundle);
    // Awaited by runTui once it has read the opening screen: the two overlap.
    return { runTui: ui.runTui, ready: ui.yogaReady };
  }
  return { runTui: (await import("../tui/run.js")).runTui };
}

function hideCi(env: NodeJS.ProcessEnv): Record<string, string> {
  const saved: Record<string, string> = {};
  for (const name of ["CI", "CONTINUOUS_INTEGRATION"]) {
    const v = env[name];
    if (v !== undefined) {
      saved[name] = v;
      delete env[name];
    }
  }
  return saved;
}

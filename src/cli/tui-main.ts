import { type Io, processIo } from "./io.js";
import { reportError } from "./report-error.js";

// The way in for plain `policy-replay tui [--db FILE]`, which a person waits on: the build
// bundles it apart from the rest of the CLI (scripts/bundle-cli.ts), and bin/policy-replay.js
// loads that bundle for `tui`: about 10 ms to load against the whole command line's 20.

/** `tui`, `tui --db FILE` or `tui --db=FILE` as the UI's options; null for anything else. */
export function plainTuiArgs(argv: readonly string[]): { db?: string } | null {
  if (argv[0] !== "tui") return null;
  if (argv.length === 1) return {};
  const db = argv[1]?.startsWith("--db=") ? argv[1].slice(5) : null;
  if (argv.length === 2 && db) return { db };
  if (argv.length === 3 && argv[1] === "--db" && argv[2] && !argv[2].startsWith("-"))
    return { db: argv[2] };
  return null;
}

/**
 * Run the UI for plain `tui [--db FILE]` arguments and resolve to the exit code; null for any
 * other arguments, which are the whole command line's.
 */
export async function runPlainTui(
  argv: readonly string[],
  io: Io = processIo(),
): Promise<number | null> {
  const tui = plainTuiArgs(argv);
  if (tui === null) return null;
  try {
    const { tuiCommand } = await import("./tui-command.js");
    return await tuiCommand(tui, io);
  } catch (err) {
    return reportError(err, io, null);
  }
}

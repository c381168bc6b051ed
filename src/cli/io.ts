import type { Sink } from "../replay/report/sink.js";

/** Everything a command touches outside itself, so tests can call commands directly. */
export interface Io {
  stdout: Sink;
  stderr: Sink;
  /** Relative paths in options are resolved against this. */
  cwd: string;
  env: Record<string, string | undefined>;
}

/** The real process's streams and working directory. */
export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), env: process.env };
}

import type { Sink } from "../replay/report/sink.js";

/** An output stream as a command sees it: a Sink that may say it is a terminal. */
export interface TerminalSink extends Sink {
  /** True when this is an interactive terminal (colour, progress); absent means not. */
  isTTY?: boolean;
  /** The terminal's width in characters, when it is one. */
  columns?: number;
}

/** Everything a command touches outside itself, so tests can call commands directly. */
export interface Io {
  stdout: TerminalSink;
  stderr: TerminalSink;
  /** Where `--calls -` reads from; absent means there is none. */
  stdin?: AsyncIterable<Uint8Array | string> & { isTTY?: boolean };
  /** Relative paths in options are resolved against this. */
  cwd: string;
  env: Record<string, string | undefined>;
  /** A monotonic clock in milliseconds (performance.now by default); tests pass a fake one. */
  now?: () => number;
}

/** The real process's streams and working directory. */
export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    // Made only when read: process.stdin opens the stream, which most commands never need.
    get stdin() {
      return process.stdin;
    },
    cwd: process.cwd(),
    env: process.env,
  };
}

import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { UsageError } from "../errors.js";
import { describeIoError } from "../policy/load.js";
import type { Io } from "./io.js";

/** How a trace read from stdin is named in reports and messages. */
export const STDIN_NAME = "stdin";

/** A copy of stdin in a temporary file, and how to remove it. */
export interface Spooled {
  path: string;
  remove(): void;
}

/**
 * Copy stdin into a temporary file. The trace reader reads a file synchronously, a call at a
 * time, and a replay that warms its counters reads it twice; a copy gives both, with memory
 * as flat as for any file, where reading stdin itself could do neither.
 */
export async function spoolStdin(io: Io): Promise<Spooled> {
  const stdin = io.stdin;
  if (stdin === undefined) throw new UsageError("--calls -: there is no stdin to read");
  if (stdin.isTTY) {
    io.stderr.write("policy-replay: reading calls from stdin (end with Ctrl-D)\n");
  }
  const dir = mkdtempSync(join(tmpdir(), "policy-replay-stdin-"));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  const path = join(dir, "calls.jsonl");
  try {
    await pipeline(stdin, createWriteStream(path, { mode: 0o600 }));
  } catch (err) {
    remove();
    throw new UsageError(`--calls -: cannot read stdin (${describeIoError(err)})`);
  }
  return { path, remove };
}

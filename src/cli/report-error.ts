import type { CommanderError as CommanderErrorClass } from "commander";
import { InputError, PolicyError, PolicyReplayError } from "../errors.js";
import type { Io } from "./io.js";

/** Print a fatal error the way a user wants it (no stack trace) and return its exit code. */
export function reportError(
  err: unknown,
  io: Io,
  CommanderError: typeof CommanderErrorClass | null,
): number {
  if (CommanderError !== null && err instanceof CommanderError) {
    // Help and version end with exitCode 0; every other commander error is a usage error.
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof PolicyError || err instanceof InputError) {
    const count = err.faults.length;
    // One fault reads best as one line, `file:line:col: path: message`, like a compiler's.
    if (count === 1) {
      io.stderr.write(`policy-replay: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr.write(`policy-replay: ${err.file}: ${count} faults\n${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof PolicyReplayError) {
    io.stderr.write(`policy-replay: ${err.message}\n`);
    return err.exitCode;
  }
  // A bug, not bad input: keep the stack, since that is what a bug report needs.
  io.stderr.write(
    `policy-replay: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return 70;
}

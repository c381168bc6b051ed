import { Command, CommanderError, Option } from "commander";
import { InputError, PolicyError, PolicyReplayError } from "../errors.js";
import { type Io, processIo } from "./io.js";
import { FORMATS, type Format, parseFailOn, parseShow, replayCommand } from "./replay-command.js";

const VERSION = "0.1.0";

/**
 * The whole command line: parse argv, run the command, map errors to exit codes (SPEC section
 * 8: 0 done, 1 the gate failed, 2 bad input or usage). Never throws; never calls process.exit.
 */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  let exitCode = 0;
  const program = new Command("policy-replay")
    .description(
      "Replay recorded MCP tool calls against a candidate gateway policy and diff every decision.",
    )
    .version(VERSION)
    .option("--policy <file>", "the candidate policy to replay under (required)")
    .option(
      "--calls <file>",
      `a JSONL trace of calls (SPEC section 7); default ${"recordings/demo.jsonl"}`,
    )
    .option(
      "--baseline <file>",
      "compare with this policy replayed the same way, not the recorded decisions",
    )
    .addOption(new Option("--format <format>", "report format").choices(FORMATS).default("text"))
    .option(
      "--fail-on <classes>",
      "change classes that fail the run (exit 1): tightened,loosened,changed, all or none",
      "tightened,loosened",
    )
    .option("--show <n>", "how many changed calls the text report lists, or all", "50")
    .showHelpAfterError("(run policy-replay --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .action(
      (opts: {
        policy?: string;
        calls?: string;
        baseline?: string;
        format: Format;
        failOn: string;
        show: string;
      }) => {
        if (!opts.policy) {
          program.error("error: required option '--policy <file>' not specified", {
            exitCode: 2,
            code: "usage",
          });
        }
        exitCode = replayCommand(
          {
            policy: opts.policy!,
            ...(opts.calls !== undefined ? { calls: opts.calls } : {}),
            ...(opts.baseline !== undefined ? { baseline: opts.baseline } : {}),
            format: opts.format,
            failOn: parseFailOn(opts.failOn),
            show: parseShow(opts.show),
          },
          io,
        );
      },
    );

  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (err) {
    return reportError(err, io);
  }
}

/** Print a fatal error the way a user wants it (no stack trace) and return its exit code. */
function reportError(err: unknown, io: Io): number {
  if (err instanceof CommanderError) {
    // Help and version end with exitCode 0; every other commander error is a usage error.
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof PolicyError || err instanceof InputError) {
    const count = err.faults.length;
    io.stderr.write(
      `policy-replay: ${err.file}: ${count === 1 ? "1 fault" : `${count} faults`}\n${err.message}\n`,
    );
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

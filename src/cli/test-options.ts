import type { Command } from "commander";
import type { Io } from "./io.js";

// `policy-replay test`'s options, kept in a module of their own; the command itself (the test
// files' loader, the engine) is loaded only when it runs.

const FORMATS = ["text", "json", "junit", "github"];

export function addTestCommand(
  program: Command,
  io: Io,
  setExitCode: (code: number) => void,
): void {
  const cmd = program
    .command("test")
    .description(
      "Run policy unit tests: JSON files of calls and the decision each should get (docs/testing-policies.md).",
    )
    .argument(
      "[paths...]",
      "test files, or directories of them (every *.json); default policy-tests/",
    );
  cmd
    .option(
      "--policy <file>",
      "run every test against this policy instead of the one each file names (a candidate)",
    )
    .addOption(
      cmd.createOption("--format <format>", "report format").choices(FORMATS).default("text"),
    )
    .exitOverride()
    .action(
      async (
        paths: string[],
        opts: { policy?: string; format: "text" | "json" | "junit" | "github" },
      ) => {
        const { testCommand } = await import("./test-command.js");
        setExitCode(
          await testCommand(
            {
              paths,
              format: opts.format,
              ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
            },
            io,
          ),
        );
      },
    );
}

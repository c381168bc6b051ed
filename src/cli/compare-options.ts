import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { addConfigOptions, CONFIG_FILE, missingSetting, readConfig } from "./config-options.js";
import type { Io } from "./io.js";

// The compare command's options, added from here so that main.ts needs one line for it.

const FORMATS = ["text", "json", "markdown", "junit", "github"] as const;

/** Add `compare` to the program; its module loads only when it runs. */
export function addCompareCommand(
  program: Command,
  io: Io,
  setExitCode: (code: number) => void,
): void {
  const cmd = program.command("compare");
  // Commander's own factory: importing its Option here would load it before the UI's fast path.
  const format = cmd
    .createOption("--format <format>", "report format")
    .choices(FORMATS)
    .default("text");
  cmd
    .description(
      "Prove that a policy grants no new access over another: every identity, tool, argument and run of calls NEW allows and OLD did not.",
    )
    .option(
      "--policy <file>",
      `NEW: the policy about to roll out; default: "policy" in ${CONFIG_FILE}`,
    )
    .option("--baseline <file>", `OLD: the policy in force; default: "baseline" in ${CONFIG_FILE}`)
    .addOption(format)
    .option(
      "--identity <name>",
      "only this identity (repeatable); default every identity either policy names, and any other",
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option(
      "--seed <n>",
      "the seed of the search for runs of calls (the output is the same for one seed)",
    )
    .exitOverride()
    .action(
      async (opts: {
        policy?: string;
        baseline?: string;
        config?: string | false;
        format: (typeof FORMATS)[number];
        identity?: string[];
        seed?: string;
      }) => {
        let seed: number | undefined;
        if (opts.seed !== undefined) {
          seed = Number(opts.seed);
          if (!Number.isSafeInteger(seed)) {
            throw new UsageError(`--seed: expected a whole number, not "${opts.seed}"`);
          }
        }
        const config =
          opts.policy === undefined || opts.baseline === undefined
            ? await readConfig(opts.config, io)
            : null;
        const policy = opts.policy ?? config?.policy;
        const baseline = opts.baseline ?? config?.baseline;
        if (policy === undefined) throw missingSetting("policy", config);
        if (baseline === undefined) throw missingSetting("baseline", config);
        const { compareCommand } = await import("./compare-command.js");
        setExitCode(
          await compareCommand(
            {
              policy,
              baseline,
              format: opts.format,
              ...(opts.identity ? { identities: opts.identity } : {}),
              ...(seed !== undefined ? { seed } : {}),
            },
            io,
          ),
        );
      },
    );
  addConfigOptions(cmd);
}

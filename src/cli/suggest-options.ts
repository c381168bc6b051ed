import type { Command } from "commander";
import { addConfigOptions, readConfig } from "./config-options.js";
import { addFilterOptions, type FilterFlags, toFilter } from "./filter-options.js";
import type { Io } from "./io.js";

/** `suggest`'s flags as commander hands them over. */
export interface SuggestFlags extends FilterFlags {
  db?: string[];
  headroom: string;
  conditions?: boolean;
  out?: string;
  config?: string | false;
}

const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];

/**
 * Register `policy-replay suggest` on the program: its options here, its work in
 * suggest-command.ts, loaded only when the command runs.
 */
export function addSuggestCommand(
  program: Command,
  io: Io,
  setExitCode: (code: number) => void,
): void {
  const cmd = program
    .command("suggest")
    .description(
      "Write a least-privilege policy from recordings: per identity the tools it was allowed, limits from its peak rates, uncalled tools hidden.",
    )
    .option(
      "--db <path>",
      "a recording, or a directory of them (every *.sqlite); repeatable, merged by time; default recordings/",
      collect,
    );
  addFilterOptions(cmd)
    .option(
      "--headroom <factor>",
      "limits are the peak rate times this (1 to 1000), rounded up",
      "2",
    )
    .option(
      "--conditions",
      "also require arguments that always held one of a few values (from 20 allowed calls)",
    )
    .option("--out <file>", "write the policy to this file instead of stdout")
    .exitOverride()
    .action(async (opts: SuggestFlags) => {
      const db = opts.db ?? (await readConfig(opts.config, io))?.recordings;
      const { suggestCommand } = await import("./suggest-command.js");
      setExitCode(
        await suggestCommand(
          {
            ...(db !== undefined ? { db } : {}),
            filter: toFilter(opts),
            headroom: opts.headroom,
            conditions: opts.conditions === true,
            ...(opts.out !== undefined ? { out: opts.out } : {}),
          },
          io,
        ),
      );
    });
  addConfigOptions(cmd);
}

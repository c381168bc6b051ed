import type { Command } from "commander";
import { addConfigOptions, readConfig } from "./config-options.js";
import { addFilterOptions, type FilterFlags, toFilter } from "./filter-options.js";
import type { Io } from "./io.js";
import { addReportOptions, type Format, parseFailOn, parseOnly, parseShow } from "./options.js";

const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];

/**
 * `policy-replay shadow`: the enforced and shadow decisions a proxy recorded (`record
 * --shadow`), compared and reported as a replay is. Its work is loaded only when it runs.
 */
export function addShadowCommand(
  program: Command,
  io: Io,
  setExitCode: (code: number) => void,
): void {
  const cmd = addFilterOptions(
    addReportOptions(
      program
        .command("shadow")
        .description(
          "Report the shadow policy's recorded decisions (record --shadow) against the enforced ones, as replay reports a candidate.",
        )
        .option(
          "--db <path>",
          "a recording, or a directory of them (every *.sqlite); repeatable, merged by time; default recordings/",
          collect,
        )
        .option(
          "--policy <file>",
          "the shadow policy's file: named in reports (annotations point at its rules); only sessions shadowed under it are compared",
        ),
      false,
    ),
  )
    .exitOverride()
    .action(
      async (
        opts: {
          db?: string[];
          format: Format;
          failOn: string;
          show: string;
          only?: string;
          out?: string;
          policy?: string;
          config?: string | false;
        } & FilterFlags,
      ) => {
        const db = opts.db ?? (await readConfig(opts.config, io))?.recordings;
        const { shadowCommand } = await import("./shadow-command.js");
        setExitCode(
          await shadowCommand(
            {
              ...(db !== undefined ? { db } : {}),
              format: opts.format,
              failOn: parseFailOn(opts.failOn),
              show: parseShow(opts.show),
              ...(opts.only !== undefined ? { only: parseOnly(opts.only) } : {}),
              ...(opts.out !== undefined ? { out: opts.out } : {}),
              ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
              filter: toFilter(opts),
            },
            io,
          ),
        );
      },
    );
  addConfigOptions(cmd);
}

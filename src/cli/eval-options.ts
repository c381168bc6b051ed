import type { Command } from "commander";
import { addConfigOptions, CONFIG_FILE, missingSetting, readConfig } from "./config-options.js";
import type { Io } from "./io.js";

// `policy-replay eval`'s options, kept in a module of their own; the command itself (and the
// policy loader it needs) is loaded only when it runs.

const FORMATS = ["text", "json"];

export function addEvalCommand(
  program: Command,
  io: Io,
  setExitCode: (code: number) => void,
): void {
  const cmd = program
    .command("eval")
    .description(
      "Decide one call under a policy, with empty counters, and show the code, rule, reason and the policy line that decided it.",
    )
    .option("--policy <file>", `the policy to decide under; default: the one ${CONFIG_FILE} names`)
    .requiredOption("--tool <name>", "the tool called");
  cmd
    .option("--identity <name>", "who calls (for grants and limits)", "anonymous")
    .option("--session <id>", "the MCP session the call belongs to", "session-1")
    .option("--args <json>", 'the call\'s arguments as a JSON object, e.g. \'{"team": "web"}\'')
    .addOption(
      cmd.createOption("--format <format>", "output format").choices(FORMATS).default("text"),
    )
    .exitOverride()
    .action(
      async (opts: {
        policy?: string;
        config?: string | false;
        tool: string;
        identity: string;
        session: string;
        args?: string;
        format: "text" | "json";
      }) => {
        const config = opts.policy === undefined ? await readConfig(opts.config, io) : null;
        const policy = opts.policy ?? config?.policy;
        if (policy === undefined) throw missingSetting("policy", config);
        const { evalCommand } = await import("./eval-command.js");
        setExitCode(await evalCommand({ ...opts, policy }, io));
      },
    );
  addConfigOptions(cmd);
}

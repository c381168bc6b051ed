import { UsageError } from "../errors.js";
import { type Io, processIo } from "./io.js";
import { reportError } from "./report-error.js";
import { runPlainTui } from "./tui-main.js";
import {
  CHECK_FORMATS,
  type CheckFormat,
  addReportOptions,
  type Format,
  parseFailOn,
  parseOnly,
  parseShow,
} from "./options.js";
import { addFilterOptions, type FilterFlags, toFilter } from "./filter-options.js";
import { addHelp, checkCommandWord, unknownCommand } from "./help.js";
import { oneRecording } from "./sources.js";
import { addConfigOptions, missingSetting, readConfig } from "./config-options.js";
import { addCompareCommand } from "./compare-options.js";
import { addSuggestCommand } from "./suggest-options.js";
import { addEvalCommand } from "./eval-options.js";
import { addTestCommand } from "./test-options.js";
import { addShadowCommand } from "./shadow-options.js";

const VERSION = "0.1.0";

/**
 * The whole command line: parse argv, run the command, map errors to exit codes (SPEC section
 * 8: 0 done, 1 the gate failed, 2 bad input or usage). Never throws; never calls process.exit.
 */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  // Plain `tui [--db FILE]` goes straight to the UI (tui-main.ts); anything else about it
  // (--help, a typo) is commander's, below.
  const tui = await runPlainTui(argv, io);
  if (tui !== null) return tui;
  const { Command, CommanderError, Option } = await import("commander");
  let exitCode = 0;
  const program = new Command("policy-replay")
    .description(
      "Replay recorded MCP tool calls against a candidate gateway policy and diff every decision.",
    )
    .version(VERSION)
    .option(
      "--policy <file>",
      "the candidate policy to replay under (required, here or in a config)",
    )
    .option(
      "--calls <file>",
      "a JSONL trace of calls (see docs/replay.md), instead of --db; - reads it from stdin",
    )
    .option(
      "--db <path>",
      "a SQLite recording made by `policy-replay record`, or a directory of them (every *.sqlite); repeatable, merged by time; default recordings/",
      collect,
    )
    .option(
      "--baseline <file>",
      "compare with this policy replayed the same way, not the recorded decisions",
    );
  addReportOptions(program, true)
    .option(
      "--accept <file>",
      "a JSON list of accepted changes: still reported, but they never fail the run",
    )
    .option("--no-save", "do not save this run in the runs files beside the recordings");
  addFilterOptions(program)
    .showHelpAfterError("(run policy-replay --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .action(
      async (
        opts: {
          policy?: string;
          calls?: string;
          db?: string[];
          baseline?: string;
          format: Format;
          failOn: string;
          show: string;
          only?: string;
          save: boolean;
          accept?: string;
          out?: string;
          config?: string | false;
        } & FilterFlags,
      ) => {
        // Replay takes no arguments: a word here is a command, perhaps misspelt.
        if (program.args.length > 0) throw unknownCommand(program.args[0]!, commandNames(program));
        // Flags first, then the config file's settings.
        const config = await readConfig(opts.config, io);
        const policy = opts.policy ?? config?.policy;
        if (policy === undefined) throw missingSetting("policy", config);
        const db = opts.db ?? (opts.calls === undefined ? config?.recordings : undefined);
        const baseline = opts.baseline ?? config?.baseline;
        const accept = opts.accept ?? config?.accept;
        const failOn =
          program.getOptionValueSource("failOn") === "default" && config?.failOn
            ? config.failOn
            : parseFailOn(opts.failOn);
        // Recordings are read (and the run saved) on threads of their own: started first, they
        // boot while the replay's modules and the policy load (the first call about 20 ms
        // sooner, measured).
        const threads = opts.calls === undefined ? await import("../store/threads.js") : null;
        if (threads) {
          threads.warmThreads("reader");
          if (opts.save) threads.warmThreads("writer");
        }
        try {
          // Loaded only here: the policy loader (zod) and the replay are not every command's.
          const { replayCommand } = await import("./replay-command.js");
          exitCode = await replayCommand(
            {
              policy,
              ...(opts.calls !== undefined ? { calls: opts.calls } : {}),
              ...(db !== undefined ? { db } : {}),
              ...(baseline !== undefined ? { baseline } : {}),
              format: opts.format,
              failOn,
              show: parseShow(opts.show),
              ...(opts.only !== undefined ? { only: parseOnly(opts.only) } : {}),
              ...(accept !== undefined ? { accept } : {}),
              ...(opts.out !== undefined ? { out: opts.out } : {}),
              filter: toFilter(opts),
              save: opts.save,
            },
            io,
          );
        } finally {
          // Those a failed command did not take.
          await threads?.endIdleThreads();
        }
      },
    );

  addFilterOptions(
    program
      .command("export")
      .description(
        "Write recorded calls as a JSONL trace, with their recorded decisions, to stdout.",
      )
      .option(
        "--db <path>",
        "a SQLite recording, or a directory of them; repeatable, merged by time; default recordings/",
        collect,
      ),
  )
    .exitOverride()
    .action(async (opts: { db?: string[]; config?: string | false } & FilterFlags) => {
      const db = opts.db ?? (await readConfig(opts.config, io))?.recordings;
      const { exportCommand } = await import("./export-command.js");
      exitCode = await exportCommand({ filter: toFilter(opts), ...(db ? { db } : {}) }, io);
    });

  program
    .command("import")
    .description(
      "Write the calls of a JSONL trace into a recording, with their recorded decisions or decided under --policy.",
    )
    .argument("<calls>", "the JSONL file, e.g. from `policy-replay export`")
    .requiredOption(
      "--db <file>",
      "the recording to write into (created if missing), or a directory holding one",
      collect,
    )
    .option(
      "--policy <file>",
      "decide the calls of a trace without recorded decisions under this policy, as the proxy would",
    )
    .exitOverride()
    .action(async (calls: string, opts: { db: string[]; policy?: string }) => {
      const db = oneRecording(opts.db, io.cwd, "import")!;
      const { importCommand } = await import("./import-command.js");
      exitCode = await importCommand(
        { calls, db, ...(opts.policy !== undefined ? { policy: opts.policy } : {}) },
        io,
      );
    });

  program.enablePositionalOptions();
  program
    .command("record")
    .description(
      "Be agents' MCP server, over stdio or Streamable HTTP (--listen): relay to the real server under the policy, record everything.",
    )
    .usage("--policy <file> [options] -- <server command> [args...]")
    .requiredOption("--policy <file>", "the policy to enforce (or observe)")
    .addOption(
      new Option("--mode <mode>", "enforce the policy, or only record what it would decide")
        .choices(["enforce", "observe"])
        .default("enforce"),
    )
    .option(
      "--db <file>",
      "the SQLite recording to append to, or a directory holding one; default recordings/recording.sqlite",
      collect,
    )
    .option(
      "--identity <name>",
      "the identity of this session (who the agent is, for grants and limits)",
      "anonymous",
    )
    .addOption(
      new Option("--redact <what>", "store secret-looking argument values as keyed hashes, or not")
        .choices(["default", "none"])
        .default("default"),
    )
    .option("--approval-timeout <seconds>", "how long to wait for a human's approval", "120")
    .option(
      "--request-timeout <seconds>",
      "answer the agent with an error when the server leaves a request unanswered this long (0: never)",
      "300",
    )
    .option(
      "--listen <host:port>",
      "serve MCP over Streamable HTTP here (loopback unless told) instead of stdio",
    )
    .option("--upstream <url>", "relay to this Streamable HTTP MCP server instead of spawning one")
    .option(
      "--tokens <file>",
      "HTTP: JSON object of bearer token -> identity (tokens are never stored)",
    )
    .option("--require-token", "HTTP: refuse requests without a known bearer token (401)")
    .option(
      "--idle-timeout <seconds>",
      "HTTP: end a session (and stop its server) after this long without requests (0: never)",
      "1800",
    )
    .option("--allow-origin <origin...>", "HTTP: browser origins to accept besides loopback ones")
    .option(
      "--allow-host <host...>",
      "HTTP: Host headers to accept besides the listening address's own (and loopback names)",
    )
    .option(
      "--allow-anonymous",
      "HTTP: on a non-loopback --listen address, let in requests without a known token",
    )
    .option(
      "--counters <url>",
      "share rate-limit counters with every proxy using this Redis (redis://HOST:PORT[/DB], or unix:///PATH[?db=N] on this machine) instead of the recording",
    )
    .option(
      "--counters-prefix <prefix>",
      "the Redis key prefix; proxies that share counters share it",
      "policy-replay",
    )
    .option(
      "--shadow <file>",
      "also decide every call under this candidate policy and record that beside the enforced decision (never enforced; see `policy-replay shadow`)",
    )
    .argument("[server...]", "the MCP server's command and arguments, after --")
    .passThroughOptions()
    .exitOverride()
    .action(
      async (
        server: string[],
        opts: {
          counters?: string;
          shadow?: string;
          countersPrefix: string;
          policy: string;
          mode: "enforce" | "observe";
          db?: string[];
          identity: string;
          redact: "default" | "none";
          approvalTimeout: string;
          requestTimeout: string;
          listen?: string;
          upstream?: string;
          tokens?: string;
          requireToken?: boolean;
          idleTimeout: string;
          allowOrigin?: string[];
          allowHost?: string[];
          allowAnonymous?: boolean;
        },
      ) => {
        const seconds = Number(opts.approvalTimeout);
        if (!Number.isFinite(seconds) || seconds <= 0) {
          throw new UsageError(
            `--approval-timeout: expected a positive number of seconds, not "${opts.approvalTimeout}"`,
          );
        }
        const requestSeconds = Number(opts.requestTimeout);
        if (!Number.isFinite(requestSeconds) || requestSeconds < 0) {
          throw new UsageError(
            `--request-timeout: expected a number of seconds (0 for none), not "${opts.requestTimeout}"`,
          );
        }
        const idleSeconds = Number(opts.idleTimeout);
        if (!Number.isFinite(idleSeconds) || idleSeconds < 0) {
          throw new UsageError(
            `--idle-timeout: expected a number of seconds (0 for none), not "${opts.idleTimeout}"`,
          );
        }
        const db = oneRecording(opts.db, io.cwd, "record");
        // Loaded only here: the proxy pulls in the MCP SDK and SQLite, which replay never needs.
        const { recordCommand } = await import("./record-command.js");
        exitCode = await recordCommand(
          {
            policy: opts.policy,
            mode: opts.mode,
            ...(db !== undefined ? { db } : {}),
            identity: opts.identity,
            redact: opts.redact,
            approvalTimeoutMs: seconds * 1000,
            requestTimeoutMs: requestSeconds * 1000,
            idleTimeoutMs: idleSeconds * 1000,
            command: server,
            ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
            ...(opts.upstream !== undefined ? { upstream: opts.upstream } : {}),
            ...(opts.tokens !== undefined ? { tokens: opts.tokens } : {}),
            ...(opts.requireToken ? { requireToken: true } : {}),
            ...(opts.allowOrigin ? { allowedOrigins: opts.allowOrigin } : {}),
            ...(opts.allowHost ? { allowedHosts: opts.allowHost } : {}),
            ...(opts.allowAnonymous ? { allowAnonymous: true } : {}),
            ...(opts.counters !== undefined
              ? { counters: opts.counters, countersPrefix: opts.countersPrefix }
              : {}),
            ...(opts.shadow !== undefined ? { shadow: opts.shadow } : {}),
          },
          io,
        );
      },
    );

  program
    .command("check")
    .description(
      "Validate a policy and report what recordings say about it: unreached and shadowed rules, unnamed tools, unlisted calls.",
    )
    .option("--policy <file>", "the policy to check (required, here or in a config)")
    .option(
      "--db <path>",
      "a recording, or a directory of them (every *.sqlite); repeatable; default every *.sqlite in recordings/, if any",
      collect,
    )
    .addOption(
      new Option("--format <format>", "report format").choices(CHECK_FORMATS).default("text"),
    )
    .option("--strict", "exit 1 when there is any warning")
    .exitOverride()
    .action(
      async (opts: {
        policy?: string;
        db?: string[];
        format: CheckFormat;
        strict?: boolean;
        config?: string | false;
      }) => {
        const config = await readConfig(opts.config, io);
        const policy = opts.policy ?? config?.policy;
        if (policy === undefined) throw missingSetting("policy", config);
        const db = opts.db ?? config?.recordings;
        const { checkCommand } = await import("./check-command.js");
        exitCode = await checkCommand(
          {
            policy,
            ...(db !== undefined ? { db } : {}),
            format: opts.format,
            strict: opts.strict === true,
          },
          io,
        );
      },
    );

  addSuggestCommand(program, io, (code) => (exitCode = code));

  program
    .command("tui")
    .description("Browse a recording in the terminal: sessions, calls, decisions, saved runs.")
    .option(
      "--db <file>",
      "the recording, or a directory holding one; default recordings/demo.sqlite, else the first recordings/*.sqlite",
      collect,
    )
    .exitOverride()
    .action(async (opts: { db?: string[]; config?: string | false }) => {
      const db = oneRecording(opts.db, io.cwd, "tui");
      // Loaded only here: React and Ink are the UI's alone; replay never loads them.
      const { tuiCommand } = await import("./tui-command.js");
      exitCode = await tuiCommand(
        {
          ...(db !== undefined ? { db } : {}),
          ...(opts.config !== undefined ? { config: opts.config } : {}),
        },
        io,
      );
    });

  addCompareCommand(program, io, (code) => (exitCode = code));
  addEvalCommand(program, io, (code) => (exitCode = code));
  addTestCommand(program, io, (code) => (exitCode = code));
  addShadowCommand(program, io, (code) => (exitCode = code));

  // The commands whose settings a config file can hold.
  for (const cmd of [program, ...program.commands]) {
    if (["policy-replay", "export", "check", "tui"].includes(cmd.name())) addConfigOptions(cmd);
  }
  addHelp(program);
  // Only the default command's own arguments: each subcommand has already copied the setting.
  program.allowExcessArguments(true);
  try {
    await program.parseAsync(checkCommandWord(argv, commandNames(program)), { from: "user" });
    return exitCode;
  } catch (err) {
    return reportError(err, io, CommanderError);
  }
}

/** The program's commands, by name. */
function commandNames(program: { commands: readonly { name(): string }[] }): string[] {
  return program.commands.map((c) => c.name());
}

/** Commander's way to make an option repeatable: each occurrence adds a value. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

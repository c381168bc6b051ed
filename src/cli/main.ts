import type { CommanderError as CommanderErrorClass } from "commander";
import { InputError, PolicyError, PolicyReplayError, UsageError } from "../errors.js";
import { type Io, processIo } from "./io.js";
import { FORMATS, type Format, parseFailOn, parseShow } from "./options.js";
import { addFilterOptions, type FilterFlags, toFilter } from "./filter-options.js";

const VERSION = "0.1.0";

/**
 * The whole command line: parse argv, run the command, map errors to exit codes (SPEC section
 * 8: 0 done, 1 the gate failed, 2 bad input or usage). Never throws; never calls process.exit.
 */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  // A person who starts the UI waits for its first screen (within 300 ms, issue 5 asks), and the
  // argument parser takes ~15 ms to load: plain `tui [--db FILE]` goes straight to the UI.
  // Anything else about it (--help, a typo) is commander's, below.
  const tui = plainTuiArgs(argv);
  if (tui !== null) {
    try {
      const { tuiCommand } = await import("./tui-command.js");
      return await tuiCommand(tui, io);
    } catch (err) {
      return reportError(err, io, null);
    }
  }
  const { Command, CommanderError, Option } = await import("commander");
  let exitCode = 0;
  const program = new Command("policy-replay")
    .description(
      "Replay recorded MCP tool calls against a candidate gateway policy and diff every decision.",
    )
    .version(VERSION)
    .option("--policy <file>", "the candidate policy to replay under (required)")
    .option("--calls <file>", "a JSONL trace of calls (SPEC section 7), instead of --db")
    .option(
      "--db <path>",
      "a SQLite recording made by `policy-replay record`, or a directory of them (every *.sqlite); repeatable, merged by time; default recordings/",
      collect,
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
    .option(
      "--show <n>",
      "how many changed calls the text, markdown and github reports list, or all",
      "50",
    )
    .option(
      "--accept <file>",
      "a JSON list of accepted changes: still reported, but they never fail the run",
    )
    .option(
      "--out <file>",
      "write the full report to this file; stdout gets the headline and the gate",
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
          save: boolean;
          accept?: string;
          out?: string;
        } & FilterFlags,
      ) => {
        if (!opts.policy) {
          program.error("error: required option '--policy <file>' not specified", {
            exitCode: 2,
            code: "usage",
          });
        }
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
              policy: opts.policy!,
              ...(opts.calls !== undefined ? { calls: opts.calls } : {}),
              ...(opts.db !== undefined ? { db: opts.db } : {}),
              ...(opts.baseline !== undefined ? { baseline: opts.baseline } : {}),
              format: opts.format,
              failOn: parseFailOn(opts.failOn),
              show: parseShow(opts.show),
              ...(opts.accept !== undefined ? { accept: opts.accept } : {}),
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
        "Write recorded calls as JSONL (SPEC section 7), with their recorded decisions, to stdout.",
      )
      .option(
        "--db <path>",
        "a SQLite recording, or a directory of them; repeatable, merged by time; default recordings/",
        collect,
      ),
  )
    .exitOverride()
    .action(async (opts: { db?: string[] } & FilterFlags) => {
      const { exportCommand } = await import("./export-command.js");
      exitCode = await exportCommand(
        { filter: toFilter(opts), ...(opts.db ? { db: opts.db } : {}) },
        io,
      );
    });

  program
    .command("import")
    .description(
      "Write the calls of a JSONL trace (SPEC section 7, with recorded decisions) into a recording.",
    )
    .argument("<calls>", "the JSONL file, e.g. from `policy-replay export`")
    .requiredOption("--db <file>", "the recording to write into (created if missing)")
    .exitOverride()
    .action(async (calls: string, opts: { db: string }) => {
      const { importCommand } = await import("./import-command.js");
      exitCode = await importCommand({ calls, db: opts.db }, io);
    });

  program.enablePositionalOptions();
  program
    .command("record")
    .description(
      "Be an agent's MCP server over stdio: spawn the real server, relay under the policy, record everything.",
    )
    .usage("--policy <file> [options] -- <server command> [args...]")
    .requiredOption("--policy <file>", "the policy to enforce (or observe)")
    .addOption(
      new Option("--mode <mode>", "enforce the policy, or only record what it would decide")
        .choices(["enforce", "observe"])
        .default("enforce"),
    )
    .option("--db <file>", "the SQLite recording to append to", "recordings/recording.sqlite")
    .option("--identity <name>", "the identity of this session (SPEC section 3)", "anonymous")
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
      "share rate-limit counters with every proxy using this Redis (redis://HOST:PORT[/DB]) instead of the recording",
    )
    .option(
      "--counters-prefix <prefix>",
      "the Redis key prefix; proxies that share counters share it",
      "policy-replay",
    )
    .argument("[server...]", "the MCP server's command and arguments, after --")
    .passThroughOptions()
    .exitOverride()
    .action(
      async (
        server: string[],
        opts: {
          counters?: string;
          countersPrefix: string;
          policy: string;
          mode: "enforce" | "observe";
          db: string;
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
        // Loaded only here: the proxy pulls in the MCP SDK and SQLite, which replay never needs.
        const { recordCommand } = await import("./record-command.js");
        exitCode = await recordCommand(
          {
            policy: opts.policy,
            mode: opts.mode,
            db: opts.db,
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
    .requiredOption("--policy <file>", "the policy to check")
    .option("--db <file...>", "recordings to check against; default every *.sqlite in recordings/")
    .addOption(
      new Option("--format <format>", "report format").choices(["text", "json"]).default("text"),
    )
    .option("--strict", "exit 1 when there is any warning")
    .exitOverride()
    .action(
      async (opts: {
        policy: string;
        db?: string[];
        format: "text" | "json";
        strict?: boolean;
      }) => {
        const { checkCommand } = await import("./check-command.js");
        exitCode = await checkCommand(
          {
            policy: opts.policy,
            ...(opts.db !== undefined ? { db: opts.db } : {}),
            format: opts.format,
            strict: opts.strict === true,
          },
          io,
        );
      },
    );

  program
    .command("tui")
    .description("Browse a recording in the terminal: sessions, calls, decisions, saved runs.")
    .option(
      "--db <file>",
      "the recording; default recordings/demo.sqlite, else the first recordings/*.sqlite",
    )
    .exitOverride()
    .action(async (opts: { db?: string }) => {
      // Loaded only here: React and Ink are the UI's alone; replay never loads them.
      const { tuiCommand } = await import("./tui-command.js");
      exitCode = await tuiCommand(opts.db !== undefined ? { db: opts.db } : {}, io);
    });

  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (err) {
    return reportError(err, io, CommanderError);
  }
}

/** `tui`, `tui --db FILE` or `tui --db=FILE` as the UI's options; null for anything else. */
export function plainTuiArgs(argv: readonly string[]): { db?: string } | null {
  if (argv[0] !== "tui") return null;
  if (argv.length === 1) return {};
  const db = argv[1]?.startsWith("--db=") ? argv[1].slice(5) : null;
  if (argv.length === 2 && db) return { db };
  if (argv.length === 3 && argv[1] === "--db" && argv[2] && !argv[2].startsWith("-"))
    return { db: argv[2] };
  return null;
}

/** Commander's way to make an option repeatable: each occurrence adds a value. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Print a fatal error the way a user wants it (no stack trace) and return its exit code. */
function reportError(
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

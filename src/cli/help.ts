import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { suggest } from "../policy/suggest.js";

// What `--help` says after the options, per command, and what a word that is not a command
// gets: the default command (replay) takes no arguments, so any word before its options is a
// command name, perhaps misspelt.

/** The default command's name, accepted where a command may be named. */
const DEFAULT_COMMAND = "replay";

interface CommandHelp {
  /** [command line, what it does] */
  examples: [string, string][];
  /** [exit code, meaning] */
  exits: [number, string][];
}

const BAD_INPUT: [number, string] = [2, "bad input or usage; the message names the file and fault"];

const HELP: Record<string, CommandHelp> = {
  // The program itself: the default command, replay.
  "policy-replay": {
    examples: [
      [
        "policy-replay --policy candidate.json",
        "replay every recording in recordings/ under candidate.json; diff with what was recorded",
      ],
      [
        "policy-replay --db recordings/ --baseline main.json --policy candidate.json --format github",
        "diff two policies over the same calls, as GitHub annotations",
      ],
      [
        "policy-replay export --tool 'fleet_*' | policy-replay --policy candidate.json --calls -",
        "replay a trace read from stdin",
      ],
      [
        "policy-replay",
        "with a policy-replay.config.json here: its policy, recordings, baseline, accept list",
      ],
      ["policy-replay help check", "the options and examples of one command"],
    ],
    exits: [
      [0, "no change of a class in --fail-on, or the --accept list covers each one"],
      [1, "the gate failed: a change of a class in --fail-on that no --accept entry covers"],
      BAD_INPUT,
      [70, "a bug in policy-replay"],
    ],
  },
  record: {
    examples: [
      [
        "policy-replay record --policy policy.json --db recordings/gh.sqlite --identity triage -- npx -y your-mcp-server",
        "stdio: the agent starts this command as its MCP server",
      ],
      [
        "policy-replay record --policy policy.json --listen 127.0.0.1:8080 --tokens tokens.json -- npx -y your-mcp-server",
        "Streamable HTTP on port 8080 for many agents, identities from bearer tokens",
      ],
    ],
    exits: [
      [0, "the agent left (stdio), or the proxy was stopped (SIGINT, SIGTERM)"],
      [2, "bad input or usage, or a server that cannot be started; the message says which"],
    ],
  },
  check: {
    examples: [
      [
        "policy-replay check --policy policy.json",
        "validate policy.json, then hold it against every recording in recordings/",
      ],
      [
        "policy-replay check --policy policy.json --db recordings/ --strict --format github",
        "in CI: warnings fail the job and show as annotations on the policy",
      ],
      ["policy-replay check", "with a policy-replay.config.json here: its policy and recordings"],
    ],
    exits: [
      [0, "the policy is valid (findings are warnings)"],
      [1, "with --strict, at least one warning"],
      [2, "an invalid policy (every fault is listed), an unreadable recording, or bad usage"],
    ],
  },
  compare: {
    examples: [
      [
        "policy-replay compare --policy candidate.json --baseline main.json",
        "what candidate.json allows that main.json did not, for any call, with an example of each",
      ],
      [
        "policy-replay compare --policy candidate.json --baseline main.json --format github",
        "in CI before rollout: fail the job on new access, annotated on candidate.json's lines",
      ],
      [
        "policy-replay compare --policy candidate.json --baseline main.json --identity ci-bot",
        "only what changes for ci-bot",
      ],
    ],
    exits: [
      [0, "no new access: NEW allows nothing that OLD did not"],
      [1, "new access (each finding has an example call), or a call that could not be decided"],
      [2, "an invalid policy (every fault is listed, located), or bad usage"],
      [70, "a bug in policy-replay (a finding that did not replay as claimed)"],
    ],
  },
  suggest: {
    examples: [
      [
        "policy-replay suggest --db recordings/ --out policies/suggested.json",
        "a least-privilege policy from every recording in recordings/; its evidence on stderr",
      ],
      [
        "policy-replay suggest --identity ci-bot --since 2025-06-01 --headroom 1.5 --conditions",
        "one identity's calls since June: limits at 1.5 x its peaks, and argument conditions",
      ],
    ],
    exits: [
      [0, "the policy was written"],
      [2, "no recording, one that cannot be read, or bad usage; the message names the file"],
    ],
  },
  export: {
    examples: [
      [
        "policy-replay export --db recordings/ --identity ci-bot > ci-bot.jsonl",
        "one identity's calls from every recording in recordings/, as JSONL",
      ],
      [
        "policy-replay export --since 2025-06-01 | policy-replay --policy candidate.json --calls -",
        "replay only the calls since June",
      ],
    ],
    exits: [[0, "the calls were written"], BAD_INPUT],
  },
  import: {
    examples: [
      [
        "policy-replay import calls.jsonl --db recordings/imported.sqlite",
        "store a trace's calls, with their recorded decisions, in a recording",
      ],
    ],
    exits: [
      [0, "the calls were imported"],
      [2, "bad input (nothing is written: a bad line leaves the recording as it was)"],
    ],
  },
  eval: {
    examples: [
      [
        "policy-replay eval --policy policy.json --tool merge_pull_request --identity agent-dev",
        "what the policy decides for that call, and the line of the policy that decides it",
      ],
      [
        `policy-replay eval --policy policy.json --tool get_secret --args '{"name": "prod/db"}' --format json`,
        "a call with arguments, answered as JSON",
      ],
    ],
    exits: [[0, "the call was decided (whatever the decision)"], BAD_INPUT],
  },
  test: {
    examples: [
      ["policy-replay test", "run every test file in policy-tests/"],
      [
        "policy-replay test policy-tests/github.json --policy candidate.json",
        "run the same tests against a candidate policy before it is rolled out",
      ],
      ["policy-replay test --format junit > policy-tests.xml", "a JUnit report for CI"],
    ],
    exits: [
      [0, "every case passed"],
      [1, "a case failed: a call was not decided as its step expects"],
      [2, "a bad test or policy file (every fault is listed), or bad usage; nothing is run"],
    ],
  },
  shadow: {
    examples: [
      [
        "policy-replay record --policy policy.json --shadow candidate.json -- npx -y your-mcp-server",
        "enforce policy.json; decide every call under candidate.json too, and record both",
      ],
      [
        "policy-replay shadow --db recordings/ --fail-on tightened",
        "what candidate.json would have changed, live: fail when it denies what was allowed",
      ],
      [
        "policy-replay shadow --policy candidate.json --format github",
        "the same as GitHub annotations on candidate.json's rules",
      ],
    ],
    exits: [
      [0, "no change of a class in --fail-on"],
      [1, "the gate failed: the shadow decided a call differently, in a class in --fail-on"],
      BAD_INPUT,
    ],
  },
  tui: {
    examples: [
      ["policy-replay tui", "browse recordings/demo.sqlite, else the first recordings/*.sqlite"],
      ["policy-replay tui --db recordings/gateway.sqlite", "browse that recording"],
    ],
    exits: [
      [0, "you quit"],
      [2, "no recording to open, one that cannot be read, or no terminal"],
    ],
  },
};

/** The text after a command's options in its --help: examples, then exit codes. */
export function helpAfter(name: string): string {
  const help = HELP[name];
  if (!help) return "";
  const lines = ["", "Examples:"];
  for (const [command, what] of help.examples) lines.push(`  $ ${command}`, `      ${what}`);
  lines.push("", "Exit codes:");
  for (const [code, meaning] of help.exits) lines.push(`  ${String(code).padEnd(2)}  ${meaning}`);
  return lines.join("\n");
}

/**
 * Every command's --help gets its examples and exit codes; a usage error points at that
 * command's own --help; and `help [command]` works although the program has an action.
 */
export function addHelp(program: Command): void {
  program.addHelpText("after", helpAfter(program.name()));
  for (const cmd of program.commands) {
    cmd.addHelpText("after", helpAfter(cmd.name()));
    cmd.showHelpAfterError(`(run policy-replay ${cmd.name()} --help for usage)`);
  }
  program.helpCommand("help [command]", "Show the options, examples and exit codes of a command.");
}

/**
 * argv with the command word checked: `replay` (the default command, named) is dropped, and
 * `help replay` is the program's help. A first word that names no command is a UsageError
 * suggesting the nearest one, as is `help` with such a word.
 */
export function checkCommandWord(argv: readonly string[], commands: readonly string[]): string[] {
  const names = withBuiltIns(commands);
  const [first, second] = argv;
  if (first === DEFAULT_COMMAND) return argv.slice(1);
  if (first === "help" && second !== undefined && !second.startsWith("-")) {
    if (second === DEFAULT_COMMAND) return ["--help"];
    if (!names.includes(second)) throw unknownCommand(second, commands);
  }
  if (first !== undefined && !first.startsWith("-") && !names.includes(first)) {
    throw unknownCommand(first, commands);
  }
  return [...argv];
}

const withBuiltIns = (commands: readonly string[]): string[] => [
  ...commands,
  "help",
  DEFAULT_COMMAND,
];

/**
 * The error for `word` where a command was expected: the nearest command if it is likely a
 * typo, the option that takes it if it looks like a file, else the list of commands.
 */
export function unknownCommand(word: string, commands: readonly string[]): UsageError {
  const names = withBuiltIns(commands);
  const near = suggest(word, names);
  if (near !== undefined) {
    return new UsageError(`unknown command "${word}"; did you mean "${near}"?`);
  }
  const option = /\.jsonl$/i.test(word)
    ? "--calls"
    : /\.json$/i.test(word)
      ? "--policy"
      : /\.sqlite$/i.test(word)
        ? "--db"
        : null;
  if (option !== null) {
    return new UsageError(
      `unexpected argument "${word}": name it with an option, e.g. ${option} ${word}`,
    );
  }
  return new UsageError(
    `unknown command "${word}": the commands are ${[...commands, "help"].join(", ")}, and replay, the default (policy-replay --policy FILE)`,
  );
}

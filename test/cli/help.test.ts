// Finding one's way: a misspelt command gets the nearest one, `help [command]` works although
// the default command (replay) takes options only, and every command's --help ends with
// examples and exit codes.
import { describe, expect, it } from "vitest";
import { cli, policyPath } from "./support.js";

const COMMANDS = ["record", "check", "export", "import", "tui"];

describe("a word that is not a command", () => {
  it.each([
    [["chek"], "check"],
    [["chek", "--strict"], "check"],
    [["--policy", "p.json", "chek"], "check"],
    [["recrod", "--policy", "p.json"], "record"],
    [["hlep"], "help"],
    [["help", "exprot"], "export"],
  ])("%j: the nearest command, exit 2", async (args, near) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `policy-replay: unknown command "${args.find((a) => a !== "help" && !a.startsWith("-") && a !== "p.json")}"; did you mean "${near}"?\n`,
    );
  });

  it("a file where an option was meant: the option that takes it", async () => {
    for (const [word, option] of [
      ["candidate.json", "--policy"],
      ["trace.jsonl", "--calls"],
      ["recordings/x.sqlite", "--db"],
    ]) {
      const r = await cli([word!]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `policy-replay: unexpected argument "${word}": name it with an option, e.g. ${option} ${word}\n`,
      );
    }
  });

  it("nothing near: the list of commands", async () => {
    const r = await cli(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^policy-replay: unknown command "frobnicate": the commands are /);
    for (const c of [...COMMANDS, "help", "replay"]) expect(r.stderr).toContain(c);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  });
});

describe("help", () => {
  it("`help` is the program's --help", async () => {
    const help = await cli(["help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toBe((await cli(["--help"])).stdout);
    expect(help.stdout).toMatch(/^Usage: policy-replay /);
    expect(help.stdout).toMatch(/^ {2}help \[command\] /m);
    expect(help.stderr).toBe("");
  });

  it.each(COMMANDS)("`help %s` is the command's --help", async (name) => {
    const help = await cli(["help", name]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^Usage: policy-replay ${name} `));
    expect(help.stdout).toBe((await cli([name, "--help"])).stdout);
  });

  it("`replay` names the default command", async () => {
    expect((await cli(["help", "replay"])).stdout).toBe((await cli(["--help"])).stdout);
    const r = await cli([
      "replay",
      "--policy",
      policyPath("fleet"),
      "--calls",
      "fixtures/traces/fleet-loop.jsonl",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("501 calls in 8 sessions replayed");
  });

  it.each(["", ...COMMANDS])("`%s --help` shows examples and exit codes", async (name) => {
    const r = await cli(name ? [name, "--help"] : ["--help"]);
    expect(r.code).toBe(0);
    const after = r.stdout.slice(r.stdout.indexOf("\nExamples:\n"));
    expect(after).toMatch(/^\nExamples:\n {2}\$ policy-replay .+\n {6}\S/);
    expect(after).toMatch(/\nExit codes:\n {2}0 {3}\S.*\n/);
    expect(after).toMatch(/\n {2}2 {3}\S/);
  });

  it("record says it serves HTTP too", async () => {
    const r = await cli(["--help"]);
    expect(r.stdout).toMatch(
      /record \[options\] \[server\.\.\.\]\s+Be agents' MCP server, over stdio or\s+Streamable/,
    );
  });

  it("a usage error in a command points at that command's --help", async () => {
    const r = await cli(["check", "--strct"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("(run policy-replay check --help for usage)");
  });
});

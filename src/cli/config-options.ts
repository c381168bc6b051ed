import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import type { GateClass } from "../replay/diff.js";
import type { Io } from "./io.js";

// The config file's options and lookup, apart from its validation: the validator loads zod,
// which a command pays for only when there is a config file to read.

/** The file looked for in the working directory. */
export const CONFIG_FILE = "policy-replay.config.json";

/** The settings of a config file, with paths relative to the working directory. */
export interface Config {
  /** The file, as named in messages. */
  file: string;
  policy?: string;
  recordings?: string[];
  baseline?: string;
  accept?: string;
  failOn?: GateClass[];
}

/** --config FILE and --no-config, for the commands that read a config file. */
export function addConfigOptions(cmd: Command): Command {
  return cmd
    .option("--config <file>", `read settings from this file instead of ./${CONFIG_FILE}`)
    .option("--no-config", `ignore ./${CONFIG_FILE}`);
}

/** The config a command runs with (see loadConfig); null when there is none. */
export async function readConfig(
  flag: string | boolean | undefined,
  io: Io,
): Promise<Config | null> {
  if (flag === false) return null;
  const named = typeof flag === "string" ? flag : undefined;
  if (named === undefined && !existsSync(join(io.cwd, CONFIG_FILE))) return null;
  const { loadConfig } = await import("./config.js");
  return loadConfig(named, io.cwd);
}

/** A policy neither its flag nor the config file names: where one goes, in one line. */
export function missingSetting(key: "policy" | "baseline", config: Config | null): UsageError {
  return new UsageError(
    `no ${key}: pass --${key} FILE, or set "${key}" in ${config?.file ?? CONFIG_FILE}`,
  );
}

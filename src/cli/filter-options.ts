import type { Command } from "commander";
import { type CallFilter, checkFilter, parseTime } from "../replay/filter.js";

/** The filter flags as commander hands them over. */
export interface FilterFlags {
  session?: string[];
  identity?: string[];
  tool?: string[];
  since?: string;
  until?: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];

/** Add the call filters that replay and export share; returns the command for chaining. */
export function addFilterOptions(cmd: Command): Command {
  return cmd
    .option("--session <id>", "only this session's calls (repeatable)", collect)
    .option("--identity <name>", "only this identity's calls (repeatable)", collect)
    .option("--tool <glob>", "only calls of tools matching this name or glob (repeatable)", collect)
    .option("--since <time>", "only calls at or after this time (ISO 8601, UTC unless told; or ms)")
    .option("--until <time>", "only calls before this time (exclusive)");
}

/** The flags as a CallFilter; UsageError for a time that does not parse or an empty range. */
export function toFilter(flags: FilterFlags): CallFilter {
  const f: CallFilter = {};
  if (flags.session) f.sessions = flags.session;
  if (flags.identity) f.identities = flags.identity;
  if (flags.tool) f.tools = flags.tool;
  if (flags.since !== undefined) f.since = parseTime("--since", flags.since);
  if (flags.until !== undefined) f.until = parseTime("--until", flags.until);
  return checkFilter(f);
}

import type { Command } from "commander";
import { GATE_CLASSES, type GateClass } from "../replay/diff.js";
import { UsageError } from "../errors.js";

// What the command line parses before it knows which command runs: kept apart from the
// commands themselves, so that `policy-replay tui` or `record` never loads the replay's modules.

/** Report formats of a replay. */
export const FORMATS = ["text", "json", "markdown", "junit", "github"] as const;
export type Format = (typeof FORMATS)[number];

/** Report formats of a check. */
export const CHECK_FORMATS = ["text", "json", "junit", "github"] as const;
export type CheckFormat = (typeof CHECK_FORMATS)[number];

/** Parse `--fail-on` ("tightened,loosened,hidden", "all", "none"). */
export function parseFailOn(value: string): GateClass[] {
  const v = value.trim();
  if (v === "none" || v === "") return [];
  if (v === "all") return [...GATE_CLASSES];
  const out: GateClass[] = [];
  for (const part of v.split(",").map((p) => p.trim())) {
    if (!(GATE_CLASSES as readonly string[]).includes(part)) {
      throw new UsageError(
        `--fail-on: unknown class "${part}"; use any of ${GATE_CLASSES.join(", ")}, or all, or none`,
      );
    }
    if (!out.includes(part as GateClass)) out.push(part as GateClass);
  }
  return out;
}

/** Parse `--only` ("tightened,hidden", "all"): the classes of change a report lists. */
export function parseOnly(value: string): GateClass[] {
  const v = value.trim();
  if (v === "all") return [...GATE_CLASSES];
  const out: GateClass[] = [];
  for (const part of v.split(",").map((p) => p.trim())) {
    if (!(GATE_CLASSES as readonly string[]).includes(part)) {
      throw new UsageError(
        `--only: unknown class "${part}"; use any of ${GATE_CLASSES.join(", ")}, or all`,
      );
    }
    out.push(part as GateClass);
  }
  // In the usual order, however they were written: reports name them.
  return GATE_CLASSES.filter((c) => out.includes(c));
}

/** Parse `--show` (a count, or "all"). */
export function parseShow(value: string): number {
  if (value === "all") return Infinity;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--show: expected a whole number or "all", not "${value}"`);
  return n;
}

/**
 * The report options replay and shadow share: --format, --fail-on, --show, --only, --out.
 * `toolLists`: the command compares tool lists too (replay), so its classes are named.
 */
export function addReportOptions<C extends Command>(cmd: C, toolLists: boolean): C {
  const classes = toolLists
    ? "tightened,loosened,changed (calls), hidden,unhidden (tool lists)"
    : "tightened,loosened,changed";
  cmd
    .addOption(
      cmd.createOption("--format <format>", "report format").choices(FORMATS).default("text"),
    )
    .option(
      "--fail-on <classes>",
      `change classes that fail the run (exit 1): ${classes}, all or none`,
      "tightened,loosened",
    )
    .option(
      "--show <n>",
      "how many changed calls the text, markdown and github reports list, or all",
      "50",
    )
    .option(
      "--only <classes>",
      `list only these classes of change: ${toolLists ? "tightened,loosened,changed,hidden,unhidden" : "tightened,loosened,changed"} or all (counts stay complete)`,
    )
    .option(
      "--out <file>",
      "write the full report to this file; stdout gets the headline and the gate",
    );
  return cmd;
}

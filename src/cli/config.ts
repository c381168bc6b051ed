import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import * as z from "zod";
import { type Fault, InputError } from "../errors.js";
import {
  decodeUtf8,
  describe,
  describeIoError,
  formatPath,
  locate,
  readJsonDocument,
  valueAt,
} from "../policy/load.js";
import { didYouMean } from "../policy/suggest.js";
import { GATE_CLASSES } from "../replay/diff.js";
import { CONFIG_FILE, type Config } from "./config-options.js";

// A project's settings, so that a CI job and a person at a terminal run the same replay and
// check with no flags: `policy-replay.config.json` in the working directory, or the file
// --config names. Flags override it; paths in it are relative to the file itself.

const quoted = (xs: readonly string[]): string => xs.map((x) => `"${x}"`).join(", ");

const path = (what: string) =>
  z
    .string({ error: `must be ${what} (a path, relative to this file)` })
    .min(1, { error: "must not be empty" });

const FAIL_ON = [...GATE_CLASSES, "all", "none"] as const;

export const ConfigSchema = z
  .strictObject(
    {
      $schema: z.string({ error: "must be a string" }).optional(),
      policy: path("the policy file")
        .meta({
          description: "The policy to replay, check, eval and compare (as NEW), as --policy.",
        })
        .optional(),
      recordings: z
        .union(
          [
            path("a recording or a directory of them"),
            z
              .array(path("a recording or a directory of them"))
              .min(1, { error: "must name at least one recording or directory" }),
          ],
          {
            error: "must be a recording or a directory of them (a path), or a list of such paths",
          },
        )
        .meta({
          description:
            "Recordings, or directories of them (every *.sqlite file in one), for replay, check, export, tui, shadow and suggest, as --db.",
        })
        .optional(),
      baseline: path("the baseline policy file")
        .meta({
          description: "The policy a replay compares with, and compare's OLD, as --baseline.",
        })
        .optional(),
      accept: path("the accept list")
        .meta({ description: "The accept list: changes that never fail the gate, as --accept." })
        .optional(),
      fail_on: z
        .union(
          [
            z.enum(FAIL_ON),
            z.array(z.enum(GATE_CLASSES, { error: `must be one of ${quoted(GATE_CLASSES)}` })),
          ],
          {
            error: `must be one of ${quoted(FAIL_ON)}, or a list of ${quoted(GATE_CLASSES)}`,
          },
        )
        .meta({
          description:
            'Which classes of change fail a replay, as --fail-on: of calls (tightened, loosened, changed) or of tool lists (hidden, unhidden); default ["tightened", "loosened"].',
        })
        .optional(),
    },
    { error: "must be an object of settings" },
  )
  .meta({
    title: "policy-replay configuration",
    description: `Settings for policy-replay (${CONFIG_FILE}). Paths are relative to this file; command-line flags override each setting.`,
  });

const KEYS = Object.keys(ConfigSchema.shape);

/**
 * The config a command runs with: the file `flag` names (--config), none with --no-config
 * (false), else `policy-replay.config.json` in `cwd` if there is one. An unreadable or invalid
 * file is an InputError (exit 2) listing each fault at its line and column.
 */
export function loadConfig(flag: string | false | undefined, cwd: string): Config | null {
  if (flag === false) return null;
  const file = flag ?? CONFIG_FILE;
  const path = resolve(cwd, file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    if (flag === undefined && (err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new InputError(file, [
      { path: "", message: `cannot read the config file (${describeIoError(err)})` },
    ]);
  }
  const text = decodeUtf8(bytes, (f) => new InputError(file, f));
  const settings = parseConfigText(text, file);
  // As the working directory sees them, so they read as if typed there.
  const dir = dirname(path);
  const here = (p: string): string => (isAbsolute(p) ? p : relative(cwd, join(dir, p)) || ".");
  const config: Config = { file };
  if (settings.policy !== undefined) config.policy = here(settings.policy);
  if (settings.recordings !== undefined) {
    const list =
      typeof settings.recordings === "string" ? [settings.recordings] : settings.recordings;
    config.recordings = list.map(here);
  }
  if (settings.baseline !== undefined) config.baseline = here(settings.baseline);
  if (settings.accept !== undefined) config.accept = here(settings.accept);
  const f = settings.fail_on;
  if (f !== undefined) {
    config.failOn =
      f === "all"
        ? [...GATE_CLASSES]
        : f === "none"
          ? []
          : typeof f === "string"
            ? [f]
            : [...new Set(f)];
  }
  return config;
}

/** Validate config text (named `file` in messages); throws InputError listing every fault. */
export function parseConfigText(text: string, file: string): z.infer<typeof ConfigSchema> {
  const { lines, tree, value, faults } = readJsonDocument(text, (f) => new InputError(file, f));
  const result = ConfigSchema.safeParse(value);
  if (!result.success) {
    for (const { issue, at } of result.error.issues.flatMap((i) => unwrap(i, []))) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          faults.push({
            path: formatPath([...at, key]),
            message: `unknown key${didYouMean(key, KEYS)}`,
            ...locate(tree, [...at, key], lines, true),
          });
        }
        continue;
      }
      const found = valueAt(value, at);
      // A misspelt class is the likely slip; nothing else here has a list to suggest from.
      const near = at[0] === "fail_on" ? didYouMean(found, FAIL_ON) : "";
      faults.push({
        path: formatPath(at),
        message: ["invalid_type", "invalid_value", "invalid_union"].includes(issue.code)
          ? `${issue.message}, not ${describe(found)}${near}`
          : issue.message,
        ...locate(tree, at, lines, false),
      });
    }
  }
  if (faults.length > 0 || !result.success) {
    faults.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new InputError(file, faults satisfies Fault[]);
  }
  return result.data;
}

type Issue = z.core.$ZodIssue;

/**
 * An issue with its path from the root. A union that failed on a value of one of its types
 * (a list, say) gives that branch's issues instead, which say which element is wrong.
 */
function unwrap(
  issue: Issue,
  base: (string | number)[],
): { issue: Issue; at: (string | number)[] }[] {
  const at = [...base, ...issue.path.filter((p): p is string | number => typeof p !== "symbol")];
  if (issue.code === "invalid_union") {
    const typed = issue.errors.filter(
      (branch) =>
        !branch.some(
          (i) => (i.code === "invalid_type" || i.code === "invalid_value") && i.path.length === 0,
        ),
    );
    if (typed.length === 1) return typed[0]!.flatMap((i) => unwrap(i, at));
  }
  return [{ issue, at }];
}

/** The JSON Schema of the config file, generated from the definition above. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ConfigSchema, { io: "input", target: "draft-2020-12" });
}

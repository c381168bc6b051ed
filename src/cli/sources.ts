import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { UsageError } from "../errors.js";
import type { Io } from "./io.js";

/**
 * Says on stderr that a recording is being upgraded to the current schema: a pause of seconds
 * for a big one (about 8 s a million calls), once per file, that should not pass in silence.
 */
export const upgradeNotice =
  (io: Io) =>
  (file: string, from: number, to: number): void => {
    io.stderr.write(
      `policy-replay: upgrading ${file} from schema ${from} to ${to} (once for this file)\n`,
    );
  };

/** Where replay and export read when no --db (or --calls) is given: every recording in it. */
export const DEFAULT_DB = "recordings";

/** The recordings a run reads: paths to open, the names to show, and a label for reports. */
export interface Recordings {
  /** Absolute paths, in the order they merge (ties in time go to the earlier file). */
  paths: string[];
  /** Each as the user would write it: the --db value, or the directory joined with the name. */
  names: string[];
  label: string;
}

/**
 * Expand --db values: a file is itself, a directory is every `*.sqlite` file in it, sorted by
 * name. A path given twice is read once. A missing path is left for the store to report (a
 * StoreError naming it); a directory with no recording in it is a UsageError, as is the
 * default directory when it is missing or empty (the message says what to pass instead).
 */
export function resolveRecordings(
  values: readonly string[] | undefined,
  cwd: string,
  /** What the command could be given instead, for the message when there is nothing. */
  instead = "pass --db FILE or --calls FILE",
): Recordings {
  const given = values === undefined || values.length === 0 ? [DEFAULT_DB] : values;
  const paths: string[] = [];
  const names: string[] = [];
  const labels: string[] = [];
  for (const value of given) {
    const path = resolve(cwd, value);
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      if (values === undefined || values.length === 0) throw noDefault(cwd, instead);
    }
    if (!isDir) {
      if (!paths.includes(path)) {
        paths.push(path);
        names.push(value);
      }
      labels.push(value);
      continue;
    }
    const found = readdirSync(path)
      .filter((f) => f.endsWith(".sqlite"))
      .sort()
      .filter((f) => statSync(join(path, f)).isFile());
    if (found.length === 0) {
      if (values === undefined || values.length === 0) throw noDefault(cwd, instead);
      throw new UsageError(`--db ${value}: no recording (*.sqlite file) in this directory`);
    }
    for (const f of found) {
      const p = join(path, f);
      if (!paths.includes(p)) {
        paths.push(p);
        names.push(join(value, f));
      }
    }
    labels.push(
      found.length === 1
        ? join(value, found[0]!)
        : `${value.replace(/\/+$/, "")}/ (${found.length} recordings)`,
    );
  }
  return { paths, names, label: labels.join(", ") };
}

function noDefault(cwd: string, instead: string): UsageError {
  return new UsageError(
    `no recordings: ${instead} (the default, every *.sqlite file in ${DEFAULT_DB}/, found none in ${cwd})`,
  );
}

/** What each command that uses one recording does with it, for messages. */
const ONE_FILE = {
  record: "record appends to one recording",
  import: "import writes into one recording",
  tui: "the terminal UI browses one recording",
} as const;

/**
 * The one recording of a command that uses a single file (record, import, tui), from its
 * --db values: a file is itself (it may not exist yet), and a directory stands for its only
 * `*.sqlite` file. Several values, or a directory with none or several, are a UsageError that
 * says what to pass instead. Undefined when no --db was given. `config` names the config
 * file the values came from, for messages.
 */
export function oneRecording(
  values: readonly string[] | undefined,
  cwd: string,
  command: keyof typeof ONE_FILE,
  config?: string,
): string | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const from =
    config === undefined ? `${command} --db` : `${command}: the "recordings" of ${config}`;
  if (values.length > 1) {
    throw new UsageError(
      `${from}: ${ONE_FILE[command]}, not ${values.length} (${values.join(", ")})`,
    );
  }
  const value = values[0]!;
  const path = resolve(cwd, value);
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // Missing: the command creates it (record, import) or reports it (tui).
  }
  if (!isDir) return value;
  const found = readdirSync(path)
    .filter((f) => f.endsWith(".sqlite") && statSync(join(path, f)).isFile())
    .sort();
  if (found.length === 1) return join(value, found[0]!);
  const what =
    found.length === 0
      ? "it is a directory, with no recording (*.sqlite file) in it"
      : `it is a directory of ${found.length} recordings`;
  const example = join(value, found[0] ?? "recording.sqlite");
  throw new UsageError(
    `${config === undefined ? `${from} ${value}` : `${from}, ${value}`}: ${what}; ${ONE_FILE[command]}: name ${found.length === 0 ? "the file" : "one"}, e.g. --db ${example}`,
  );
}

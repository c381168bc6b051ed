import { existsSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parseHeadroom, suggestPolicy, type SuggestFilter } from "../check/suggest/index.js";
import { UsageError } from "../errors.js";
import { describeIoError } from "../policy/load.js";
import type { Io } from "./io.js";
import { resolveRecordings, upgradeNotice } from "./sources.js";

export interface SuggestCommandOptions {
  /** Recordings or directories of them; default every *.sqlite in recordings/. */
  db?: string[];
  filter: SuggestFilter;
  /** --headroom as given. */
  headroom: string;
  conditions: boolean;
  /** Write the policy here instead of stdout. */
  out?: string;
}

/**
 * `policy-replay suggest [--db ...] [filters] [--headroom N] [--conditions] [--out FILE]`:
 * write a least-privilege policy made from the recorded calls, and a summary of its evidence on
 * stderr. Resolves to 0; bad input rejects with a PolicyReplayError (exit 2).
 */
export async function suggestCommand(opts: SuggestCommandOptions, io: Io): Promise<number> {
  const headroom = parseHeadroom(opts.headroom);
  if (headroom === null) {
    throw new UsageError(
      `--headroom: expected a number from 1 to 1000 (at most 3 decimals), not "${opts.headroom}"; below 1, limits would refuse recorded traffic`,
    );
  }
  const { paths, names } = resolveRecordings(opts.db, io.cwd, "pass --db FILE or a directory");
  const out = opts.out === undefined ? null : resolve(io.cwd, opts.out);
  const { suggestion, summary } = suggestPolicy(
    paths.map((path, i) => ({ path, name: names[i]! })),
    opts.filter,
    {
      headroom,
      conditions: opts.conditions,
      schema: schemaRef(out === null ? io.cwd : dirname(out)),
    },
    { onUpgrade: upgradeNotice(io) },
  );
  if (out === null) io.stdout.write(suggestion.text);
  else {
    try {
      writeFileSync(out, suggestion.text);
    } catch (err) {
      throw new UsageError(`--out ${opts.out}: cannot write: ${describeIoError(err)}`);
    }
  }
  io.stderr.write(summary);
  if (opts.out !== undefined) io.stderr.write(`Policy written to ${opts.out}.\n`);
  return 0;
}

/** Where the shipped schema is found, relative to this module, compiled or not. */
const SCHEMA_FILE = join("schema", "policy.schema.json");

/**
 * The policy's `$schema`: the shipped JSON Schema, relative to the folder the policy is
 * written in (editors resolve it from there); the path in an installed package when this
 * module's own copy cannot be found.
 */
export function schemaRef(from: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, SCHEMA_FILE))) {
      const rel = relative(from, join(dir, SCHEMA_FILE)).split(sep).join("/");
      return rel.startsWith(".") ? rel : `./${rel}`;
    }
    const up = dirname(dir);
    if (up === dir) return "./node_modules/policy-replay/schema/policy.schema.json";
    dir = up;
  }
}

import type { CallFilter } from "../replay/filter.js";
import { readRecordings, RecordedCall } from "../replay/recording.js";
import { BufferedSink } from "../replay/report/sink.js";
import type { TraceCall } from "../replay/types.js";
import type { Io } from "./io.js";
import { resolveRecordings, upgradeNotice } from "./sources.js";

export interface ExportCommandOptions {
  /** Recordings or directories of them; default recordings/. */
  db?: string[];
  filter: CallFilter;
}

const str = JSON.stringify;

/**
 * One call as a SPEC section 7 line, with what was recorded about it in the fields the trace
 * reader takes back (decision, code, rule, retry_after_ms, approval). Keys in a fixed order
 * and arguments re-serialized, so that export, import and export again give the same bytes.
 * A call without arguments has no `arguments` key: the proxy records such a call's arguments
 * as JSON null, and a trace's `arguments` is an object or absent.
 */
export function exportLine(tc: TraceCall): string {
  const c = tc.call;
  let line = `{"session":${str(c.session)},"identity":${str(c.identity)},"ts":${c.ts},"tool":${str(c.tool)}`;
  const args: unknown =
    c instanceof RecordedCall
      ? c.argumentsText === null
        ? undefined
        : JSON.parse(c.argumentsText)
      : c.arguments;
  if (args !== undefined && args !== null) line += `,"arguments":${str(args)}`;
  const r = tc.recorded;
  if (r) {
    line +=
      `,"decision":${str(r.decision)},"code":${str(r.code)},"rule":${r.rule === null ? "null" : str(r.rule)}` +
      `,"retry_after_ms":${r.retry_after_ms ?? "null"}`;
  }
  if (tc.approval) line += `,"approval":${str(tc.approval)}`;
  return line + "}";
}

/**
 * `policy-replay export [--db F...] [filters]`: every recorded call the filters keep, in
 * recorded order (several recordings merged by time), one JSONL line each, to stdout. Resolves
 * to 0; bad input rejects with a PolicyReplayError (exit 2).
 */
export async function exportCommand(opts: ExportCommandOptions, io: Io): Promise<number> {
  const { paths } = resolveRecordings(opts.db, io.cwd, "pass --db FILE or a directory");
  const out = new BufferedSink(io.stdout);
  const read = readRecordings(paths, { filter: opts.filter, onUpgrade: upgradeNotice(io) });
  for (const tc of read) out.write(exportLine(tc) + "\n");
  out.flush();
  return 0;
}

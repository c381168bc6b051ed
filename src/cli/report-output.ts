import { once } from "node:events";
import { appendFileSync, closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { Writable } from "node:stream";
import { UsageError } from "../errors.js";
import { describeIoError } from "../policy/load.js";
import { Acceptor, type AcceptList } from "../replay/accept.js";
import type { CallResult } from "../replay/replay.js";
import { combine, type ReportContext, type ReportPart } from "../replay/report/context.js";
import { githubReportPart } from "../replay/report/github.js";
import { jsonReportPart } from "../replay/report/json.js";
import { junitReportPart } from "../replay/report/junit.js";
import { markdownReportPart } from "../replay/report/markdown.js";
import type { Sink } from "../replay/report/sink.js";
import { plain, type Style } from "../replay/report/style.js";
import { shortSummary, textReportPart } from "../replay/report/text.js";
import type { Summary, SummaryBuilder } from "../replay/summary.js";
import { styleFor } from "./colour.js";
import type { Io } from "./io.js";
import { PROGRESS_EVERY, startProgress } from "./progress.js";

/** The values of --format. */
import type { Format } from "./options.js";

export { FORMATS, type Format } from "./options.js";

/** How much of the report stdout may queue before the replay waits for it. */
const QUEUE_BYTES = 4 << 20;

export interface ReportOutputOptions {
  format: Format;
  /** --out: the full report goes to this file (relative to io.cwd); stdout gets the short form. */
  out?: string;
  ctx: ReportContext;
  builder: SummaryBuilder;
  accept?: AcceptList | null;
  /** How many calls the source holds, when it knows (for the progress bar). */
  total?: number | null;
}

/** A replay's output while it runs: feed it every result, then finish() or abort(). */
export interface ReportOutput {
  add(r: CallResult): void;
  /** Write what is left (summary, files, notes on stderr) and return the summary. */
  finish(): Summary;
  /** The replay failed: clear the progress bar and leave no half-written --out file. */
  abort(): void;
  /**
   * Null when stdout can take more now; else a promise that it can: a stream that queues what
   * it cannot write at once (a pipe to a slower reader) holds too much.
   */
  ready(): Promise<void> | null;
}

/**
 * Sets up everything a replay writes: the report in its format (to stdout, or to --out with the
 * headline and gate on stdout), GitHub's job summary, the accept list's marks and its notes, the
 * progress bar, and colour when stdout is a terminal. Throws UsageError when --out cannot be
 * written, before anything is replayed.
 */
export function openReport(opts: ReportOutputOptions, io: Io): ReportOutput {
  const { ctx, format } = opts;
  const stdoutStyle = styleFor(io.stdout, io.env);
  const file = opts.out !== undefined ? new ReportFile(resolve(io.cwd, opts.out), opts.out) : null;
  const parts: ReportPart[] = [];
  const stepSummary = format === "github" ? io.env.GITHUB_STEP_SUMMARY : undefined;
  let markdownForSummary: StringSink | null = null;

  if (format === "github") {
    // Workflow commands work only on stdout; the github format's full report is markdown.
    parts.push(githubReportPart(ctx, io.stdout, { policyFile: repoPath(ctx.candidate, io) }));
    if (file) parts.push(markdownReportPart(ctx, file));
    if (stepSummary) {
      markdownForSummary = new StringSink();
      parts.push(markdownReportPart(ctx, markdownForSummary));
    }
  } else {
    const target: Sink = file ?? io.stdout;
    // A terminal's report keeps to its width; a file or a pipe gets every column in full.
    const cols = io.stdout.columns ?? 0;
    const width = !file && io.stdout.isTTY === true && cols > 0 ? cols : Infinity;
    parts.push(formatPart(format, ctx, target, file ? plain : stdoutStyle, width));
    if (file) parts.push(shortSummaryPart(io.stdout, stdoutStyle, opts.out!, format));
  }
  const writer = combine(opts.builder, parts);
  const acceptor = opts.accept ? new Acceptor(opts.accept) : null;
  // A report streamed to the same terminal would be torn by the bar's redraws.
  const streamsToTerminal = format === "json" && !file && io.stdout.isTTY === true;
  const progress = startProgress(io, { allowed: !streamsToTerminal });
  const total = opts.total ?? null;
  let count = 0;
  const stream = io.stdout instanceof Writable ? io.stdout : null;

  return {
    add(r) {
      if (acceptor !== null) acceptor.apply(r);
      writer.add(r);
      if (++count % PROGRESS_EVERY === 0) progress.update(count, total);
    },
    finish() {
      progress.stop();
      const summary = writer.finish();
      file?.commit();
      if (stepSummary && markdownForSummary) {
        try {
          appendFileSync(stepSummary, markdownForSummary.text + "\n");
        } catch (err) {
          io.stderr.write(
            `policy-replay: note: cannot append to GITHUB_STEP_SUMMARY ${stepSummary} (${describeIoError(err)})\n`,
          );
        }
      }
      for (const note of acceptor?.staleNotes() ?? []) {
        io.stderr.write(`policy-replay: note: ${note}\n`);
      }
      return summary;
    },
    abort() {
      progress.stop();
      file?.discard();
    },
    ready() {
      // A few chunks queued keep the reader busy while the next ones are made.
      return stream !== null && stream.writableNeedDrain && stream.writableLength >= QUEUE_BYTES
        ? once(stream, "drain").then(() => undefined)
        : null;
    },
  };
}

function formatPart(
  format: Format,
  ctx: ReportContext,
  out: Sink,
  style: Style,
  width: number,
): ReportPart {
  switch (format) {
    case "json":
      // Node's streams and --out's file take the report's bytes as they are made. The file
      // writes each chunk at once, as does stdout when it queues nothing: that memory is reused.
      if (out instanceof ReportFile)
        return jsonReportPart(ctx, out, { bytes: true, done: () => true });
      if (out === process.stdout) {
        return jsonReportPart(ctx, out, {
          bytes: true,
          done: () => process.stdout.writableLength === 0,
        });
      }
      return jsonReportPart(ctx, out, { bytes: out instanceof Writable });
    case "markdown":
      return markdownReportPart(ctx, out);
    case "junit":
      return junitReportPart(ctx, out);
    case "github":
      return githubReportPart(ctx, out);
    case "text":
      return textReportPart(ctx, out, style, width);
  }
}

/** What stdout gets when the report goes to --out: the headline, the gate, and where it went. */
function shortSummaryPart(out: Sink, style: Style, name: string, format: Format): ReportPart {
  return {
    add() {},
    finish(s) {
      out.write(shortSummary(s, style) + `Report (${format}): ${name}\n`);
    },
  };
}

/**
 * The policy's path as GitHub names files in annotations: relative to the workspace when the
 * run is inside one, else as given.
 */
export function repoPath(candidate: string, io: Io): string {
  const workspace = io.env.GITHUB_WORKSPACE;
  if (!workspace) return candidate;
  const rel = relative(workspace, resolve(io.cwd, candidate));
  return rel.startsWith("..") || isAbsolute(rel) ? candidate : rel.split("\\").join("/");
}

class StringSink implements Sink {
  text = "";
  write(chunk: string): void {
    this.text += chunk;
  }
}

/**
 * --out: written synchronously to a temporary file beside the target, renamed into place on
 * commit(), so a replay that fails half-way never leaves a truncated report behind.
 */
class ReportFile implements Sink {
  private readonly tmp: string;
  private fd: number | null;

  constructor(
    private readonly path: string,
    private readonly name: string,
  ) {
    this.tmp = `${path}.${process.pid}.tmp`;
    try {
      this.fd = openSync(this.tmp, "w");
    } catch (err) {
      throw new UsageError(`--out ${name}: cannot write the report (${describeIoError(err)})`);
    }
  }

  write(chunk: string | Uint8Array): void {
    if (this.fd === null) return;
    const buf = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
  }

  commit(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
    try {
      renameSync(this.tmp, this.path);
    } catch (err) {
      rmSync(this.tmp, { force: true });
      throw new UsageError(`--out ${this.name}: cannot write the report (${describeIoError(err)})`);
    }
  }

  discard(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
    rmSync(this.tmp, { force: true });
  }
}

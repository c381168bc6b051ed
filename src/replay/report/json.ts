import type { CallResult } from "../replay.js";
import type { SummaryBuilder } from "../summary.js";
import { combine, type ReportContext, type ReportPart, type ReportWriter } from "./context.js";
import { JsonCallWriter } from "./json-calls.js";
import type { ByteSink, Sink } from "./sink.js";

/** The machine-readable form of one result (SPEC section 7's `calls` entries, and more). */
export function resultJson(r: CallResult): Record<string, unknown> {
  const { call } = r.source;
  return {
    index: r.source.index,
    line: r.source.line,
    session: call.session,
    ordinal: r.ordinal,
    identity: call.identity,
    ts: call.ts,
    tool: call.tool,
    decision: r.after.decision,
    code: r.after.code,
    rule: r.after.rule,
    reason: r.decision.reason,
    retry_after_ms: r.after.retry_after_ms,
    limit: r.decision.limit,
    approval: r.after.approval ?? null,
    inexact: r.inexact,
    before: r.before && {
      decision: r.before.decision,
      code: r.before.code,
      rule: r.before.rule,
      retry_after_ms: r.before.retry_after_ms,
    },
    change: r.change,
    accepted: r.accepted,
    counterfactual: r.counterfactual,
  };
}

const str = JSON.stringify;

/**
 * Writes `{candidate, baseline, source, accept, calls: [...], visibility: [...], summary}` as
 * results arrive: the calls array call by call, the summary last, so memory stays flat.
 * `visibility` (the tools that appear in or disappear from an identity's tools/list) is there
 * when the summary has a tool-list comparison: empty, with `summary.visibility.known` false,
 * for a trace.
 */
export function jsonReportWriter(
  ctx: ReportContext,
  builder: SummaryBuilder,
  out: Sink,
): ReportWriter {
  return combine(builder, [jsonReportPart(ctx, out)]);
}

/** How the JSON report hands its chunks over. */
export interface JsonReportOptions {
  /** `out` takes Uint8Array chunks as well as strings (a Node stream, a file). */
  bytes?: boolean;
  /**
   * With `bytes`: whether `out` is done with the chunk just written (a file written at once, a
   * process's stdout with nothing queued), so its memory can take the next. Without it, or when
   * it says no, each chunk is new: a stream may hold on to what it was given.
   */
  done?: () => boolean;
}

/**
 * jsonReportWriter's view, for combining with others over one summary. With `bytes`, `out` gets
 * the report's UTF-8 as it is made; otherwise each chunk is decoded to a string first.
 */
export function jsonReportPart(
  ctx: ReportContext,
  out: Sink,
  opts: JsonReportOptions = {},
): ReportPart {
  const bytes = out as ByteSink;
  const done = opts.done ?? (() => false);
  const calls = new JsonCallWriter(
    opts.bytes
      ? (chunk) => {
          bytes.write(chunk);
          return done();
        }
      : (chunk) => {
          out.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).toString());
          return true;
        },
  );
  calls.text(
    `{"candidate":${str(ctx.candidate)},"baseline":${str(ctx.baseline)},"source":${str(ctx.source)},` +
      `"accept":${str(ctx.accept ?? null)},\n"calls":[`,
  );
  return {
    add(r) {
      calls.add(r);
    },
    finish(summary) {
      // Tool lists: every change in the array, their counts in the summary.
      let tail = "\n],\n";
      let shown: object = summary;
      if (summary.visibility) {
        const { changes, ...counts } = summary.visibility;
        const list = changes.map((c) => "\n" + JSON.stringify(c)).join(",");
        tail += `"visibility":[${list}${list ? "\n" : ""}],\n`;
        shown = { ...summary, visibility: counts };
      }
      calls.text(`${tail}"summary":${JSON.stringify(shown, null, 2)}}\n`);
      calls.flush();
    },
  };
}

import type { CallResult } from "../replay.js";
import type { SummaryBuilder } from "../summary.js";
import { combine, type ReportContext, type ReportPart, type ReportWriter } from "./context.js";
import { BufferedSink, type Sink } from "./sink.js";

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
const orNull = (s: string | null | undefined): string => (s == null ? "null" : str(s));

/**
 * resultJson(r) serialized, written out by hand: the same text JSON.stringify would give (a
 * test holds them equal) at a fraction of the cost, since this runs once per call.
 */
export function resultJsonLine(r: CallResult): string {
  const { call } = r.source;
  const a = r.after;
  const b = r.before;
  const limit = r.decision.limit === null ? "null" : str(r.decision.limit);
  const before =
    b === null
      ? "null"
      : `{"decision":"${b.decision}","code":${str(b.code)},"rule":${orNull(b.rule)},"retry_after_ms":${b.retry_after_ms ?? "null"}}`;
  return (
    `{"index":${r.source.index},"line":${r.source.line},"session":${str(call.session)},` +
    `"ordinal":${r.ordinal},"identity":${str(call.identity)},"ts":${call.ts},"tool":${str(call.tool)},` +
    `"decision":"${a.decision}","code":${str(a.code)},"rule":${orNull(a.rule)},` +
    `"reason":${orNull(r.decision.reason)},"retry_after_ms":${a.retry_after_ms ?? "null"},` +
    `"limit":${limit},"approval":${orNull(a.approval)},"inexact":${r.inexact},` +
    `"before":${before},"change":${r.change === null ? "null" : `"${r.change}"`},` +
    `"accepted":${r.accepted},"counterfactual":${r.counterfactual}}`
  );
}

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

/** jsonReportWriter's view, for combining with others over one summary. */
export function jsonReportPart(ctx: ReportContext, out: Sink): ReportPart {
  const sink = new BufferedSink(out);
  sink.write(
    `{"candidate":${str(ctx.candidate)},"baseline":${str(ctx.baseline)},"source":${str(ctx.source)},` +
      `"accept":${str(ctx.accept ?? null)},\n"calls":[`,
  );
  let first = true;
  return {
    add(r) {
      sink.write((first ? "\n" : ",\n") + resultJsonLine(r));
      first = false;
    },
    finish(summary) {
      sink.write("\n],\n");
      // Tool lists: every change in the array, their counts in the summary.
      let shown: object = summary;
      if (summary.visibility) {
        const { changes, ...counts } = summary.visibility;
        const list = changes.map((c) => "\n" + JSON.stringify(c)).join(",");
        sink.write(`"visibility":[${list}${list ? "\n" : ""}],\n`);
        shown = { ...summary, visibility: counts };
      }
      sink.write(`"summary":${JSON.stringify(shown, null, 2)}}\n`);
      sink.flush();
    },
  };
}

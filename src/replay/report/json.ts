import type { CallResult } from "../replay.js";
import type { SummaryBuilder } from "../summary.js";
import { type Summary } from "../summary.js";
import type { ReportContext, ReportWriter } from "./context.js";
import { BufferedSink, type Sink } from "./sink.js";

/** The machine-readable form of one result (SPEC section 7's `calls` entries, and more). */
export function resultJson(r: CallResult): Record<string, unknown> {
  const { call } = r.source;
  return {
    index: r.source.index,
    line: r.source.line,
    session: call.session,
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
    counterfactual: r.counterfactual,
  };
}

/**
 * Writes `{candidate, baseline, source, calls: [...], summary}` as results arrive: the calls
 * array call by call, the summary last, so memory stays flat.
 */
export function jsonReportWriter(
  ctx: ReportContext,
  builder: SummaryBuilder,
  out: Sink,
): ReportWriter {
  const sink = new BufferedSink(out);
  sink.write(
    `{"candidate":${JSON.stringify(ctx.candidate)},"baseline":${JSON.stringify(ctx.baseline)},"source":${JSON.stringify(ctx.source)},\n"calls":[`,
  );
  let first = true;
  return {
    add(r) {
      builder.add(r);
      sink.write((first ? "\n" : ",\n") + JSON.stringify(resultJson(r)));
      first = false;
    },
    finish() {
      const summary = builder.finish();
      sink.write(`\n],\n"summary":${JSON.stringify(summary, null, 2)}}\n`);
      sink.flush();
      return summary;
    },
  };
}

import { openStoreReadOnly } from "../store/sqlite.js";
import type { TraceCall } from "./trace.js";

/**
 * Stream the calls of a SQLite recording in recorded order (time, then arrival), as replay
 * takes them: with the recorded decision and any human approval answer. `line` is the call's
 * row id. Throws StoreError (exit 2) for a missing, corrupt or too-new file.
 */
export function* readRecording(file: string): Generator<TraceCall> {
  const reader = openStoreReadOnly(file);
  try {
    let index = 0;
    for (const c of reader.calls()) {
      const call: TraceCall["call"] = {
        session: c.session,
        identity: c.identity,
        ts: c.ts,
        tool: c.tool,
      };
      if (c.arguments !== null && c.arguments !== undefined) call.arguments = c.arguments;
      yield {
        index: index++,
        line: c.id,
        call,
        recorded: {
          decision: c.decision as "allow" | "deny" | "approval_required",
          code: c.code,
          rule: c.rule,
          retry_after_ms: c.retry_after_ms,
        },
        // "unavailable": no human was asked, so there is no answer to reuse (SPEC section 5).
        approval: c.approval === "unavailable" ? null : c.approval,
      };
    }
  } finally {
    reader.close();
  }
}

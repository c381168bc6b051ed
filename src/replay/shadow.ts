import type { Decision, DecisionCode } from "../engine/index.js";
import { openStoreReadOnly, type ReadOpenOptions } from "../store/sqlite.js";
import type { RecordedCall as StoredRecordedCall, StoreReader } from "../store/types.js";
import { agentSees, classify, withApproval } from "./diff.js";
import { type CallFilter, filterCalls } from "./filter.js";
import type { CallResult } from "./replay.js";
import type { ApprovalAnswer, TraceCall } from "./types.js";

// The shadow decisions a proxy recorded (`record --shadow`), compared with the enforced ones as
// a replay's results: the enforced decision is the "recorded" side and the shadow's the
// candidate's, so every report format, the summary and the gate read them unchanged.

/** A recorded call as replay reads it, with everything the recording holds about it. */
interface ShadowTrace extends TraceCall {
  stored: StoredRecordedCall;
}

export interface ShadowSourceOptions {
  filter?: CallFilter;
  /** Compare only the calls of sessions shadowed under this policy (its sha256). */
  policyHash?: string;
  onUpgrade?: ReadOpenOptions["onUpgrade"];
}

/**
 * The calls of `files` (merged by time as a replay merges them) with their shadow decision, as
 * results to feed a report. Calls recorded without a shadow decision are not compared: they
 * are counted in `missing`. `policies` are the shadow policies the sessions read named (hash
 * -> text, null when the recording does not hold the text), in order of first use.
 */
export class ShadowSource {
  missing = 0;
  /** Calls left out because their session was shadowed under another policy (policyHash). */
  otherPolicy = 0;
  readonly policies = new Map<string, string | null>();
  private readonly readers: StoreReader[] = [];
  /** Per file, each session's shadow policy hash (null: none). */
  private readonly shadowOf: Map<string, string | null>[] = [];

  constructor(
    files: readonly string[],
    private readonly opts: ShadowSourceOptions = {},
  ) {
    try {
      for (const f of files) {
        const reader = openStoreReadOnly(f, opts.onUpgrade ? { onUpgrade: opts.onUpgrade } : {});
        this.readers.push(reader);
        const sessions = new Map<string, string | null>();
        this.shadowOf.push(sessions);
        for (const s of reader.sessions()) {
          const h = s.shadowPolicyHash;
          sessions.set(s.id, h);
          if (h !== null && !this.policies.has(h)) this.policies.set(h, reader.policy(h));
        }
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** The compared calls, in recorded order, one result each. */
  *results(): Generator<CallResult> {
    const sessions = new Map<string, { changed: boolean; calls: number }>();
    let index = 0;
    const traces = this.merged();
    // filterCalls passes on the very objects it is given.
    const kept = this.opts.filter
      ? (filterCalls(traces, this.opts.filter) as Generator<ShadowTrace>)
      : traces;
    for (const tc of kept) {
      const { stored } = tc;
      const sh = stored.shadow;
      const wanted = this.opts.policyHash;
      if (wanted !== undefined && this.shadowOf[tc.file!]?.get(stored.session) !== wanted) {
        if (sh === null) this.missing++;
        else this.otherPolicy++;
        continue;
      }
      if (sh === null) {
        this.missing++;
        continue;
      }
      tc.index = index++;
      const enforced: Decision = {
        decision: stored.decision as Decision["decision"],
        code: stored.code as DecisionCode,
        rule: stored.rule,
        reason: stored.reason,
        retry_after_ms: stored.retry_after_ms,
        limit: null,
        inexact: false,
      };
      const decision: Decision = {
        decision: sh.decision,
        code: sh.code as DecisionCode,
        rule: sh.rule,
        reason: sh.reason,
        retry_after_ms: sh.retry_after_ms,
        limit: null,
        // The proxy saw the arguments in clear: a shadow decision is exact.
        inexact: false,
      };
      const after = withApproval(decision, tc.approval);
      const before = withApproval(enforced, tc.approval);
      const change = classify(before, after);
      let seen = sessions.get(tc.call.session);
      if (seen === undefined) sessions.set(tc.call.session, (seen = { changed: false, calls: 0 }));
      const counterfactual = seen.changed;
      if (change !== null && !seen.changed && agentSees(before, after, enforced, decision))
        seen.changed = true;
      const first = seen.calls === 0;
      yield {
        source: tc,
        decision,
        after,
        before,
        change,
        counterfactual,
        inexact: false,
        firstInSession: first,
        ordinal: ++seen.calls,
        accepted: false,
      };
    }
  }

  close(): void {
    for (const r of this.readers.splice(0)) r.close();
  }

  /**
   * Every file's calls merged as replay merges recordings: by time, then the shared counters'
   * sequence (none first), then the file's position, each file in its own order.
   */
  private *merged(): Generator<ShadowTrace> {
    const its = this.readers.map((r) => r.calls());
    const heads: (ShadowTrace | null)[] = its.map((it, file) => next(it, file));
    for (;;) {
      let at = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h && (at < 0 || before(h.stored, heads[at]!.stored))) at = i;
      }
      if (at < 0) return;
      const head = heads[at]!;
      heads[at] = next(its[at]!, at);
      yield head;
    }
  }
}

/** Whether `a` goes before `b` of a later file in the merged order. */
function before(a: StoredRecordedCall, b: StoredRecordedCall): boolean {
  if (a.ts !== b.ts) return a.ts < b.ts;
  return (a.counterSeq ?? -1) < (b.counterSeq ?? -1);
}

function next(it: Iterator<StoredRecordedCall>, file: number): ShadowTrace | null {
  const r = it.next();
  if (r.done) return null;
  const c = r.value;
  const call = { tool: c.tool, identity: c.identity, session: c.session, ts: c.ts };
  return {
    index: 0,
    line: c.id,
    call: c.arguments === undefined ? call : { ...call, arguments: c.arguments },
    recorded: {
      decision: c.decision as Decision["decision"],
      code: c.code,
      rule: c.rule,
      retry_after_ms: c.retry_after_ms,
    },
    // "unavailable": no human was asked, so there is no answer (as replay reads it).
    approval: c.approval === "unavailable" ? null : (c.approval as ApprovalAnswer | null),
    file,
    stored: c,
  };
}

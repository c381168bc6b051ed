import {
  type CompiledPolicy,
  createState,
  decide,
  type Decision,
  decideResolved,
  TimeOrderError,
} from "../engine/index.js";
import { InputError } from "../errors.js";
import { agentSees, type ChangeClass, classify, type Outcome, withApproval } from "./diff.js";
import { GroupMemo } from "./memo.js";
import { keptTraceCall } from "./trace.js";
import type { TraceCall } from "./types.js";

/** What a replayed call is compared against. */
export type Basis = "baseline" | "recorded" | "none";

/** One replayed call: the candidate's decision and, where there is one, the diff. */
export interface CallResult {
  source: TraceCall;
  /** The candidate policy's full decision (limit hit, reason, inexact...). */
  decision: Decision;
  /**
   * The candidate's decision after any recorded approval answer was applied. This and
   * `before` may be shared by several results: treat them as read-only.
   */
  after: Outcome;
  /** The baseline's, or the recorded, decision; null when there is nothing to compare. */
  before: Outcome | null;
  change: ChangeClass | null;
  /** An earlier call of the same session changed: the agent might have acted differently. */
  counterfactual: boolean;
  /** Some decision here depended on an argument not held in clear. */
  inexact: boolean;
  /** This is the first call of its session in the replay. */
  firstInSession: boolean;
  /**
   * 1-based position of the call within its session, in replay order: with the session id it
   * names a call stably across JSONL and SQLite sources (accept lists use it).
   */
  ordinal: number;
  /** A listed, reviewed change (an accept list); the replayer leaves it false. */
  accepted: boolean;
}

export interface ReplayOptions {
  candidate: CompiledPolicy;
  /** Compare against this policy replayed the same way, instead of the recorded decisions. */
  baseline?: CompiledPolicy;
  /** File name for error messages. */
  file: string;
  /**
   * Calls decided first, under both policies, to fill the counters and not diffed: for a
   * replay that starts later than its recording, the calls of the preceding longest window
   * (see warmUpSince), so the range's first calls do not meet counters that started empty.
   */
  warmUp?: Iterable<TraceCall>;
  /**
   * Refill one result (and its outcomes) for every call instead of making new ones: for a
   * caller that keeps none past the next call, or keeps a keptResult() copy.
   */
  reuse?: boolean;
}

/**
 * How far before a replay's first call its warm-up reaches: the longest window of any counter
 * of the candidate or baseline policy (0 when neither has limits).
 */
export function warmUpSpan(candidate: CompiledPolicy, baseline?: CompiledPolicy | null): number {
  const spans = [candidate, baseline ?? candidate].flatMap((p) =>
    p.counters.map((c) => c.horizonMs),
  );
  return Math.max(0, ...spans);
}

/** Decides one call after another, in order; see replay(). */
export type Replayer = (tc: TraceCall) => CallResult;

/**
 * A replay in progress (SPEC section 6): counters start empty; feed it the calls in order and
 * it returns one result per call. Memory holds the counters, one entry per session and one per
 * group of recorded calls (memo.ts), never the calls.
 */
export function createReplayer(opts: ReplayOptions): Replayer {
  const { candidate, baseline } = opts;
  const candidateState = createState(candidate);
  const baselineState = baseline ? createState(baseline) : null;
  const timeOrder = (tc: TraceCall, err: unknown): unknown =>
    err instanceof TimeOrderError
      ? new InputError(opts.file, [{ path: "ts", line: tc.line, message: err.message }])
      : err;
  for (const tc of opts.warmUp ?? []) {
    try {
      decide(candidate, tc.call, candidateState);
      if (baseline && baselineState) decide(baseline, tc.call, baselineState);
    } catch (err) {
      throw timeOrder(tc, err);
    }
  }
  const memo = new GroupMemo(candidate, baseline ?? null);
  const reused = opts.reuse ? emptyResult() : null;
  const afterInto = reused ? reused.after : undefined;
  const beforeInto = reused ? blankOutcome() : undefined;
  return (tc) => {
    const call = tc.call;
    // Calls read from recordings belong to a group: its rules are resolved once.
    const e = tc.group === undefined ? null : memo.entry(tc.group);
    let decision: Decision;
    let base: Decision | null = null;
    try {
      decision = e
        ? decideResolved(candidate, call, candidateState, e.candidate)
        : decide(candidate, call, candidateState);
      if (baseline && baselineState) {
        base = e
          ? decideResolved(baseline, call, baselineState, e.baseline!)
          : decide(baseline, call, baselineState);
      }
    } catch (err) {
      throw timeOrder(tc, err);
    }
    const against = base ?? tc.recorded;
    const after = withApproval(decision, tc.approval, afterInto);
    const before = against ? withApproval(against, tc.approval, beforeInto) : null;
    const change = before ? classify(before, after) : null;
    const seen = e ? e.seen : memo.session(call.session);
    const first = seen.calls === 0;
    const counterfactual = seen.changed;
    // Only a change the agent could have seen starts the marks (SPEC section 6).
    if (change !== null && !seen.changed && agentSees(before!, after, against!, decision)) {
      seen.changed = true;
    }
    const ordinal = ++seen.calls;
    const inexact = decision.inexact || (base?.inexact ?? false);
    if (reused === null) {
      return {
        source: tc,
        decision,
        after,
        before,
        change,
        counterfactual,
        inexact,
        firstInSession: first,
        ordinal,
        accepted: false,
      };
    }
    reused.source = tc;
    reused.decision = decision;
    reused.before = before;
    reused.change = change;
    reused.counterfactual = counterfactual;
    reused.inexact = inexact;
    reused.firstInSession = first;
    reused.ordinal = ordinal;
    reused.accepted = false;
    return reused;
  };
}

const blankOutcome = (): Outcome => ({
  decision: "allow",
  code: "",
  rule: null,
  retry_after_ms: null,
  approval: null,
});

/** A result to refill, its fields in the order of a new one's (the first two set by each call). */
function emptyResult(): CallResult {
  return {
    source: null as unknown as TraceCall,
    decision: null as unknown as Decision,
    after: blankOutcome(),
    before: null,
    change: null,
    counterfactual: false,
    inexact: false,
    firstInSession: false,
    ordinal: 0,
    accepted: false,
  };
}

/**
 * A copy of `r` to keep past the next call, when results (or the calls they came from) may be
 * refilled: its own outcomes and, from a refilled trace reader, its own call.
 */
export function keptResult(r: CallResult): CallResult {
  return {
    ...r,
    source: keptTraceCall(r.source),
    after: { ...r.after },
    before: r.before && { ...r.before },
  };
}

/** Replay calls in order under the candidate (and baseline) policy, one result per call. */
export function* replay(calls: Iterable<TraceCall>, opts: ReplayOptions): Generator<CallResult> {
  const step = createReplayer(opts);
  for (const tc of calls) yield step(tc);
}

import {
  type Call,
  type CompiledPolicy,
  type CounterState,
  countDecided,
  createState,
  decide,
  limitCounts,
  uncount,
} from "../engine/index.js";
import type { RecordedDecision, ShadowRecord } from "../store/types.js";

/**
 * A candidate policy decided beside the enforced one (`record --shadow`), with counters of its
 * own, consumed as if it were live: a call it allows consumes here, whatever the enforced
 * policy did. Its decisions are only recorded; nothing it does reaches the agent or the
 * server, and it never throws: a call it cannot decide is recorded without a shadow decision.
 */
export class Shadow {
  readonly state: CounterState;
  /** How far back a call can still count on the shadow's counters. */
  readonly horizonMs: number;
  private failed = false;

  constructor(
    readonly compiled: CompiledPolicy,
    /** sha256 of the candidate's text: which shadow a recorded call's decision belongs to. */
    readonly policyHash: string,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.state = createState(compiled);
    this.horizonMs = Math.max(0, ...compiled.counters.map((c) => c.horizonMs));
  }

  /** Decide `call` at `ts` (the enforced decision's time) and count it; null if it failed. */
  decide(call: Omit<Call, "ts">, ts: number): ShadowRecord | null {
    try {
      const full: Call = { ...call, ts: Math.max(ts, this.state.lastTs) };
      const decision = decide(this.compiled, full, this.state);
      return { decision, counts: limitCounts(this.compiled, full, decision, this.state) };
    } catch (err) {
      this.failedOnce(err);
      return null;
    }
  }

  /** Take back a shadow decision whose row could not be written: it must not count. */
  undo(call: Omit<Call, "ts">, ts: number, decided: ShadowRecord | null): void {
    if (decided?.decision.decision !== "allow") return;
    try {
      uncount(this.compiled, { ...call, ts: Math.max(ts, this.state.lastTs) }, this.state);
    } catch (err) {
      this.failedOnce(err);
    }
  }

  /** Count a call another proxy decided under this same shadow policy (see RecordingCounters). */
  countOther(o: RecordedDecision): void {
    if (o.shadow == null) return;
    try {
      const ts = Math.max(o.ts, this.state.lastTs);
      countDecided(this.compiled, { ...o, ts }, o.shadow, this.state);
    } catch (err) {
      this.failedOnce(err);
    }
  }

  private failedOnce(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.log(
      `shadow policy: ${err instanceof Error ? err.message : String(err)}; calls go on, recorded without a shadow decision where it cannot decide`,
    );
  }
}

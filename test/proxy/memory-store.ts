import type {
  ApprovalAnswer,
  CallOutcome,
  DecisionRecord,
  MessageRecord,
  SessionStart,
  SessionUpdate,
  ShadowRecord,
  Store,
  StoredCall,
  StoreHealth,
} from "../../src/store/types.js";
import { StoreError, type StoreErrorCode } from "../../src/store/errors.js";

/** A Store that keeps everything in arrays, for relay tests that look at what was recorded. */
export class MemoryStore implements Store {
  policies = new Map<string, string>();
  sessions = new Map<string, SessionStart & SessionUpdate>();
  messages: MessageRecord[] = [];
  decisions: (DecisionRecord & { approval?: ApprovalAnswer; outcome?: CallOutcome })[] = [];
  /**
   * Set to make the store fail as a locked or full recording does: decisions and approvals
   * throw it, queued writes wait (in `waiting`) until it is cleared and the store flushed.
   */
  fault: StoreError | null = null;
  /** Writes queued while failing, applied in order by the next flush that finds it healthy. */
  waiting: (() => void)[] = [];

  /** Fail from now on with a StoreError of this code (store_busy, store_full, ...). */
  failWith(code: StoreErrorCode): void {
    this.fault = new StoreError(code, "memory", `memory: failing with ${code}`);
  }
  health(): StoreHealth {
    return {
      healthy: this.fault === null,
      fault: this.fault,
      queued: this.waiting.length,
      lost: 0,
    };
  }
  lostWrites(): number {
    return 0;
  }
  /** A queued write: now, or when the store works again. */
  private later(write: () => void): void {
    if (this.fault) this.waiting.push(write);
    else write();
  }

  putPolicy(hash: string, text: string): void {
    this.policies.set(hash, text);
  }
  startSession(s: SessionStart): void {
    // As the SQLite store does: a session's row is committed at once, so it fails at once.
    if (this.fault) throw this.fault;
    this.sessions.set(s.id, { ...s });
  }
  updateSession(id: string, patch: SessionUpdate): void {
    this.later(() => Object.assign(this.sessions.get(id)!, patch));
  }
  recordMessage(m: MessageRecord): void {
    this.later(() => this.messages.push(m));
  }
  recordDecision(d: DecisionRecord): number {
    if (this.fault) throw this.fault;
    this.decisions.push({ ...d });
    return this.decisions.length;
  }
  recordDecisions(ds: readonly DecisionRecord[]): number[] {
    if (this.fault) throw this.fault;
    return ds.map((d) => this.recordDecision(d));
  }
  recordApproval(callId: number, answer: ApprovalAnswer): void {
    if (this.fault) throw this.fault;
    this.decisions[callId - 1]!.approval = answer;
  }
  recordOutcome(callId: number, outcome: CallOutcome): void {
    this.later(() => (this.decisions[callId - 1]!.outcome = outcome));
  }
  recordShadow(callId: number, shadow: ShadowRecord): void {
    this.later(() => (this.decisions[callId - 1]!.shadow = shadow));
  }
  flush(): void {
    if (this.fault) return;
    for (const write of this.waiting.splice(0)) write();
  }
  close(): void {}
  *calls(): IterableIterator<StoredCall> {
    let id = 0;
    for (const d of this.decisions) {
      yield {
        id: ++id,
        session: d.session,
        identity: d.identity,
        ts: d.ts,
        tool: d.tool,
        arguments: d.arguments,
        decision: d.decision.decision,
        code: d.decision.code,
        rule: d.decision.rule,
        retry_after_ms: d.decision.retry_after_ms,
        approval: d.approval ?? null,
      };
    }
  }
}

import type {
  ApprovalAnswer,
  CallOutcome,
  DecisionRecord,
  MessageRecord,
  SessionStart,
  SessionUpdate,
  Store,
  StoredCall,
} from "../../src/store/types.js";

/** A Store that keeps everything in arrays, for relay tests that look at what was recorded. */
export class MemoryStore implements Store {
  policies = new Map<string, string>();
  sessions = new Map<string, SessionStart & SessionUpdate>();
  messages: MessageRecord[] = [];
  decisions: (DecisionRecord & { approval?: ApprovalAnswer; outcome?: CallOutcome })[] = [];

  putPolicy(hash: string, text: string): void {
    this.policies.set(hash, text);
  }
  startSession(s: SessionStart): void {
    this.sessions.set(s.id, { ...s });
  }
  updateSession(id: string, patch: SessionUpdate): void {
    Object.assign(this.sessions.get(id)!, patch);
  }
  recordMessage(m: MessageRecord): void {
    this.messages.push(m);
  }
  recordDecision(d: DecisionRecord): number {
    this.decisions.push({ ...d });
    return this.decisions.length;
  }
  recordApproval(callId: number, answer: ApprovalAnswer): void {
    this.decisions[callId - 1]!.approval = answer;
  }
  recordOutcome(callId: number, outcome: CallOutcome): void {
    this.decisions[callId - 1]!.outcome = outcome;
  }
  flush(): void {}
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

import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type {
  ApprovalAnswer,
  CallOutcome,
  Direction,
  MessageRecord,
  Redactor,
  SessionUpdate,
  Store,
} from "../store/types.js";
import { idKey } from "./forwarded.js";
import { redactMessage } from "./redact-message.js";

/**
 * Stores whose failure was said on stderr, so many sessions on one store say it once, with
 * how many queued writes the store had lost by then.
 */
const failing = new WeakMap<Store, { lostBefore: number }>();

/**
 * One session's side of the recording. Messages, outcomes and session updates that the store
 * cannot take are said on stderr (once per store until it works again) and the relay goes on;
 * a decision or an approval that cannot be written throws, so the call fails closed.
 */
export class AuditLog {
  private seq = 0;

  constructor(
    private readonly store: Store,
    private readonly session: string,
    private readonly redactor: Redactor,
    private readonly log: (line: string) => void,
  ) {}

  /** The next message number in the session. */
  nextSeq(): number {
    return ++this.seq;
  }

  /** Record a message as it passed (redacted); returns its number in the session. */
  message(direction: Direction, message: JSONRPCMessage, ts: number): number {
    const seq = this.nextSeq();
    // (An error answering an unreadable request has id null: stored as no id.)
    const id = "id" in message && message.id != null ? idKey(message.id) : null;
    this.raw({
      session: this.session,
      direction,
      seq,
      ts,
      method: "method" in message ? message.method : null,
      jsonrpcId: id,
      message: redactMessage(message, this.redactor),
    });
    return seq;
  }

  /** Record a message row as given (the caller has redacted its body). */
  raw(m: MessageRecord): void {
    this.quietly(() => this.store.recordMessage(m));
  }

  /**
   * Write-ahead: run a write that must succeed for the call to go on (its decision); when it
   * cannot, throws AuditUnavailable and the call is not forwarded.
   */
  mustWrite<T>(write: () => T): T {
    try {
      const result = write();
      this.works();
      return result;
    } catch (err) {
      throw new AuditUnavailable(this.failed(err));
    }
  }

  /** Throws as mustWrite() does: an approved call goes on only once its answer is written. */
  approval(callId: number, answer: ApprovalAnswer): void {
    try {
      this.store.recordApproval(callId, answer);
    } catch (err) {
      throw new AuditUnavailable(this.failed(err));
    }
  }

  outcome(callId: number, outcome: CallOutcome): void {
    this.quietly(() => this.store.recordOutcome(callId, outcome));
  }

  updateSession(patch: SessionUpdate): void {
    this.quietly(() => this.store.updateSession(this.session, patch));
  }

  flush(): void {
    this.quietly(() => this.store.flush());
  }

  private quietly(write: () => void): void {
    try {
      write();
    } catch (err) {
      this.failed(err);
    }
  }

  /** Say the store failed, once until it works again; returns why. */
  private failed(err: unknown): string {
    const why = err instanceof Error ? err.message : String(err);
    if (!failing.has(this.store)) {
      failing.set(this.store, { lostBefore: this.store.health?.().lost ?? 0 });
      this.log(
        `audit log unavailable: ${why}; tools/call answered with an error until it recovers`,
      );
    }
    return why;
  }

  private works(): void {
    if (failing.delete(this.store))
      this.log("audit log writable again; tools/call decided as usual");
  }
}

/** A decision or approval could not be written: the call is answered -32000, not forwarded. */
export class AuditUnavailable extends Error {
  constructor(readonly why: string) {
    super(`audit log unavailable: ${why}`);
    this.name = "AuditUnavailable";
  }
}

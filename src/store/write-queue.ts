import type Database from "better-sqlite3";

export type BindValue = string | number | null;
/** A statement bound with one array of positional values (better-sqlite3 spreads an array). */
export type WriteStatement = Database.Statement<[BindValue[]]>;

/** A write that may wait for the next batch: a message, an outcome, a session update. */
export interface QueuedWrite {
  stmt: WriteStatement;
  params: BindValue[];
  /** Serialised when the batch is written, not when queued: off the relay's path. */
  body?: unknown;
  /** The session it belongs to, when known: what a lost write is counted against. */
  session?: string;
  /** A message: the first to go when the queue overflows (outcomes and session ends stay). */
  droppable?: boolean;
}

/** Default bound of the queue: at ~1 KB a message, some 64 MB kept while the store fails. */
export const DEFAULT_MAX_QUEUED = 65_536;

/**
 * The writes waiting for a batch, kept across failed flushes and bounded. Over the bound, the
 * oldest messages go first, a sixteenth of the bound at once (dropping one by one would move
 * the whole array on every write); outcomes and session updates go only when nothing else
 * is left (then only as many as must go). Order is kept within messages and within the rest; nothing orders one against the
 * other (messages are inserts with keys of their own, the rest update rows already written).
 */
export class WriteQueue {
  private messages: QueuedWrite[] = [];
  private others: QueuedWrite[] = [];
  private lostTotal = 0;
  private readonly lostBySession = new Map<string, number>();

  constructor(private readonly max: number = DEFAULT_MAX_QUEUED) {}

  get size(): number {
    return this.messages.length + this.others.length;
  }

  /** Writes dropped since the queue was made; of one session when given. */
  lost(session?: string): number {
    return session === undefined ? this.lostTotal : (this.lostBySession.get(session) ?? 0);
  }

  push(w: QueuedWrite): void {
    (w.droppable ? this.messages : this.others).push(w);
    if (this.size > this.max) this.dropOldest();
  }

  /** The oldest writes, at most n (all when n is absent), out of the queue. */
  take(n = Infinity): QueuedWrite[] {
    const others = this.others.splice(0, n);
    const messages = this.messages.splice(0, n - others.length);
    return others.concat(messages);
  }

  /** Writes taken but not written go back in front, where they were. */
  putBack(writes: readonly QueuedWrite[]): void {
    this.others = writes.filter((w) => !w.droppable).concat(this.others);
    this.messages = writes.filter((w) => w.droppable).concat(this.messages);
    if (this.size > this.max) this.dropOldest();
  }

  private dropOldest(): void {
    const chunk = Math.max(this.size - this.max, Math.ceil(this.max / 16));
    const dropped = this.messages.splice(0, chunk);
    // Only what must go of the rest: no messages left means outcomes and session ends.
    if (this.size > this.max) dropped.push(...this.others.splice(0, this.size - this.max));
    this.lostTotal += dropped.length;
    for (const w of dropped) {
      if (w.session !== undefined)
        this.lostBySession.set(w.session, (this.lostBySession.get(w.session) ?? 0) + 1);
    }
  }
}

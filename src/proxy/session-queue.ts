/** What a message's lookup came to: its answer, null when it needed none, or why it failed. */
export type Looked<R> = { looked: R | null } | { failed: unknown };

/** A lookup, started already, or to start when its turn comes; null: none is needed. */
export type Looking<R> = Promise<R> | null | (() => Promise<R> | null);

/** How many lookups of one session may be out at once; later ones start as these settle. */
export const MAX_LOOKUPS_OUT = 256;

const NONE: Looked<never> = { looked: null };

interface Entry<I, R> {
  item: I;
  /** The lookup not yet started; null once it is (or when there is none). */
  ask: (() => Promise<R> | null) | null;
  /** null while its lookup is out or not yet started. */
  done: Looked<R> | null;
}

/**
 * One session's messages in the order they arrived, each handed on (`go`) once its own lookup
 * has answered and every message before it has gone. Lookups start in arrival order, as they
 * arrive, up to `maxOut` at once: a counter service that runs one connection's commands in
 * order counts them in that order, while their round trips overlap.
 */
export class SessionQueue<I, R> {
  private entries: (Entry<I, R> | undefined)[] = [];
  /** The first entry not yet handed on. */
  private head = 0;
  /** The first entry whose lookup has not started (every one before it has). */
  private nextAsk = 0;
  private out = 0;
  private going = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly go: (item: I, looked: Looked<R>) => void,
    /** Told what `go` threw; the queue goes on. */
    private readonly onError: (err: unknown) => void,
    private readonly maxOut = MAX_LOOKUPS_OUT,
  ) {}

  /** Messages not yet handed on. */
  get size(): number {
    return this.entries.length - this.head;
  }

  /** Lookups started and not yet answered. */
  get lookupsOut(): number {
    return this.out;
  }

  /** Whether a lookup started now would go in its turn (none waits to start before it). */
  get canAsk(): boolean {
    return this.nextAsk === this.entries.length && this.out < this.maxOut;
  }

  /**
   * A message, after every one added before it. `looking`: its lookup, when it needs one
   * (a started one only when canAsk said so).
   */
  add(item: I, looking?: Looking<R>): void {
    if (looking === undefined && this.size === 0 && !this.going) {
      // Nothing before it: handed on at once, and what it sets off queues behind it.
      this.going = true;
      try {
        this.hand(item, NONE);
      } finally {
        this.going = false;
      }
      if (this.size > 0) this.drain();
      return;
    }
    const entry: Entry<I, R> = { item, ask: null, done: null };
    if (looking === undefined || looking === null) entry.done = NONE;
    else if (typeof looking === "function") entry.ask = looking;
    else this.wait(entry, looking);
    this.entries.push(entry);
    if (entry.ask === null && this.nextAsk === this.entries.length - 1) this.nextAsk++;
    this.askMore();
    this.drain();
  }

  /** Resolves once every message added so far has been handed on. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wait(entry: Entry<I, R>, looking: Promise<R>): void {
    this.out++;
    looking.then(
      (looked) => this.answered(entry, { looked }),
      (failed: unknown) => this.answered(entry, { failed }),
    );
  }

  private answered(entry: Entry<I, R>, done: Looked<R>): void {
    this.out--;
    entry.done = done;
    this.askMore();
    this.drain();
  }

  /** Start the lookups whose turn has come, in order. */
  private askMore(): void {
    while (this.nextAsk < this.entries.length && this.out < this.maxOut) {
      const entry = this.entries[this.nextAsk++]!;
      const ask = entry.ask;
      if (ask === null) continue;
      entry.ask = null;
      let looking: Promise<R> | null;
      try {
        looking = ask();
      } catch (failed) {
        entry.done = { failed };
        continue;
      }
      if (looking === null) entry.done = NONE;
      else this.wait(entry, looking);
    }
  }

  /** Hand on, in order, every message whose lookup has answered, up to the first still out. */
  private drain(): void {
    // A message added while one is handed on waits for this loop: it is after that one.
    if (this.going) return;
    this.going = true;
    try {
      while (this.head < this.entries.length) {
        const entry = this.entries[this.head]!;
        if (entry.done === null) break;
        this.entries[this.head++] = undefined;
        this.hand(entry.item, entry.done);
      }
    } finally {
      this.going = false;
    }
    this.compact();
  }

  private hand(item: I, looked: Looked<R>): void {
    try {
      this.go(item, looked);
    } catch (err) {
      this.onError(err);
    }
  }

  /** Drop what has been handed on, so the array does not grow with the session. */
  private compact(): void {
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = this.nextAsk = 0;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    } else if (this.head >= 1024 && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.nextAsk -= this.head;
      this.head = 0;
    }
  }
}

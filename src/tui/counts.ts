import type { Browser, CallCounts } from "../store/browse.js";

// Per-session decision counts for the sessions list, counted only for the sessions on screen,
// a slice of calls at a time between key presses (calls_by_session makes each slice a range
// read), and kept: scrolling back costs nothing, and startup never counts the whole table.
// The first screen's are counted before it is drawn (prime), while Yoga compiles.

/** Calls read per slice: about a millisecond. */
const SLICE = 500;
/**
 * Slices run back to back for this long (ms) before a key may be read: each batch that
 * finishes a session redraws the screen once, where a redraw per session cost ~15 ms each.
 */
const BATCH_MS = 8;
/** Sessions remembered; the oldest are forgotten past this. */
const KEEP = 50_000;

/** Counts for the sessions asked for, worked out in slices off the key path, and kept. */
export class SessionCounts {
  private readonly done = new Map<string, CallCounts>();
  private readonly partial = new Map<string, CallCounts>();
  private queue: string[] = [];
  private timer: NodeJS.Immediate | null = null;
  private stopped = false;
  /** Called after a batch that finished some session's counts. */
  private onChange: (() => void) | null = null;
  /** Counts finished in the background before anyone listened. */
  private unseen = false;

  constructor(
    private readonly browser: Browser,
    private readonly slice = SLICE,
  ) {}

  /** Call `fn` whenever counts finished in the background (the UI redraws). */
  listen(fn: () => void): void {
    this.onChange = fn;
    if (this.unseen) this.changed();
  }

  /**
   * Count these sessions now, before anything is drawn, up to `calls` calls in all; what is
   * left is counted in the background.
   */
  prime(sessions: readonly string[], calls: number): void {
    this.enqueue(sessions);
    this.count(calls);
    if (this.queue.length > 0) this.schedule();
  }

  /** A session's counts once they are complete, or null while they are being counted. */
  get(session: string): CallCounts | null {
    return this.done.get(session) ?? null;
  }

  /** Count these sessions next (the ones on screen), in this order. */
  want(sessions: readonly string[]): void {
    if (this.enqueue(sessions)) this.schedule();
  }

  /** Put the sessions not yet counted first in the queue; false when there are none. */
  private enqueue(sessions: readonly string[]): boolean {
    const missing = sessions.filter((s) => !this.done.has(s));
    if (missing.length === 0) return false;
    const set = new Set(missing);
    this.queue = [...missing, ...this.queue.filter((s) => !set.has(s))];
    return true;
  }

  /** Forget every count (the recording was read again). */
  clear(): void {
    this.done.clear();
    this.partial.clear();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearImmediate(this.timer);
    this.timer = null;
  }

  /** Count one slice now; true when there is more to do. For tests. */
  step(): boolean {
    if (this.count(this.slice)) this.changed();
    return this.queue.length > 0;
  }

  /** Count up to `budget` calls from the queue; true when some session's counts finished. */
  private count(budget: number): boolean {
    let finished = false;
    while (budget > 0 && this.queue.length > 0) {
      const id = this.queue[0]!;
      if (this.done.has(id)) {
        this.queue.shift();
        continue;
      }
      const sofar = this.partial.get(id) ?? {
        calls: 0,
        denied: 0,
        rateLimited: 0,
        approvals: 0,
        lastSeq: -1,
      };
      const asked = budget;
      const got = this.browser.countCalls(id, sofar.lastSeq, asked);
      const next: CallCounts = {
        calls: sofar.calls + got.calls,
        denied: sofar.denied + got.denied,
        rateLimited: sofar.rateLimited + got.rateLimited,
        approvals: sofar.approvals + got.approvals,
        lastSeq: got.calls > 0 ? got.lastSeq : sofar.lastSeq,
      };
      budget -= got.calls;
      if (got.calls < asked) {
        // Fewer than asked: the session has no more calls.
        this.partial.delete(id);
        if (this.done.size >= KEEP) this.done.delete(this.done.keys().next().value!);
        this.done.set(id, next);
        this.queue.shift();
        finished = true;
      } else {
        this.partial.set(id, next);
      }
    }
    return finished;
  }

  private changed(): void {
    this.unseen = this.onChange === null;
    this.onChange?.();
  }

  private schedule(): void {
    if (this.timer !== null || this.stopped) return;
    // setImmediate: after the frame for the key that asked, before the next key is read.
    this.timer = setImmediate(() => {
      this.timer = null;
      if (this.stopped) return;
      let finished = false;
      try {
        const until = performance.now() + BATCH_MS;
        do finished = this.count(this.slice) || finished;
        while (this.queue.length > 0 && performance.now() < until);
      } catch {
        // The recording cannot be read: the screen's own reads will say so.
        this.queue = [];
      }
      if (finished) this.changed();
      if (this.queue.length > 0) this.schedule();
    });
  }
}

import { PolicyReplayError } from "../errors.js";
import type { CompiledPolicy } from "./compile.js";

/**
 * The times at which one counter key consumed, oldest first. A queue over a plain array: old
 * entries leave from the front as the clock passes the counter's longest window.
 */
export class Consumptions {
  times: number[] = [];
  head = 0;

  push(ts: number): void {
    this.times.push(ts);
  }

  /** Drop consumptions at or before `cutoff`; they can never count again. */
  evictThrough(cutoff: number): void {
    const times = this.times;
    let head = this.head;
    while (head < times.length && times[head]! <= cutoff) head++;
    if (head > 1024 && head * 2 > times.length) {
      this.times = times.slice(head);
      head = 0;
    }
    this.head = head;
  }

  /** Index of the first kept consumption at a time > `after` (binary search). */
  firstAfter(after: number): number {
    const times = this.times;
    let lo = this.head;
    // Usually the first kept one already is: a sliding window as long as the counter's longest
    // was just evicted through its start. Answered without a search, whatever the queue's length.
    if (lo < times.length && times[lo]! > after) return lo;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (times[mid]! > after) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  get size(): number {
    return this.times.length - this.head;
  }
}

/** Calls arrived out of time order; the counters' arithmetic needs non-decreasing times. */
export class TimeOrderError extends PolicyReplayError {
  readonly code = "time_order";
  constructor(
    readonly ts: number,
    readonly previous: number,
  ) {
    super(`time went backwards: ${ts} is before the previous call's ${previous}`);
  }
}

/**
 * The counters' state for one compiled policy. The caller owns it (the proxy keeps one live, a
 * replay starts one empty per policy) and passes it to decide(), which updates it in place.
 */
export class CounterState {
  /** Per counter, per scope kind (grant, session, global): scope value -> consumptions. */
  readonly slots: Map<string, Consumptions>[][];
  lastTs = -Infinity;

  constructor(readonly compiled: CompiledPolicy) {
    this.slots = compiled.counters.map(() => [new Map(), new Map(), new Map()]);
  }

  /** Consumptions of one key, created empty on first use. */
  key(counter: number, scopeIndex: number, scopeValue: string): Consumptions {
    const map = this.slots[counter]![scopeIndex]!;
    let c = map.get(scopeValue);
    if (c === undefined) {
      c = new Consumptions();
      map.set(scopeValue, c);
    }
    return c;
  }

  /** Consumptions of one key, or undefined if it never consumed. */
  peek(counter: number, scopeIndex: number, scopeValue: string): Consumptions | undefined {
    return this.slots[counter]![scopeIndex]!.get(scopeValue);
  }
}

/** A fresh, empty counters' state for `compiled`. */
export function createState(compiled: CompiledPolicy): CounterState {
  return new CounterState(compiled);
}

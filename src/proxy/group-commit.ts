import type { Store } from "../store/types.js";
import type { BatchCall, Counters, DecidedCall } from "./counters.js";

/** A call waiting for its group's commit: told its decision, or why it could not be written. */
export interface GroupEntry extends BatchCall {
  /** Runs the group's write, as AuditLog.mustWrite does (the store's health said once). */
  mustWrite<T>(write: () => T): T;
  settle(result: { decided: DecidedCall } | { failed: unknown }): void;
}

/**
 * Group commit of decision rows: the calls that arrive in one turn of the event loop (one
 * chunk read from a pipe holds many) are decided in arrival order, so counters stay exact,
 * and their rows committed together at the end of that turn, before any of them is forwarded.
 * The end of the turn, not a delay: a lone call waits for nothing. With a counter service,
 * the calls whose lookups answered in one turn form a group the same way. When the commit
 * fails, every call of the group fails closed and none is counted.
 */
export class DecisionGroup {
  private entries: GroupEntry[] = [];

  constructor(
    private readonly counters: Counters & Required<Pick<Counters, "decideBatch">>,
    private readonly store: Store,
  ) {}

  add(entry: GroupEntry): void {
    if (this.entries.push(entry) === 1) queueMicrotask(this.commit);
  }

  private readonly commit = (): void => {
    const entries = this.entries;
    this.entries = [];
    const { counters, store } = this;
    const first = entries[0]!;
    let decided: DecidedCall[] | null = null;
    if (entries.length > 1) {
      try {
        decided = first.mustWrite(() => counters.decideBatch(entries, store));
      } catch (failed) {
        return settleAll(entries, () => ({ failed }));
      }
    }
    if (decided !== null) return settleAll(entries, (i) => ({ decided: decided[i]! }));
    // One call, or a store that takes one row at a time: each on its own.
    settleAll(entries, (i) => {
      const e = entries[i]!;
      try {
        return {
          decided: e.mustWrite(() => counters.decide(e.call, e.arrival, store, e.row, e.looked)),
        };
      } catch (failed) {
        return { failed };
      }
    });
  };
}

/** Every entry is told, even when telling one throws (thrown after the others). */
function settleAll(
  entries: readonly GroupEntry[],
  result: (i: number) => { decided: DecidedCall } | { failed: unknown },
): void {
  let thrown: { err: unknown } | null = null;
  for (let i = 0; i < entries.length; i++) {
    try {
      entries[i]!.settle(result(i));
    } catch (err) {
      thrown ??= { err };
    }
  }
  if (thrown) throw thrown.err;
}

const groups = new WeakMap<Counters, WeakMap<Store, DecisionGroup>>();

/**
 * The group that the calls decided by `counters` into `store` share (every session of a
 * proxy); null when the counters cannot decide calls together.
 */
export function decisionGroup(counters: Counters, store: Store): DecisionGroup | null {
  if (!hasBatch(counters)) return null;
  let byStore = groups.get(counters);
  if (!byStore) groups.set(counters, (byStore = new WeakMap()));
  let group = byStore.get(store);
  if (!group) byStore.set(store, (group = new DecisionGroup(counters, store)));
  return group;
}

function hasBatch(c: Counters): c is Counters & Required<Pick<Counters, "decideBatch">> {
  return c.decideBatch !== undefined;
}

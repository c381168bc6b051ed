import { CHANGE_CLASSES, type ChangeClass, type GateClass, isChangeClass } from "../diff.js";
import { type CallResult, keptResult } from "../replay.js";
import type { Summary } from "../summary.js";
import type { ReportContext } from "./context.js";
import { n } from "./words.js";

// Which changed calls a report lists, and in what order: those that fail the gate first, so a
// reviewer (and GitHub's few annotations per step) meets them before harmless changes; within
// each rank, call order. --only narrows what is listed; the counts never change.

/**
 * A changed call's place in a listing: 0 it fails the gate, 1 its class is one --fail-on names
 * but an accept list covers it, 2 any other class.
 */
export function listRank(r: CallResult, failOn: readonly GateClass[]): 0 | 1 | 2 {
  if (!failOn.includes(r.change!)) return 2;
  return r.accepted ? 1 : 0;
}

/** The classes of changed call a report lists (--only; every class when not given). */
export function listedClasses(ctx: ReportContext): readonly ChangeClass[] {
  return ctx.only ? ctx.only.filter(isChangeClass) : CHANGE_CLASSES;
}

/**
 * The first `limit` items by rank, then arrival: memory holds at most `limit` of them however
 * many arrive. An item pushed out (or never let in) goes to `onDrop`.
 */
export class RankedListing<T> {
  private readonly ranks: T[][] = [[], [], []];
  private size = 0;

  constructor(
    private readonly limit: number,
    private readonly onDrop?: (item: T) => void,
  ) {}

  add(item: T, rank: 0 | 1 | 2): void {
    if (this.size < this.limit) {
      this.ranks[rank]!.push(item);
      this.size++;
      return;
    }
    // Full: the newest of a worse rank makes room, as it would be listed last.
    for (let worse = 2; worse > rank; worse--) {
      const list = this.ranks[worse]!;
      if (list.length > 0) {
        // Popped before the call: `onDrop?.(list.pop())` would skip the pop with no onDrop.
        const dropped = list.pop()!;
        this.onDrop?.(dropped);
        this.ranks[rank]!.push(item);
        return;
      }
    }
    this.onDrop?.(item);
  }

  /** The kept items, best rank first, each rank in arrival order. */
  items(): T[] {
    return this.ranks.flat();
  }
}

/**
 * The changed calls a text, markdown or github report lists: of the --only classes, up to
 * --show, gate failures first.
 */
export class ChangedCalls {
  private readonly listing: RankedListing<CallResult>;
  private readonly only: readonly ChangeClass[];

  constructor(private readonly ctx: ReportContext) {
    this.listing = new RankedListing(ctx.show);
    this.only = listedClasses(ctx);
  }

  add(r: CallResult): void {
    // A copy: the replay may refill `r` for the next call.
    if (r.change !== null && this.only.includes(r.change))
      this.listing.add(keptResult(r), listRank(r, this.ctx.failOn));
  }

  items(): CallResult[] {
    return this.listing.items();
  }
}

/** How many changed calls are of the listed classes. */
export function listable(s: Summary, only: readonly ChangeClass[]): number {
  return only.reduce((sum, c) => sum + s.changes[c], 0);
}

/**
 * What a listing of `listed` changed calls leaves out, for its heading, or null when it lists
 * every one: "first 50 of 120", "tightened only: 12 of 28", "tightened only: first 5 of 12, of
 * 28 in all". `showAll`, when given, says how every one could be listed, after a cut.
 */
export function listingScope(
  s: Summary,
  ctx: ReportContext,
  listed: number,
  showAll: string | null,
): string | null {
  const only = listedClasses(ctx);
  const eligible = listable(s, only);
  const narrowed = eligible < s.changes.total;
  const cut = listed < eligible;
  if (!narrowed && !cut) return null;
  // --only named classes of tool lists alone.
  if (only.length === 0) return `--only ${ctx.only!.join(",")}: none of ${n(s.changes.total)}`;
  const hint = showAll === null ? "" : `; ${showAll}`;
  const classes = `${only.join(" and ")} only`;
  if (!narrowed) return `first ${n(listed)} of ${n(eligible)}${hint}`;
  if (!cut) return `${classes}: ${n(eligible)} of ${n(s.changes.total)}`;
  return `${classes}: first ${n(listed)} of ${n(eligible)}, of ${n(s.changes.total)} in all${hint}`;
}

// What a replay keeps between calls so that it does not work the same thing out again: per group
// of recorded calls, the rules each policy resolves its tool to and its session's entry; per
// session, how far it has got.
import { type CompiledPolicy, type Resolution, resolve } from "../engine/index.js";
import type { CallGroup } from "./types.js";

/** A session's progress through a replay: its calls so far, and whether one has changed. */
export interface SessionSeen {
  calls: number;
  changed: boolean;
}

/** What the replay keeps for a call's group. */
export interface GroupEntry {
  candidate: Resolution;
  /** Null without a baseline policy. */
  baseline: Resolution | null;
  seen: SessionSeen;
}

// A group's record: the numbers of its candidate and baseline resolutions and of its session,
// and the read of the group it was made for (0: none yet). Four numbers, so that a record never
// straddles two cache lines.
const CANDIDATE = 0;
const BASELINE = 1;
const SESSION = 2;
const READ = 3;
const RECORD = 4;

/**
 * A replay's memo. Groups are numbered densely per read, so each has a record in one flat
 * array indexed by its id, made when the replay first meets it.
 *
 * Why numbers: a recording of many sessions has tens of thousands of groups, visited in no
 * order, so what a call reads of its group's record is a cache miss, and each further object
 * one more. A record is 16 bytes of one typed array, where an object per group took a line or
 * two of its own (a replay a few percent slower, measured); what it numbers (a handful of
 * resolutions, one per rule, and the sessions) is read often enough to stay in cache.
 */
export class GroupMemo {
  private records = new Int32Array(RECORD * 1024);
  /** Resolutions by number; 0 is "no baseline". */
  private readonly resolutions: (Resolution | null)[] = [null];
  private readonly resolutionNumbers = new Map<Resolution, number>();
  private readonly seen: SessionSeen[] = [];
  private readonly sessionNumbers = new Map<string, number>();
  /** entry()'s answer, filled in afresh for each call (placeholders until then). */
  private readonly current: GroupEntry = {
    candidate: { kind: "hidden" },
    baseline: null,
    seen: { calls: 0, changed: false },
  };

  constructor(
    private readonly candidate: CompiledPolicy,
    private readonly baseline: CompiledPolicy | null,
  ) {}

  /**
   * What the replay keeps for the call's group, made the first time the replay meets the group.
   * The object is reused: it holds until the next call to entry().
   */
  entry(g: CallGroup): GroupEntry {
    const at = g.id * RECORD;
    // Two reads' ids overlap: the record says whose it is, in the line the call reads anyway
    // (an array of the groups beside it was one more cache miss a call).
    if (at >= this.records.length || this.records[at + READ] !== g.read) this.meet(g);
    const r = this.records;
    const e = this.current;
    e.candidate = this.resolutions[r[at + CANDIDATE]!]!;
    e.baseline = this.resolutions[r[at + BASELINE]!] as Resolution | null;
    e.seen = this.seen[r[at + SESSION]!]!;
    return e;
  }

  /** A session's progress, for calls without a group (JSONL traces). */
  session(id: string): SessionSeen {
    return this.seen[this.sessionNumber(id)]!;
  }

  private meet(g: CallGroup): void {
    const at = g.id * RECORD;
    if (at + RECORD > this.records.length) {
      const grown = new Int32Array(Math.max(at + RECORD, this.records.length * 2));
      grown.set(this.records);
      this.records = grown;
    }
    const r = this.records;
    r[at + CANDIDATE] = this.resolutionNumber(resolve(this.candidate, g.identity, g.tool));
    r[at + BASELINE] = this.baseline
      ? this.resolutionNumber(resolve(this.baseline, g.identity, g.tool))
      : 0;
    r[at + SESSION] = this.sessionNumber(g.session);
    r[at + READ] = g.read;
  }

  private resolutionNumber(res: Resolution): number {
    let n = this.resolutionNumbers.get(res);
    if (n === undefined) {
      n = this.resolutions.push(res) - 1;
      this.resolutionNumbers.set(res, n);
    }
    return n;
  }

  private sessionNumber(id: string): number {
    let n = this.sessionNumbers.get(id);
    if (n === undefined) {
      n = this.seen.push({ calls: 0, changed: false }) - 1;
      this.sessionNumbers.set(id, n);
    }
    return n;
  }
}

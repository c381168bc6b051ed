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

/** What a replay keeps for one group. */
export class GroupEntry {
  constructor(
    /** The group it was made for (ids are numbered per read, so two reads' ids overlap). */
    readonly group: CallGroup,
    readonly candidate: Resolution,
    /** Null without a baseline policy. */
    readonly baseline: Resolution | null,
    readonly seen: SessionSeen,
  ) {}
}

/**
 * A replay's memo. Groups are numbered densely per read, so their entries sit in one array
 * indexed by id, each made when the replay first meets its group.
 *
 * Why so little in it: a recording of many sessions has tens of thousands of groups, visited in
 * no order, so whatever a call reads of its group's entry is a cache miss, and each separate
 * object one more. One small object a group, no maps by name; and the comparison of the two
 * decisions is worked out afresh each call rather than kept here (keeping the group's last one
 * made the entry three times the size, and the replay slower: see docs/performance.md).
 */
export class GroupMemo {
  private readonly entries: (GroupEntry | undefined)[] = [];
  private readonly sessions = new Map<string, SessionSeen>();

  constructor(
    private readonly candidate: CompiledPolicy,
    private readonly baseline: CompiledPolicy | null,
  ) {}

  /** The group's entry, made the first time this replay meets the group. */
  entry(g: CallGroup): GroupEntry {
    const e = this.entries[g.id];
    // Checked against the group too: a replay fed the calls of two reads still gives each
    // group its own entry.
    return e !== undefined && e.group === g ? e : this.meet(g);
  }

  /** A session's progress, for calls without a group (JSONL traces). */
  session(id: string): SessionSeen {
    let seen = this.sessions.get(id);
    if (seen === undefined) {
      seen = { calls: 0, changed: false };
      this.sessions.set(id, seen);
    }
    return seen;
  }

  private meet(g: CallGroup): GroupEntry {
    // Filled up to the id, so the array stays a plain list and never turns into a dictionary.
    while (this.entries.length < g.id) this.entries.push(undefined);
    const e = new GroupEntry(
      g,
      resolve(this.candidate, g.identity, g.tool),
      this.baseline ? resolve(this.baseline, g.identity, g.tool) : null,
      this.session(g.session),
    );
    this.entries[g.id] = e;
    return e;
  }
}

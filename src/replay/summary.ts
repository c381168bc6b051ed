import type { DecisionCode, DecisionKind } from "../engine/index.js";
import type { Basis, CallResult } from "./replay.js";
import type { CallGroup, ChangeClass, GateClass, Tally, Visibility } from "./types.js";

export type { Tally } from "./types.js";

/** The tool-list comparison with its counts by class. */
export interface VisibilitySummary extends Visibility {
  hidden: number;
  unhidden: number;
}

export interface Summary {
  calls: number;
  sessions: number;
  identities: number;
  /** Earliest and latest call time (ms), null for an empty trace. */
  from_ts: number | null;
  to_ts: number | null;
  basis: Basis;
  /** Candidate decisions, after recorded approvals were applied. */
  decisions: Record<DecisionKind, number>;
  codes: Record<string, number>;
  changes: Record<ChangeClass, number> & { total: number };
  /** Changes an accept list names (--accept): still counted in `changes`, never failing. */
  accepted: Record<ChangeClass, number> & { total: number };
  /** Changed calls that follow an earlier change in their session. */
  counterfactual_changes: number;
  /** Calls marked counterfactual, changed or not. */
  counterfactual_calls: number;
  inexact: number;
  by_tool: Record<string, Tally>;
  by_identity: Record<string, Tally>;
  /**
   * `failing`: changed calls of a class in `fail_on` that no accept entry covers, and tool-list
   * changes of a class in it.
   */
  gate: { fail_on: GateClass[]; failing: number; failed: boolean };
  /** What each identity's tools/list shows, compared; absent when not compared at all. */
  visibility?: VisibilitySummary;
}

const emptyTally = (): Tally => ({
  calls: 0,
  allow: 0,
  deny: 0,
  approval_required: 0,
  tightened: 0,
  loosened: 0,
  changed: 0,
});

/** Accumulates a Summary from results as they stream past. */
export class SummaryBuilder {
  private calls = 0;
  private sessions = 0;
  private fromTs: number | null = null;
  private toTs: number | null = null;
  /** Every call's decision and change, counted in a row as a group's are (see GroupRows). */
  private readonly totals = new Float64Array(ROW);
  // Counted per known code in a fixed slot (see codeSlot): a keyed update by eleven different
  // names goes megamorphic, and this is the per-call path.
  private readonly codeCounts = new Array<number>(CODES.length).fill(0);
  private readonly otherCodes = new Map<string, number>();
  private readonly accepted: Record<ChangeClass, number> = {
    tightened: 0,
    loosened: 0,
    changed: 0,
  };
  private counterfactualChanges = 0;
  private counterfactualCalls = 0;
  private inexact = 0;
  private readonly byTool = new Map<string, Tally>();
  private readonly byIdentity = new Map<string, Tally>();
  private readonly groups = new GroupRows(this.byTool, this.byIdentity);
  private sawBefore = false;
  private lists: Visibility | null = null;

  constructor(
    private readonly basis: Basis,
    private readonly failOn: GateClass[],
  ) {}

  /** The replay's tool-list comparison, for the summary and the gate (before finish()). */
  visibility(v: Visibility): void {
    this.lists = v;
  }

  add(r: CallResult): void {
    const { call } = r.source;
    this.calls++;
    if (r.firstInSession) this.sessions++;
    if (this.fromTs === null) this.fromTs = call.ts;
    this.toTs = call.ts;
    const code = r.after.code;
    const slot = codeSlot(code);
    if (slot >= 0) this.codeCounts[slot]!++;
    else this.otherCodes.set(code, (this.otherCodes.get(code) ?? 0) + 1);
    if (r.before) this.sawBefore = true;
    if (r.counterfactual) this.counterfactualCalls++;
    if (r.inexact) this.inexact++;
    const decided = decisionColumn(r.after.decision);
    const changed = r.change === null ? SAME : changeColumn(r.change);
    count(this.totals, 0, decided, changed);
    const g = r.source.group;
    if (g === undefined) {
      addTo(tally(this.byTool, call.tool), decided, changed);
      addTo(tally(this.byIdentity, call.identity), decided, changed);
    } else {
      const at = this.groups.row(g);
      count(this.groups.counts, at, decided, changed);
    }
    if (r.change) {
      if (r.counterfactual) this.counterfactualChanges++;
      if (r.accepted) this.accepted[r.change]++;
    }
  }

  finish(): Summary {
    this.groups.flush();
    const t = this.totals;
    const changes = { tightened: t[TIGHTENED]!, loosened: t[LOOSENED]!, changed: t[CHANGED]! };
    const total = changes.tightened + changes.loosened + changes.changed;
    const lists = this.lists && visibilitySummary(this.lists);
    const failing = this.failOn.reduce(
      (n, c) =>
        n +
        (c === "hidden" || c === "unhidden" ? (lists?.[c] ?? 0) : changes[c] - this.accepted[c]),
      0,
    );
    const a = this.accepted;
    return {
      calls: this.calls,
      sessions: this.sessions,
      identities: this.byIdentity.size,
      from_ts: this.fromTs,
      to_ts: this.toTs,
      // A trace that turned out to hold no recorded decisions has nothing to compare; tool
      // lists compared are something, even without a call.
      basis: this.basis === "recorded" && !this.sawBefore && !lists?.known ? "none" : this.basis,
      decisions: { allow: t[ALLOW]!, deny: t[DENY]!, approval_required: t[APPROVAL]! },
      codes: Object.fromEntries(
        [
          ...CODES.flatMap((c, i) =>
            this.codeCounts[i] ? [[c, this.codeCounts[i]] as const] : [],
          ),
          ...this.otherCodes,
        ].sort((a, b) => b[1] - a[1] || byName(a[0], b[0])),
      ),
      changes: { ...changes, total },
      accepted: { ...a, total: a.tightened + a.loosened + a.changed },
      counterfactual_changes: this.counterfactualChanges,
      counterfactual_calls: this.counterfactualCalls,
      inexact: this.inexact,
      by_tool: sortedTallies(this.byTool),
      by_identity: sortedTallies(this.byIdentity),
      gate: { fail_on: [...this.failOn], failing, failed: failing > 0 },
      ...(lists ? { visibility: lists } : {}),
    };
  }
}

function visibilitySummary(v: Visibility): VisibilitySummary {
  let hidden = 0;
  for (const c of v.changes) if (c.change === "hidden") hidden++;
  return { ...v, hidden, unhidden: v.changes.length - hidden };
}

// A row of counts: its calls, their decisions, and how each changed; in a group's row, the read
// of the group it counts (0: none yet). Eight numbers, so that a row lies in one cache line.
const CALLS = 0;
const ALLOW = 1;
const DENY = 2;
const APPROVAL = 3;
const TIGHTENED = 4;
const LOOSENED = 5;
const CHANGED = 6;
const READ = 7;
const ROW = 8;
/** Unchanged, or nothing to compare with: no column. */
const SAME = -1;

/** A decision's column in a row. Switches, not keyed lookups: they stay monomorphic. */
function decisionColumn(d: DecisionKind): number {
  switch (d) {
    case "allow":
      return ALLOW;
    case "deny":
      return DENY;
    default:
      return APPROVAL;
  }
}

function changeColumn(c: ChangeClass): number {
  switch (c) {
    case "tightened":
      return TIGHTENED;
    case "loosened":
      return LOOSENED;
    default:
      return CHANGED;
  }
}

/** Counts a call into the row of `c` that starts at `at`. */
function count(c: Float64Array, at: number, decided: number, changed: number): void {
  c[at + CALLS]!++;
  c[at + decided]!++;
  if (changed !== SAME) c[at + changed]!++;
}

/** Counts a call into a tally, as count() into a row. */
function addTo(t: Tally, decided: number, changed: number): void {
  t.calls++;
  switch (decided) {
    case ALLOW:
      t.allow++;
      break;
    case DENY:
      t.deny++;
      break;
    default:
      t.approval_required++;
  }
  switch (changed) {
    case TIGHTENED:
      t.tightened++;
      break;
    case LOOSENED:
      t.loosened++;
      break;
    case CHANGED:
      t.changed++;
  }
}

/**
 * The counts of the calls of each group of recorded calls, a row per group in one flat array
 * indexed by the group's id, added into the tallies by tool and identity on flush(). A
 * recording of many sessions has tens of thousands of groups, visited in no order: a call
 * counted in its group's row touches one place, where its tool's and its identity's tallies
 * are two more, found through a lookup.
 */
class GroupRows {
  counts = new Float64Array(ROW * 1024);
  /** Each row's group: ids are dense per read, so the groups of two reads may share one. */
  private readonly groups: (CallGroup | undefined)[] = [];

  constructor(
    private readonly byTool: Map<string, Tally>,
    private readonly byIdentity: Map<string, Tally>,
  ) {}

  /** Where the group's row starts in `counts` (read `counts` after this: it may grow). */
  row(g: CallGroup): number {
    const at = g.id * ROW;
    // Whose row it is, read from the row itself: the groups array beside it cost a cache miss.
    if (at >= this.counts.length || this.counts[at + READ] !== g.read) this.claim(g);
    return at;
  }

  /** Adds every row into the tallies by name, and clears it. */
  flush(): void {
    for (const [id, g] of this.groups.entries()) if (g) this.flushRow(id, g);
  }

  private claim(g: CallGroup): void {
    // Another read's group: its counts go into the tallies before the row is reused.
    const held = this.groups[g.id];
    if (held !== undefined) this.flushRow(g.id, held);
    // Filled up to the id, so the array stays a plain list and never turns into a dictionary.
    while (this.groups.length < g.id) this.groups.push(undefined);
    this.groups[g.id] = g;
    const end = (g.id + 1) * ROW;
    if (end > this.counts.length) {
      const grown = new Float64Array(Math.max(end, this.counts.length * 2));
      grown.set(this.counts);
      this.counts = grown;
    }
    this.counts[g.id * ROW + READ] = g.read;
  }

  private flushRow(id: number, g: CallGroup): void {
    const at = id * ROW;
    const c = this.counts;
    if (c[at + CALLS] === 0) return;
    for (const t of [tally(this.byTool, g.tool), tally(this.byIdentity, g.identity)]) {
      t.calls += c[at + CALLS]!;
      t.allow += c[at + ALLOW]!;
      t.deny += c[at + DENY]!;
      t.approval_required += c[at + APPROVAL]!;
      t.tightened += c[at + TIGHTENED]!;
      t.loosened += c[at + LOOSENED]!;
      t.changed += c[at + CHANGED]!;
    }
    c.fill(0, at, at + READ);
  }
}

const CODES: readonly DecisionCode[] = [
  "hidden",
  "rule_allow",
  "rule_deny",
  "approval_required",
  "condition_deny",
  "requirement_failed",
  "rate_limited",
  "counters_unavailable",
  "default_allow",
  "default_deny",
  "default_approval",
];

/** The code's place in CODES, or -1. */
function codeSlot(code: string): number {
  switch (code) {
    case "hidden":
      return 0;
    case "rule_allow":
      return 1;
    case "rule_deny":
      return 2;
    case "approval_required":
      return 3;
    case "condition_deny":
      return 4;
    case "requirement_failed":
      return 5;
    case "rate_limited":
      return 6;
    case "counters_unavailable":
      return 7;
    case "default_allow":
      return 8;
    case "default_deny":
      return 9;
    case "default_approval":
      return 10;
    default:
      return -1;
  }
}

function tally(map: Map<string, Tally>, key: string): Tally {
  let t = map.get(key);
  if (!t) {
    t = emptyTally();
    map.set(key, t);
  }
  return t;
}

/**
 * Names in code-unit order: the same on every machine, where localeCompare follows the
 * runner's locale (and its first call loads ICU's collation, about 14 ms).
 */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Most-changed first, then busiest, then by name: the rows a reader wants on top. */
function sortedTallies(map: Map<string, Tally>): Record<string, Tally> {
  const changed = (t: Tally) => t.tightened + t.loosened + t.changed;
  return Object.fromEntries(
    [...map].sort(
      (a, b) => changed(b[1]) - changed(a[1]) || b[1].calls - a[1].calls || byName(a[0], b[0]),
    ),
  );
}

import type { DecisionCode, DecisionKind } from "../engine/index.js";
import type { Basis, CallResult } from "./replay.js";
import type { ChangeClass, Tally } from "./types.js";

export type { Tally } from "./types.js";

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
  /** `failing`: changes of a class in `fail_on` that no accept entry covers. */
  gate: { fail_on: ChangeClass[]; failing: number; failed: boolean };
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
  private readonly decisions: Record<DecisionKind, number> = {
    allow: 0,
    deny: 0,
    approval_required: 0,
  };
  // Counted per known code in a fixed slot (see codeSlot): a keyed update by eleven different
  // names goes megamorphic, and this is the per-call path.
  private readonly codeCounts = new Array<number>(CODES.length).fill(0);
  private readonly otherCodes = new Map<string, number>();
  private readonly changes: Record<ChangeClass, number> = { tightened: 0, loosened: 0, changed: 0 };
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
  private sawBefore = false;

  constructor(
    private readonly basis: Basis,
    private readonly failOn: ChangeClass[],
  ) {}

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
    const g = r.source.group;
    let tool: Tally;
    let identity: Tally;
    if (g === undefined) {
      tool = tally(this.byTool, call.tool);
      identity = tally(this.byIdentity, call.identity);
    } else {
      if (g.summary !== this) {
        g.summary = this;
        g.toolTally = tally(this.byTool, call.tool);
        g.identityTally = tally(this.byIdentity, call.identity);
      }
      tool = g.toolTally!;
      identity = g.identityTally!;
    }
    tool.calls++;
    identity.calls++;
    // Switches, not t[name]++: named updates stay monomorphic on the per-call path.
    switch (r.after.decision) {
      case "allow":
        this.decisions.allow++;
        tool.allow++;
        identity.allow++;
        break;
      case "deny":
        this.decisions.deny++;
        tool.deny++;
        identity.deny++;
        break;
      default:
        this.decisions.approval_required++;
        tool.approval_required++;
        identity.approval_required++;
    }
    if (r.change) {
      switch (r.change) {
        case "tightened":
          this.changes.tightened++;
          tool.tightened++;
          identity.tightened++;
          break;
        case "loosened":
          this.changes.loosened++;
          tool.loosened++;
          identity.loosened++;
          break;
        default:
          this.changes.changed++;
          tool.changed++;
          identity.changed++;
      }
      if (r.counterfactual) this.counterfactualChanges++;
      if (r.accepted) this.accepted[r.change]++;
    }
  }

  finish(): Summary {
    const total = this.changes.tightened + this.changes.loosened + this.changes.changed;
    const failing = this.failOn.reduce((n, c) => n + this.changes[c] - this.accepted[c], 0);
    const a = this.accepted;
    return {
      calls: this.calls,
      sessions: this.sessions,
      identities: this.byIdentity.size,
      from_ts: this.fromTs,
      to_ts: this.toTs,
      // A trace that turned out to hold no recorded decisions has nothing to compare.
      basis: this.basis === "recorded" && !this.sawBefore ? "none" : this.basis,
      decisions: { ...this.decisions },
      codes: Object.fromEntries(
        [
          ...CODES.flatMap((c, i) =>
            this.codeCounts[i] ? [[c, this.codeCounts[i]] as const] : [],
          ),
          ...this.otherCodes,
        ].sort((a, b) => b[1] - a[1] || byName(a[0], b[0])),
      ),
      changes: { ...this.changes, total },
      accepted: { ...a, total: a.tightened + a.loosened + a.changed },
      counterfactual_changes: this.counterfactualChanges,
      counterfactual_calls: this.counterfactualCalls,
      inexact: this.inexact,
      by_tool: sortedTallies(this.byTool),
      by_identity: sortedTallies(this.byIdentity),
      gate: { fail_on: [...this.failOn], failing, failed: failing > 0 },
    };
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

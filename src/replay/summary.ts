import type { DecisionKind } from "../engine/index.js";
import type { ChangeClass } from "./diff.js";
import type { Basis, CallResult } from "./replay.js";

/** Counts for one tool or one identity. */
export interface Tally {
  calls: number;
  allow: number;
  deny: number;
  approval_required: number;
  tightened: number;
  loosened: number;
  changed: number;
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
  // A plain object: codes are a handful of constant strings, and this is the per-call path.
  private readonly codes: Record<string, number> = {};
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
    this.decisions[r.after.decision]++;
    this.codes[r.after.code] = (this.codes[r.after.code] ?? 0) + 1;
    if (r.before) this.sawBefore = true;
    if (r.counterfactual) this.counterfactualCalls++;
    if (r.inexact) this.inexact++;
    const tool = tally(this.byTool, call.tool);
    const identity = tally(this.byIdentity, call.identity);
    tool.calls++;
    identity.calls++;
    tool[r.after.decision]++;
    identity[r.after.decision]++;
    if (r.change) {
      this.changes[r.change]++;
      tool[r.change]++;
      identity[r.change]++;
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
        Object.entries(this.codes).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])),
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

function tally(map: Map<string, Tally>, key: string): Tally {
  let t = map.get(key);
  if (!t) {
    t = emptyTally();
    map.set(key, t);
  }
  return t;
}

/** Most-changed first, then busiest, then by name: the rows a reader wants on top. */
function sortedTallies(map: Map<string, Tally>): Record<string, Tally> {
  const changed = (t: Tally) => t.tightened + t.loosened + t.changed;
  return Object.fromEntries(
    [...map].sort(
      (a, b) =>
        changed(b[1]) - changed(a[1]) || b[1].calls - a[1].calls || a[0].localeCompare(b[0]),
    ),
  );
}

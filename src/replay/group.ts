import type { Decision, Resolution } from "../engine/index.js";
import type { ChangeClass, Outcome } from "./diff.js";
import type { Tally } from "./summary.js";
import type { ApprovalAnswer, RecordedDecision } from "./trace.js";

/** A session's progress through a replay: its calls so far, and whether one has changed. */
export interface SessionSeen {
  calls: number;
  changed: boolean;
}

/**
 * The calls of one recording that share a session, identity, tool and recorded decision (the
 * SQLite reader's key), and what each stage of a replay derives from them, kept here instead
 * of being looked up by name for every call: the rules the tool resolves to, the session's
 * entry, the last comparison, the summary's tallies.
 *
 * Why one object for all of them: a recording of many sessions has tens of thousands of groups
 * and its calls visit them in no order, so each per-group object a call touches is a cache miss
 * of its own (measured before this object: the same million calls replayed a third faster over 20
 * sessions than over 2,000; with it, a fifth). Fields are owned by one stage each; a stage marks the group with its own
 * token (`replayer`, `summary`) and starts the fields afresh when the token is not its own, so
 * groups read once can be fed to several replays.
 */
export class CallGroup {
  // Fields in the order a call reads them, the ones every call reads first: an object's fields
  // lie in declaration order, and these fit the first two cache lines.
  /** False: a filter leaves these calls out. */
  readonly keep: boolean;
  /** The recorded decision of the calls without a retry time: shared, treat as read-only. */
  readonly recorded: RecordedDecision;

  // Owned by createReplayer (replay.ts).
  replayer: object | null = null;
  candidate: Resolution | null = null;
  seen: SessionSeen | null = null;
  /** The group's last comparison: the decisions and answer it was made from, and its outcome. */
  decision: Decision | null = null;
  against: Decision | RecordedDecision | null = null;
  approval: ApprovalAnswer | null = null;
  after: Outcome | null = null;
  before: Outcome | null = null;
  change: ChangeClass | null = null;

  // Owned by SummaryBuilder (summary.ts).
  summary: object | null = null;
  toolTally: Tally | null = null;
  identityTally: Tally | null = null;

  // Read when a stage first meets the group, and by decisions that count per session or grant.
  readonly session: string;
  readonly identity: string;
  readonly tool: string;
  /** Owned by createReplayer, for a replay with a baseline. */
  baseline: Resolution | null = null;

  constructor(
    keep: boolean,
    session: string,
    identity: string,
    tool: string,
    recorded: RecordedDecision,
  ) {
    this.keep = keep;
    this.recorded = recorded;
    this.session = session;
    this.identity = identity;
    this.tool = tool;
  }
}

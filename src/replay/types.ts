// The data types the modules of a replay share: calls as read, recorded decisions, compared
// outcomes and the call group. Kept apart so that every module under src/replay can import them
// without importing each other.
import type { Call, Decision, DecisionKind, Resolution } from "../engine/index.js";

/** A human's answer to an approval request, as recorded (SPEC section 5). */
export type ApprovalAnswer = "approved" | "rejected" | "timeout";

/** What was decided when the call was recorded, if the trace says. */
export interface RecordedDecision {
  decision: DecisionKind;
  code: string;
  rule: string | null;
  retry_after_ms: number | null;
}

/** One call read from a trace, with where it came from. */
export interface TraceCall {
  /** 0-based position among the calls (SPEC section 7's `index`). */
  index: number;
  /** 1-based line in the file, for messages. */
  line: number;
  call: Call;
  recorded: RecordedDecision | null;
  approval: ApprovalAnswer | null;
  /** Calls read from recordings: which one, by its position in the list read (0-based). */
  file?: number;
  /** Calls read from recordings: the group of calls it belongs to (see CallGroup). */
  group?: CallGroup;
}

/** How a call's decision changed, when it did (SPEC section 6); see diff.ts's CHANGE_CLASSES. */
export type ChangeClass = "tightened" | "loosened" | "changed";

/** A decision as compared in a diff, after any recorded human answer has been applied. */
export interface Outcome {
  decision: DecisionKind;
  code: string;
  rule: string | null;
  retry_after_ms: number | null;
  /** The recorded human answer that turned approval_required into allow or deny, if any. */
  approval?: ApprovalAnswer | null;
}

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

/** A session's progress through a replay: its calls so far, and whether one has changed. */
export interface SessionSeen {
  calls: number;
  changed: boolean;
}

/**
 * The calls of one recording that share a session, identity, tool and recorded decision (the
 * SQLite reader's key), and what each stage of a replay derives from them, kept here instead
 * of being looked up by name for every call: the rules the tool resolves to, the session's
 * entry, the last comparison. The summary keeps its counts by `id`.
 *
 * Why one object for all of them: a recording of many sessions has tens of thousands of groups
 * and its calls visit them in no order, so each per-group object a call touches is a cache miss
 * of its own (measured before this object: the same million calls replayed a third faster over 20
 * sessions than over 2,000; with it, a fifth). Fields are owned by one stage each; a stage marks the group with its own
 * token (`replayer`) and starts the fields afresh when the token is not its own, so
 * groups read once can be fed to several replays.
 */
export class CallGroup {
  // Fields in the order a call reads them, the ones every call reads first: an object's fields
  // lie in declaration order, and these fit the first two cache lines.
  /** Dense per read: the groups one readRecordings() call makes are numbered 0, 1, 2... */
  readonly id: number;
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

  // Read when a stage first meets the group, and by decisions that count per session or grant.
  readonly session: string;
  readonly identity: string;
  readonly tool: string;
  /** Owned by createReplayer, for a replay with a baseline. */
  baseline: Resolution | null = null;

  constructor(
    id: number,
    keep: boolean,
    session: string,
    identity: string,
    tool: string,
    recorded: RecordedDecision,
  ) {
    this.id = id;
    this.keep = keep;
    this.recorded = recorded;
    this.session = session;
    this.identity = identity;
    this.tool = tool;
  }
}

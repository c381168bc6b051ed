// The data types the modules of a replay share: calls as read, recorded decisions, compared
// outcomes and the call group. Kept apart so that every module under src/replay can import them
// without importing each other.
import type { Call, DecisionKind } from "../engine/index.js";

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

/**
 * How what an identity sees in `tools/list` changed: a tool it saw disappears (hidden), or one
 * hidden from it appears (unhidden). A class of its own, apart from the calls' classes.
 */
export type VisibilityClass = "hidden" | "unhidden";

/** What `--fail-on` and `--only` name: a class of changed call or of changed tool list. */
export type GateClass = ChangeClass | VisibilityClass;

/** One tool that appears in, or disappears from, one identity's tool list. */
export interface VisibilityChange {
  identity: string;
  tool: string;
  change: VisibilityClass;
  /** Sessions whose recorded tools/list answers listed the tool and whose view changes. */
  sessions: number;
  /** The identity's replayed calls of the tool. */
  calls: number;
}

/** The tool-list comparison of a replay (see visibility.ts). */
export interface Visibility {
  /**
   * False when the source holds no tools/list answers by its nature (a JSONL trace): nothing
   * is known about what was listed.
   */
  known: boolean;
  /**
   * Whether the recorded answers were read: not when both sides hide the same patterns from
   * everyone, since then no list can change.
   */
  lists_read: boolean;
  /** Well-formed tools/list answers read, and the sessions they came from. */
  answers: number;
  sessions: number;
  /** Answers that are not a result with a `tools` array: skipped. */
  malformed: number;
  /** Sessions left out: the recording does not hold (a valid copy of) their policy. */
  unknown_policy: number;
  /** Most sessions first, then by identity and tool. */
  changes: VisibilityChange[];
}

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

/**
 * The calls of one recording that share a session, identity, tool and recorded decision (the
 * SQLite reader's key). A read-only value: what a stage of a replay derives from a group it keeps
 * itself, in a flat array indexed by `id` (the replayer's GroupMemo in memo.ts, the summary's
 * GroupRows in summary.ts).
 */
export interface CallGroup {
  /** Dense per read: the groups one readRecordings() call makes are numbered 0, 1, 2... */
  readonly id: number;
  /**
   * The read that made it, a number no other read in the process has (never 0): with `id`, what
   * tells a group from another read's of the same id, kept beside a stage's per-group numbers.
   */
  readonly read: number;
  /** False: a filter leaves these calls out. */
  readonly keep: boolean;
  /** The recorded decision of the calls without a retry time: shared, treat as read-only. */
  readonly recorded: RecordedDecision;
  readonly session: string;
  readonly identity: string;
  readonly tool: string;
}

import {
  type Call,
  type CompiledPolicy,
  type CounterState,
  countDecided,
  createState,
  decide,
  type Decision,
  limitCounts,
  type LimitHit,
  uncount,
} from "../engine/index.js";
import type { DecisionRecord, RecordedDecision, ShadowRecord, Store } from "../store/types.js";
import type { Shadow } from "./shadow.js";

/** A call decided, counted and written: its decision, the time it was decided at, its row. */
export interface DecidedCall {
  decision: Decision;
  ts: number;
  callId: number;
}

/**
 * The decision row to write for a call decided at `ts`: with, for a call that reached its
 * rule's limits, each limit's count when it was decided, and the counter service's sequence
 * number for the call (null when there is none).
 */
export type DecisionRow = (
  ts: number,
  decision: Decision,
  counts: LimitHit[] | null,
  seq: number | null,
) => DecisionRecord;

/**
 * Where the counters' state lives, around the pure engine: this process's memory, or the
 * recording file (every proxy writing into it decides against the same counts). Each decides a
 * call and writes its decision row in one step, so a decision, its consumption and its row
 * stand or fall together, and two proxies never both take the last unit.
 */
export interface Counters {
  /** Where the state lives. */
  readonly where: "memory" | "recording" | "redis";
  /** A shadow policy decided beside the enforced one, named by its hash; null when none. */
  readonly shadow?: { readonly policyHash: string } | null;
  /**
   * For counters outside the process: start deciding `call` there, or null when it needs no
   * round trip. The relay holds the session's later messages until it settles, then passes
   * what it found to decide(). Never rejects.
   */
  lookup?(call: Omit<Call, "ts">, arrival: number): Promise<LookedUp> | null;
  /**
   * Decide `call`, which arrived at `arrival`: it is decided then or, when the shared state has
   * seen a later call, at that call's time, so time never goes backwards. Throws what the
   * store throws when the row cannot be written; then nothing is counted. `looked` is what
   * lookup() found, when it was asked.
   */
  decide(
    call: Omit<Call, "ts">,
    arrival: number,
    store: Store,
    row: DecisionRow,
    looked?: LookedUp,
  ): DecidedCall;
  /**
   * decide() for calls that arrived together, or whose lookups answered together, in their
   * order, their rows in one commit (group commit). All stand or fall together: when the rows
   * cannot be written it throws and none is counted. null when `store` cannot take several rows
   * at once (nothing is decided).
   */
  decideBatch?(calls: readonly BatchCall[], store: Store): DecidedCall[] | null;
}

/** One of several calls decided and written at once (Counters.decideBatch). */
export interface BatchCall {
  call: Omit<Call, "ts">;
  arrival: number;
  row: DecisionRow;
  /** What lookup() found, when it was asked. */
  looked?: LookedUp | undefined;
}

/** What a counter service decided for a call: the decision, at its time, its sequence. */
export interface LookedUp {
  decision: Decision;
  ts: number;
  /** The service's sequence number for the call; null when it was not asked or failed. */
  seq: number | null;
  /** Each limit's count when the call was decided (as limitCounts()); null when not asked. */
  counts: LimitHit[] | null;
}

/** The counters in this process's memory: shared by its sessions, gone when it exits. */
export class MemoryCounters implements Counters {
  readonly where = "memory";
  readonly state: CounterState;

  constructor(
    readonly compiled: CompiledPolicy,
    state?: CounterState,
    readonly shadow: Shadow | null = null,
  ) {
    this.state = state ?? createState(compiled);
  }

  decide(call: Omit<Call, "ts">, arrival: number, store: Store, row: DecisionRow): DecidedCall {
    const done: Decided[] = [];
    try {
      const record = decideOne(this, call, arrival, row, done);
      return {
        decision: done[0]!.decision,
        ts: done[0]!.full.ts,
        callId: store.recordDecision(record),
      };
    } catch (err) {
      undoAll(this, done);
      throw err;
    }
  }

  decideBatch(calls: readonly BatchCall[], store: Store): DecidedCall[] | null {
    if (!store.recordDecisions) return null;
    const done: Decided[] = [];
    try {
      const records = calls.map((c) => decideOne(this, c.call, c.arrival, c.row, done));
      return decidedCalls(done, store.recordDecisions(records));
    } catch (err) {
      undoAll(this, done);
      throw err;
    }
  }
}

/** A call decided and counted, not yet known to be written: what undoing it needs. */
interface Decided {
  call: Omit<Call, "ts">;
  full: Call;
  decision: Decision;
  shadowed: ShadowRecord | null;
}

/** The state a call is decided on: the policy, its counters, and a shadow's. */
interface Deciding {
  readonly compiled: CompiledPolicy;
  readonly state: CounterState;
  readonly shadow: Shadow | null;
}

/**
 * Decide and count one call, at its arrival or the state's last time if later (time never
 * goes backwards), noting it in `done` (for undoAll); its decision row.
 */
function decideOne(
  on: Deciding,
  call: Omit<Call, "ts">,
  arrival: number,
  row: DecisionRow,
  done: Decided[],
): DecisionRecord {
  const { compiled, state, shadow } = on;
  const full: Call = { ...call, ts: Math.max(arrival, state.lastTs) };
  const decision = decide(compiled, full, state);
  const shadowed = shadow ? shadow.decide(call, full.ts) : null;
  done.push({ call, full, decision, shadowed });
  const record = row(full.ts, decision, limitCounts(compiled, full, decision, state), null);
  if (shadow) record.shadow = shadowed;
  return record;
}

/** The rows could not be written: nothing that was counted for them stays counted. */
function undoAll(on: Deciding, done: readonly Decided[]): void {
  for (let i = done.length - 1; i >= 0; i--) {
    const d = done[i]!;
    if (d.decision.decision === "allow") uncount(on.compiled, d.full, on.state);
    on.shadow?.undo(d.call, d.full.ts, d.shadowed);
  }
}

function decidedCalls(done: readonly Decided[], ids: readonly number[]): DecidedCall[] {
  return done.map((d, i) => ({ decision: d.decision, ts: d.full.ts, callId: ids[i]! }));
}

/**
 * The counters of everything recorded in one file, by every proxy that records into it: each
 * decision is made inside the transaction that writes it, after counting what the others wrote
 * since (SPEC section 2, "one state per deployment"). A proxy that starts resumes the counts of
 * the calls recorded within the policy's longest window.
 */
export class RecordingCounters implements Counters {
  readonly where = "recording";
  readonly state: CounterState;
  /** How far back a call can still count: the longest window of any counter. */
  private readonly horizonMs: number;

  /**
   * `shadow`: its counters are shared through the file too, with the calls of every session
   * that decided under the same shadow policy (by its hash).
   */
  constructor(
    readonly compiled: CompiledPolicy,
    readonly shadow: Shadow | null = null,
  ) {
    this.state = createState(compiled);
    this.horizonMs = Math.max(
      0,
      shadow?.horizonMs ?? 0,
      ...compiled.counters.map((c) => c.horizonMs),
    );
  }

  decide(call: Omit<Call, "ts">, arrival: number, store: Store, row: DecisionRow): DecidedCall {
    if (!store.recordDecisionShared)
      throw new Error("counters in the recording need a store that several proxies can share");
    const done: Decided[] = [];
    try {
      const id = store.recordDecisionShared(
        arrival - this.horizonMs,
        (others) => {
          this.countOthers(others);
          return decideOne(this, call, arrival, row, done);
        },
        this.shadow?.policyHash ?? null,
      );
      return decidedCalls(done, [id])[0]!;
    } catch (err) {
      undoAll(this, done);
      throw err;
    }
  }

  decideBatch(calls: readonly BatchCall[], store: Store): DecidedCall[] | null {
    if (!store.recordDecisionsShared) return null;
    let first = Infinity;
    for (const c of calls) first = Math.min(first, c.arrival);
    const done: Decided[] = [];
    try {
      const ids = store.recordDecisionsShared(
        first - this.horizonMs,
        (others) => {
          this.countOthers(others);
          return calls.map((c) => decideOne(this, c.call, c.arrival, c.row, done));
        },
        this.shadow?.policyHash ?? null,
      );
      return decidedCalls(done, ids);
    } catch (err) {
      undoAll(this, done);
      throw err;
    }
  }

  /** Count the calls other proxies decided since this one last looked. */
  private countOthers(others: readonly RecordedDecision[]): void {
    const { compiled, state, shadow } = this;
    for (const o of others) {
      // A proxy of an older version may have written out of time order: count it now.
      const ts = Math.max(o.ts, state.lastTs);
      countDecided(compiled, { ...o, ts }, o.decision, state);
      shadow?.countOther(o);
    }
  }
}

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
import type { DecisionRecord, ShadowRecord, Store } from "../store/types.js";
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
    private readonly compiled: CompiledPolicy,
    state?: CounterState,
    readonly shadow: Shadow | null = null,
  ) {
    this.state = state ?? createState(compiled);
  }

  decide(call: Omit<Call, "ts">, arrival: number, store: Store, row: DecisionRow): DecidedCall {
    const { compiled, state, shadow } = this;
    const ts = Math.max(arrival, state.lastTs);
    const full: Call = { ...call, ts };
    const decision = decide(compiled, full, state);
    const counts = limitCounts(compiled, full, decision, state);
    const shadowed = shadow ? shadow.decide(call, ts) : null;
    try {
      const record = row(ts, decision, counts, null);
      if (shadow) record.shadow = shadowed;
      return { decision, ts, callId: store.recordDecision(record) };
    } catch (err) {
      if (decision.decision === "allow") uncount(compiled, full, state);
      shadow?.undo(call, ts, shadowed);
      throw err;
    }
  }
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
    private readonly compiled: CompiledPolicy,
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
    const { compiled, state, shadow } = this;
    let decided: { decision: Decision; full: Call; shadowed: ShadowRecord | null } | undefined;
    try {
      const callId = store.recordDecisionShared(
        arrival - this.horizonMs,
        (others) => {
          for (const o of others) {
            // A proxy of an older version may have written out of time order: count it now.
            const ts = Math.max(o.ts, state.lastTs);
            countDecided(compiled, { ...o, ts }, o.decision, state);
            shadow?.countOther(o);
          }
          const full: Call = { ...call, ts: Math.max(arrival, state.lastTs) };
          const decision = decide(compiled, full, state);
          const shadowed = shadow ? shadow.decide(call, full.ts) : null;
          decided = { decision, full, shadowed };
          const record = row(full.ts, decision, limitCounts(compiled, full, decision, state), null);
          if (shadow) record.shadow = shadowed;
          return record;
        },
        shadow?.policyHash ?? null,
      );
      return { decision: decided!.decision, ts: decided!.full.ts, callId };
    } catch (err) {
      if (decided?.decision.decision === "allow") uncount(compiled, decided.full, state);
      if (decided) shadow?.undo(call, decided.full.ts, decided.shadowed);
      throw err;
    }
  }
}

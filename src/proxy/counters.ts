import {
  type Call,
  type CompiledPolicy,
  type CounterState,
  createState,
  decide,
  type Decision,
  uncount,
} from "../engine/index.js";

/** A call decided, counted and written: its decision, the time it was decided at, its row. */
export interface DecidedCall {
  decision: Decision;
  ts: number;
  callId: number;
}

/**
 * Where the counters' state lives, around the pure engine: this process's memory, the
 * recording file (every proxy writing into it), or a counter service. Each decides a call and
 * writes its decision in one step, so a decision, its consumption and its row stand or fall
 * together, and two deciders never both take the last unit.
 */
export interface Counters {
  /** Where the state lives, as recorded with each decision. */
  readonly where: "memory" | "recording" | "redis";
  /**
   * Decide `call`, arrived at `arrival`: it is decided at `arrival` or, when the shared state
   * has seen a later call, at that call's time, so time never goes backwards. `write` writes
   * the decision row (and throws when it cannot; then nothing is counted).
   */
  decide(
    call: Omit<Call, "ts">,
    arrival: number,
    write: (ts: number, decision: Decision) => number,
  ): DecidedCall;
}

/** The counters in this process's memory: shared by its sessions, gone when it exits. */
export class MemoryCounters implements Counters {
  readonly where = "memory";
  readonly state: CounterState;

  constructor(
    private readonly compiled: CompiledPolicy,
    state?: CounterState,
  ) {
    this.state = state ?? createState(compiled);
  }

  decide(
    call: Omit<Call, "ts">,
    arrival: number,
    write: (ts: number, decision: Decision) => number,
  ): DecidedCall {
    return decideAndWrite(this.compiled, this.state, call, arrival, write);
  }
}

/** Decide in `state` and write; a decision that cannot be written is not counted. */
export function decideAndWrite(
  compiled: CompiledPolicy,
  state: CounterState,
  call: Omit<Call, "ts">,
  arrival: number,
  write: (ts: number, decision: Decision) => number,
): DecidedCall {
  const ts = Math.max(arrival, state.lastTs);
  const full: Call = { ...call, ts };
  const decision = decide(compiled, full, state);
  try {
    return { decision, ts, callId: write(ts, decision) };
  } catch (err) {
    if (decision.decision === "allow") uncount(compiled, full, state);
    throw err;
  }
}

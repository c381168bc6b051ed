import {
  type Call,
  type CompiledPolicy,
  compile,
  createState,
  decide,
  type Decision,
} from "../engine/index.js";
import { type Fault, InputError } from "../errors.js";
import { type DecidingLineOf, decidingLines } from "../policy/deciding-line.js";
import { describe, type LoadedPolicy, readJsonDocument } from "../policy/load.js";

// Deciding calls outside any recording, for `eval` and policy tests: through the engine's one
// decision path, with counters that start empty, as a replay decides its calls.

/**
 * When `eval` decides its call and each policy test case starts: the Unix epoch, where every
 * fixed window begins, so a case's first call meets fresh windows of every kind.
 */
export const START_TS = 0;
/** The identity a call has when none is named, as for a session without one. */
export const DEFAULT_IDENTITY = "anonymous";
/** The session a call belongs to when none is named. */
export const DEFAULT_SESSION = "session-1";

/** A policy ready to decide calls, and to say which of its lines decided each. */
export interface PolicyUnderTest {
  loaded: LoadedPolicy;
  compiled: CompiledPolicy;
  lineOf: DecidingLineOf;
}

export function underTest(loaded: LoadedPolicy): PolicyUnderTest {
  return { loaded, compiled: compile(loaded.policy), lineOf: decidingLines(loaded.text) };
}

/** A call and its decision, with the line of the policy that made it (null: none to point at). */
export interface Decided {
  call: Call;
  decision: Decision;
  line: number | null;
}

/**
 * A run of calls decided in order under one counters' state that starts empty: a policy test
 * case, or one eval. Calls must come in non-decreasing time, as the engine requires.
 */
export function decider(p: PolicyUnderTest): (call: Call) => Decided {
  const state = createState(p.compiled);
  return (call) => {
    const decision = decide(p.compiled, call, state);
    return { call, decision, line: p.lineOf(call.identity, decision.rule, decision.code) };
  };
}

/** One call as `eval` takes it; identity and session have their defaults when absent. */
export interface EvalCall {
  tool: string;
  identity?: string;
  session?: string;
  args?: Record<string, unknown>;
}

/**
 * Decide one call as the proxy would with empty counters, at START_TS. A call sent to approval
 * is reported approval_required: no human answers here.
 */
export function evaluate(p: PolicyUnderTest, input: EvalCall): Decided {
  const call: Call = {
    tool: input.tool,
    identity: input.identity ?? DEFAULT_IDENTITY,
    session: input.session ?? DEFAULT_SESSION,
    ts: START_TS,
  };
  if (input.args !== undefined) call.arguments = input.args;
  return decider(p)(call);
}

/**
 * A call's arguments given as JSON text (named `name` in messages): an object, or an InputError
 * naming the line, column and fault, as a file's would.
 */
export function parseArgs(text: string, name = "--args"): Record<string, unknown> {
  if (text.trim() === "") {
    throw new InputError(name, [
      { path: "", message: "must be a JSON object of the call's arguments, not nothing" },
    ]);
  }
  const doc = readJsonDocument(text, (f) => new InputError(name, f));
  if (doc.faults.length > 0) throw new InputError(name, doc.faults);
  const v = doc.value;
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    const fault: Fault = {
      path: "",
      message: `must be a JSON object of the call's arguments, not ${describe(v)}`,
    };
    throw new InputError(name, [fault]);
  }
  return v as Record<string, unknown>;
}

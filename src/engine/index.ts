// The decision engine: the only place a decision is made. Proxy and replay both call it.
export {
  compile,
  windowMs,
  type CompiledPolicy,
  type CompiledRule,
  type Resolution,
} from "./compile.js";
export {
  countDecided,
  countersUnavailable,
  countsOf,
  decide,
  decidePrelimit,
  decideResolved,
  type FoundLimit,
  isPending,
  limitCounts,
  limitDecision,
  type PendingLimits,
  resolve,
  uncount,
} from "./decide.js";
export { isHidden } from "./hidden.js";
export { createState, CounterState, TimeOrderError } from "./state.js";
export type { Call, Decision, DecisionCode, DecisionKind, LimitHit, Scope } from "./types.js";

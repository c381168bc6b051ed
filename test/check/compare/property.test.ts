// For random pairs of policies: when compare finds no new access, no run of calls that NEW
// allows entirely is refused by OLD; and every finding's example replays as it claims.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compare } from "../../../src/check/compare/compare.js";
import { selfCheck } from "../../../src/check/compare/self-check.js";
import { compile, createState, decide } from "../../../src/engine/index.js";
import {
  type CallSpec,
  IDENTITIES,
  load,
  type PolicyObj,
  type RuleObj,
  policyArb,
  policyWindows,
  stepArb,
  TOOLS,
  toCalls,
} from "../../engine/support.js";

// The generated rules' conditions look at n (gt 0..3) and ok (eq true): their constants, and
// values on each side of them.
const argsArb = fc.option(
  fc.record(
    { n: fc.integer({ min: -1, max: 5 }), ok: fc.constantFrom<unknown>(true, false, "yes") },
    { requiredKeys: [] },
  ),
  { nil: undefined, freq: 4 },
);
const specArb: fc.Arbitrary<CallSpec> = fc.record({
  tool: fc.constantFrom(...TOOLS, "zz"),
  identity: fc.constantFrom(...IDENTITIES, "someone-else"),
  sessionNo: fc.nat({ max: 1 }),
  step: stepArb,
  args: argsArb,
});

/** OLD made stricter here and there: a rule denied, a limit's max lowered, a hide added. */
function tighten(p: PolicyObj, salt: number): PolicyObj {
  const q = structuredClone(p);
  let i = salt;
  const rules = (m: Record<string, RuleObj> | undefined): void => {
    for (const r of Object.values(m ?? {})) {
      i = (i * 7 + 3) % 1009;
      if (i % 5 === 0) r.action = "deny";
      for (const l of r.limits ?? []) if (i % 3 === 0 && l.max > 0) l.max -= 1;
    }
  };
  rules(q.tools);
  for (const g of Object.values(q.grants ?? {})) rules(g.tools);
  if (salt % 4 === 0) q.hide = [...(q.hide ?? []), "ab"];
  return q;
}

describe("compare's verdict, against random runs of calls", () => {
  it("no new access: every run NEW allows entirely, OLD allows too; examples replay", () => {
    fc.assert(
      fc.property(
        policyArb(),
        // Half the time NEW is OLD with some rules dropped or denied, limits lowered: pairs
        // with no new access, mostly, which is where the verdict is tested.
        fc.oneof(policyArb(), fc.constant(null)),
        fc.nat(),
        fc.array(fc.array(specArb, { maxLength: 12 }), { minLength: 1, maxLength: 8 }),
        (oldObj, maybeNew, salt, runs) => {
          const newObj = maybeNew ?? tighten(oldObj, salt);
          const oldP = load(oldObj);
          const newP = load(newObj);
          const r = compare(oldP, newP, { numRuns: 30 });
          const oldC = compile(oldP);
          const newC = compile(newP);
          expect(r.internal_errors).toEqual([]);
          for (const f of r.findings) expect(selfCheck(oldC, newC, f)).toBeNull();
          if (r.findings.length > 0 || r.undecided.length > 0) return;
          const windows = [...new Set([...policyWindows(oldObj), ...policyWindows(newObj)])];
          for (const specs of runs) {
            // Only the calls NEW allows: a refused call counts nowhere, so NEW allows them all
            // again alone, and OLD must too. (A call NEW refuses may leave room that OLD's
            // count has used up: a tighter limit is not new access.)
            const calls = toCalls(specs, 1_700_000_000_000, windows);
            const ns = createState(newC);
            const allowed = calls.filter((c) => decide(newC, c, ns).decision === "allow");
            const os = createState(oldC);
            for (const c of allowed) {
              const d = decide(oldC, c, os);
              if (d.decision !== "allow") {
                throw new Error(
                  `OLD ${d.code} on ${JSON.stringify(c)} after ${JSON.stringify(allowed)}`,
                );
              }
            }
          }
        },
      ),
      { numRuns: 120, seed: 20250101 },
    );
  }, 60_000);
});

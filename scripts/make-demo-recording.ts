// Writes fixtures/traces/fleet-loop.recorded.jsonl: the fleet-loop trace with the decisions
// fleet.json gives each call, in the SPEC section 7 format plus the recorded-decision fields:
// a JSONL recording for tests. `npm run fixtures` regenerates it.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { compile, createState, decide } from "../src/engine/index.js";
import { loadPolicyFile } from "../src/policy/load.js";
import { readTrace } from "../src/replay/trace.js";

const root = process.cwd();
const { policy } = loadPolicyFile(join(root, "fixtures/policies/fleet.json"));
const compiled = compile(policy);
const state = createState(compiled);
const lines: string[] = [];
for (const { call } of readTrace(join(root, "fixtures/traces/fleet-loop.jsonl"))) {
  const d = decide(compiled, call, state);
  lines.push(
    JSON.stringify({
      ...call,
      decision: d.decision,
      code: d.code,
      rule: d.rule,
      retry_after_ms: d.retry_after_ms,
    }),
  );
}
const out = join(root, "fixtures/traces/fleet-loop.recorded.jsonl");
writeFileSync(out, lines.join("\n") + "\n");
console.log(`wrote ${lines.length} calls to ${out}`);

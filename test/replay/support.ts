// Shared by the tests of the replay's memo and the summary's rows: the demo recording read with
// its groups, the same calls without them, and the fixture policies to replay them under.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { compile, type CompiledPolicy } from "../../src/engine/index.js";
import { loadPolicyFile } from "../../src/policy/load.js";
import type { CallFilter } from "../../src/replay/filter.js";
import { readRecording } from "../../src/replay/recording.js";
import type { TraceCall } from "../../src/replay/types.js";

const root = join(import.meta.dirname, "../..");
export const DEMO = join(root, "recordings/demo.sqlite");

/** Every policy under fixtures/policies, compiled. */
export function fixturePolicies(): CompiledPolicy[] {
  const dir = join(root, "fixtures/policies");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => compile(loadPolicyFile(join(dir, f)).policy));
}

/** The demo recording's calls, each with its group. */
export function readDemo(filter: CallFilter = {}): TraceCall[] {
  return [...readRecording(DEMO, { filter })];
}

/** The demo recording's calls in two reads, split in time: their group ids overlap. */
export function readDemoTwice(): TraceCall[] {
  const all = readDemo();
  const mid = all[all.length >> 1]!.call.ts;
  return [...readDemo({ until: mid }), ...readDemo({ since: mid })];
}

/** The same calls as plain values, without groups, as a JSONL trace gives them. */
export function ungrouped(calls: TraceCall[]): TraceCall[] {
  return calls.map((tc) => ({
    index: tc.index,
    line: tc.line,
    call: {
      session: tc.call.session,
      identity: tc.call.identity,
      tool: tc.call.tool,
      ts: tc.call.ts,
      arguments: tc.call.arguments,
    },
    recorded: tc.recorded,
    approval: tc.approval,
  }));
}

export interface Policies {
  candidate: CompiledPolicy;
  baseline?: CompiledPolicy;
}

/** Each fixture policy as candidate, alone and against the next one as baseline. */
export function* policyPairs(): Generator<Policies> {
  const policies = fixturePolicies();
  for (const [i, candidate] of policies.entries()) {
    yield { candidate };
    yield { candidate, baseline: policies[(i + 1) % policies.length]! };
  }
}

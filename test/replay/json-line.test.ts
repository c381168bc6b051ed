import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/index.js";
import { loadPolicyFile } from "../../src/policy/load.js";
import { replay } from "../../src/replay/replay.js";
import { resultJson, resultJsonLine } from "../../src/replay/report/json.js";
import { readTrace } from "../../src/replay/trace.js";

const root = join(import.meta.dirname, "../..");
const policy = (name: string) =>
  compile(loadPolicyFile(join(root, "fixtures/policies", name)).policy);

describe("the hand-written JSON line", () => {
  const cases = readdirSync(join(root, "fixtures/policies"))
    .filter((f) => /\.(tightened|loosened)\.json$/.test(f))
    .map((f) => [f, f.replace(/\.(tightened|loosened)\.json$/, ".json")] as const);

  it.each(cases)("equals JSON.stringify(resultJson(r)) for every call: %s", (variant, base) => {
    const trace = {
      "fleet.json": "fleet-loop",
      "secrets.json": "secrets-session",
      "game.json": "game-session",
    }[base]!;
    let n = 0;
    for (const r of replay(readTrace(join(root, `fixtures/traces/${trace}.jsonl`)), {
      candidate: policy(variant),
      baseline: policy(base),
      file: trace,
    })) {
      expect(resultJsonLine(r)).toBe(JSON.stringify(resultJson(r)));
      n++;
    }
    expect(n).toBeGreaterThan(100);
  });

  it("escapes strings that need it, and keeps recorded approvals and nulls", () => {
    const [r] = [
      ...replay(
        [
          {
            index: 0,
            line: 1,
            call: { session: 's"1\n', identity: "é\u0001", ts: 5, tool: "t\\x" },
            recorded: {
              decision: "approval_required",
              code: "approval_required",
              rule: null,
              retry_after_ms: null,
            },
            approval: "approved",
          },
        ],
        {
          candidate: compile(loadPolicyFile(join(root, "fixtures/policies/fleet.json")).policy),
          file: "x",
        },
      ),
    ];
    expect(JSON.parse(resultJsonLine(r!))).toEqual(resultJson(r!));
    expect(resultJsonLine(r!)).toBe(JSON.stringify(resultJson(r!)));
  });
});

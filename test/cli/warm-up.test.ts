// A replay that starts later than its recording (--since) first decides, undiffed, the calls of
// the preceding longest window, so the range's first calls meet the counters they met live.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "./support.js";

const dir = mkdtempSync(join(tmpdir(), "policy-replay-warm-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const policy = join(dir, "policy.json");
writeFileSync(
  policy,
  JSON.stringify({
    version: "1",
    default: "allow",
    tools: { set: { limits: [{ counter: "c", window: "minute", max: 3, scope: "grant" }] } },
  }),
);
const T = 1_763_800_000_000;
const call = (i: number, decision: "allow" | "deny") =>
  JSON.stringify({
    tool: "set",
    identity: "a",
    session: "s",
    ts: T + i * 1_000,
    arguments: {},
    decision,
    code: decision === "allow" ? "rule_allow" : "rate_limited",
    rule: "set",
    retry_after_ms: decision === "allow" ? null : 60_000 - i * 1_000,
  });
// Three allowed, then two refused by the limit, as the proxy recorded them.
const trace = join(dir, "trace.jsonl");
writeFileSync(
  trace,
  [call(0, "allow"), call(1, "allow"), call(2, "allow"), call(3, "deny"), call(4, "deny")].join(
    "\n",
  ) + "\n",
);

describe("--since warms the counters up", () => {
  it("the range's first calls are decided against the calls before it: no change", async () => {
    const r = await cli(["--policy", policy, "--calls", trace, "--since", String(T + 3_000)]);
    expect(r.stdout).toContain("2 calls in 1 session replayed. No decision changed");
    expect(r.code).toBe(0);
  });

  it("without calls before the range, nothing is warmed", async () => {
    const r = await cli(["--policy", policy, "--calls", trace, "--since", String(T)]);
    expect(r.code).toBe(0);
  });
});

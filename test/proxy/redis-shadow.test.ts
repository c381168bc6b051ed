// A shadow with Redis counters when Redis does not answer: the enforced decisions are as
// without a shadow (counters_unavailable only for the enforced policy's limited rules), the
// calls are recorded without a shadow decision, and the shadow says so once.
import { describe, expect, it } from "vitest";
import { compile, type Decision } from "../../src/engine/index.js";
import type { DecisionRow } from "../../src/proxy/counters.js";
import { RedisCounters } from "../../src/proxy/redis-counters.js";
import { RedisShadowCounters } from "../../src/proxy/redis-shadow.js";
import { load } from "../engine/support.js";
import { MemoryStore } from "./memory-store.js";

const limited = { limits: [{ counter: "c", window: "minute" as const, max: 5 }] };

describe("a Redis shadow while Redis does not answer", () => {
  it("leaves the enforced decisions as they are, records no shadow, says so once", async () => {
    const enforced = compile(load({ version: "1", default: "allow", tools: { e: limited } }));
    const candidate = compile(
      load({ version: "1", default: "allow", tools: { e: limited, s: limited } }),
    );
    // Nothing listens on port 1: refused at once, and never retried within the test.
    const redis = new RedisCounters(enforced, { url: "redis://127.0.0.1:1", clock: "arrival" });
    expect(await redis.connect()).toBe(false);
    const logs: string[] = [];
    const counters = new RedisShadowCounters(redis, candidate, "ab".repeat(32), (l) =>
      logs.push(l),
    );
    const store = new MemoryStore();
    const row =
      (tool: string): DecisionRow =>
      (ts: number, decision: Decision, counts, counterSeq) => ({
        session: "s1",
        seq: 1,
        ts,
        identity: "anonymous",
        tool,
        arguments: null,
        jsonrpcId: "1",
        mode: "enforce",
        decision,
        counts,
        counterSeq,
      });
    try {
      for (const tool of ["s", "e", "other", "s", "e"]) {
        const call = { identity: "anonymous", session: "s1", tool };
        const looked = counters.lookup(call, 1000);
        // Only the enforced policy's limited rule waits for Redis.
        expect(looked !== null, tool).toBe(tool === "e");
        counters.decide(call, 1000, store, row(tool), looked ? await looked : undefined);
        await counters.settled();
      }
      expect(
        store.decisions.map((d) => [d.tool, d.decision.code, d.shadow?.decision.code]),
      ).toEqual([
        ["s", "default_allow", undefined],
        ["e", "counters_unavailable", undefined],
        ["other", "default_allow", "default_allow"],
        ["s", "default_allow", undefined],
        ["e", "counters_unavailable", undefined],
      ]);
      expect(logs).toHaveLength(1);
      expect(logs[0]).toMatch(/^shadow policy: .*recorded without a shadow decision/);
    } finally {
      redis.close();
    }
  });
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import type { Decision } from "../../src/engine/index.js";
import type { DecisionRecord, MessageRecord, SessionStart } from "../../src/store/types.js";

/** A fresh directory per test, removed afterwards. */
export function tempDirs(): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), "policy-replay-store-"));
    dirs.push(d);
    return d;
  };
}

export const T0 = 1_763_800_000_000;

export const session = (id = "s1", startedAt = T0): SessionStart => ({
  id,
  identity: "agent-a",
  transport: "stdio",
  mode: "enforce",
  policyHash: "h1",
  startedAt,
});

export const allow: Decision = {
  decision: "allow",
  code: "rule_allow",
  rule: "fleet_*",
  reason: null,
  retry_after_ms: null,
  limit: null,
  inexact: false,
};

export const rateLimited: Decision = {
  decision: "deny",
  code: "rate_limited",
  rule: "fleet_*",
  reason: "slow down",
  retry_after_ms: 1500,
  limit: {
    counter: "fleet",
    scope: "grant",
    algorithm: "sliding",
    window_ms: 60_000,
    max: 30,
    count: 30,
  },
  inexact: false,
};

export const message = (seq: number, over: Partial<MessageRecord> = {}): MessageRecord => ({
  session: "s1",
  direction: "client_to_server",
  seq,
  ts: T0 + seq,
  method: "tools/call",
  jsonrpcId: String(seq),
  message: { jsonrpc: "2.0", id: seq, method: "tools/call", params: { name: "fleet" } },
  ...over,
});

export const decision = (seq: number, over: Partial<DecisionRecord> = {}): DecisionRecord => ({
  session: "s1",
  seq,
  ts: T0 + seq,
  identity: "agent-a",
  tool: "fleet",
  arguments: { app: "web", n: seq },
  jsonrpcId: String(seq),
  mode: "enforce",
  decision: allow,
  ...over,
});

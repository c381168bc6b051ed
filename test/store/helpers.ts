import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach } from "vitest";
import type { Decision } from "../../src/engine/index.js";
import { openStore } from "../../src/store/sqlite.js";
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

/** The agent's tools/list request `id`, recorded as message `seq`. */
export const listRequest = (
  seq: number,
  id: number,
  over: Partial<MessageRecord> = {},
): MessageRecord =>
  message(seq, {
    method: "tools/list",
    jsonrpcId: String(id),
    message: { jsonrpc: "2.0", id, method: "tools/list" },
    ...over,
  });

/** The server's answer to tools/list request `id`, listing `tools`. */
export const listAnswer = (
  seq: number,
  id: number,
  tools: string[],
  over: Partial<MessageRecord> = {},
): MessageRecord =>
  message(seq, {
    direction: "server_to_client",
    method: null,
    jsonrpcId: String(id),
    message: { jsonrpc: "2.0", id, result: { tools: tools.map((name) => ({ name })) } },
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

/**
 * Schema 4's run_results, as released: frozen here so that upgrading from it stays tested.
 * `toSchema4` turns a file of the current schema, with no saved runs, back into schema 4.
 */
export const SCHEMA_4_RUN_RESULTS = `
  CREATE TABLE run_results (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    call INTEGER NOT NULL,
    class TEXT,
    old_decision TEXT NOT NULL,
    old_code TEXT NOT NULL,
    old_rule TEXT,
    new_decision TEXT NOT NULL,
    new_code TEXT NOT NULL,
    new_rule TEXT,
    new_reason TEXT,
    new_retry_after_ms INTEGER,
    counterfactual INTEGER NOT NULL,
    inexact INTEGER NOT NULL,
    PRIMARY KEY (run, call)
  ) WITHOUT ROWID;
  CREATE INDEX run_results_by_class ON run_results (run, class, call);
`;

/**
 * Schema 6's columns, dropped: what takes a recording of the current schema back to schema 5
 * as released (whose tables were schema 6's without these three columns).
 */
export const TO_SCHEMA_5 = `
  ALTER TABLE sessions DROP COLUMN counters;
  ALTER TABLE calls DROP COLUMN counter_seq;
  ALTER TABLE calls DROP COLUMN counts;
  PRAGMA user_version = 5;
`;

/** Schema 7's columns, dropped: what takes a recording back to schema 6 as released. */
export const TO_SCHEMA_6 = `
  ALTER TABLE sessions DROP COLUMN shadow_policy_hash;
  ALTER TABLE calls DROP COLUMN shadow_decision;
  ALTER TABLE calls DROP COLUMN shadow_code;
  ALTER TABLE calls DROP COLUMN shadow_rule;
  ALTER TABLE calls DROP COLUMN shadow_reason;
  ALTER TABLE calls DROP COLUMN shadow_retry_after_ms;
  ALTER TABLE calls DROP COLUMN shadow_counts;
  PRAGMA user_version = 6;
`;

/** Schema 8's index, dropped: what takes a recording back to schema 7 as released. */
export const TO_SCHEMA_7 = `
  DROP INDEX messages_tool_list_requests;
  PRAGMA user_version = 7;
`;

/** Take a recording back to schema 7 (see TO_SCHEMA_7); one at 7 or older stays as it is. */
export function toSchema7(file: string): void {
  const db = new Database(file);
  try {
    if ((db.pragma("user_version", { simple: true }) as number) >= 8) db.exec(TO_SCHEMA_7);
  } finally {
    db.close();
  }
}

/** Take a recording back to schema 6 (see TO_SCHEMA_6); one at 6 or older stays as it is. */
export function toSchema6(file: string): void {
  toSchema7(file);
  const db = new Database(file);
  try {
    if ((db.pragma("user_version", { simple: true }) as number) >= 7) db.exec(TO_SCHEMA_6);
  } finally {
    db.close();
  }
}

/** Take a recording back to schema 5 (see TO_SCHEMA_5); one at 5 already stays as it is. */
export function toSchema5(file: string): void {
  toSchema6(file);
  const db = new Database(file);
  try {
    if ((db.pragma("user_version", { simple: true }) as number) >= 6) db.exec(TO_SCHEMA_5);
  } finally {
    db.close();
  }
}

/** Take a recording without saved runs back to schema 4 (see SCHEMA_4_RUN_RESULTS). */
export function toSchema4(file: string): void {
  toSchema5(file);
  const db = new Database(file);
  try {
    db.exec(`
      DROP VIEW run_result_rows;
      DROP TABLE run_results;
      DROP TABLE run_outcomes;
      ${SCHEMA_4_RUN_RESULTS}
      PRAGMA user_version = 4;
    `);
  } finally {
    db.close();
  }
}

/** A closed recording of some 400 KB: enough pages that its middle is table data. */
export function writeRecording(file: string): void {
  const store = openStore(file, { checkpointWorker: false });
  store.startSession(session());
  for (let seq = 1; seq <= 200; seq++) {
    store.recordMessage(message(seq, { message: { pad: "m".repeat(1500), seq } }));
    store.recordDecision(decision(seq));
  }
  store.close();
}

/** Overwrite four pages in the middle of the file with a fixed garbage pattern. */
export function damageMiddle(file: string): void {
  const size = statSync(file).size;
  const page = 4096;
  const at = Math.floor(size / 2 / page) * page;
  const garbage = Buffer.alloc(4 * page, "\xa5garbage\x5a");
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, garbage, 0, garbage.length, at);
  } finally {
    closeSync(fd);
  }
}

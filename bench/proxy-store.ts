// The proxy benchmark's store-only rounds (bench/proxy.ts, part 2): messages and decisions
// into the store as fast as it takes them, then every row counted.
import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Decision } from "../src/engine/index.js";
import { openStore } from "../src/store/sqlite.js";
import type { Direction, MessageRecord } from "../src/store/types.js";
import { cpuNs, int, nowNs, policyFile, report, tmp } from "./proxy-common.js";

/** Bodies of realistic size: progress and log notifications, tools/call answers (~600 bytes). */
function messagePool(
  session: string,
): { direction: Direction; method: string | null; message: unknown }[] {
  const hosts = ["web-1", "web-2", "db-1", "laptop-ana", "build-7"];
  const pool: { direction: Direction; method: string | null; message: unknown }[] = [];
  for (let i = 0; i < 64; i++) {
    pool.push({
      direction: "server_to_client",
      method: "notifications/progress",
      message: {
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: {
          progressToken: `${session}-${i}`,
          progress: i,
          total: 64,
          message: `step ${i} of 64`,
        },
      },
    });
    pool.push({
      direction: "server_to_client",
      method: "notifications/message",
      message: {
        jsonrpc: "2.0",
        method: "notifications/message",
        params: {
          level: "info",
          logger: "fleet",
          data: `host ${hosts[i % 5]} checked in after ${i * 17} ms`,
        },
      },
    });
    pool.push({
      direction: "server_to_client",
      method: null,
      message: {
        jsonrpc: "2.0",
        id: i,
        result: {
          content: [
            {
              type: "text",
              text: JSON.stringify(
                hosts.map((h, j) => ({
                  host: h,
                  team: "payments",
                  online: (i + j) % 3 !== 0,
                  os: "ubuntu 24.04",
                  last_seen: 1_760_000_000_000 + i * 1000 + j,
                })),
              ),
            },
          ],
        },
      },
    });
  }
  return pool;
}

export function storeThroughput(label: string, decisionEvery: number, seconds: number): void {
  const file = join(tmp, `store-${decisionEvery}.sqlite`);
  let lost = 0;
  const store = openStore(file, {
    onError: (err) => {
      lost++;
      process.stderr.write(`store: ${err.message}\n`);
    },
  });
  const session = randomUUID();
  store.putPolicy("bench", readFileSync(policyFile, "utf8"));
  store.startSession({
    id: session,
    identity: "bench",
    transport: "stdio",
    mode: "enforce",
    policyHash: "bench",
    startedAt: Date.now(),
  });
  const pool = messagePool(session);
  const decision: Decision = {
    decision: "allow",
    code: "rule_allow",
    rule: "fleet_*_list",
    reason: null,
    limit: null,
    retry_after_ms: null,
    inexact: false,
  };
  let seq = 0;
  let messages = 0;
  let decisions = 0;
  let call = 0;
  const record = (m: Omit<MessageRecord, "session" | "seq" | "ts">, ts: number): void => {
    store.recordMessage({ session, seq: ++seq, ts, ...m });
    messages++;
  };
  const cpu0 = cpuNs(process.pid, true);
  const t0 = nowNs();
  const deadline = t0 + seconds * 1e9;
  let ts = Date.now();
  while (nowNs() < deadline) {
    for (let i = 0; i < 200; i++) {
      ts++;
      // One tools/call: request, write-ahead decision, answer, outcome.
      const id = ++call;
      const args = { team: "payments", status: "online", page: id % 7 };
      record(
        {
          direction: "client_to_server",
          method: "tools/call",
          jsonrpcId: String(id),
          message: {
            jsonrpc: "2.0",
            id,
            method: "tools/call",
            params: { name: "fleet_hosts_list", arguments: args },
          },
        },
        ts,
      );
      const callId = store.recordDecision({
        session,
        seq,
        ts,
        identity: "bench",
        tool: "fleet_hosts_list",
        arguments: args,
        jsonrpcId: String(id),
        mode: "enforce",
        decision,
      });
      decisions++;
      const answer = pool[(id * 3 + 2) % pool.length]!;
      record(
        {
          direction: "server_to_client",
          method: null,
          jsonrpcId: String(id),
          message: { ...(answer.message as object), id },
        },
        ts,
      );
      store.recordOutcome(callId, { outcome: "result", latencyMs: 3 });
      // The other messages of the mix: progress and log notifications.
      for (let k = 2; k < decisionEvery; k++) {
        const m = pool[(seq * 3 + (k & 1)) % pool.length]!;
        record(
          { direction: m.direction, method: m.method, jsonrpcId: null, message: m.message },
          ts,
        );
      }
    }
  }
  store.flush();
  const elapsedS = (nowNs() - t0) / 1e9;
  const cpu1 = cpuNs(process.pid, true);
  store.close();
  const db = new Database(file, { readonly: true });
  const count = (sql: string): number => db.prepare<[], { n: number }>(sql).get()!.n;
  const storedMessages = count("SELECT count(*) AS n FROM messages");
  const storedCalls = count("SELECT count(*) AS n FROM calls WHERE outcome = 'result'");
  const maxSeq = count("SELECT max(seq) AS n FROM messages");
  db.close();
  const complete =
    storedMessages === messages && maxSeq === seq && storedCalls === decisions && lost === 0;
  const rate = messages / elapsedS;
  report(
    `store: messages/s, 1 decision per ${decisionEvery} messages (${seconds} s)${label}`,
    int(rate),
    decisionEvery === 10 ? ">= 50,000" : "(no target)",
    decisionEvery === 10 ? rate >= 50_000 && complete : null,
  );
  if (cpu0 !== null && cpu1 !== null)
    report(
      "  same, per second of the writing thread's CPU (a core to itself)",
      int(messages / ((cpu1 - cpu0) / 1e9)),
      "",
      null,
    );
  report(
    `  stored / sent: messages, decisions with outcome`,
    `${int(storedMessages)}/${int(messages)}, ${int(storedCalls)}/${int(decisions)}`,
    "none lost",
    complete,
  );
  rmSync(file, { force: true });
}

import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import {
  openStore,
  openStoreReadOnly,
  SCHEMA_VERSION,
  StoreError,
  type StoreErrorCode,
} from "../../src/store/sqlite.js";
import {
  allow,
  decision,
  message,
  rateLimited,
  session,
  T0,
  tempDirs,
  toSchema4,
  toSchema5,
} from "./helpers.js";

const tempDir = tempDirs();
const dbIn = (dir = tempDir()): string => join(dir, "rec.sqlite");

/** A second, independent connection: what another process would see on disk. */
function peek<T>(file: string, sql: string): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

function storeErrorOf(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return err as StoreError;
  }
  throw new Error("expected a StoreError");
}

function expectStoreError(fn: () => unknown, code: StoreErrorCode, ...mentions: string[]): void {
  const err = storeErrorOf(fn);
  expect(err.code).toBe(code);
  expect(err.exitCode).toBe(2);
  for (const m of mentions) expect(err.message).toContain(m);
}

/** Schema version 1 as released: frozen here so that upgrading from it stays tested. */
const V1_SCHEMA = `
  CREATE TABLE policies (hash TEXT PRIMARY KEY, text TEXT NOT NULL, first_seen INTEGER NOT NULL);
  CREATE TABLE sessions (id TEXT PRIMARY KEY, identity TEXT NOT NULL, transport TEXT NOT NULL,
    mode TEXT NOT NULL, policy_hash TEXT NOT NULL, started_at INTEGER NOT NULL, ended_at INTEGER,
    end_reason TEXT, client_info TEXT, server_info TEXT, protocol_version TEXT);
  CREATE TABLE messages (session TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
    direction INTEGER NOT NULL, method TEXT, jsonrpc_id TEXT, body TEXT NOT NULL,
    PRIMARY KEY (session, seq));
  CREATE TABLE calls (id INTEGER PRIMARY KEY, session TEXT NOT NULL, seq INTEGER NOT NULL,
    ts INTEGER NOT NULL, identity TEXT NOT NULL, tool TEXT NOT NULL, arguments TEXT,
    jsonrpc_id TEXT NOT NULL, mode TEXT NOT NULL, decision TEXT NOT NULL, code TEXT NOT NULL,
    rule TEXT, reason TEXT, counter TEXT, limit_json TEXT, retry_after_ms INTEGER,
    inexact INTEGER NOT NULL DEFAULT 0, approval TEXT, outcome TEXT, latency_ms INTEGER);
  CREATE INDEX calls_by_ts ON calls (ts);
  PRAGMA user_version = 1;
`;

function writeV1File(file: string): void {
  const db = new Database(file);
  db.exec(V1_SCHEMA);
  db.exec(`
    INSERT INTO policies VALUES ('h1', '{"version":"1"}', ${T0});
    INSERT INTO sessions (id, identity, transport, mode, policy_hash, started_at)
      VALUES ('old', 'agent-a', 'stdio', 'enforce', 'h1', ${T0});
    INSERT INTO messages VALUES ('old', 1, ${T0}, 0, 'tools/call', '1', '{"jsonrpc":"2.0"}');
    INSERT INTO calls (session, seq, ts, identity, tool, arguments, jsonrpc_id, mode, decision,
      code, rule, approval) VALUES ('old', 1, ${T0}, 'agent-a', 'fleet', '{"app":"web"}', '1',
      'enforce', 'approval_required', 'approval_required', 'fleet', 'approved');
  `);
  db.close();
}

const indexes = (file: string): string[] =>
  peek<{ name: string }>(
    file,
    "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  ).map((r) => r.name);

describe("opening", () => {
  it("creates the file with mode 0600, in WAL mode, at the current schema version", () => {
    const file = dbIn();
    const store = openStore(file);
    store.startSession(session());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}-shm`).mode & 0o777).toBe(0o600);
    const db = new Database(file, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
    store.close();
    // A clean close leaves the one file: the WAL is checkpointed into it and removed.
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(indexes(file)).toEqual([
      "call_keys_by_value",
      "calls_by_session",
      "calls_by_ts",
      "messages_tool_list_requests",
      "run_results_by_class",
      "sessions_by_start",
    ]);
  });

  it("reading a closed recording leaves no -wal or -shm files beside it", () => {
    const file = dbIn();
    const store = openStore(file);
    store.startSession(session());
    store.recordDecision(decision(1));
    store.close();
    const reader = openStoreReadOnly(file);
    expect([...reader.calls()]).toHaveLength(1);
    reader.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(existsSync(`${file}-shm`)).toBe(false);
    // Writing again puts it back in WAL mode.
    const again = openStore(file);
    expect(peek(file, "PRAGMA journal_mode")).toEqual([{ journal_mode: "wal" }]);
    again.close();
  });

  it("migrates an existing empty file (version 0)", () => {
    const file = dbIn();
    writeFileSync(file, "");
    const store = openStore(file);
    store.startSession(session());
    store.close();
    expect(peek(file, "PRAGMA user_version")).toEqual([{ user_version: SCHEMA_VERSION }]);
    expect(peek(file, "SELECT id FROM sessions")).toEqual([{ id: "s1" }]);
  });

  it("upgrades a version 1 file and keeps its data", () => {
    const file = dbIn();
    writeV1File(file);
    expect(indexes(file)).toEqual(["calls_by_ts"]);
    const store = openStore(file);
    expect([...store.calls()]).toMatchObject([
      { session: "old", tool: "fleet", arguments: { app: "web" }, approval: "approved" },
    ]);
    expect(store.policy("h1")).toBe('{"version":"1"}');
    expect([...store.messages("old")]).toMatchObject([{ seq: 1, direction: "client_to_server" }]);
    store.startSession(session());
    store.recordDecision(decision(1));
    store.close();
    expect(peek(file, "PRAGMA user_version")).toEqual([{ user_version: SCHEMA_VERSION }]);
    expect(indexes(file)).toContain("calls_by_session");
    expect(peek(file, "SELECT count(*) AS n FROM calls")).toEqual([{ n: 2 }]);
  });

  it("upgrades a version 1 file when opened read-only, saying so first, once", () => {
    const file = dbIn();
    writeV1File(file);
    const told: [string, number, number][] = [];
    const onUpgrade = (f: string, from: number, to: number) => told.push([f, from, to]);
    const reader = openStoreReadOnly(file, { onUpgrade });
    expect([...reader.calls()].map((c) => c.session)).toEqual(["old"]);
    reader.close();
    expect(peek(file, "PRAGMA user_version")).toEqual([{ user_version: SCHEMA_VERSION }]);
    openStoreReadOnly(file, { onUpgrade }).close();
    expect(told).toEqual([[file, 1, SCHEMA_VERSION]]);
  });

  it("upgrading numbers each distinct call key once (a null rule apart from a rule named '')", () => {
    const file = dbIn();
    writeV1File(file);
    const db = new Database(file);
    const insert = db.prepare(
      `INSERT INTO calls (session, seq, ts, identity, tool, jsonrpc_id, mode, decision, code, rule)
       VALUES ('old', ?, ?, 'agent-a', ?, ?, 'enforce', 'allow', 'rule_allow', ?)`,
    );
    const rows: [string, string | null][] = [
      ["fleet", null],
      ["fleet", ""],
      ["fleet", null],
      ["echo", ""],
      ["fleet", ""],
    ];
    rows.forEach(([tool, rule], i) => insert.run(i + 2, T0 + i, tool, String(i + 2), rule));
    db.close();
    openStoreReadOnly(file).close();
    type KeyRow = { id: number; tool: string; decision: string; rule: string | null };
    expect(
      peek<KeyRow>(file, "SELECT id, tool, decision, rule FROM call_keys ORDER BY id"),
    ).toEqual([
      { id: 1, tool: "fleet", decision: "approval_required", rule: "fleet" },
      { id: 2, tool: "fleet", decision: "allow", rule: null },
      { id: 3, tool: "fleet", decision: "allow", rule: "" },
      { id: 4, tool: "echo", decision: "allow", rule: "" },
    ]);
    expect(peek(file, "SELECT call_key FROM calls ORDER BY id").map((r) => r)).toEqual(
      [1, 2, 3, 2, 4, 3].map((call_key) => ({ call_key })),
    );
  });

  it("upgrades a schema 5 file: older sessions and calls read with no counters, counts or sequence", () => {
    const file = dbIn();
    const store = openStore(file);
    store.startSession({ ...session(), counters: "recording" });
    store.recordDecision(decision(1, { counts: [rateLimited.limit!], counterSeq: 3 }));
    store.close();
    toSchema5(file);
    const again = openStore(file);
    expect(peek(file, "PRAGMA user_version")).toEqual([{ user_version: SCHEMA_VERSION }]);
    again.startSession({ ...session("s2"), counters: "memory" });
    again.recordDecision(decision(2, { session: "s2", counterSeq: 9 }));
    expect([...again.sessions()].map((s) => s.counters)).toEqual([null, "memory"]);
    expect([...again.calls()].map((c) => [c.session, c.counts, c.counterSeq])).toEqual([
      ["s1", null, null],
      ["s2", null, 9],
    ]);
    again.close();
  });

  it("upgrading schema 4's saved runs keeps every result as it was, each outcome once a run", () => {
    const file = dbIn();
    const store = openStore(file);
    store.startSession(session());
    for (let i = 1; i <= 6; i++) store.recordDecision(decision(i));
    store.close();
    toSchema4(file);
    const db = new Database(file);
    const run = db.prepare(
      `INSERT INTO runs (created_at, policy_hash, policy_path, options, calls, sessions, tightened,
         loosened, changed, counterfactual, inexact, gate_failed)
       VALUES (${T0}, 'h', 'p.json', '{}', 6, 1, 0, 0, 0, 0, 0, 0)`,
    );
    const r1 = Number(run.run().lastInsertRowid);
    const r2 = Number(run.run().lastInsertRowid);
    // Outcomes that differ only in a NULL against '' (a rule, a reason) stay apart; one outcome
    // shared by two runs is numbered in each.
    type Row = [number, number, string | null, string, string, string | null, string, string];
    type Rest = [string | null, string | null, number | null, number, number];
    const rows: [...Row, ...Rest][] = [
      [r1, 1, "tightened", "allow", "rule_allow", "a", "deny", "rule_deny", "b", "no", null, 0, 0],
      [r1, 2, "tightened", "allow", "rule_allow", "a", "deny", "rule_deny", "b", "no", null, 1, 0],
      [r1, 3, "tightened", "allow", "rule_allow", "a", "deny", "rule_deny", "b", "", null, 1, 0],
      [
        r1,
        4,
        "loosened",
        "deny",
        "default_deny",
        null,
        "allow",
        "rule_allow",
        "",
        null,
        null,
        1,
        0,
      ],
      [r1, 5, null, "deny", "rate_limited", "c", "deny", "rate_limited", "c", "x", 250, 0, 1],
      [r2, 2, "tightened", "allow", "rule_allow", "a", "deny", "rule_deny", "b", "no", null, 0, 0],
      [r2, 6, "changed", "deny", "default_deny", null, "deny", "rule_deny", null, null, null, 0, 0],
    ];
    const insert = db.prepare(`INSERT INTO run_results VALUES (${"?, ".repeat(12)}?)`);
    for (const r of rows) insert.run(...r);
    db.close();

    openStoreReadOnly(file).close();
    expect(peek(file, "PRAGMA user_version")).toEqual([{ user_version: SCHEMA_VERSION }]);
    const columns = [
      "run",
      "call",
      "class",
      "old_decision",
      "old_code",
      "old_rule",
      "new_decision",
      "new_code",
      "new_rule",
      "new_reason",
      "new_retry_after_ms",
      "counterfactual",
      "inexact",
    ];
    expect(peek(file, "SELECT * FROM run_result_rows ORDER BY run, call")).toEqual(
      rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]]))),
    );
    expect(peek(file, "SELECT run, count(*) AS n FROM run_outcomes GROUP BY run")).toEqual([
      { run: r1, n: 4 },
      { run: r2, n: 2 },
    ]);
    expect(indexes(file)).toContain("run_results_by_class");
    expect(peek(file, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }]);
  });

  it("new keys are numbered once, across stores writing one file; a rolled-back one again", () => {
    const file = dbIn();
    const a = openStore(file, { checkpointWorker: false });
    a.startSession(session());
    a.recordDecision(decision(1));
    const b = openStore(file, { checkpointWorker: false });
    b.recordDecision(decision(2));
    b.recordDecision(decision(3, { tool: "echo" }));
    a.recordDecision(decision(4, { tool: "echo" }));
    // A key first written inside a transaction that fails is gone with it, and written again.
    expect(() =>
      a.transaction(() => {
        a.recordDecision(decision(5, { tool: "gone" }));
        throw new Error("abandoned");
      }),
    ).toThrow("abandoned");
    a.recordDecision(decision(6, { tool: "gone" }));
    a.close();
    b.close();
    expect(peek(file, "SELECT id, tool FROM call_keys ORDER BY id")).toEqual([
      { id: 1, tool: "fleet" },
      { id: 2, tool: "echo" },
      { id: 3, tool: "gone" },
    ]);
    expect(peek(file, "SELECT seq, call_key FROM calls ORDER BY id")).toEqual([
      { seq: 1, call_key: 1 },
      { seq: 2, call_key: 1 },
      { seq: 3, call_key: 2 },
      { seq: 4, call_key: 2 },
      { seq: 6, call_key: 3 },
    ]);
  });

  it("refuses a file from a newer version, naming the file and both versions", () => {
    const file = dbIn();
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    db.close();
    const mentions = [file, String(SCHEMA_VERSION + 5), String(SCHEMA_VERSION)];
    expectStoreError(() => openStore(file), "store_newer_schema", ...mentions);
    expectStoreError(() => openStoreReadOnly(file), "store_newer_schema", ...mentions);
  });

  it("refuses a file that is not a SQLite database, and leaves it alone", () => {
    const file = dbIn();
    const garbage = "this is not a database, just some text that is long enough\n".repeat(40);
    writeFileSync(file, garbage);
    expectStoreError(() => openStore(file), "store_corrupt", file);
    expectStoreError(() => openStoreReadOnly(file), "store_corrupt", file);
    expect(readFileSync(file, "utf8")).toBe(garbage);
  });

  it("reading: a missing file, or a SQLite file that is not a recording", () => {
    const dir = tempDir();
    expectStoreError(() => openStoreReadOnly(join(dir, "nope.sqlite")), "store_missing", "nope");
    const empty = join(dir, "empty.sqlite");
    writeFileSync(empty, "");
    expectStoreError(() => openStoreReadOnly(empty), "store_not_recording", empty);
  });

  it("cannot create the file: store_io naming it", () => {
    const file = join(tempDir(), "no", "such", "dir.sqlite");
    expectStoreError(() => openStore(file), "store_io", file);
  });
});

describe("writing", () => {
  it.each([true, false])(
    "a decision is committed when recordDecision returns: another connection sees it (checkpoint worker: %s)",
    (checkpointWorker) => {
      const file = dbIn();
      const store = openStore(file, { flushIntervalMs: 60_000, checkpointWorker });
      store.startSession(session());
      store.recordMessage(message(1));
      const id = store.recordDecision(decision(1, { decision: rateLimited }));
      // Before close, before any flush: a read-only connection of its own sees the call.
      expect(
        peek(file, "SELECT id, tool, decision, code, counter, retry_after_ms FROM calls"),
      ).toEqual([
        {
          id,
          tool: "fleet",
          decision: "deny",
          code: "rate_limited",
          counter: "fleet",
          retry_after_ms: 1500,
        },
      ]);
      // The message that led to it waits for its batch: only decisions are write-ahead.
      expect(peek(file, "SELECT seq FROM messages")).toEqual([]);
      store.flush();
      expect(peek(file, "SELECT seq FROM messages")).toEqual([{ seq: 1 }]);
      store.close();
      expect(peek(file, "SELECT count(*) AS n FROM calls")).toEqual([{ n: 1 }]);
    },
  );

  it("the worker checkpoints the WAL into the file while the store is open", async () => {
    const file = dbIn();
    const store = openStore(file);
    store.startSession(session());
    const before = statSync(file).size;
    for (let i = 1; i <= 200; i++) {
      store.recordMessage(message(i, { message: { pad: "x".repeat(2000), i } }));
      store.recordDecision(decision(i));
    }
    await vi.waitFor(() => expect(statSync(file).size).toBeGreaterThan(before + 200 * 2000), {
      timeout: 3000,
    });
    store.close();
  });

  it("batches messages: written at batchSize, on the timer, on flush, not with a decision", async () => {
    const file = dbIn();
    const store = openStore(file, { batchSize: 4, flushIntervalMs: 30 });
    store.startSession(session());
    const onDisk = (): number[] =>
      peek<{ seq: number }>(file, "SELECT seq FROM messages ORDER BY rowid").map((r) => r.seq);

    for (let i = 1; i <= 3; i++) store.recordMessage(message(i));
    expect(onDisk()).toEqual([]);
    store.recordMessage(message(4));
    expect(onDisk()).toEqual([1, 2, 3, 4]);

    store.recordMessage(message(5));
    expect(onDisk()).toEqual([1, 2, 3, 4]);
    await vi.waitFor(() => expect(onDisk()).toEqual([1, 2, 3, 4, 5]), { timeout: 2000 });

    store.recordMessage(message(6));
    store.flush();
    expect(onDisk()).toEqual([1, 2, 3, 4, 5, 6]);

    store.recordMessage(message(7));
    store.recordDecision(decision(7));
    store.recordMessage(message(8, { direction: "server_to_client", method: null }));
    expect(onDisk()).toEqual([1, 2, 3, 4, 5, 6]);
    store.close();
    expect(onDisk()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("round-trips sessions, messages, approvals and outcomes", () => {
    const file = dbIn();
    const store = openStore(file);
    store.putPolicy("h1", "policy text");
    store.putPolicy("h1", "policy text");
    store.startSession(session());
    store.updateSession("s1", { clientInfo: { name: "agent", version: "1" } });
    store.updateSession("s1", { serverInfo: { name: "srv" }, protocolVersion: "2025-06-18" });
    store.recordMessage(message(1, { message: { jsonrpc: "2.0", id: "x", method: "tools/call" } }));
    const id = store.recordDecision(
      decision(1, {
        decision: {
          ...allow,
          decision: "approval_required",
          code: "approval_required",
          inexact: true,
        },
      }),
    );
    store.recordApproval(id, "approved");
    store.recordOutcome(id, { outcome: "tool_error", latencyMs: 12 });
    store.updateSession("s1", { endedAt: T0 + 99, endReason: "closed" });
    store.close();

    const reader = openStoreReadOnly(file);
    expect(reader.policy("h1")).toBe("policy text");
    expect(reader.policy("nope")).toBeNull();
    expect([...reader.sessions()]).toEqual([
      {
        ...session(),
        endedAt: T0 + 99,
        endReason: "closed",
        clientInfo: { name: "agent", version: "1" },
        serverInfo: { name: "srv" },
        protocolVersion: "2025-06-18",
        counters: null,
        shadowPolicyHash: null,
      },
    ]);
    expect([...reader.messages("s1")]).toEqual([
      {
        session: "s1",
        seq: 1,
        ts: T0 + 1,
        direction: "client_to_server",
        method: "tools/call",
        jsonrpcId: "1",
        message: { jsonrpc: "2.0", id: "x", method: "tools/call" },
      },
    ]);
    expect([...reader.calls()]).toEqual([
      {
        id,
        session: "s1",
        identity: "agent-a",
        ts: T0 + 1,
        tool: "fleet",
        arguments: { app: "web", n: 1 },
        decision: "approval_required",
        code: "approval_required",
        rule: "fleet_*",
        retry_after_ms: null,
        approval: "approved",
        seq: 1,
        jsonrpcId: "1",
        mode: "enforce",
        reason: null,
        limit: null,
        inexact: true,
        outcome: "tool_error",
        latencyMs: 12,
        counts: null,
        counterSeq: null,
        shadow: null,
      },
    ]);
    reader.close();
  });

  it("keeps where the counters lived, each limit's count and the counter service's sequence", () => {
    const file = dbIn();
    const store = openStore(file);
    store.startSession({ ...session(), counters: "redis" });
    store.startSession({ ...session("s2"), counters: "recording" });
    const counts = [{ ...rateLimited.limit!, count: 2 }];
    store.recordDecision(decision(1, { counts, counterSeq: 41 }));
    store.recordDecision(decision(2, { decision: rateLimited, counts: [rateLimited.limit!] }));
    store.recordDecision(decision(3));
    store.close();
    const reader = openStoreReadOnly(file);
    expect([...reader.sessions()].map((s) => s.counters)).toEqual(["redis", "recording"]);
    expect([...reader.calls()].map((c) => [c.counts, c.counterSeq])).toEqual([
      [counts, 41],
      [[rateLimited.limit], null],
      [null, null],
    ]);
    reader.close();
    // Compact JSON, as the engine describes a limit.
    expect(peek(file, "SELECT counts FROM calls WHERE id = 1")).toEqual([
      {
        counts:
          '[{"counter":"fleet","scope":"grant","algorithm":"sliding","window_ms":60000,"max":30,"count":2}]',
      },
    ]);
  });

  it("a bad queued row is reported and costs neither the others nor the decision", () => {
    const file = dbIn();
    const onError = vi.fn();
    const store = openStore(file, { flushIntervalMs: 60_000, onError });
    store.startSession(session());
    store.recordMessage(message(1));
    store.recordMessage(message(1)); // same (session, seq): a caller's bug
    store.recordMessage(message(2));
    const id = store.recordDecision(decision(2));
    expect(id).toBeGreaterThan(0);
    store.flush();
    expect(onError).toHaveBeenCalledOnce();
    expect((onError.mock.calls[0]?.[0] as StoreError).code).toBe("store_write_failed");
    expect(peek(file, "SELECT seq FROM messages ORDER BY seq")).toEqual([{ seq: 1 }, { seq: 2 }]);
    store.close();
  });

  it("refuses writes after close", () => {
    const store = openStore(dbIn());
    store.close();
    store.close();
    expectStoreError(() => store.recordMessage(message(1)), "store_closed");
    expectStoreError(() => store.recordDecision(decision(1)), "store_closed");
  });

  it("two stores on one file (two proxies) both write", () => {
    const file = dbIn();
    const a = openStore(file);
    const b = openStore(file);
    a.startSession(session("a"));
    b.startSession(session("b"));
    a.recordDecision(decision(1, { session: "a" }));
    b.recordDecision(decision(1, { session: "b" }));
    a.close();
    b.close();
    expect(peek(file, "SELECT session FROM calls ORDER BY id")).toEqual([
      { session: "a" },
      { session: "b" },
    ]);
  });
});

describe("calls()", () => {
  it("yields calls by time, ties in arrival order", () => {
    const file = dbIn();
    const store = openStore(file);
    store.startSession(session());
    const at = [5, 3, 9, 3, 5, 1];
    const ids = at.map((t, i) => store.recordDecision(decision(i + 1, { ts: T0 + t })));
    const expected = ids
      .map((id, i) => ({ id, ts: T0 + (at[i] ?? 0) }))
      .sort((x, y) => x.ts - y.ts || x.id - y.id);
    expect([...store.calls()].map(({ id, ts }) => ({ id, ts }))).toEqual(expected);
    store.close();
    const reader = openStoreReadOnly(file);
    expect([...reader.calls()].map(({ id, ts }) => ({ id, ts }))).toEqual(expected);
    reader.close();
  });

  it("streams: a partly read iterator releases the connection, writes go on", () => {
    const file = dbIn();
    const store = openStore(file, { flushIntervalMs: 60_000 });
    store.startSession(session());
    for (let i = 1; i <= 300; i++) store.recordDecision(decision(i));
    const it = store.calls();
    expect(it.next().value).toMatchObject({ seq: 1 });
    expect(it.next().value).toMatchObject({ seq: 2 });
    // While a read is open, the connection belongs to it: queued writes wait, direct ones fail.
    store.recordMessage(message(1));
    store.flush();
    expectStoreError(() => store.recordDecision(decision(301)), "store_write_failed");
    it.return?.();
    expect(store.recordDecision(decision(301))).toBeGreaterThan(300);
    let n = 0;
    for (const c of store.calls()) {
      if (++n === 10) break;
      expect(c.seq).toBe(n);
    }
    store.recordDecision(decision(302));
    store.close();
    expect(peek(file, "SELECT count(*) AS n FROM calls")).toEqual([{ n: 302 }]);
    expect(peek(file, "SELECT count(*) AS n FROM messages")).toEqual([{ n: 1 }]);
  });

  it("reads a live recording while the proxy writes it", () => {
    const file = dbIn();
    const store = openStore(file);
    store.startSession(session());
    store.recordDecision(decision(1));
    const reader = openStoreReadOnly(file);
    expect([...reader.calls()]).toHaveLength(1);
    store.recordDecision(decision(2));
    expect([...reader.calls()]).toHaveLength(2);
    reader.close();
    store.close();
  });
});

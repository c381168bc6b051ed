import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openStore, StoreError } from "../../src/store/sqlite.js";
import { type CallCursor, CallStream, callsSql, streamCalls } from "../../src/store/stream.js";
import type { CallQuery } from "../../src/store/types.js";
import { allow, decision, rateLimited, session, T0, tempDirs } from "./helpers.js";

const tempDir = tempDirs();

interface Row {
  file: number;
  id: number;
  ts: number;
  session: string;
  identity: string;
  tool: string;
  decision: string;
  code: string;
  rule: string | null;
  retry: number | null;
  approval: string | null;
  args: string | null;
}

const copy = (c: CallCursor): Row => ({
  file: c.file,
  id: c.id,
  ts: c.ts,
  session: c.key[0],
  identity: c.key[1],
  tool: c.key[2],
  decision: c.key[3],
  code: c.key[4],
  rule: c.key[5],
  retry: c.retryAfterMs,
  approval: c.approval,
  args: c.argsStart < 0 ? null : c.argsText.slice(c.argsStart, c.argsEnd),
});

/** The cursor is one object updated in place: copy each row as it comes. */
function read(files: string[], query: CallQuery = {}): Row[] {
  const rows: Row[] = [];
  for (const c of streamCalls(files, query)) rows.push(copy(c));
  return rows;
}

/** The same rows the plain way: one SELECT, columns as they are. */
function expected(file: string, fileIndex = 0, where = "1"): Row[] {
  const db = new Database(file, { readonly: true });
  try {
    return (
      db
        .prepare(
          `SELECT id, ts, session, identity, tool, decision, code, rule, retry_after_ms AS retry,
             approval, arguments AS args FROM calls WHERE ${where} ORDER BY ts, id`,
        )
        .all() as Omit<Row, "file">[]
    ).map((r) => ({ file: fileIndex, ...r }));
  } finally {
    db.close();
  }
}

/** A recording of `n` calls over sessions s0..s(k-1), every `same`-th call at the same ts. */
function recording(
  file: string,
  n: number,
  opts: { sessions?: number; step?: number; t0?: number; tools?: string[] } = {},
): string {
  const store = openStore(file, { checkpointWorker: false });
  const sessions = opts.sessions ?? 3;
  const tools = opts.tools ?? ["fleet_status", "fleet_secrets_set", "echo"];
  store.transaction(() => {
    for (let s = 0; s < sessions; s++) store.startSession(session(`s${s}`, opts.t0 ?? T0));
    for (let i = 0; i < n; i++) {
      const id = store.recordDecision(
        decision(i + 1, {
          session: `s${i % sessions}`,
          identity: `agent-${i % sessions}`,
          ts: (opts.t0 ?? T0) + Math.floor(i / (opts.step ?? 1)),
          tool: tools[i % tools.length]!,
          arguments: i % 5 === 0 ? undefined : { n: i, text: `v${i}` },
          decision: i % 7 === 0 ? rateLimited : allow,
        }),
      );
      if (i % 11 === 0) store.recordApproval(id, i % 2 ? "approved" : "unavailable");
    }
  });
  store.close();
  return file;
}

describe("streamCalls", () => {
  it("reads every field as stored, in (ts, id) order, across page boundaries in equal times", () => {
    // 10,000 calls, 2,500 per millisecond: pages of 4,096 end in the middle of a time.
    const file = recording(join(tempDir(), "r.sqlite"), 10_000, { step: 2_500 });
    const rows = read([file]);
    expect(rows).toHaveLength(10_000);
    expect(rows).toEqual(expected(file));
  });

  it("rows with equal keys share one key id and one key object", () => {
    const file = recording(join(tempDir(), "r.sqlite"), 300);
    const byId = new Map<number, CallCursor["key"]>();
    const byText = new Map<string, number>();
    for (const c of streamCalls([file])) {
      const seen = byId.get(c.keyId);
      if (seen) expect(c.key).toBe(seen);
      byId.set(c.keyId, c.key);
      const text = JSON.stringify(c.key);
      expect(byText.get(text) ?? c.keyId).toBe(c.keyId);
      byText.set(text, c.keyId);
    }
    expect(byId.size).toBe(byText.size);
    expect(byId.size).toBeLessThan(300);
  });

  it("values holding the row separators, a rule beginning with '=', odd approvals, Unicode", () => {
    const file = join(tempDir(), "odd.sqlite");
    const store = openStore(file, { checkpointWorker: false });
    const odd = [
      { session: "a\u001fb", tool: "t\u001et", rule: "=weird" },
      { session: "plain", tool: "émoji 🎉 tool", rule: null },
      { session: "x\u001f\u001f", tool: "", rule: "" },
      { session: "plain", tool: "ok", rule: "r\u001fs" },
    ];
    store.transaction(() => {
      odd.forEach((o, i) => {
        store.recordDecision(
          decision(i + 1, {
            session: o.session,
            tool: o.tool,
            arguments: { s: "ünïcödé \u2028 🎉", sep: "\u001f" },
            decision: { ...allow, rule: o.rule },
          }),
        );
      });
    });
    store.close();
    // An approval the store would never write.
    const db = new Database(file);
    db.prepare("UPDATE calls SET approval = 'maybe' WHERE id = 2").run();
    db.close();
    const rows = read([file]);
    expect(rows.map((r) => [r.session, r.tool, r.rule])).toEqual(
      odd.map((o) => [o.session, o.tool, o.rule]),
    );
    expect(rows[1]!.approval).toBeNull();
    for (const r of rows) {
      expect(JSON.parse(r.args!)).toEqual({ s: "ünïcödé \u2028 🎉", sep: "\u001f" });
    }
  });

  it("rows without a call key, or edited by hand since, are read from their columns", () => {
    const file = recording(join(tempDir(), "r.sqlite"), 40, { step: 3 });
    const db = new Database(file);
    // Another tool's insert (no call_key), and hand edits to keyed rows' fields.
    db.prepare(
      `INSERT INTO calls (session, seq, ts, identity, tool, arguments, jsonrpc_id, mode, decision,
         code, rule) VALUES ('s0', 99, ?, 'agent-0', 'by-hand', '{"x":1}', '99', 'enforce',
         'deny', 'default_deny', NULL)`,
    ).run(T0 + 5);
    db.prepare("UPDATE calls SET decision = 'deny', code = 'rule_deny' WHERE id = 7").run();
    db.prepare("UPDATE calls SET rule = NULL WHERE id IN (8, 9)").run();
    db.prepare("UPDATE calls SET approval = 'approved' WHERE id = 10").run();
    const unkeyed = db
      .prepare("SELECT id FROM calls WHERE call_key IS NULL ORDER BY id")
      .pluck()
      .all();
    db.close();
    // The approval is not part of the key: that row keeps it.
    expect(unkeyed).toEqual([7, 8, 9, 41]);
    expect(read([file])).toEqual(expected(file));
  });

  it("a call key that names no call_keys row is read from the row's columns", () => {
    const file = recording(join(tempDir(), "r.sqlite"), 12);
    const db = new Database(file);
    db.prepare("UPDATE calls SET call_key = 12345 WHERE id = 4").run();
    db.close();
    expect(read([file])).toEqual(expected(file));
  });

  it("a ts that is not an integer is a damaged recording", () => {
    const file = recording(join(tempDir(), "r.sqlite"), 5);
    const db = new Database(file);
    db.prepare("UPDATE calls SET ts = 'soon' WHERE id = 3").run();
    db.close();
    expect(() => read([file])).toThrow(StoreError);
    try {
      read([file]);
    } catch (err) {
      expect((err as StoreError).code).toBe("store_corrupt");
      expect((err as StoreError).message).toContain(file);
    }
  });

  it("without arguments when asked", () => {
    const file = recording(join(tempDir(), "r.sqlite"), 20);
    expect(read([file], { arguments: false }).every((r) => r.args === null)).toBe(true);
  });

  it("several files merge by (ts, file order, row id)", () => {
    const dir = tempDir();
    const a = recording(join(dir, "a.sqlite"), 3_000, { step: 7 });
    const b = recording(join(dir, "b.sqlite"), 2_000, { step: 3, t0: T0 + 100 });
    const c = recording(join(dir, "c.sqlite"), 10, { step: 1, t0: T0 + 200 });
    const rows = read([a, b, c]);
    const all = [...expected(a, 0), ...expected(b, 1), ...expected(c, 2)].sort(
      (x, y) => x.ts - y.ts || x.file - y.file || x.id - y.id,
    );
    expect(rows).toEqual(all);
  });

  it("several files with Redis's sequence: one millisecond's calls in its order, each file's kept", () => {
    const dir = tempDir();
    // One shared state's history: calls 1..n in its order, a few a millisecond, each recorded
    // by one of three proxies; a call that did not count (no sequence) now and then.
    const stores = [0, 1, 2].map((i) =>
      openStore(join(dir, `${i}.sqlite`), { checkpointWorker: false }),
    );
    const files = stores.map((_, i) => join(dir, `${i}.sqlite`));
    for (const s of stores) s.startSession(session());
    const owner = (i: number): number => (i * 7 + (i >> 2)) % 3;
    for (let i = 0; i < 1_500; i++) {
      const counted = i % 5 !== 2;
      stores[owner(i)]!.recordDecision(
        decision(i + 1, { ts: T0 + Math.floor(i / 6), counterSeq: counted ? i + 1 : null }),
      );
    }
    for (const s of stores) s.close();
    const seqOf = new Map<string, number | null>();
    files.forEach((f, i) => {
      const db = new Database(f, { readonly: true });
      for (const r of db.prepare("SELECT id, counter_seq AS seq FROM calls").all() as {
        id: number;
        seq: number | null;
      }[])
        seqOf.set(`${i}:${r.id}`, r.seq);
      db.close();
    });
    const rows = read(files);
    expect(rows).toHaveLength(1_500);
    const seqs = rows.map((r) => seqOf.get(`${r.file}:${r.id}`)).filter((q) => q != null);
    expect(seqs).toEqual([...seqs].sort((a, b) => a! - b!));
    expect(seqs).toHaveLength(1_200);
    for (let f = 0; f < 3; f++) {
      const ids = rows.filter((r) => r.file === f).map((r) => r.id);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
    }
    expect(rows.map((r) => r.ts)).toEqual(rows.map((r) => r.ts).sort((a, b) => a - b));
  });

  it("merging, a call without a sequence goes first in its millisecond, as does an unreadable one", () => {
    const dir = tempDir();
    const a = join(dir, "a.sqlite");
    const b = join(dir, "b.sqlite");
    const write = (file: string, calls: [number, number | null][]): void => {
      const store = openStore(file, { checkpointWorker: false });
      store.startSession(session());
      calls.forEach(([t, seq], i) =>
        store.recordDecision(decision(i + 1, { ts: T0 + t, counterSeq: seq })),
      );
      store.close();
    };
    write(a, [
      [0, 4],
      [0, null],
      [0, 6],
      [1, 7],
    ]);
    write(b, [
      [0, 3],
      [0, 5],
      [0, null],
      [1, 2],
    ]);
    const order = (): string[] => read([a, b]).map((r) => `${"ab"[r.file]}${r.id}`);
    // By sequence, a call without one first: b1 (3), a1 (4); a2 (none) before b2 (5); b3
    // (none) before a3 (6); the next millisecond: b4 (2), a4 (7).
    expect(order()).toEqual(["b1", "a1", "a2", "b2", "b3", "a3", "b4", "a4"]);
    // A sequence edited into something else is none: a1 and a2 now go before b1.
    const db = new Database(a);
    db.prepare("UPDATE calls SET counter_seq = 'x' WHERE id = 1").run();
    db.close();
    expect(order()).toEqual(["a1", "a2", "b1", "b2", "b3", "a3", "b4", "a4"]);
  });

  it("many files (smaller pages, two threads) merge the same way", () => {
    const dir = tempDir();
    const files = Array.from({ length: 7 }, (_, i) =>
      recording(join(dir, `${i}.sqlite`), 600 + i * 50, { step: 5 + i, t0: T0 + i }),
    );
    const all = files
      .flatMap((f, i) => expected(f, i))
      .sort((x, y) => x.ts - y.ts || x.file - y.file || x.id - y.id);
    expect(read(files)).toEqual(all);
  });

  it("filters in SQL: time range (since inclusive, until exclusive), sessions, identities", () => {
    const file = recording(join(tempDir(), "r.sqlite"), 5_000, { step: 10, sessions: 5 });
    const since = T0 + 100;
    const until = T0 + 300;
    expect(read([file], { since, until })).toEqual(
      expected(file, 0, `ts >= ${since} AND ts < ${until}`),
    );
    expect(read([file], { sessions: ["s1", "s3"], since })).toEqual(
      expected(file, 0, `session IN ('s1', 's3') AND ts >= ${since}`),
    );
    expect(read([file], { identities: ["agent-2"], until })).toEqual(
      expected(file, 0, `identity = 'agent-2' AND ts < ${until}`),
    );
    expect(read([file], { sessions: ["nope"] })).toEqual([]);
  });

  it("a session filter reads through calls_by_session, the rest through calls_by_ts", () => {
    const file = recording(join(tempDir(), "r.sqlite"), 10);
    const db = new Database(file, { readonly: true });
    const plan = (q: CallQuery) => {
      const { sql, params, paged } = callsSql(q, true);
      const all = paged ? [-1, -1, ...params, 10] : params;
      return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...all) as { detail: string }[])
        .map((r) => r.detail)
        .join("; ");
    };
    expect(plan({ sessions: ["s1"] })).toContain("calls_by_session");
    expect(plan({ since: 1, until: 2 })).toMatch(/calls_by_ts \(ts>\? AND ts<\?\)/);
    expect(plan({ identities: ["a"] })).toContain("calls_by_ts");
    db.close();
  });

  it("stopping early ends the read: a finished (rollback-journal) recording can be written at once", () => {
    const file = recording(join(tempDir(), "r.sqlite"), 20_000);
    const db0 = new Database(file);
    expect(db0.pragma("journal_mode", { simple: true })).toBe("delete");
    db0.close();
    const stream = new CallStream([file]);
    for (let i = 0; i < 10 && stream.next(); i++);
    stream.close();
    const db = new Database(file, { timeout: 0 });
    db.prepare("INSERT INTO policies (hash, text, first_seen) VALUES ('x', 'y', 0)").run();
    db.close();
  });

  it("a file that is not there, or not a recording, fails before anything is read", () => {
    const dir = tempDir();
    expect(() => new CallStream([join(dir, "nope.sqlite")])).toThrow(/no such recording/);
  });
});

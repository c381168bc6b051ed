// The bulk import (import-thread.ts, import.worker.ts, import.ts) against the proxy's writer:
// the same calls written either way give the same rows, id for id, in a new file and in an
// existing one, with the calls indexes kept or rebuilt; an aborted import writes nothing.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { compile, createState, decide } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import { openStore, startImport, StoreError } from "../../src/store/sqlite.js";
import type { ApprovalAnswer, DecisionRecord, SessionStart } from "../../src/store/types.js";
import { tempDirs, T0 } from "./helpers.js";

const tempDir = tempDirs();

const POLICY = parsePolicyText(
  JSON.stringify({
    version: "1",
    default: "allow",
    tools: {
      "fleet_*": { limits: [{ counter: "fleet", window: "second", max: 3, scope: "session" }] },
      secrets_get: { action: "require_approval" },
      "db_*": { deny_if: [{ path: "args.env", op: "eq", value: "prod" }] },
      "dns_*": { action: "deny" },
    },
  }),
);
const TOOLS = ["fleet_list", "fleet_scale", "secrets_get", "db_query", "db_drop", "", "dns_set"];
const APPROVALS: (ApprovalAnswer | null)[] = [null, null, "approved", "rejected", "timeout"];

interface Planned {
  start: SessionStart | null;
  record: DecisionRecord;
  approval: ApprovalAnswer | null;
}

/** `n` calls over `sessions` sessions (ids prefixed), decided by the policy, as import makes them. */
function plan(
  n: number,
  sessions: number,
  prefix: string,
): { calls: Planned[]; ends: Map<string, number> } {
  const compiled = compile(POLICY.policy);
  const state = createState(compiled);
  const seqs = new Map<string, number>();
  const ends = new Map<string, number>();
  const calls: Planned[] = [];
  let x = 7;
  const rnd = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < n; i++) {
    const s = `${prefix}-${Math.floor(rnd() * rnd() * sessions)}`;
    const ts = T0 + Math.floor(i / 3);
    const tool = TOOLS[Math.floor(rnd() * TOOLS.length)]!;
    const args =
      rnd() < 0.7 ? { env: rnd() < 0.3 ? "prod" : "dev", n: i, "é\u2028": [1.5, null] } : undefined;
    const identity = `id-${s.length % 3}`;
    const call = { session: s, identity, ts, tool, ...(args ? { arguments: args } : {}) };
    const seq = (seqs.get(s) ?? 0) + 1;
    seqs.set(s, seq);
    ends.set(s, ts);
    calls.push({
      start:
        seq === 1
          ? {
              id: s,
              identity,
              transport: "import",
              mode: "enforce",
              policyHash: POLICY.hash,
              startedAt: ts,
            }
          : null,
      record: {
        session: s,
        seq,
        ts,
        identity,
        tool,
        arguments: args,
        jsonrpcId: String(seq),
        mode: "enforce",
        decision: decide(compiled, call, state),
      },
      approval: APPROVALS[Math.floor(rnd() * APPROVALS.length)]!,
    });
  }
  return { calls, ends };
}

/** Write the calls as the import command used to: through the proxy's writer, one transaction. */
function throughWriter(file: string, p: ReturnType<typeof plan>): void {
  const store = openStore(file, { checkpointWorker: false });
  store.transaction(() => {
    store.putPolicy(POLICY.hash, POLICY.text);
    for (const c of p.calls) {
      if (c.start) store.startSession(c.start);
      const id = store.recordDecision(c.record);
      if (c.approval) store.recordApproval(id, c.approval);
    }
    for (const [id, ts] of p.ends) store.updateSession(id, { endedAt: ts, endReason: "imported" });
  });
  store.close();
}

async function throughImport(file: string, p: ReturnType<typeof plan>): Promise<void> {
  const into = await startImport(file);
  try {
    into.putPolicy(POLICY.hash, POLICY.text);
    for (const c of p.calls) {
      if (c.start) {
        expect(into.hasSession(c.start.id)).toBe(false);
        into.startSession(c.start);
      }
      await into.addCall(c.record, c.approval);
    }
    for (const [id, ts] of p.ends) into.endSession(id, ts, "imported");
    await into.finish();
  } catch (err) {
    await into.abort();
    throw err;
  }
}

/** Every row of the tables an import writes, with its rowid; the policies' first_seen aside. */
function rows(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true });
  try {
    const all = (sql: string) => db.prepare(sql).raw().all();
    return {
      calls: all("SELECT rowid, * FROM calls ORDER BY rowid"),
      sessions: all("SELECT rowid, * FROM sessions ORDER BY rowid"),
      call_keys: all("SELECT rowid, * FROM call_keys ORDER BY rowid"),
      policies: all("SELECT hash, text FROM policies ORDER BY hash"),
      schema: all("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name"),
      journal: [db.pragma("journal_mode", { simple: true })],
      check: all("PRAGMA integrity_check"),
    };
  } finally {
    db.close();
  }
}

const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

describe("bulk import", () => {
  it("into a new file: the same rows as the writer makes, and no file left beside it", async () => {
    const dir = tempDir();
    const p = plan(3000, 40, "s");
    throughWriter(join(dir, "writer.sqlite"), p);
    await throughImport(join(dir, "import.sqlite"), p);
    const got = rows(join(dir, "import.sqlite"));
    expect(got.calls).toHaveLength(3000);
    expect(got).toEqual(rows(join(dir, "writer.sqlite")));
    expect(readdirSync(dir).sort()).toEqual(["import.sqlite", "writer.sqlite"]);
  });

  it.each([
    ["small, indexes kept", 200],
    ["large, indexes rebuilt", 5000],
  ])("into an existing file (%s): the same rows as the writer adds", async (_what, n) => {
    const dir = tempDir();
    const first = plan(1000, 20, "old");
    const second = plan(n, 30, "new");
    throughWriter(join(dir, "writer.sqlite"), first);
    copyFileSync(join(dir, "writer.sqlite"), join(dir, "import.sqlite"));
    throughWriter(join(dir, "writer.sqlite"), second);
    await throughImport(join(dir, "import.sqlite"), second);
    expect(rows(join(dir, "import.sqlite"))).toEqual(rows(join(dir, "writer.sqlite")));
  });

  it("knows the sessions an existing file holds", async () => {
    const dir = tempDir();
    const file = join(dir, "rec.sqlite");
    throughWriter(file, plan(100, 5, "s"));
    const into = await startImport(file);
    expect(into.hasSession("s-0")).toBe(true);
    expect(into.hasSession("t-0")).toBe(false);
    await into.abort();
  });

  it("aborted: an existing file is as it was, byte for byte, and a new one is not made", async () => {
    const dir = tempDir();
    const file = join(dir, "rec.sqlite");
    throughWriter(file, plan(500, 10, "old"));
    const before = sha(file);
    for (const target of [file, join(dir, "new.sqlite")]) {
      const into = await startImport(target);
      const p = plan(5000, 30, "new");
      into.putPolicy(POLICY.hash, POLICY.text);
      for (const c of p.calls) {
        if (c.start) into.startSession(c.start);
        await into.addCall(c.record, c.approval);
      }
      await into.abort();
    }
    expect(sha(file)).toBe(before);
    expect(readdirSync(dir)).toEqual(["rec.sqlite"]);
  });

  it("a failed write is a StoreError, and nothing is written", async () => {
    const dir = tempDir();
    const file = join(dir, "rec.sqlite");
    const into = await startImport(file);
    const start: SessionStart = {
      id: "s",
      identity: "a",
      transport: "import",
      mode: "enforce",
      policyHash: "",
      startedAt: T0,
    };
    into.startSession(start);
    into.startSession(start);
    await expect(into.finish()).rejects.toThrow(StoreError);
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("refuses a file that is not a recording", async () => {
    const dir = tempDir();
    const file = join(dir, "other.sqlite");
    const db = new Database(file);
    db.exec("CREATE TABLE t (x)");
    db.close();
    await expect(startImport(file)).rejects.toThrow(/not a policy-replay recording/);
  });
});

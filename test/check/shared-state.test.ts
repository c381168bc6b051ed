import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import {
  checkJson,
  cli,
  ofKind,
  type SessionSpec,
  tempDir,
  writePolicy,
  writeRecording,
} from "./support.js";

const dir = tempDir();
let n = 0;

const LIMITED = {
  default: "allow",
  tools: {
    read_file: { limits: [{ counter: "reads", window: "minute", max: 1, scope: "grant" }] },
    deploy: { limits: [{ counter: "deploys", window: "hour", max: 5, scope: "global" }] },
    chat: { rate_limit: { max: 5, window: 60 } },
    other: {},
  },
};

function policy(body: Record<string, unknown> = LIMITED): string {
  return writePolicy(dir, `p${++n}.json`, body);
}

function recording(policyFile: string, sessions: SessionSpec[]): string {
  return writeRecording(join(dir, `r${++n}.sqlite`), readFileSync(policyFile, "utf8"), sessions);
}

/**
 * Give sessions a `counters` value the way schema 6 records it: the column is added here when
 * the file does not have it yet (a recording written by this branch's store is schema 5).
 */
function setCounters(file: string, values: Record<string, string | null>): void {
  const db = new Database(file);
  try {
    const cols = db.prepare<[], { name: string }>("PRAGMA table_info(sessions)").all();
    if (!cols.some((c) => c.name === "counters"))
      db.exec("ALTER TABLE sessions ADD COLUMN counters TEXT");
    const set = db.prepare("UPDATE sessions SET counters = ? WHERE id = ?");
    for (const [id, v] of Object.entries(values)) set.run(v, id);
  } finally {
    db.close();
  }
}

async function unshared(policyFile: string, dbs: string[]) {
  const { code, report } = await checkJson([
    "--policy",
    policyFile,
    ...dbs.flatMap((d) => ["--db", d]),
  ]);
  expect(code).toBe(0);
  return ofKind(report, "unshared_counters");
}

describe("limits counted by proxies without shared counters", () => {
  it("several stdio sessions of one identity, counters not recorded: a warning with the evidence", async () => {
    const p = policy();
    const db = recording(p, [
      { id: "s1", identity: "agent", calls: ["read_file"] },
      { id: "s2", identity: "agent", calls: ["read_file", "read_file"] },
      { id: "s3", identity: "agent", calls: ["other"] },
    ]);
    const found = await unshared(p, [db]);
    expect(found).toEqual([
      {
        kind: "unshared_counters",
        severity: "warning",
        limits: [
          {
            counter: "reads",
            scope: "grant",
            rules: [expect.objectContaining({ kind: "rule", pattern: "read_file", line: 5 })],
            identities: ["agent"],
            states: 2,
          },
        ],
        states: 2,
        recordings: [
          {
            recording: db,
            sessions: 2,
            stdio: 2,
            http: 0,
            counters: { memory: 0, recording: 0, redis: 0, unrecorded: 2 },
          },
        ],
        // s3 never counted on the limit: it changes nothing.
        sessions: [`${db}#s1`, `${db}#s2`],
        sessions_total: 2,
      },
    ]);
  });

  it("a global limit splits across identities; a grant limit only within one", async () => {
    const p = policy();
    const grant = recording(p, [
      { id: "s1", identity: "agent", calls: ["read_file"] },
      { id: "s2", identity: "bot", calls: ["read_file"] },
    ]);
    expect(await unshared(p, [grant])).toEqual([]);

    const global = recording(p, [
      { id: "s1", identity: "agent", calls: ["deploy"] },
      { id: "s2", identity: "bot", calls: ["deploy"] },
    ]);
    const [f] = await unshared(p, [global]);
    expect(f?.limits).toEqual([
      expect.objectContaining({
        counter: "deploys",
        scope: "global",
        identities: ["agent", "bot"],
      }),
    ]);
  });

  it("no warning when one state covers everything or no grant or global limit is involved", async () => {
    const p = policy();
    const quiet: SessionSpec[][] = [
      // one stdio proxy
      [{ id: "s1", identity: "agent", calls: ["read_file", "deploy", "read_file"] }],
      // session-scoped limits are per session whatever the proxy
      [
        { id: "s1", identity: "agent", calls: ["chat"] },
        { id: "s2", identity: "agent", calls: ["chat"] },
      ],
      // one HTTP proxy's sessions in one file share its state
      [
        { id: "h1", identity: "agent", transport: "http", calls: ["read_file", "deploy"] },
        { id: "h2", identity: "agent", transport: "http", calls: ["read_file", "deploy"] },
      ],
    ];
    for (const sessions of quiet) expect(await unshared(p, [recording(p, sessions)])).toEqual([]);

    const noLimits = policy({ default: "allow", tools: { read_file: {} } });
    const db = recording(noLimits, [
      { id: "s1", calls: ["read_file"] },
      { id: "s2", calls: ["read_file"] },
    ]);
    expect(await unshared(noLimits, [db])).toEqual([]);
  });

  it("a stdio session beside an HTTP proxy, both without shared counters, are two states", async () => {
    const p = policy();
    const db = recording(p, [
      { id: "h1", identity: "agent", transport: "http", calls: ["read_file"] },
      { id: "h2", identity: "agent", transport: "http", calls: ["read_file"] },
      { id: "s1", identity: "agent", calls: ["read_file"] },
    ]);
    const [f] = await unshared(p, [db]);
    expect(f).toMatchObject({
      states: 2,
      recordings: [{ sessions: 3, stdio: 1, http: 2 }],
    });
  });

  it("sessions imported from a trace are left out", async () => {
    const p = policy();
    const db = recording(p, [
      { id: "s1", identity: "agent", calls: ["read_file"] },
      { id: "s2", identity: "agent", calls: ["read_file"] },
    ]);
    const sql = new Database(db);
    sql.exec("UPDATE sessions SET transport = 'import' WHERE id = 's2'");
    sql.close();
    expect(await unshared(p, [db])).toEqual([]);
  });

  describe("where the sessions say their counters lived", () => {
    const p = policy();
    const one = (id: string): SessionSpec[] => [{ id, identity: "agent", calls: ["read_file"] }];

    it("several files, each with counters in its own recording (or not recorded): a warning", async () => {
      const a = recording(p, one("a1"));
      const b = recording(p, one("b1"));
      const c = recording(p, one("c1"));
      setCounters(a, { a1: "recording" });
      setCounters(b, { b1: "recording" });
      const [f] = await unshared(p, [a, b, c]);
      expect(f).toMatchObject({ states: 3, sessions_total: 3 });
      expect(f?.recordings.map((r) => [r.recording, r.counters])).toEqual([
        [a, { memory: 0, recording: 1, redis: 0, unrecorded: 0 }],
        [b, { memory: 0, recording: 1, redis: 0, unrecorded: 0 }],
        [c, { memory: 0, recording: 0, redis: 0, unrecorded: 1 }],
      ]);
    });

    it("every proxy on one Redis, or every proxy in one file: no warning", async () => {
      const a = recording(p, one("a1"));
      const b = recording(p, one("b1"));
      setCounters(a, { a1: "redis" });
      setCounters(b, { b1: "redis" });
      expect(await unshared(p, [a, b])).toEqual([]);

      const shared = recording(p, [...one("s1"), ...one("s2"), ...one("s3")]);
      setCounters(shared, { s1: "recording", s2: "recording", s3: "recording" });
      expect(await unshared(p, [shared])).toEqual([]);
    });

    it("Redis beside a file's own counters, or stdio proxies with counters in memory: a warning", async () => {
      const a = recording(p, one("a1"));
      const b = recording(p, one("b1"));
      setCounters(a, { a1: "redis" });
      setCounters(b, { b1: "recording" });
      expect(await unshared(p, [a, b])).toHaveLength(1);

      const memory = recording(p, [...one("s1"), ...one("s2")]);
      setCounters(memory, { s1: "memory", s2: "memory" });
      const [f] = await unshared(p, [memory]);
      expect(f?.recordings[0]?.counters).toEqual({
        memory: 2,
        recording: 0,
        redis: 0,
        unrecorded: 0,
      });
    });
  });

  it("the text report names the limit's rule, the sessions and what to do; --strict fails", async () => {
    const p = policy();
    const db = recording(p, [
      { id: "s1", identity: "agent", calls: ["read_file"] },
      { id: "s2", identity: "agent", calls: ["read_file"] },
    ]);
    const r = await cli(["check", "--policy", p, "--db", db, "--strict"]);
    expect(r.code).toBe(1);
    const text = r.stdout.slice(r.stdout.indexOf("Grant and global limits"));
    expect(text).toContain(
      `Grant and global limits counted by proxies that did not share counters (1)\n` +
        `  ${p}:5:5: counter reads (grant scope; rule read_file (5:5)): counted in 2 separate states for agent\n` +
        `  ${db}: 2 sessions (2 stdio); counters: 2 not recorded\n` +
        `  sessions: ${db}#s1, ${db}#s2\n`,
    );
    expect(text).toContain("record --counters redis://HOST:PORT");
  });
});

// Schema 8: a partial index over the agent's tools/list requests, so a replay whose candidate
// hides other tools finds them without scanning every message. A fresh file has it, each way of
// opening a schema 7 file for writing adds it, the browser reads a schema 7 file as it is, and
// the query answers the same with or without it.
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openBrowser } from "../../src/store/browse.js";
import { TOOL_LIST_ANSWERS_SQL, TOOL_LISTINGS_SQL } from "../../src/store/reader.js";
import {
  openStore,
  openStoreReadOnly,
  SCHEMA_VERSION,
  startImport,
  StoreError,
} from "../../src/store/sqlite.js";
import {
  decision,
  listAnswer,
  listRequest,
  message,
  session,
  tempDirs,
  toSchema7,
} from "./helpers.js";

const tmp = tempDirs();
const INDEX = "messages_tool_list_requests";

/** Two sessions with tools/list exchanges among other traffic, and a call. */
function recording(): string {
  const file = join(tmp(), "r.sqlite");
  const store = openStore(file, { checkpointWorker: false });
  store.startSession(session("s1"));
  store.startSession(session("s2"));
  for (const m of [
    listRequest(1, 1),
    listAnswer(2, 1, ["a", "b"]),
    message(3, { jsonrpcId: "2" }),
    listAnswer(4, 2, ["not-a-list"]),
    // The proxy's own answer and a server request are not the agent's request.
    listRequest(5, 3, { direction: "proxy_to_client" }),
    listRequest(6, 4),
    listAnswer(7, 4, ["c"]),
    listRequest(1, 1, { session: "s2" }),
    listAnswer(2, 1, ["z"], { session: "s2" }),
  ])
    store.recordMessage(m);
  store.recordDecision(decision(8));
  store.close();
  return file;
}

const peek = <T>(file: string, fn: (db: Database.Database) => T): T => {
  const db = new Database(file, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
};
const version = (file: string) => peek(file, (db) => db.pragma("user_version", { simple: true }));
const hasIndex = (file: string) =>
  peek(
    file,
    (db) =>
      db
        .prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?")
        .pluck()
        .get(INDEX) === 1,
  );

/** The tool lists as the reader gives them: session, seq and tool names. */
function listings(file: string): [string, number, string[] | null][] {
  const reader = openStoreReadOnly(file);
  try {
    return [...reader.toolListings()].map((l) => [l.session, l.seq, l.tools]);
  } finally {
    reader.close();
  }
}

const EXPECTED = [
  ["s1", 2, ["a", "b"]],
  ["s1", 7, ["c"]],
  ["s2", 2, ["z"]],
];

describe("schema 8: the tools/list requests' index", () => {
  it("a new recording has it, and both tool-list queries find the requests through it", () => {
    const file = recording();
    expect(SCHEMA_VERSION).toBe(8);
    expect(version(file)).toBe(8);
    expect(hasIndex(file)).toBe(true);
    for (const sql of [TOOL_LIST_ANSWERS_SQL, TOOL_LISTINGS_SQL]) {
      const plan = peek(file, (db) =>
        db
          .prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .all()
          .map((r) => (r as { detail: string }).detail),
      );
      // The requests through the partial index; each answer by the primary key, never a scan.
      expect(plan).toContain(`SCAN r USING INDEX ${INDEX}`);
      expect(plan.filter((d) => d.startsWith("SCAN"))).toHaveLength(1);
      expect(plan.some((d) => /^SEARCH a USING .*sqlite_autoindex_messages_1/.test(d))).toBe(true);
      expect(plan.some((d) => /^SEARCH b USING .*sqlite_autoindex_messages_1/.test(d))).toBe(true);
    }
    expect(listings(file)).toEqual(EXPECTED);
  });

  it("the queries answer the same without it", () => {
    const file = recording();
    const db = new Database(file);
    db.exec(`DROP INDEX ${INDEX}`);
    db.close();
    expect(listings(file)).toEqual(EXPECTED);
  });

  it("a schema 7 recording: the browser reads it as it is; a replay's opening upgrades it", () => {
    const file = recording();
    toSchema7(file);
    expect([version(file), hasIndex(file)]).toEqual([7, false]);
    const browser = openBrowser(file);
    try {
      expect(browser.call(1)).not.toBeNull();
    } finally {
      browser.close();
    }
    expect(version(file)).toBe(7);
    const told: number[][] = [];
    const reader = openStoreReadOnly(file, { onUpgrade: (_f, from, to) => told.push([from, to]) });
    reader.close();
    expect(told).toEqual([[7, 8]]);
    expect([version(file), hasIndex(file)]).toEqual([8, true]);
    expect(listings(file)).toEqual(EXPECTED);
  });

  it("a schema 7 recording the proxy appends to is upgraded, its rows kept", () => {
    const file = recording();
    toSchema7(file);
    const store = openStore(file, { checkpointWorker: false });
    store.recordMessage(listRequest(9, 5));
    store.recordMessage(listAnswer(10, 5, ["d"]));
    store.close();
    expect([version(file), hasIndex(file)]).toEqual([8, true]);
    expect(listings(file)).toEqual([...EXPECTED.slice(0, 2), ["s1", 10, ["d"]], EXPECTED[2]]);
  });

  it("a schema 7 recording imported into is upgraded with the import; an aborted one stays 7", async () => {
    const aborted = recording();
    toSchema7(aborted);
    const a = await startImport(aborted);
    await a.abort();
    expect([version(aborted), hasIndex(aborted)]).toEqual([7, false]);

    const file = recording();
    toSchema7(file);
    const imp = await startImport(file);
    imp.startSession(session("s3"));
    await imp.addCall(decision(1, { session: "s3" }), null);
    await imp.finish();
    expect([version(file), hasIndex(file)]).toEqual([8, true]);
    expect(listings(file)).toEqual(EXPECTED);
  });

  it("a recording of a newer schema is refused, not downgraded", () => {
    const file = recording();
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    for (const open of [() => openStoreReadOnly(file), () => openStore(file)])
      expect(open).toThrow(StoreError);
    expect(() => openStoreReadOnly(file)).toThrow(/newer than this policy-replay/);
    expect(hasIndex(file)).toBe(true);
  });
});

import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openStore, openStoreReadOnly } from "../../src/store/sqlite.js";
import { session, tempDirs } from "./helpers.js";

const tmp = tempDirs();

function recordingWith(ids: string[]): string {
  const file = join(tmp(), "r.sqlite");
  const store = openStore(file, { checkpointWorker: false });
  for (const id of ids) store.startSession(session(id));
  store.close();
  return file;
}

describe("sessionCounters", () => {
  it("is empty when no session says (a recording made before the column)", () => {
    const reader = openStoreReadOnly(recordingWith(["s1", "s2"]));
    try {
      expect(reader.sessionCounters()).toEqual(new Map());
    } finally {
      reader.close();
    }
  });

  it("reads the column when the file has it: the sessions that say, read-only", () => {
    const file = recordingWith(["s1", "s2", "s3"]);
    const db = new Database(file);
    const cols = db.prepare<[], { name: string }>("PRAGMA table_info(sessions)").all();
    if (!cols.some((c) => c.name === "counters"))
      db.exec("ALTER TABLE sessions ADD COLUMN counters TEXT");
    db.exec(
      "UPDATE sessions SET counters = CASE id WHEN 's1' THEN 'redis' WHEN 's2' THEN 'recording' END",
    );
    db.close();
    const reader = openStoreReadOnly(file);
    try {
      expect(reader.sessionCounters()).toEqual(
        new Map([
          ["s1", "redis"],
          ["s2", "recording"],
        ]),
      );
    } finally {
      reader.close();
    }
  });
});

import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openStore, StoreError, type StoreErrorCode } from "../../src/store/sqlite.js";
import { damageMiddle, decision, session, tempDirs, writeRecording } from "./helpers.js";

const tempDir = tempDirs();

function refusal(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return err as StoreError;
  }
  throw new Error("expected a StoreError");
}

function expectRefused(fn: () => unknown, code: StoreErrorCode, ...mentions: string[]): void {
  const err = refusal(fn);
  expect(err.code).toBe(code);
  expect(err.message).not.toContain("\n");
  for (const m of mentions) expect(err.message).toContain(m);
}

describe("opening a recording for writing refuses, in one line naming the file", () => {
  it("a path under a regular file (ENOTDIR) when creating its directory", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "some.json"), "{}");
    const file = join(dir, "some.json", "x", "rec.sqlite");
    expectRefused(
      () => openStore(file, { createDirectory: true }),
      "store_io",
      file,
      "cannot create its directory: a part of the path is a file, not a directory",
    );
  });

  it("a path under a regular file without creating directories", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "some.json"), "{}");
    const file = join(dir, "some.json", "rec.sqlite");
    expectRefused(() => openStore(file), "store_io", file, "a part of the path is a file");
  });

  it("a directory (EISDIR)", () => {
    const dir = join(tempDir(), "recordings");
    mkdirSync(dir);
    expectRefused(() => openStore(dir), "store_io", dir, "it is a directory");
  });

  it("a file that is not a SQLite database, left as it was", () => {
    const file = join(tempDir(), "notes.sqlite");
    writeFileSync(file, "just some notes, not a database\n".repeat(100));
    expectRefused(() => openStore(file, { checkIntegrity: true }), "store_corrupt", file);
    expect(readFileSync(file, "utf8")).toContain("just some notes");
  });

  it("another program's SQLite database, left without our tables", () => {
    const file = join(tempDir(), "app.sqlite");
    const db = new Database(file);
    db.exec("CREATE TABLE todo (id INTEGER PRIMARY KEY, what TEXT)");
    db.close();
    expectRefused(() => openStore(file), "store_not_recording", file, "other tables");
    const after = new Database(file, { readonly: true });
    expect(after.prepare("SELECT name FROM sqlite_schema").pluck().all()).toEqual(["todo"]);
    after.close();
  });

  it("a recording damaged in the middle, when asked to check", () => {
    const file = join(tempDir(), "rec.sqlite");
    writeRecording(file);
    damageMiddle(file);
    expectRefused(
      () => openStore(file, { checkIntegrity: true }),
      "store_corrupt",
      file,
      "damaged",
    );
  });

  it("a damaged schema, even unchecked (a file too big for quick_check)", () => {
    const file = join(tempDir(), "rec.sqlite");
    writeRecording(file);
    // Page 1 past its 100-byte header holds the schema table.
    const fd = openSync(file, "r+");
    writeSync(fd, Buffer.alloc(1000, 0xa5), 0, 1000, 100);
    closeSync(fd);
    expectRefused(() => openStore(file), "store_corrupt", file);
  });

  it("an intact recording opens with the check, and takes more", () => {
    const file = join(tempDir(), "rec.sqlite");
    writeRecording(file);
    const store = openStore(file, { checkIntegrity: true, checkpointWorker: false });
    store.startSession(session("s2"));
    expect(store.recordDecision(decision(1, { session: "s2" }))).toBeGreaterThan(0);
    store.close();
  });
});

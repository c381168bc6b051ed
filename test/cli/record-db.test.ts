import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { damageMiddle, writeRecording } from "../store/helpers.js";
import { cli, policyPath, tempRoot } from "./support.js";

const tempDir = tempRoot("record-db");

/** `record` into db; the server is never started when the recording is refused. */
const record = (db: string) =>
  cli([
    "record",
    "--policy",
    policyPath("fleet"),
    "--db",
    db,
    "--",
    process.execPath,
    "-e",
    "process.exit(3)",
  ]);

/** One line on stderr naming the file and the fault, exit 2, nothing on stdout. */
async function expectRefused(db: string, fault: RegExp): Promise<void> {
  const r = await record(db);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr).toContain(db);
  expect(r.stderr).toMatch(fault);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
}

describe("record --db refuses a place that cannot hold a recording", () => {
  it("a path under a regular file (ENOTDIR)", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "some.json"), "{}");
    await expectRefused(
      join(dir, "some.json", "x", "rec.sqlite"),
      /cannot create its directory: a part of the path is a file/,
    );
  });

  it("an existing directory (EISDIR)", async () => {
    const dir = join(tempDir(), "recordings");
    mkdirSync(dir);
    await expectRefused(dir, /it is a directory/);
  });

  it("a file that is not a SQLite database, left as it was", async () => {
    const file = join(tempDir(), "notes.sqlite");
    writeFileSync(file, "just some notes, not a database\n".repeat(100));
    await expectRefused(file, /not a recording/);
    expect(readFileSync(file, "utf8")).toContain("just some notes");
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it("a damaged recording (pages overwritten in the middle)", async () => {
    const file = join(tempDir(), "rec.sqlite");
    writeRecording(file);
    damageMiddle(file);
    const before = readFileSync(file);
    await expectRefused(
      file,
      /the recording is damaged \(quick_check: .+\); record into a new file/,
    );
    expect(readFileSync(file).equals(before)).toBe(true);
  });
});

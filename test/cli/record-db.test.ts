import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { damageMiddle, writeRecording } from "../store/helpers.js";
import { cli, policyPath, tempRoot } from "./support.js";

const tempDir = tempRoot("record-db");

/** `record` into db; the recording is opened once the server runs, and refused then. */
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

describe("record with a server that cannot start", () => {
  const noServer = (cwd: string, db?: string) =>
    cli(
      [
        "record",
        "--policy",
        policyPath("fleet"),
        ...(db !== undefined ? ["--db", db] : []),
        "--",
        "no-such-mcp-server",
      ],
      cwd,
    );

  it("says so in one line, exit 2, and leaves no recording behind (not even its directory)", async () => {
    const cwd = tempDir();
    const r = await noServer(cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'policy-replay: record: could not start the MCP server "no-such-mcp-server": spawn no-such-mcp-server ENOENT\n',
    );
    // No recordings/recording.sqlite for a later replay to pick up.
    expect(readdirSync(cwd)).toEqual([]);
  });

  it("leaves an existing recording as it was", async () => {
    const cwd = tempDir();
    const file = join(cwd, "rec.sqlite");
    writeRecording(file);
    const before = { bytes: readFileSync(file), mtime: statSync(file).mtimeMs };
    const r = await noServer(cwd, file);
    expect(r.code).toBe(2);
    expect(readFileSync(file).equals(before.bytes)).toBe(true);
    expect(statSync(file).mtimeMs).toBe(before.mtime);
    expect(readdirSync(cwd).sort()).toEqual(["rec.sqlite"]);
  });
});

// Every command takes --db the same way. Those that use a single recording (record, import,
// tui) take a directory that holds exactly one, and say in one line what to pass otherwise.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStoreReadOnly } from "../../src/store/sqlite.js";
import { cli, demoCopy, policyPath, tempRoot } from "./support.js";

const tempDir = tempRoot("one-recording");

/** A directory holding the given copies of the demo recording. */
function recordings(...names: string[]): string {
  const dir = join(tempDir(), "recordings");
  mkdirSync(dir);
  for (const name of names) demoCopy(dir, name);
  return dir;
}

const record = (...db: string[]) =>
  cli([
    "record",
    "--policy",
    policyPath("fleet"),
    ...db.flatMap((d) => ["--db", d]),
    "--",
    process.execPath,
    "-e",
    "process.exit(3)",
  ]);

function expectOneLine(r: { code: number; stdout: string; stderr: string }, message: string) {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr).toBe(`policy-replay: ${message}\n`);
}

describe("record --db", () => {
  it("several: one line, exit 2", async () => {
    expectOneLine(
      await record("a.sqlite", "b.sqlite"),
      "record --db: record appends to one recording, not 2 (a.sqlite, b.sqlite)",
    );
  });

  it("a directory of several recordings: which to name", async () => {
    const dir = recordings("a.sqlite", "b.sqlite");
    expectOneLine(
      await record(dir),
      `record --db ${dir}: it is a directory of 2 recordings; record appends to one recording: name one, e.g. --db ${dir}/a.sqlite`,
    );
  });

  it("an empty directory: name the file", async () => {
    const dir = recordings();
    expectOneLine(
      await record(dir),
      `record --db ${dir}: it is a directory, with no recording (*.sqlite file) in it; record appends to one recording: name the file, e.g. --db ${dir}/recording.sqlite`,
    );
  });
});

describe("import --db", () => {
  const trace = (dir: string): string => {
    const file = join(dir, "calls.jsonl");
    writeFileSync(
      file,
      '{"session":"imported-1","identity":"a","ts":1,"tool":"t","decision":"allow","code":"default_allow","rule":null}\n',
    );
    return file;
  };

  it("a directory holding one recording: that one", async () => {
    const dir = recordings("only.sqlite");
    const r = await cli(["import", trace(dir), "--db", dir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Imported 1 call in 1 session into ${dir}/only.sqlite.\n`);
    const store = openStoreReadOnly(join(dir, "only.sqlite"));
    try {
      expect([...store.sessions()].map((s) => s.id)).toContain("imported-1");
    } finally {
      store.close();
    }
  });

  it("a directory of several, or several --db: one line, exit 2", async () => {
    const dir = recordings("a.sqlite", "b.sqlite");
    expectOneLine(
      await cli(["import", trace(dir), "--db", dir]),
      `import --db ${dir}: it is a directory of 2 recordings; import writes into one recording: name one, e.g. --db ${dir}/a.sqlite`,
    );
    expectOneLine(
      await cli(["import", trace(dir), "--db", "x.sqlite", "--db", "y.sqlite"]),
      "import --db: import writes into one recording, not 2 (x.sqlite, y.sqlite)",
    );
  });
});

describe("tui --db", () => {
  it("a directory holding one recording opens it (here: then wants a terminal)", async () => {
    const dir = recordings("only.sqlite");
    for (const args of [["--db", dir], [`--db=${dir}`]]) {
      const r = await cli(["tui", ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("tui needs a terminal");
    }
  });

  it("a directory of several: which to name, on the fast path and through the parser", async () => {
    const dir = recordings("a.sqlite", "b.sqlite");
    const message = `tui --db ${dir}: it is a directory of 2 recordings; the terminal UI browses one recording: name one, e.g. --db ${dir}/a.sqlite`;
    expectOneLine(await cli(["tui", "--db", dir]), message);
    expectOneLine(
      await cli(["tui", "--db", dir, "--db", dir]),
      `tui --db: the terminal UI browses one recording, not 2 (${dir}, ${dir})`,
    );
  });
});

describe("no recording to read", () => {
  it("each command names only the options it has", async () => {
    const cwd = tempDir();
    for (const [args, instead] of [
      [["--policy", policyPath("fleet")], "pass --db FILE or --calls FILE"],
      [["shadow"], "pass --db FILE or a directory"],
      [["export"], "pass --db FILE or a directory"],
      [["suggest"], "pass --db FILE or a directory"],
    ] as const) {
      const r = await cli([...args], cwd);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toBe(
        `policy-replay: no recordings: ${instead} (the default, every *.sqlite file in recordings/, found none in ${cwd})\n`,
      );
    }
  });
});

describe("shadow over recordings made without --shadow", () => {
  it("is bad input, not a pass: exit 2, one line", async () => {
    const dir = recordings("demo.sqlite");
    const r = await cli(["shadow", "--db", dir]);
    expectOneLine(
      r,
      `${dir}/demo.sqlite: no shadow decisions recorded (record with --shadow CANDIDATE.json to have some)`,
    );
  });
});

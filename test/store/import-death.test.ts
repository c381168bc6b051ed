// The import's writer thread dying hard (terminated, process.exit in it): the import rejects
// with a StoreError instead of waiting forever, and the recording is as it was: a new file
// never made, an existing one unchanged. The threads come through a wrapped startThread, so
// a test can end the real one or hand out a stand-in.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it, vi } from "vitest";
import { openStore, startImport, StoreError } from "../../src/store/sqlite.js";
import type { CallImport } from "../../src/store/sqlite.js";
import type * as Threads from "../../src/store/threads.js";
import { decision, session, tempDirs } from "./helpers.js";

const threads = vi.hoisted(() => ({
  started: [] as Worker[],
  /** Hands out this instead of the real thread, once. */
  standIn: null as (() => Worker) | null,
}));

vi.mock("../../src/store/threads.js", async (importOriginal) => {
  const real = await importOriginal<typeof Threads>();
  return {
    ...real,
    startThread: (kind: Parameters<typeof real.startThread>[0]) => {
      const make = threads.standIn;
      threads.standIn = null;
      const w = make ? make() : real.startThread(kind);
      threads.started.push(w);
      return w;
    },
  };
});

const tempDir = tempDirs();
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const lastThread = () => threads.started[threads.started.length - 1]!;

/** `n` calls in session `id`, each handed over as the import command does. */
async function add(into: CallImport, id: string, n: number): Promise<void> {
  into.startSession(session(id));
  for (let seq = 1; seq <= n; seq++) await into.addCall(decision(seq, { session: id }), null);
}

const DIED =
  /import: the writer thread stopped unexpectedly \(exit code \d+\); nothing was imported/;

describe("the import's thread dying", () => {
  it("terminated mid-import into a new file: the import rejects, and no file is left", async () => {
    const dir = tempDir();
    const file = join(dir, "new.sqlite");
    const into = await startImport(file);
    await add(into, "s1", 3000);
    await lastThread().terminate();
    // The next batch handed over, or the finish, meets the dead thread.
    const next = add(into, "s2", 5000).then(() => into.finish());
    await expect(next).rejects.toThrow(StoreError);
    await expect(next).rejects.toMatchObject({ code: "store_io", file });
    await expect(next).rejects.toThrow(DIED);
    await into.abort();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("terminated mid-import into an existing file: finish rejects, the file is as it was", async () => {
    const dir = tempDir();
    const file = join(dir, "rec.sqlite");
    const store = openStore(file, { checkpointWorker: false });
    store.startSession(session("old"));
    for (let seq = 1; seq <= 50; seq++) store.recordDecision(decision(seq, { session: "old" }));
    store.close();
    const before = sha(file);
    const into = await startImport(file);
    await add(into, "s1", 5000);
    await lastThread().terminate();
    await expect(into.finish()).rejects.toThrow(DIED);
    await into.abort();
    expect(sha(file)).toBe(before);
    expect(readdirSync(dir)).toEqual(["rec.sqlite"]);
    // And the file takes the same import afterwards.
    const again = await startImport(file);
    await add(again, "s1", 10);
    await again.finish();
  });

  it("a thread that exits while the import waits on it: the wait rejects", async () => {
    const dir = tempDir();
    // A stand-in that takes the start message and exits without a word, as process.exit in
    // the real thread would.
    threads.standIn = () =>
      new Worker(
        "require('node:worker_threads').parentPort.once('message', () => process.exit(7))",
        { eval: true },
      );
    await expect(startImport(join(dir, "new.sqlite"))).rejects.toThrow(/exit code 7/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a thread that never answers and is then ended: the wait rejects", async () => {
    const dir = tempDir();
    threads.standIn = () =>
      new Worker("require('node:worker_threads').parentPort.on('message', () => {})", {
        eval: true,
      });
    const starting = startImport(join(dir, "new.sqlite"));
    const thread = lastThread();
    // The caller is waiting on the thread now; end the thread under it.
    await thread.terminate();
    await expect(starting).rejects.toThrow(DIED);
  });
});

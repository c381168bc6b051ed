import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  openStore,
  type OpenStoreOptions,
  type RecordingStore,
  StoreError,
} from "../../src/store/sqlite.js";
import type { StoreHealth } from "../../src/store/types.js";
import { decision, message, session, tempDirs } from "./helpers.js";

const tempDir = tempDirs();

afterEach(() => {
  vi.useRealTimers();
});

/** A second connection, as another process would hold the file. */
const others: Database.Database[] = [];
afterEach(() => {
  for (const db of others.splice(0)) if (db.open) db.close();
});

function otherConnection(file: string): Database.Database {
  const db = new Database(file, { fileMustExist: true, timeout: 0 });
  others.push(db);
  return db;
}

function peek<T>(file: string, sql: string): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

const seqsOnDisk = (file: string): number[] =>
  peek<{ seq: number }>(file, "SELECT seq FROM messages ORDER BY seq").map((r) => r.seq);

/** The error fn throws: a StoreError, or the test fails. */
function thrown(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return err as StoreError;
  }
  throw new Error("expected a StoreError");
}

/** A store whose timers never fire on their own, its reports collected. */
function faultyStore(file: string, more: OpenStoreOptions = {}) {
  const changes: StoreHealth[] = [];
  const errors: StoreError[] = [];
  const store = openStore(file, {
    busyTimeoutMs: 20,
    flushIntervalMs: 60_000,
    retryIntervalMs: 60_000,
    checkpointWorker: false,
    onHealthChange: (h) => changes.push(h),
    onError: (e) => errors.push(e),
    ...more,
  });
  store.startSession(session());
  return { store, changes, errors };
}

/**
 * SQLite's max_page_count: a real, deterministic full database. It belongs to a connection,
 * so it is set on the store's own.
 */
function setMaxPages(store: RecordingStore, pages: number | "current"): void {
  const db = (store as unknown as { db: Database.Database }).db;
  const n = pages === "current" ? (db.pragma("page_count", { simple: true }) as number) : pages;
  db.pragma(`max_page_count = ${n}`);
}

// Larger than the few free pages the migrations leave behind: each needs pages of its own.
const bigArguments = { pad: "x".repeat(100_000) };
const bigMessage = { pad: "y".repeat(100_000) };

describe("a recording locked by another connection", () => {
  it("a decision fails fast with store_busy; queued messages wait and are written once it is free", () => {
    const file = join(tempDir(), "rec.sqlite");
    const { store, changes, errors } = faultyStore(file);
    store.recordMessage(message(1));
    const other = otherConnection(file);
    other.exec("BEGIN EXCLUSIVE");

    expect(thrown(() => store.recordDecision(decision(1))).code).toBe("store_busy");
    expect(store.health()).toMatchObject({ healthy: false, fault: { code: "store_busy" } });
    store.recordMessage(message(2));
    store.flush();
    expect(thrown(() => store.recordDecision(decision(2))).code).toBe("store_busy");
    expect(store.health().queued).toBe(2);
    // Said once, however many writes fail.
    expect(changes.map((h) => h.healthy)).toEqual([false]);
    expect(errors).toEqual([]);

    other.exec("COMMIT");
    store.flush();
    expect(seqsOnDisk(file)).toEqual([1, 2]);
    expect(changes.map((h) => h.healthy)).toEqual([false, true]);
    expect(store.health()).toEqual({ healthy: true, fault: null, queued: 0, lost: 0 });
    expect(store.recordDecision(decision(3))).toBeGreaterThan(0);
    store.close();
  });

  it("a decision that succeeds again is the recovery; what waited follows in the next batch", () => {
    const file = join(tempDir(), "rec.sqlite");
    const { store, changes } = faultyStore(file);
    const other = otherConnection(file);
    other.exec("BEGIN EXCLUSIVE");
    store.recordMessage(message(1));
    expect(thrown(() => store.recordDecision(decision(1))).code).toBe("store_busy");
    other.exec("ROLLBACK");

    const id = store.recordDecision(decision(1));
    expect(peek(file, "SELECT id FROM calls")).toEqual([{ id }]);
    expect(changes.map((h) => h.healthy)).toEqual([false, true]);
    // Off the write-ahead path: the message is still queued, not written with the decision.
    expect(seqsOnDisk(file)).toEqual([]);
    store.flush();
    expect(seqsOnDisk(file)).toEqual([1]);
    store.close();
  });

  it("a background flush that fails throws nothing and tries again on the retry interval", () => {
    vi.useFakeTimers();
    const file = join(tempDir(), "rec.sqlite");
    const { store, changes } = faultyStore(file, { flushIntervalMs: 10, retryIntervalMs: 100 });
    const other = otherConnection(file);
    other.exec("BEGIN EXCLUSIVE");
    store.recordMessage(message(1));
    // The timer's flush meets the lock: nothing thrown out of the timer.
    vi.advanceTimersByTime(10);
    expect(changes.map((h) => h.healthy)).toEqual([false]);
    // The report counts the write it kept.
    expect(changes[0]).toMatchObject({ queued: 1, fault: { code: "store_busy" } });
    expect(store.health().queued).toBe(1);
    vi.advanceTimersByTime(100);
    expect(store.health().queued).toBe(1);

    other.exec("COMMIT");
    vi.advanceTimersByTime(100);
    expect(seqsOnDisk(file)).toEqual([1]);
    expect(changes.map((h) => h.healthy)).toEqual([false, true]);
    store.close();
  });

  it("keeps at most maxQueued writes: the oldest messages go and are counted, outcomes and the session's end stay", () => {
    const file = join(tempDir(), "rec.sqlite");
    const { store } = faultyStore(file, { maxQueued: 16 });
    const callId = store.recordDecision(decision(1));
    const other = otherConnection(file);
    other.exec("BEGIN EXCLUSIVE");
    store.recordOutcome(callId, { outcome: "result", latencyMs: 7 });
    for (let seq = 1; seq <= 20; seq++) store.recordMessage(message(seq));
    store.updateSession("s1", { endedAt: 99, endReason: "client_disconnected" });
    store.flush();
    expect(store.health()).toMatchObject({ healthy: false, queued: 16, lost: 6 });
    expect(store.lostWrites("s1")).toBe(6);
    expect(store.lostWrites("another")).toBe(0);

    other.exec("COMMIT");
    store.flush();
    expect(seqsOnDisk(file)).toEqual([7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect(peek(file, "SELECT outcome, latency_ms FROM calls")).toEqual([
      { outcome: "result", latency_ms: 7 },
    ]);
    expect(peek(file, "SELECT ended_at, end_reason FROM sessions")).toEqual([
      { ended_at: 99, end_reason: "client_disconnected" },
    ]);
    store.close();
  });

  it("close() while it stays locked reports what it could not write, and throws nothing", () => {
    const file = join(tempDir(), "rec.sqlite");
    const { store, errors } = faultyStore(file);
    const other = otherConnection(file);
    other.exec("BEGIN EXCLUSIVE");
    store.recordMessage(message(1));
    store.updateSession("s1", { endedAt: 99, endReason: "closed" });
    expect(() => store.close()).not.toThrow();
    expect(errors.map((e) => e.code)).toEqual(["store_busy"]);
    expect(errors[0]?.message).toContain("2 queued writes unwritten");
    other.exec("COMMIT");
  });
});

describe("a full recording (max_page_count)", () => {
  it("a decision fails with store_full; once there is room again nothing queued is lost", () => {
    const file = join(tempDir(), "rec.sqlite");
    const { store, changes } = faultyStore(file);
    const written = store.recordDecision(decision(1));
    setMaxPages(store, "current");

    const err = thrown(() => store.recordDecision(decision(2, { arguments: bigArguments })));
    expect(err.code).toBe("store_full");
    expect(err.message).toContain(file);
    // The call written before the disk filled up: its outcome waits for room.
    store.recordOutcome(written, { outcome: "error", latencyMs: 3 });
    for (let seq = 1; seq <= 5; seq++) store.recordMessage(message(seq, { message: bigMessage }));
    store.updateSession("s1", { endedAt: 99, endReason: "closed" });
    store.flush();
    expect(store.health()).toMatchObject({ healthy: false, fault: { code: "store_full" } });
    expect(seqsOnDisk(file)).toEqual([]);

    setMaxPages(store, 1_000_000);
    store.flush();
    expect(store.health()).toEqual({ healthy: true, fault: null, queued: 0, lost: 0 });
    expect(changes.map((h) => h.healthy)).toEqual([false, true]);
    expect(seqsOnDisk(file)).toEqual([1, 2, 3, 4, 5]);
    expect(peek(file, "SELECT outcome FROM calls")).toEqual([{ outcome: "error" }]);
    expect(peek(file, "SELECT end_reason FROM sessions")).toEqual([{ end_reason: "closed" }]);
    expect(store.recordDecision(decision(2, { arguments: bigArguments }))).toBeGreaterThan(0);
    store.close();
  });

  it("a bad row met while the store is full is still dropped alone once there is room", () => {
    const file = join(tempDir(), "rec.sqlite");
    const { store, errors } = faultyStore(file);
    setMaxPages(store, "current");
    store.recordMessage(message(1, { message: bigMessage }));
    store.recordMessage(message(1)); // same (session, seq): a caller's bug
    store.recordMessage(message(2, { message: bigMessage }));
    store.flush();
    expect(store.health().queued).toBe(3);
    setMaxPages(store, 1_000_000);
    store.flush();
    expect(seqsOnDisk(file)).toEqual([1, 2]);
    expect(errors.map((e) => e.code)).toEqual(["store_write_failed"]);
    expect(store.health()).toMatchObject({ healthy: true, queued: 0, lost: 0 });
    store.close();
  });
});

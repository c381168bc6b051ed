import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { StoreError } from "./errors.js";
import { SCHEMA_VERSION } from "./sqlite.js";
import type { ResultClass, RunCounts } from "./types.js";

// Saved replay runs (schema 3's runs and run_results). A run is written into every recording it
// read, after the reading is over: a finished recording is in rollback-journal mode, where no
// connection can commit while another holds a read open, and a run that fails halfway should
// leave nothing behind. Until then its results wait in a ResultSpool.

/** A replay run as saved: what was replayed under what, and what came out. */
export interface RunRecord extends RunCounts {
  createdAt: number;
  /** The candidate policy: its sha256, the path it was given as, and its text. */
  policy: { hash: string; path: string; text: string };
  /** The baseline policy, or null when the run compared with the recorded decisions. */
  baseline: { hash: string; path: string; text: string } | null;
  /** The filters, --fail-on, the source files: anything JSON. */
  options: unknown;
}

/** One call of a run that changed or was inexact (a call without one kept its decision). */
export interface RunResultRecord {
  /** The call's row id in the recording. */
  call: number;
  class: ResultClass | null;
  oldDecision: string;
  oldCode: string;
  oldRule: string | null;
  newDecision: string;
  newCode: string;
  newRule: string | null;
  newReason: string | null;
  newRetryAfterMs: number | null;
  counterfactual: boolean;
  inexact: boolean;
}

type Row = (string | number | null)[];

const RESULT_COLUMNS =
  "call, class, old_decision, old_code, old_rule, new_decision, new_code, new_rule, new_reason, " +
  "new_retry_after_ms, counterfactual, inexact";

/**
 * Results held in memory before they go to a temporary file: about 150 bytes each (the strings
 * are shared with the decisions), so at most about 10 MB. Writing them twice (the temporary
 * file, then the recording) costs more than their memory: saving a run of 1,000,000 calls
 * with 48,000 results took 0.38 s more than not saving it when they were spilled at 8,192, and
 * 0.12 s more when held (measured).
 */
const SPOOL_ROWS = 65_536;

/**
 * A run's results until they can be saved, per source file, in bounded memory: past
 * SPOOL_ROWS they go to a temporary SQLite file (removed by close()).
 */
export class ResultSpool {
  /** Per source file, its results not yet spilled. */
  private rows: Row[][] = [];
  private held = 0;
  private dir: string | null = null;
  private db: Database.Database | null = null;
  private insert: Database.Statement<Row> | null = null;
  private readonly counts = new Map<number, number>();

  constructor(private readonly limit = SPOOL_ROWS) {}

  add(file: number, r: RunResultRecord): void {
    (this.rows[file] ??= []).push([
      r.call,
      r.class,
      r.oldDecision,
      r.oldCode,
      r.oldRule,
      r.newDecision,
      r.newCode,
      r.newRule,
      r.newReason,
      r.newRetryAfterMs,
      r.counterfactual ? 1 : 0,
      r.inexact ? 1 : 0,
    ]);
    this.counts.set(file, (this.counts.get(file) ?? 0) + 1);
    if (++this.held >= this.limit) this.spill();
  }

  /** How many results a file has. */
  count(file: number): number {
    return this.counts.get(file) ?? 0;
  }

  /** The temporary file holding spilled results, or null while all are in memory. */
  get spillFile(): string | null {
    return this.dir === null ? null : join(this.dir, "results.sqlite");
  }

  /** The in-memory results of one file. */
  memoryRows(file: number): Row[] {
    return this.rows[file] ?? [];
  }

  close(): void {
    this.db?.close();
    this.db = null;
    if (this.dir !== null) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }

  private spill(): void {
    if (this.db === null) {
      this.dir = mkdtempSync(join(tmpdir(), "policy-replay-run-"));
      this.db = new Database(this.spillFile!);
      // A scratch file: nothing to recover if the process dies, so no journal, no syncs.
      this.db.pragma("journal_mode = OFF");
      this.db.pragma("synchronous = OFF");
      this.db.exec(
        `CREATE TABLE results (file INTEGER NOT NULL, call INTEGER NOT NULL, class TEXT,
           old_decision TEXT NOT NULL, old_code TEXT NOT NULL, old_rule TEXT,
           new_decision TEXT NOT NULL, new_code TEXT NOT NULL, new_rule TEXT, new_reason TEXT,
           new_retry_after_ms INTEGER, counterfactual INTEGER NOT NULL, inexact INTEGER NOT NULL)`,
      );
      this.insert = this.db.prepare<Row>(
        `INSERT INTO results (file, ${RESULT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
    }
    const insert = this.insert!;
    const rows = this.rows;
    this.db.transaction(() => {
      rows.forEach((list, file) => {
        for (const row of list) insert.run(file, ...row);
      });
    })();
    this.rows = [];
    this.held = 0;
  }
}

/** SQLite result codes that mean "this file cannot be written here". */
const READ_ONLY = /^SQLITE_(READONLY|CANTOPEN|PERM|AUTH)/;

/**
 * Save a run into one recording it read, in one transaction: the runs row, the policies' texts
 * (by hash, if new), and the file's results from `spool` (file number `fileIndex`). Returns the
 * run's id. Throws StoreError: store_read_only when the file (or its directory) cannot be
 * written, store_write_failed or store_io otherwise. Call it after the reading is over.
 */
export function saveRun(
  file: string,
  run: RunRecord,
  spool: ResultSpool | null,
  fileIndex = 0,
): number {
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 5000 });
  } catch (err) {
    throw saveError(file, err);
  }
  try {
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version !== SCHEMA_VERSION) {
      throw new StoreError(
        "store_write_failed",
        file,
        `${file}: cannot save the run: schema version ${version}, expected ${SCHEMA_VERSION}`,
      );
    }
    const spilled = spool?.spillFile ?? null;
    if (spilled !== null) db.prepare("ATTACH DATABASE ? AS spool").run(spilled);
    const putPolicy = db.prepare(
      "INSERT OR IGNORE INTO policies (hash, text, first_seen) VALUES (?, ?, ?)",
    );
    const insertRun = db.prepare(
      `INSERT INTO runs (created_at, policy_hash, policy_path, baseline_hash, baseline_path,
         options, calls, sessions, tightened, loosened, changed, counterfactual, inexact,
         gate_failed)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertResult = db.prepare(
      `INSERT INTO run_results (run, ${RESULT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const id = db
      .transaction(() => {
        putPolicy.run(run.policy.hash, run.policy.text, run.createdAt);
        if (run.baseline) putPolicy.run(run.baseline.hash, run.baseline.text, run.createdAt);
        const runId = Number(
          insertRun.run(
            run.createdAt,
            run.policy.hash,
            run.policy.path,
            run.baseline?.hash ?? null,
            run.baseline?.path ?? null,
            JSON.stringify(run.options) ?? "null",
            run.calls,
            run.sessions,
            run.tightened,
            run.loosened,
            run.changed,
            run.counterfactual,
            run.inexact,
            run.gateFailed ? 1 : 0,
          ).lastInsertRowid,
        );
        if (spilled !== null) {
          db.prepare(
            `INSERT INTO run_results (run, ${RESULT_COLUMNS})
             SELECT ?, ${RESULT_COLUMNS} FROM spool.results WHERE file = ?`,
          ).run(runId, fileIndex);
        }
        for (const row of spool?.memoryRows(fileIndex) ?? []) insertResult.run(runId, ...row);
        return runId;
      })
      .immediate();
    if (spilled !== null) db.exec("DETACH DATABASE spool");
    return id;
  } catch (err) {
    throw saveError(file, err);
  } finally {
    db.close();
  }
}

function saveError(file: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const code = String((err as { code?: unknown }).code ?? "");
  const message = (err as Error).message;
  if (READ_ONLY.test(code) || code === "EACCES" || code === "EROFS" || code === "EPERM") {
    return new StoreError("store_read_only", file, `${file}: read-only (${message})`, {
      cause: err,
    });
  }
  return new StoreError("store_write_failed", file, `${file}: cannot save the run: ${message}`, {
    cause: err,
  });
}

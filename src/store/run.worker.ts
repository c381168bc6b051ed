import { parentPort } from "node:worker_threads";
import type Database from "better-sqlite3";
import type { Outcome, SavedReply, WireError, WriterReply, WriterRequest } from "./protocol.js";
import { markRecording, openRunsFile, type RecordingMark } from "./runs-file.js";
import type { RunRecord } from "./types.js";

// The thread behind RunWriter (runs.ts): it saves a replay run's results into the runs files
// beside the recordings it read (runs-file.ts), mostly while the main thread makes the report,
// so that saving costs the replay little more than its commit. The recordings themselves are
// only read, for what identifies them (markRecording).
//
// Why a thread. Inserting the results is mostly SQLite's and better-sqlite3's work (binding,
// B-trees): about 4 us a row bound one by one, 0.19 s for the 48,000 results of the
// benchmark's million calls, on the main thread after the replay. Here it runs beside the
// report instead. The results are held (up to HOLD) until the reading is over ("write"):
// written during the replay, their work competed with the replay's own threads for the two
// cores and their caches (a saved run was 0.15 to 0.25 s slower than one not saved; measured).
// Past HOLD they are written as they come, so memory stays bounded.
//
// Why a transaction held open. This thread takes the runs file's write lock when it first
// writes, writes, and commits when asked to save: nothing of the run is visible before it is
// whole. A runs file is in rollback-journal mode, one self-contained file; the terminal UI may
// read it meanwhile (it then waits for the commit to finish, as the commit waits for it).
//
// It does not hold the lock, and waits to write until asked to save, when another connection
// holds the lock (another replay saving beside the same recording; it would wait on ours).
// Those results, and those past `held` rows in one transaction (its dirty pages stay in memory
// until the commit while a reader holds the file), wait in a temporary table, which SQLite
// keeps in a temporary file past its cache.
//
// Why outcomes. A result's eight strings (class, old and new decision, code, rule, and the new
// reason) take few distinct values in a run (38 in the benchmark's 48,000 results). The main
// thread numbers them, so a result crosses over as five numbers, and schema 5 stores them so:
// a run_results row holds its outcome's number (and its class, for the index by class), and
// each outcome the file's results use is a run_outcomes row. Sixteen results a statement.
//
// Protocol: WriterRequest and WriterReply (protocol.ts). After "finish" or "close" the thread
// rolls back anything unsaved, closes its files and ends.

const BUSY_MS = 5000;
/** Results a statement inserts. */
const CHUNK = 16;
/** A result's values as bound: call, outcome, class, new_retry_after_ms, flags as two. */
const WIDTH = 6;
const COLUMNS = "call, outcome, class, new_retry_after_ms, counterfactual, inexact";
const VALUES = (n: number, lead: string): string =>
  "VALUES " + Array<string>(n).fill(`(${lead}?, ?, ?, ?, ?, ?)`).join(", ");

type Stmt = Database.Statement<unknown[], unknown>;
type Param = string | number | null;

/**
 * One recording whose runs file to save into, in a mode: "new" (not opened yet), "early" (in
 * its transaction), "deferred" (results wait in temp.spill; the transaction comes at the end),
 * "failed" (error says why; its rows are dropped).
 */
interface Target {
  /** The recording; its runs file is runsFileOf(file). */
  file: string;
  /** What identifies the recording, read when the runs file is opened. */
  mark: RecordingMark | null;
  db: Database.Database | null;
  mode: "new" | "early" | "deferred" | "failed";
  error: WireError | null;
  run: number;
  held: number;
  /** The outcomes this file's results use. */
  used: Set<number>;
  insertMany: Stmt | null;
  insertOne: Stmt | null;
  spillMany: Stmt | null;
  spillOne: Stmt | null;
  spilled: boolean;
}

// From the first message, "start": the thread may be started before its work is known.
let HELD = 0;
let targets: Target[] = [];
const outcomes: Outcome[] = [];

/** A new run's id: after every run of the runs file and of the recording itself. */
const NEXT_RUN = "(SELECT max(ifnull(max(id), 0), ?) + 1 FROM runs)";

function open(t: Target, early: boolean): void {
  try {
    t.mark = markRecording(t.file);
  } catch (err) {
    throw new Error(`cannot read its recording: ${(err as Error).message}`);
  }
  const db = openRunsFile(t.file);
  t.db = db;
  // From here a lock held by another replay is found at once (and its results deferred).
  db.pragma("busy_timeout = 0");
  db.pragma("temp_store = FILE");
  // Room for the held rows' pages: SQLite writes dirty pages before the commit only when no
  // reader holds the file, and keeps them in memory otherwise.
  db.pragma("cache_size = -65536");
  // The run's rows are written below, in the same transaction as the run: nothing to check.
  db.pragma("foreign_keys = OFF");
  if (early) {
    try {
      db.exec("BEGIN IMMEDIATE");
    } catch (err) {
      if ((err as { code?: unknown }).code !== "SQLITE_BUSY") throw err;
    }
  }
  if (db.inTransaction) {
    // A placeholder until the run's figures are known; nobody sees it before the commit.
    t.run = Number(
      db
        .prepare(
          "INSERT INTO runs (id, created_at, policy_hash, policy_path, options, calls, " +
            "sessions, tightened, loosened, changed, counterfactual, inexact, gate_failed) " +
            `VALUES (${NEXT_RUN}, 0, '', '', 'null', 0, 0, 0, 0, 0, 0, 0, 0)`,
        )
        .run(t.mark.lastRun).lastInsertRowid,
    );
    // The run's id is known now: written into the statements, not bound with every result.
    const insert = (n: number): Stmt =>
      db.prepare(`INSERT INTO run_results (run, ${COLUMNS}) ${VALUES(n, `${t.run}, `)}`);
    t.insertMany = insert(CHUNK);
    t.insertOne = insert(1);
    t.mode = "early";
  } else {
    t.mode = "deferred";
  }
}

/** Insert params (WIDTH a result), CHUNK results a statement. */
function insertAll(many: Stmt, one: Stmt, params: Param[]): void {
  const width = WIDTH * CHUNK;
  const chunk = new Array<Param>(width);
  let i = 0;
  for (; i + width <= params.length; i += width) {
    for (let k = 0; k < width; k++) chunk[k] = params[i + k]!;
    many.run(chunk);
  }
  for (; i < params.length; i += WIDTH) one.run(params.slice(i, i + WIDTH));
}

function spill(t: Target, params: Param[]): void {
  const db = t.db!;
  if (!t.spilled) {
    db.exec(`CREATE TEMP TABLE spill (${COLUMNS})`);
    t.spillMany = db.prepare(`INSERT INTO temp.spill ${VALUES(CHUNK, "")}`);
    t.spillOne = db.prepare(`INSERT INTO temp.spill ${VALUES(1, "")}`);
    t.spilled = true;
  }
  const write = (): void => insertAll(t.spillMany!, t.spillOne!, params);
  // Outside a transaction each insert would be a transaction of its own.
  if (db.inTransaction) write();
  else db.transaction(write)();
}

function addRows(t: Target, params: Param[]): void {
  if (t.mode === "failed") return;
  try {
    if (t.mode === "new") open(t, true);
    let here = params;
    let rest: Param[] | null = null;
    if (t.mode === "early") {
      const room = HELD - t.held;
      if (params.length / WIDTH > room) {
        here = params.slice(0, room * WIDTH);
        rest = params.slice(room * WIDTH);
      }
      insertAll(t.insertMany!, t.insertOne!, here);
      t.held += here.length / WIDTH;
    } else {
      rest = params;
    }
    if (rest !== null && rest.length > 0) spill(t, rest);
  } catch (err) {
    fail(t, err);
  }
}

// Batches held until the reading is over ("write"), while fewer than HOLD results: written
// during the replay, their SQLite work competes with the replay's own threads for this 2-core
// machine's cores and caches; written after it, alongside the report, it has a core to itself.
const HOLD = 262_144;
let holding = true;
let waiting: Float64Array[] = [];
let waitingRows = 0;

function addBatch(m: { outcomes: Outcome[]; rows: Float64Array }): void {
  for (const o of m.outcomes) outcomes.push(o);
  if (holding && waitingRows + m.rows.length / 5 <= HOLD) {
    waiting.push(m.rows);
    waitingRows += m.rows.length / 5;
    return;
  }
  writeWaiting();
  writeBatch(m.rows);
}

/** Write the waiting batches, and from now on each as it comes. */
function writeWaiting(): void {
  holding = false;
  const batches = waiting;
  waiting = [];
  waitingRows = 0;
  for (const rows of batches) writeBatch(rows);
}

function writeBatch(rows: Float64Array): void {
  // Per file, its results' values in the order the statements bind them.
  const perFile = new Map<number, Param[]>();
  for (let i = 0; i < rows.length; i += 5) {
    const file = rows[i]!;
    let list = perFile.get(file);
    if (list === undefined) perFile.set(file, (list = []));
    const outcome = rows[i + 2]!;
    const retry = rows[i + 3]!;
    const flags = rows[i + 4]!;
    const cls = outcomes[outcome]![0]!;
    list.push(
      rows[i + 1]!,
      outcome,
      cls,
      Number.isNaN(retry) ? null : retry,
      flags & 1,
      (flags >> 1) & 1,
    );
    targets[file]!.used.add(outcome);
  }
  for (const [file, params] of perFile) addRows(targets[file]!, params);
}

function finish(t: Target, run: RunRecord): SavedReply {
  if (t.mode === "failed") return { error: t.error! };
  try {
    if (t.mode === "new") open(t, false);
    const db = t.db!;
    db.pragma(`busy_timeout = ${BUSY_MS}`);
    const fields = [
      run.createdAt,
      run.policy.hash,
      run.policy.path,
      run.baseline ? run.baseline.hash : null,
      run.baseline ? run.baseline.path : null,
      JSON.stringify(run.options) ?? "null",
      run.calls,
      run.sessions,
      run.tightened,
      run.loosened,
      run.changed,
      run.counterfactual,
      run.inexact,
      run.gateFailed ? 1 : 0,
    ];
    if (db.inTransaction) {
      db.prepare(
        "UPDATE runs SET created_at = ?, policy_hash = ?, policy_path = ?, baseline_hash = ?, " +
          "baseline_path = ?, options = ?, calls = ?, sessions = ?, tightened = ?, loosened = ?, " +
          "changed = ?, counterfactual = ?, inexact = ?, gate_failed = ? WHERE id = ?",
      ).run(...fields, t.run);
    } else {
      db.exec("BEGIN IMMEDIATE");
      t.run = Number(
        db
          .prepare(
            "INSERT INTO runs (id, created_at, policy_hash, policy_path, baseline_hash, " +
              "baseline_path, options, calls, sessions, tightened, loosened, changed, " +
              `counterfactual, inexact, gate_failed) VALUES (${NEXT_RUN}, ${"?, ".repeat(13)}?)`,
          )
          .run(t.mark!.lastRun, ...fields).lastInsertRowid,
      );
    }
    const mark = t.mark!;
    db.prepare(
      "INSERT INTO run_recording (run, first_session, last_call, last_call_ts, " +
        "last_call_session) VALUES (?, ?, ?, ?, ?)",
    ).run(t.run, mark.firstSession, mark.lastCall, mark.lastCallTs, mark.lastCallSession);
    const putPolicy = db.prepare(
      "INSERT OR IGNORE INTO policies (hash, text, first_seen) VALUES (?, ?, ?)",
    );
    putPolicy.run(run.policy.hash, run.policy.text, run.createdAt);
    if (run.baseline) putPolicy.run(run.baseline.hash, run.baseline.text, run.createdAt);
    if (t.spilled) {
      db.prepare(
        `INSERT INTO run_results (run, ${COLUMNS}) SELECT ?, ${COLUMNS} FROM temp.spill`,
      ).run(t.run);
    }
    // The outcomes this file's results use; their class is in each result.
    const putOutcome = db.prepare(
      "INSERT INTO run_outcomes (run, id, old_decision, old_code, old_rule, new_decision, " +
        "new_code, new_rule, new_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    for (const id of [...t.used].sort((a, b) => a - b)) {
      const o = outcomes[id]!;
      putOutcome.run(t.run, id, o[1], o[2], o[3], o[4], o[5], o[6], o[7]);
    }
    db.exec("COMMIT");
    const id = t.run;
    release(t);
    return { id };
  } catch (err) {
    fail(t, err);
    return { error: t.error! };
  }
}

function fail(t: Target, err: unknown): void {
  const e = err as { code?: unknown; message?: unknown } | null;
  t.mode = "failed";
  t.error = {
    code: String(e?.code || ""),
    message: String(e?.message || err),
  };
  release(t);
}

/** Roll back anything unsaved and close the file. */
function release(t: Target): void {
  const db = t.db;
  t.db = null;
  if (db === null) return;
  try {
    if (db.inTransaction) db.exec("ROLLBACK");
  } catch {
    // Closing rolls back too.
  }
  try {
    db.close();
  } catch {
    // Nothing more to do for it.
  }
}

const reply = (m: WriterReply): void => parentPort!.postMessage(m);

parentPort!.on("message", (m: WriterRequest) => {
  switch (m.type) {
    case "start":
      HELD = m.held;
      targets = m.files.map((file) => ({
        file,
        mark: null,
        db: null,
        mode: "new",
        error: null,
        run: 0,
        held: 0,
        used: new Set(),
        insertMany: null,
        insertOne: null,
        spillMany: null,
        spillOne: null,
        spilled: false,
      }));
      break;
    case "write":
      writeWaiting();
      break;
    case "rows":
      addBatch(m);
      break;
    case "finish": {
      writeWaiting();
      const saved = m.runs.map((run, i) => (run === null ? null : finish(targets[i]!, run)));
      for (const t of targets) release(t);
      reply({ type: "saved", saved });
      parentPort!.close();
      break;
    }
    case "ping":
      writeWaiting();
      reply({ type: "pong", n: m.n });
      break;
    case "close":
      for (const t of targets) release(t);
      parentPort!.close();
      break;
  }
});

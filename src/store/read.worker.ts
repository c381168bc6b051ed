import { parentPort } from "node:worker_threads";
import Database from "better-sqlite3";
import { compileGlob, type Glob, isGlob } from "../engine/glob.js";
import {
  EXITING,
  type CallKey,
  type Page,
  type ReaderMessage,
  type ReadFile,
  type ReadWork,
  SIGNAL,
  STARTED,
} from "./protocol.js";
import type { ArgumentTools } from "./types.js";

// The reader thread behind CallStream (stream.ts). It reads pages of calls rows and ships
// them to the main thread as typed arrays and a per-file dictionary of the row's strings.
//
// Why a thread, and why this shape: better-sqlite3 builds every row through V8's C++ API, one
// Object::Set per column, which costs about 2 us a row for the columns replay needs, more than
// deciding the call. So each row is selected as ONE string (concat_ws: one value, no array) and
// cut up here. Its six repetitive fields (session, identity, tool, decision, code, rule) are
// not in it: the row carries its call_keys id (schema 4), renumbered here densely in order of
// first use, and each key's fields are read once, on a second connection, and sent along with
// the first page that uses it. The main thread gets numbers and a small key id per row, and
// builds nothing but the call it replays.
//
// Row text: id, ts[, counter_seq], retry_after_ms, approval, call_key[, arguments], separated
// by U+001F, nullable fields as "". counter_seq only when several files are merged by it. The arguments come last, so they are the rest of the text whatever
// they hold. The id is the rowid, always an integer, so it can always be read; a row without a
// key (inserted by another tool, or edited since: see the calls_key_stale trigger), or whose
// other fields do not read back exactly (a non-integer ts), is fetched again as separate
// columns and keyed by its fields' JSON text.
// A page ships the arguments of its rows one after another in one string, with each row's span,
// so the main thread parses a call's arguments only if a decision needs them; and only those of
// the calls whose tools the work's argumentTools name (a replay's policies' rules with
// conditions), when it names any: the others' arguments are read with the row but not sent.
// A page ends early once its text reaches TEXT_BUDGET characters, so that the string stays a
// regular young object on both threads (see PAGE_ROWS in stream.ts).
//
// Protocol (protocol.ts). The work comes as the first message (the thread may be started before
// the work is known: threads.ts). The thread produces pages on its own, round robin over its
// files, keeping at most `ahead` pages of a file that the main thread has not taken yet, and
// posts them on the work's port; the shared signal says when (SIGNAL).

const SEP = "\x1f";
const KEY_RUN = 2048;
/**
 * Characters of arguments a page's text may reach before the page ends: under V8's largest
 * regular object (128 KiB) even as two-byte text, so it is never a large object, which only a
 * full collection frees.
 */
const TEXT_BUDGET = 60_000;
/** The reading connection's page cache, KiB. */
const CACHE_KIB = 2048;
const APPROVAL_CODES = new Map<string, number>([
  ["", 0],
  ["approved", 1],
  ["rejected", 2],
  ["timeout", 3],
  ["unavailable", 4],
]);

type Stmt = Database.Statement<unknown[], unknown>;
/** A call_keys row: [id, ...key] from a run of ids, or the key alone from a look-up. */
type KeyRow = unknown[];

interface Side {
  db: Database.Database;
  key: Stmt;
  row: Stmt;
}

/** Where one file's reading is. */
interface Cursor {
  f: ReadFile;
  /** Opening failed: reported when the main thread first asks this file for a page. */
  failed: unknown;
  db: Database.Database | null;
  stmt: Stmt | null;
  keyRun: Stmt | null;
  keyRows: Map<number, KeyRow>;
  keysThrough: number;
  iter: IterableIterator<unknown> | null;
  /** (ts, id) of the last row of the previous page. */
  last: [number, number] | null;
  /** call_keys id -> dense id + 1 (0: not seen yet). */
  keyIds: Int32Array;
  /** Keys of rows read from their columns, by JSON text -> dense id. */
  dict: Map<string, number>;
  /** The strings of the keys sent so far, numbered in order of first use. */
  strings: Map<string, number>;
  nextKey: number;
  side: Side | null;
  produced: number;
  finished: boolean;
  /** Which keys' arguments are sent; null: every row's (when withArgs). */
  argTools: ToolMatch | null;
  /** Per dense key id: 1 when its rows' arguments are sent. */
  sendArgs: Uint8Array;
  /** Rows read but not yet sent (a page ended at TEXT_BUDGET), from bufAt on. */
  buf: string[];
  bufAt: number;
}

/** The tool patterns of an ArgumentTools, compiled: exact names and globs. */
interface Patterns {
  exact: Set<string>;
  globs: Glob[];
}

/** Whether a call of (identity, tool) has its arguments sent. */
interface ToolMatch {
  top: Patterns;
  grants: Map<string, Patterns>;
}

function patterns(list: readonly string[]): Patterns {
  const p: Patterns = { exact: new Set(), globs: [] };
  for (const t of list) {
    if (isGlob(t)) p.globs.push(compileGlob(t));
    else p.exact.add(t);
  }
  return p;
}

function toolMatch(a: ArgumentTools): ToolMatch {
  return {
    top: patterns(a.tools),
    grants: new Map(a.grants.map(([identity, list]) => [identity, patterns(list)])),
  };
}

const names = (p: Patterns | undefined, tool: string): boolean =>
  p !== undefined && (p.exact.has(tool) || p.globs.some((g) => g.test(tool)));

/** Note whether dense key `id` (of identity and tool) has its arguments sent. */
function noteKey(c: Cursor, id: number, identity: string, tool: string): void {
  if (id >= c.sendArgs.length) {
    const grown = new Uint8Array(Math.max(id + 1, c.sendArgs.length * 2));
    grown.set(c.sendArgs);
    c.sendArgs = grown;
  }
  const m = c.argTools;
  c.sendArgs[id] = m === null || names(m.top, tool) || names(m.grants.get(identity), tool) ? 1 : 0;
}

// Started ahead of its work (threads.ts): the work is the first message.
parentPort!.once("message", (work: ReadWork) => read(work));

function newCursor(f: ReadFile): Cursor {
  return {
    f,
    failed: null,
    db: null,
    stmt: null,
    keyRun: null,
    keyRows: new Map(),
    keysThrough: 0,
    iter: null,
    last: null,
    keyIds: new Int32Array(1024),
    dict: new Map(),
    strings: new Map(),
    nextKey: 0,
    side: null,
    produced: 0,
    finished: false,
    argTools: f.argumentTools === null ? null : toolMatch(f.argumentTools),
    sendArgs: new Uint8Array(1024),
    buf: [],
    bufAt: 0,
  };
}

function openCursor(f: ReadFile): Cursor {
  const c = newCursor(f);
  const db = new Database(f.file, { readonly: true, fileMustExist: true, timeout: 5000 });
  c.db = db;
  // One pass over the file: a page cache bigger than the index's inner pages saves nothing
  // (16 MB by default, 2 MB here: the same speed, measured, and 14 MB less memory).
  db.pragma(`cache_size = ${-CACHE_KIB}`);
  // One read transaction for the whole file: every page comes from the same snapshot.
  db.exec("BEGIN");
  c.stmt = db.prepare(f.sql).pluck();
  // Reading every row, it will meet nearly every key: reading them in runs of ids is much
  // cheaper than a look-up each (about 10 us each, measured). Keys are numbered as calls first
  // use them, so the runs are met about in order, and the first page does not wait for them
  // all. A filtered read looks up the few keys it meets.
  c.keyRun = f.everyRow
    ? db
        .prepare(
          "SELECT id, session, identity, tool, decision, code, rule FROM call_keys " +
            "WHERE id > ? ORDER BY id LIMIT ?",
        )
        .raw()
    : null;
  return c;
}

function closeCursor(c: Cursor): void {
  if (!c.db) return;
  if (c.iter) c.iter.return?.();
  c.iter = null;
  if (c.side) c.side.db.close();
  if (c.db.open) {
    try {
      c.db.exec("COMMIT");
    } catch {
      // Nothing to commit: the transaction ended with an error.
    }
    c.db.close();
  }
}

/** The next rows to send: those left over from the last page, else the next page read. */
function rows(c: Cursor): string[] {
  if (c.bufAt < c.buf.length) return c.buf;
  c.bufAt = 0;
  c.buf = fetchRows(c);
  return c.buf;
}

function fetchRows(c: Cursor): string[] {
  const n = c.f.pageRows;
  if (!c.f.paged) {
    // One statement, sorted once (a session filter: the rows come through calls_by_session).
    if (!c.iter) c.iter = c.stmt!.iterate(...c.f.params);
    const out: string[] = [];
    while (out.length < n) {
      const r = c.iter.next();
      if (r.done) break;
      out.push(r.value as string);
    }
    return out;
  }
  // Keyset pages on calls_by_ts: (ts, id) after the last row of the previous page.
  const after = c.last ?? [-Infinity, -Infinity];
  return c.stmt!.all(after[0], after[1], ...c.f.params, n) as string[];
}

// Digits from position p up to the next separator, or NaN if anything else is there (a value
// that is not integer text); sets pos to just after the separator.
let pos = 0;
function int(s: string, p: number): number {
  let c = s.charCodeAt(p);
  if (c === 31) {
    pos = p + 1;
    return NaN;
  }
  let v = 0;
  let neg = false;
  if (c === 45) {
    neg = true;
    p++;
  }
  for (;;) {
    c = s.charCodeAt(p++);
    if (c === 31) break;
    if (c < 48 || c > 57) {
      pos = s.indexOf(SEP, p);
      pos = pos < 0 ? s.length : pos + 1;
      return NaN;
    }
    v = v * 10 + (c - 48);
  }
  pos = p;
  return neg ? -v : v;
}

/** The keys first met in a page, for the main thread: see Page.newKeys. */
interface NewKeys {
  strings: string[];
  fields: number[];
}

/** Add a key's fields to `out`, each as the number of its string (-1 for a null rule). */
function sendKey(c: Cursor, key: CallKey, out: NewKeys): void {
  for (const s of key) {
    if (s === null) {
      out.fields.push(-1);
      continue;
    }
    let n = c.strings.get(s);
    if (n === undefined) {
      n = c.strings.size;
      c.strings.set(s, n);
      out.strings.push(s);
    }
    out.fields.push(n);
  }
}

function keyId(c: Cursor, text: string, fields: CallKey, newKeys: NewKeys): number {
  const id = c.nextKey++;
  c.dict.set(text, id);
  sendKey(c, fields, newKeys);
  noteKey(c, id, fields[1], fields[2]);
  return id;
}

// A second connection for the occasional look-up: the main one may be in the middle of a
// statement. Its snapshot may be newer than the main one's, which is fine for what it reads: a
// key row is never changed once written, and one a row points at was written before the row.
function side(c: Cursor): Side {
  if (!c.side) {
    const db = new Database(c.f.file, { readonly: true, fileMustExist: true, timeout: 5000 });
    c.side = {
      db,
      key: db
        .prepare("SELECT session, identity, tool, decision, code, rule FROM call_keys WHERE id = ?")
        .raw(),
      row: db
        .prepare(
          "SELECT ts, retry_after_ms, approval, " +
            (c.f.withArgs ? "arguments" : "NULL") +
            ", session, identity, tool, decision, code, rule, counter_seq FROM calls WHERE id = ?",
        )
        .raw(),
    };
  }
  return c.side;
}

const keyFields = (r: KeyRow, at: number): CallKey => [
  String(r[at]),
  String(r[at + 1]),
  String(r[at + 2]),
  String(r[at + 3]),
  String(r[at + 4]),
  r[at + 5] === null ? null : String(r[at + 5]),
];

// The dense id (0, 1, 2, ... in order of first use) of call_keys row k; undefined if there is
// no such row. New ones go to newKeys, for the main thread.
function tableKey(c: Cursor, k: number, newKeys: NewKeys): number | undefined {
  const map = c.keyIds;
  if (k < map.length && map[k] !== 0) return map[k]! - 1;
  let r: KeyRow | undefined;
  let at = 0;
  if (c.keyRun === null) {
    r = side(c).key.get(k) as KeyRow | undefined;
  } else {
    at = 1;
    while (k > c.keysThrough) {
      const run = c.keyRun.all(c.keysThrough, Math.max(KEY_RUN, k - c.keysThrough)) as KeyRow[];
      if (run.length === 0) break;
      for (const row of run) c.keyRows.set(row[0] as number, row);
      c.keysThrough = run[run.length - 1]![0] as number;
    }
    r = c.keyRows.get(k);
    // Each key is met first once: it need not be kept here after that.
    if (r !== undefined) c.keyRows.delete(k);
  }
  if (r === undefined) return undefined;
  const id = c.nextKey++;
  const fields = keyFields(r, at);
  sendKey(c, fields, newKeys);
  noteKey(c, id, fields[1], fields[2]);
  if (k >= c.keyIds.length) {
    const grown = new Int32Array(Math.max(k + 1, c.keyIds.length * 2));
    grown.set(c.keyIds);
    c.keyIds = grown;
  }
  c.keyIds[k] = id + 1;
  return id;
}

const corrupt = (message: string): Error =>
  Object.assign(new Error(message), { code: "SQLITE_CORRUPT" });

function page(c: Cursor): { message: Page; buffers: ArrayBuffer[] } | null {
  const list = rows(c);
  const from = c.bufAt;
  const left = list.length - from;
  if (left <= 0) return null;
  const withArgs = c.f.withArgs;
  const nums = new Float64Array(left * 3);
  const keys = new Int32Array(left);
  const approvals = new Uint8Array(left);
  const seqs = c.f.withSeq ? new Float64Array(left) : null;
  const spans = withArgs ? new Int32Array(left * 2) : null;
  const newKeys: NewKeys = { strings: [], fields: [] };
  // The arguments sent, and the length of their text so far.
  const parts: string[] = [];
  let base = 0;
  let n = 0;
  let lastTs = 0;
  let lastId = 0;
  while (n < left) {
    const i = n++;
    const s = list[from + i]!;
    const p1 = s.indexOf(SEP);
    if (p1 < 0) throw corrupt("unreadable calls row");
    const id = Number(s.slice(0, p1));
    let ts = int(s, p1 + 1);
    // None, or not integer text: -1, before any sequence (a bad one is read again below).
    let seq = -1;
    if (seqs) {
      if (s.charCodeAt(pos) === 31) pos++;
      else seq = int(s, pos);
    }
    let retry: number | null = null;
    if (s.charCodeAt(pos) === 31) pos++;
    else retry = int(s, pos);
    const p3 = pos;
    const p4 = s.indexOf(SEP, p3);
    let approval = p4 === p3 ? 0 : APPROVAL_CODES.get(s.slice(p3, p4));
    // The key's digits, ended by the arguments' separator (or the row's end without them).
    let q = p4 + 1;
    let k = 0;
    for (;;) {
      const ch = s.charCodeAt(q);
      // Past the end, ch is NaN: no digit either.
      if (!(ch >= 48 && ch <= 57)) break;
      k = k * 10 + (ch - 48);
      q++;
    }
    const ended = withArgs ? s.charCodeAt(q) === 31 : q === s.length;
    let key = p4 < 0 || !ended || q === p4 + 1 ? undefined : tableKey(c, k, newKeys);
    // The arguments: the rest of the row's text after q, when there is any.
    let args: string | null = withArgs && q + 1 < s.length ? null : "";
    if (
      key === undefined ||
      Number.isNaN(ts) ||
      Number.isNaN(seq) ||
      (retry !== null && Number.isNaN(retry)) ||
      approval === undefined
    ) {
      // A row without a key (written by hand, or edited since), or one that does not read back
      // from its text: its columns one by one.
      const r = side(c).row.get(id) as unknown[];
      if (typeof r[0] !== "number" || !Number.isSafeInteger(r[0])) {
        throw corrupt(`calls row ${id}: ts is not integer milliseconds`);
      }
      ts = r[0];
      seq = typeof r[10] === "number" && Number.isFinite(r[10]) ? r[10] : -1;
      retry = typeof r[1] === "number" ? r[1] : null;
      approval = APPROVAL_CODES.get((r[2] as string | null) ?? "") ?? 0;
      args = spans ? ((r[3] as string | null) ?? "") : "";
      const fields = keyFields(r, 4);
      // Keyed by JSON, which names any strings unambiguously, apart from the table's keys.
      const text = JSON.stringify(fields);
      key = c.dict.get(text) ?? keyId(c, text, fields, newKeys);
    }
    nums[i * 3] = id;
    nums[i * 3 + 1] = ts;
    nums[i * 3 + 2] = retry === null ? NaN : retry;
    keys[i] = key;
    approvals[i] = approval;
    if (seqs) seqs[i] = seq;
    if (spans) {
      if (c.sendArgs[key] === 1 && args !== "") {
        // Null: the row's own text holds them, after q.
        const a = args ?? s.slice(q + 1);
        parts.push(a);
        spans[i * 2] = base;
        base += a.length;
        spans[i * 2 + 1] = base;
      } else {
        spans[i * 2] = -1;
        spans[i * 2 + 1] = -1;
      }
    }
    lastTs = ts;
    lastId = id;
    if (base >= TEXT_BUDGET) break;
  }
  c.bufAt = from + n;
  c.last = [lastTs, lastId];
  const buffers: ArrayBuffer[] = [nums.buffer, keys.buffer, approvals.buffer];
  if (seqs) buffers.push(seqs.buffer);
  if (spans) buffers.push(spans.buffer);
  const keyNumbers = Int32Array.from(newKeys.fields);
  buffers.push(keyNumbers.buffer);
  return {
    message: {
      n,
      nums,
      keys,
      approvals,
      seqs,
      spans,
      text: spans ? parts.join("") : null,
      newStrings: newKeys.strings,
      newKeys: keyNumbers,
    },
    buffers,
  };
}

function read(work: ReadWork): void {
  const signal = new Int32Array(work.signal);
  const bump = (): void => {
    Atomics.add(signal, SIGNAL.POSTED, 1);
    Atomics.notify(signal, SIGNAL.POSTED);
  };
  process.on("exit", () => {
    Atomics.store(signal, SIGNAL.STATE, EXITING);
    bump();
  });
  Atomics.store(signal, SIGNAL.STATE, STARTED);
  const post = (message: ReaderMessage, transfer?: ArrayBuffer[]): void => {
    work.port.postMessage(message, transfer);
    bump();
  };

  const cursors = new Map<number, Cursor>();
  for (const f of work.files) {
    try {
      cursors.set(f.index, openCursor(f));
    } catch (err) {
      // Reported when the main thread first asks this file for a page.
      const c = newCursor(f);
      c.failed = err;
      cursors.set(f.index, c);
    }
  }

  /** Produce one page (or the end, or an error) of a file; false if it had nothing to do. */
  const produce = (c: Cursor): boolean => {
    if (c.finished) return false;
    if (c.produced - Atomics.load(signal, SIGNAL.TAKEN + c.f.index) >= work.ahead) return false;
    c.produced++;
    try {
      if (c.failed) throw c.failed;
      const p = page(c);
      if (p === null) {
        c.finished = true;
        // Done with this file: end its read transaction now, so it can be written to.
        closeCursor(c);
        post({ type: "done", file: c.f.index });
      } else {
        post({ type: "page", file: c.f.index, page: p.message }, p.buffers);
      }
    } catch (err) {
      c.finished = true;
      try {
        closeCursor(c);
      } catch {
        // Reporting the first error matters more.
      }
      const e = err as { code?: unknown; message?: unknown };
      post({
        type: "error",
        file: c.f.index,
        error: { code: String(e.code ?? ""), message: String(e.message) },
      });
    }
    return true;
  };

  for (;;) {
    // Read the wake counter before looking for work, so a wake-up in between is not lost.
    const wake = Atomics.load(signal, SIGNAL.WAKE);
    if (Atomics.load(signal, SIGNAL.CLOSE) === 1) break;
    let worked = false;
    let open = false;
    for (const c of cursors.values()) {
      if (produce(c)) worked = true;
      if (!c.finished) open = true;
    }
    if (!open) break;
    if (!worked) Atomics.wait(signal, SIGNAL.WAKE, wake, 1000);
  }
  for (const c of cursors.values()) {
    try {
      closeCursor(c);
    } catch {
      // Closing anyway.
    }
  }
  cursors.clear();
  post({ type: "closed" });
}

// The reader thread behind streamCalls() (stream.ts). It reads pages of calls rows and ships
// them to the main thread as typed arrays and a per-file dictionary of the row's strings.
//
// Why a thread, and why this shape: better-sqlite3 builds every row through V8's C++ API, one
// Object::Set per column, which costs about 2 us a row for the ten columns replay needs, more
// than deciding the call. So each row is selected as ONE string (concat_ws: one value, no
// array), cut up here, and its six repetitive fields (session, identity, tool, decision, code,
// rule) are interned into a dictionary: the main thread gets numbers and a small key id per
// row, and builds nothing but the call it replays.
//
// Plain JavaScript evaluated in the worker (like the checkpointer in sqlite.ts), so it runs the
// same under the compiled build and under the test runner.
//
// Row text: id, ts, retry_after_ms, approval, arguments, session, identity, tool, decision,
// code, rule, separated by U+001F, nullable fields as "" (a rule as "=" + rule). The id is the
// rowid, always an integer, so it can always be read; anything else that does not read back
// exactly (a separator inside a value, a non-integer ts) is fetched again as separate columns.
// A page ships its rows' text joined by U+001E, so the main thread slices a call's arguments
// out of it only if a decision needs them.
//
// Protocol. workerData: { module, port, signal, ahead, files: [{ file, index, sql, params,
// paged, pageRows, withArgs }] }. The worker produces pages on its own, round robin over its
// files, keeping at most `ahead` pages of a file that the main thread has not taken yet; it
// sends them on `port` (read synchronously there with receiveMessageOnPort): { file, page } |
// { file, done: true } | { file, error: { code, message } } | { closed: true }. The shared
// Int32Array `signal`: [0] bumped (and notified) after each message; [1] 1 once started, 2
// when exiting, so a waiting main thread never waits on a dead one; [2] bumped (and notified)
// by the main thread when it takes a page or asks to close; [3] 1: close; [4 + file] pages of
// that file the main thread has taken.

export const READ_WORKER_SOURCE = String.raw`
"use strict";
const { workerData } = require("node:worker_threads");
const signal = new Int32Array(workerData.signal);
const bump = () => {
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
};
process.on("exit", () => {
  Atomics.store(signal, 1, 2);
  bump();
});
Atomics.store(signal, 1, 1);
const port = workerData.port;
const post = (message, transfer) => {
  port.postMessage(message, transfer);
  bump();
};
const Database = require(workerData.module);
const SEP = "\x1f";
const APPROVALS = new Map([["", 0], ["approved", 1], ["rejected", 2], ["timeout", 3], ["unavailable", 4]]);
const KEY_FIELDS = 6;

const cursors = new Map();
for (const f of workerData.files) {
  try {
    cursors.set(f.index, openCursor(f));
  } catch (err) {
    // Reported when the main thread first asks this file for a page.
    cursors.set(f.index, { f, failed: err, produced: 0, finished: false });
  }
}

function openCursor(f) {
  const db = new Database(f.file, { readonly: true, fileMustExist: true, timeout: 5000 });
  // One read transaction for the whole file: every page comes from the same snapshot.
  db.exec("BEGIN");
  const stmt = db.prepare(f.sql).pluck();
  return {
    f,
    db,
    stmt,
    iter: null,
    last: null,
    dict: new Map(),
    nextKey: 0,
    exact: null,
    produced: 0,
    finished: false,
  };
}

function closeCursor(c) {
  if (!c.db) return;
  if (c.iter) c.iter.return();
  c.iter = null;
  if (c.exact) c.exact.db.close();
  if (c.db.open) {
    try {
      c.db.exec("COMMIT");
    } catch {}
    c.db.close();
  }
}

function rows(c) {
  const n = c.f.pageRows;
  if (!c.f.paged) {
    // One statement, sorted once (a session filter: the rows come through calls_by_session).
    if (!c.iter) c.iter = c.stmt.iterate(...c.f.params);
    const out = [];
    while (out.length < n) {
      const r = c.iter.next();
      if (r.done) break;
      out.push(r.value);
    }
    return out;
  }
  // Keyset pages on calls_by_ts: (ts, id) after the last row of the previous page.
  const after = c.last ?? [-Infinity, -Infinity];
  return c.stmt.all(after[0], after[1], ...c.f.params, n);
}

// Digits from position p up to the next separator, or NaN if anything else is there (a
// value that is not integer text); sets pos to just after the separator.
let pos = 0;
function int(s, p) {
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

function keyId(c, text, fields, newKeys) {
  const id = c.nextKey++;
  c.dict.set(text, id);
  newKeys.push(fields);
  return id;
}

// A row that does not read back from its text: the columns one by one, on a connection of its
// own (the main one may be in the middle of a statement).
function exactRow(c, id) {
  if (!c.exact) {
    const db = new Database(c.f.file, { readonly: true, fileMustExist: true, timeout: 5000 });
    c.exact = {
      db,
      stmt: db
        .prepare(
          "SELECT ts, retry_after_ms, approval, " +
            (c.f.withArgs ? "arguments" : "NULL") +
            ", session, identity, tool, decision, code, rule FROM calls WHERE id = ?",
        )
        .raw(),
    };
  }
  return c.exact.stmt.get(id);
}

function page(c) {
  const list = rows(c);
  const n = list.length;
  if (n === 0) return null;
  const nums = new Float64Array(n * 3);
  const keys = new Int32Array(n);
  const approvals = new Uint8Array(n);
  const spans = c.f.withArgs ? new Int32Array(n * 2) : null;
  const newKeys = [];
  // Offset of the current row in the page's text (the rows joined by U+001E).
  let base = 0;
  for (let i = 0; i < n; i++) {
    const s = list[i];
    const p1 = s.indexOf(SEP);
    if (p1 < 0) throw Object.assign(new Error("unreadable calls row"), { code: "SQLITE_CORRUPT" });
    const id = Number(s.slice(0, p1));
    let ts = int(s, p1 + 1);
    let retry = null;
    if (s.charCodeAt(pos) === 31) pos++;
    else retry = int(s, pos);
    const p3 = pos;
    const p4 = s.indexOf(SEP, p3);
    let approval = p4 === p3 ? 0 : APPROVALS.get(s.slice(p3, p4));
    const p5 = s.indexOf(SEP, p4 + 1);
    let argStart = p5 === p4 + 1 ? -1 : base + p4 + 1;
    let argEnd = base + p5;
    const keyText = s.slice(p5 + 1);
    let key = c.dict.get(keyText);
    if (key === undefined) {
      const fields = keyText.split(SEP);
      const rule = fields[5];
      if (fields.length === KEY_FIELDS && (rule === "" || rule.charCodeAt(0) === 61)) {
        fields[5] = rule === "" ? null : rule.slice(1);
        // Keyed by a flat copy: a slice would keep its whole row alive and compare slowly.
        key = keyId(c, keyText.split(SEP).join(SEP), fields, newKeys);
      }
    }
    if (
      key === undefined ||
      p1 < 0 ||
      p5 < 0 ||
      Number.isNaN(ts) ||
      Number.isNaN(retry) ||
      approval === undefined
    ) {
      const r = exactRow(c, id);
      if (typeof r[0] !== "number" || !Number.isSafeInteger(r[0])) {
        throw Object.assign(new Error("calls row " + id + ": ts is not integer milliseconds"), {
          code: "SQLITE_CORRUPT",
        });
      }
      ts = r[0];
      retry = typeof r[1] === "number" ? r[1] : null;
      approval = APPROVALS.get(r[2] ?? "") ?? 0;
      argStart = -1;
      if (r[3] !== null && spans) {
        // The row's text is of no use: its place in the page's text holds the arguments.
        list[i] = r[3];
        argStart = base;
        argEnd = base + r[3].length;
      }
      const fields = [String(r[4]), String(r[5]), String(r[6]), String(r[7]), String(r[8])];
      fields.push(r[9] === null ? null : String(r[9]));
      // JSON names any strings unambiguously, and holds no raw U+001F as every row's key text
      // does: the two kinds of key never clash.
      const text = JSON.stringify(fields);
      key = c.dict.get(text) ?? keyId(c, text, fields, newKeys);
    }
    nums[i * 3] = id;
    nums[i * 3 + 1] = ts;
    nums[i * 3 + 2] = retry === null ? NaN : retry;
    keys[i] = key;
    approvals[i] = approval;
    if (spans) {
      spans[i * 2] = argStart;
      spans[i * 2 + 1] = argEnd;
    }
    base += list[i].length + 1;
    if (i === n - 1) c.last = [ts, id];
  }
  const buffers = [nums.buffer, keys.buffer, approvals.buffer];
  if (spans) buffers.push(spans.buffer);
  return {
    message: {
      n,
      nums,
      keys,
      approvals,
      spans,
      text: spans ? list.join("\x1e") : null,
      newKeys,
    },
    buffers,
  };
}

function closeAll() {
  for (const c of cursors.values()) {
    try {
      closeCursor(c);
    } catch {}
  }
  cursors.clear();
}

/** Produce one page (or the end, or an error) of a file; false if it had nothing to do. */
function produce(c) {
  if (c.finished) return false;
  if (c.produced - Atomics.load(signal, 4 + c.f.index) >= workerData.ahead) return false;
  c.produced++;
  try {
    if (c.failed) throw c.failed;
    const p = page(c);
    if (p === null) {
      c.finished = true;
      // Done with this file: end its read transaction now, so it can be written to.
      closeCursor(c);
      post({ file: c.f.index, done: true });
    } else {
      post({ file: c.f.index, page: p.message }, p.buffers);
    }
  } catch (err) {
    c.finished = true;
    try {
      closeCursor(c);
    } catch {}
    post({ file: c.f.index, error: { code: String(err.code ?? ""), message: String(err.message) } });
  }
  return true;
}

for (;;) {
  // Read the wake counter before looking for work, so a wake-up in between is not lost.
  const wake = Atomics.load(signal, 2);
  if (Atomics.load(signal, 3) === 1) break;
  let worked = false;
  let open = false;
  for (const c of cursors.values()) {
    if (produce(c)) worked = true;
    if (!c.finished) open = true;
  }
  if (!open) break;
  if (!worked) Atomics.wait(signal, 2, wake, 1000);
}
closeAll();
post({ closed: true });
`;

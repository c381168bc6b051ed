// The reader thread behind streamCalls() (stream.ts). It reads pages of calls rows and ships
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
// Plain JavaScript evaluated in the worker (like the checkpointer in sqlite.ts), so it runs the
// same under the compiled build and under the test runner.
//
// Row text: id, ts, retry_after_ms, approval, call_key[, arguments], separated by U+001F,
// nullable fields as "". The arguments come last, so they are the rest of the text whatever
// they hold. The id is the rowid, always an integer, so it can always be read; a row without a
// key (inserted by another tool, or edited since: see the calls_key_stale trigger), or whose
// other fields do not read back exactly (a non-integer ts), is fetched again as separate
// columns and keyed by its fields' JSON text.
// A page ships its rows' text joined by U+001E, so the main thread slices a call's arguments
// out of it only if a decision needs them.
//
// Protocol. workerData: { module }; its work comes as its first message (it may be started
// before the work is known: threads.ts): { port, signal, ahead, files: [{ file, index, sql,
// params, paged, pageRows, withArgs, everyRow }] }. The worker produces pages on its own, round
// robin over its files, keeping at most `ahead` pages of a file that the main thread has not
// taken yet; it sends them on `port` (read synchronously there with receiveMessageOnPort): { file, page } |
// { file, done: true } | { file, error: { code, message } } | { closed: true }. The shared
// Int32Array `signal`: [0] bumped (and notified) after each message; [1] 1 once started, 2
// when exiting, so a waiting main thread never waits on a dead one; [2] bumped (and notified)
// by the main thread when it takes a page or asks to close; [3] 1: close; [4 + file] pages of
// that file the main thread has taken.

export const READ_WORKER_SOURCE = String.raw`
"use strict";
const { workerData: boot, parentPort } = require("node:worker_threads");
const Database = require(boot.module);
// Started ahead of its work (threads.ts): the work is the first message.
parentPort.once("message", (work) => read(work));

function read(workerData) {
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
  const SEP = "\x1f";
  const KEY_RUN = 2048;
  const APPROVALS = new Map([["", 0], ["approved", 1], ["rejected", 2], ["timeout", 3], ["unavailable", 4]]);

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
    // Reading every row, it will meet nearly every key: reading them in runs of ids is much
    // cheaper than a look-up each (about 10 us each, measured). Keys are numbered as calls first
    // use them, so the runs are met about in order, and the first page does not wait for them
    // all. A filtered read looks up the few keys it meets.
    const keyRun = f.everyRow
      ? db
          .prepare(
            "SELECT id, session, identity, tool, decision, code, rule FROM call_keys " +
              "WHERE id > ? ORDER BY id LIMIT ?",
          )
          .raw()
      : null;
    return {
      keyRun,
      keyRows: new Map(),
      keysThrough: 0,
      f,
      db,
      stmt,
      iter: null,
      last: null,
      // call_keys id -> dense id + 1 (0: not seen yet).
      keyIds: new Int32Array(1024),
      // Keys of rows read from their columns, by JSON text -> dense id.
      dict: new Map(),
      nextKey: 0,
      side: null,
      produced: 0,
      finished: false,
    };
  }

  function closeCursor(c) {
    if (!c.db) return;
    if (c.iter) c.iter.return();
    c.iter = null;
    if (c.side) c.side.db.close();
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

  // A second connection for the occasional look-up: the main one may be in the middle of a
  // statement. Its snapshot may be newer than the main one's, which is fine for what it reads: a
  // key row is never changed once written, and one a row points at was written before the row.
  function side(c) {
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
              ", session, identity, tool, decision, code, rule FROM calls WHERE id = ?",
          )
          .raw(),
      };
    }
    return c.side;
  }

  const keyFields = (r, at) => [
    String(r[at]),
    String(r[at + 1]),
    String(r[at + 2]),
    String(r[at + 3]),
    String(r[at + 4]),
    r[at + 5] === null ? null : String(r[at + 5]),
  ];

  // The dense id (0, 1, 2, ... in order of first use) of call_keys row k; undefined if there is
  // no such row. New ones go to newKeys, for the main thread.
  function tableKey(c, k, newKeys) {
    const map = c.keyIds;
    if (k < map.length && map[k] !== 0) return map[k] - 1;
    let r;
    let at = 0;
    if (c.keyRun === null) {
      r = side(c).key.get(k);
    } else {
      at = 1;
      while (k > c.keysThrough) {
        const run = c.keyRun.all(c.keysThrough, Math.max(KEY_RUN, k - c.keysThrough));
        if (run.length === 0) break;
        for (const row of run) c.keyRows.set(row[0], row);
        c.keysThrough = run[run.length - 1][0];
      }
      r = c.keyRows.get(k);
      // Each key is met first once: it need not be kept here after that.
      if (r !== undefined) c.keyRows.delete(k);
    }
    if (r === undefined) return undefined;
    const id = c.nextKey++;
    newKeys.push(keyFields(r, at));
    if (k >= c.keyIds.length) {
      const grown = new Int32Array(Math.max(k + 1, c.keyIds.length * 2));
      grown.set(c.keyIds);
      c.keyIds = grown;
    }
    c.keyIds[k] = id + 1;
    return id;
  }

  function page(c) {
    const list = rows(c);
    const n = list.length;
    if (n === 0) return null;
    const withArgs = c.f.withArgs;
    const nums = new Float64Array(n * 3);
    const keys = new Int32Array(n);
    const approvals = new Uint8Array(n);
    const spans = withArgs ? new Int32Array(n * 2) : null;
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
      let argStart = withArgs && q + 1 < s.length ? base + q + 1 : -1;
      let argEnd = base + s.length;
      if (key === undefined || Number.isNaN(ts) || Number.isNaN(retry) || approval === undefined) {
        // A row without a key (written by hand, or edited since), or one that does not read
        // back from its text: its columns one by one.
        const r = side(c).row.get(id);
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
}
`;

import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  type Worker,
} from "node:worker_threads";
import { StoreError } from "./errors.js";
import { openStoreReadOnly, type ReadOpenOptions } from "./open.js";
import {
  APPROVALS,
  type CallKey,
  EXITING,
  type Page,
  type ReaderMessage,
  type ReadWork,
  SIGNAL,
} from "./protocol.js";
import { startThread } from "./threads.js";
import type { ApprovalAnswer, CallQuery } from "./types.js";

export type { CallKey } from "./protocol.js";

/**
 * The row a stream is at. One object, updated in place as the stream moves on: copy what you
 * keep. `keyId` numbers the distinct keys of one file (0, 1, 2, ...), so a reader can cache
 * per-key facts in an array and need not look at `key` again (each look is a memory access
 * of its own, and at a million rows those cache misses add up).
 */
export class CallCursor {
  /** Position of the row's file in the list given to streamCalls. */
  file = 0;
  /** The row id (calls.id). */
  id = 0;
  ts = 0;
  keyId = 0;
  retryAfterMs: number | null = null;
  approval: ApprovalAnswer | null = null;
  /** The arguments are `argsText.slice(argsStart, argsEnd)`; argsStart -1: none recorded. */
  argsText = "";
  argsStart = -1;
  argsEnd = -1;
  /** The keys of the row's file. */
  keys: readonly CallKey[] = [];

  get key(): CallKey {
    return this.keys[this.keyId]!;
  }
}

// The arguments come last: everything after the call key's separator is theirs, whatever it
// holds. The counter's sequence, when it is read, follows the time.
const ROW_TEXT = (withArgs: boolean, withSeq: boolean): string =>
  `concat_ws(char(31), id, ts, ${withSeq ? "ifnull(counter_seq, ''), " : ""}` +
  "ifnull(retry_after_ms, ''), ifnull(approval, ''), " +
  `ifnull(call_key, '')${withArgs ? ", ifnull(arguments, '')" : ""})`;
/** Pages a reader thread keeps ready per file, so it never waits for the main thread. */
const AHEAD = 8;
/**
 * The main thread wakes a reader every this many pages taken, not at each: waking a sleeping
 * thread is a system call and a context switch (about 30 us on the main thread, measured: 2,000
 * of them for a million calls). Half of AHEAD, so the reader is woken with pages still ready.
 */
const WAKE_EVERY = AHEAD / 2;
// Rows a page: its text stays under V8's large-object size (128 KiB), so a spent page is freed
// by the cheap young-generation collection. With 4,096-row pages, each one a large object that
// only a full collection frees, peak memory grew with the recording (171 MB at 250,000 calls,
// 212 MB at 1,000,000; 151 and 160 MB with 512). The text holds only the arguments a decision
// may look at, and a page ends sooner when they are long (TEXT_BUDGET in read.worker.ts).
const PAGE_ROWS = 512;
const THREADS = 2;
/** How long a reader thread may take to start before we stop waiting for it. */
const START_TIMEOUT_MS = 30_000;

/**
 * The statement a reader runs for one file, and whether it pages by keyset. Filters go into SQL:
 * the time range and identities as plain comparisons on the calls_by_ts scan; sessions through
 * calls_by_session, sorted once (a keyset page would sort the whole slice again each time).
 */
export function callsSql(
  query: CallQuery,
  withArgs: boolean,
  withSeq = false,
): { sql: string; params: (string | number)[]; paged: boolean } {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (query.since !== undefined) {
    where.push("ts >= ?");
    params.push(query.since);
  }
  if (query.until !== undefined) {
    where.push("ts < ?");
    params.push(query.until);
  }
  if (query.identities !== undefined) {
    where.push("identity IN (SELECT value FROM json_each(?))");
    params.push(JSON.stringify(query.identities));
  }
  const select = `SELECT ${ROW_TEXT(withArgs, withSeq)} FROM calls`;
  if (query.sessions !== undefined) {
    where.unshift("session IN (SELECT value FROM json_each(?))");
    params.unshift(JSON.stringify(query.sessions));
    return {
      sql: `${select} INDEXED BY calls_by_session WHERE ${where.join(" AND ")} ORDER BY ts, id`,
      params,
      paged: false,
    };
  }
  where.unshift("(ts, id) > (?, ?)");
  return {
    sql: `${select} WHERE ${where.join(" AND ")} ORDER BY ts, id LIMIT ?`,
    params,
    paged: true,
  };
}

const isUnfiltered = (q: CallQuery): boolean =>
  q.since === undefined &&
  q.until === undefined &&
  q.identities === undefined &&
  q.sessions === undefined;

/** What one reader reads: a file, and its position in the list given. */
interface Part {
  index: number;
  file: string;
}

/** One reader thread and the parts it reads. */
class ReaderThread {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal: Int32Array;
  private readonly started = Date.now();
  private closed = false;

  constructor(
    private readonly parts: Part[],
    totalParts: number,
    query: CallQuery,
    withArgs: boolean,
    pageRows: number,
  ) {
    const channel = new MessageChannel();
    const shared = new SharedArrayBuffer(4 * (SIGNAL.TAKEN + totalParts));
    this.signal = new Int32Array(shared);
    this.port = channel.port1;
    // A thread that dies says so through the signal.
    this.worker = startThread("reader");
    const work: ReadWork = {
      type: "read",
      port: channel.port2,
      signal: shared,
      ahead: AHEAD,
      files: parts.map((p) => ({
        file: p.file,
        index: p.index,
        pageRows,
        withArgs,
        argumentTools: withArgs ? (query.argumentTools ?? null) : null,
        withSeq: totalParts > 1,
        everyRow: isUnfiltered(query),
        ...callsSql(query, withArgs, totalParts > 1),
      })),
    };
    this.worker.postMessage(work, [channel.port2]);
  }

  /** The main thread took a page of `file`: the thread may read one more of it. */
  taken(file: number): void {
    const before = Atomics.add(this.signal, SIGNAL.TAKEN + file, 1);
    if ((before + 1) % WAKE_EVERY === 0) this.wake();
  }

  /** The thread's next message, waiting for it (the main thread has nothing else to do). */
  receive(): ReaderMessage {
    for (;;) {
      const seen = Atomics.load(this.signal, SIGNAL.POSTED);
      const m = receiveMessageOnPort(this.port);
      if (m) return m.message as ReaderMessage;
      const state = Atomics.load(this.signal, SIGNAL.STATE);
      if (state === EXITING || (state === 0 && Date.now() - this.started > START_TIMEOUT_MS)) {
        const last = receiveMessageOnPort(this.port);
        if (last) return last.message as ReaderMessage;
        const file = this.parts[0]?.file ?? "";
        throw new StoreError("store_io", file, `${file}: the reader thread stopped unexpectedly`);
      }
      Atomics.wait(this.signal, SIGNAL.POSTED, seen, 1000);
    }
  }

  /** Stop reading: the thread ends its read transactions and goes; waits for that, briefly. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.signal, SIGNAL.CLOSE, 1);
    this.wake();
    const deadline = Date.now() + 5000;
    try {
      while (Date.now() < deadline) {
        const m = this.receive();
        if (m.type === "closed") return;
      }
    } catch {
      // Gone already: its transactions ended with it.
    }
  }

  private wake(): void {
    Atomics.add(this.signal, SIGNAL.WAKE, 1);
    Atomics.notify(this.signal, SIGNAL.WAKE);
  }
}

/** One file's pages as they arrive, and the row it is at. */
class Source {
  readonly keys: CallKey[] = [];
  /** The strings of the file's keys, as the reader numbers them (Page.newStrings). */
  private readonly strings: string[] = [];
  private readonly queue: Page[] = [];
  private finished = false;
  page: Page | null = null;
  row = 0;

  constructor(
    readonly index: number,
    readonly file: string,
    private readonly thread: ReaderThread,
    private readonly route: (m: ReaderMessage) => void,
    private readonly intern: (s: string) => string,
  ) {}

  accept(m: ReaderMessage): void {
    if (m.type === "page") {
      this.queue.push(m.page);
    } else if (m.type === "done") {
      this.finished = true;
    } else if (m.type === "error") {
      this.finished = true;
      throw readError(this.file, m.error);
    }
  }

  /** Move to the next page; false at the end of the file. */
  advance(): boolean {
    while (this.queue.length === 0) {
      if (this.finished) return false;
      this.route(this.thread.receive());
    }
    const page = this.queue.shift()!;
    this.thread.taken(this.index);
    const strings = this.strings;
    for (const s of page.newStrings) strings.push(this.intern(s));
    const f = page.newKeys;
    for (let i = 0; i < f.length; i += 6) {
      this.keys.push([
        strings[f[i]!]!,
        strings[f[i + 1]!]!,
        strings[f[i + 2]!]!,
        strings[f[i + 3]!]!,
        strings[f[i + 4]!]!,
        f[i + 5]! < 0 ? null : strings[f[i + 5]!]!,
      ]);
    }
    this.page = page;
    this.row = 0;
    return true;
  }
}

function readError(file: string, e: { code: string; message: string }): StoreError {
  if (e.code === "SQLITE_NOTADB" || e.code.startsWith("SQLITE_CORRUPT"))
    return new StoreError(
      "store_corrupt",
      file,
      `${file}: not a recording: the file is not a SQLite database or is damaged (${e.message})`,
    );
  return new StoreError("store_io", file, `${file}: ${e.message}`);
}

/**
 * One string object per distinct text, and that one V8's internalized copy: strings that come
 * across from the reader threads are fresh copies, and every Map lookup and comparison on them
 * downstream (tools, identities, sessions, codes) would compare contents instead of pointers.
 */
function interner(): (s: string) => string {
  const seen = new Map<string, string>();
  return (s) => {
    let v = seen.get(s);
    if (v === undefined) {
      // A property key is internalized; Object.keys hands back that copy.
      const o: Record<string, 0> = {};
      o[s] = 0;
      v = Object.keys(o)[0] ?? s;
      seen.set(s, v);
    }
    return v;
  };
}

/**
 * The recorded calls of one or more recordings in recorded order: each file by (ts, row id),
 * several merged (see before()). Filters in `query` are applied in SQL.
 * Every file is checked (and an older schema upgraded) when the stream is made: StoreError for
 * a missing, corrupt, too-new or non-recording file. Memory is a few pages per file however
 * long the recordings are; the rows are read on other threads. Call next() until it returns
 * false (the cursor then holds the row), and close() when done early.
 */
export class CallStream {
  /** The current row; updated in place by next(). */
  readonly cursor = new CallCursor();
  private readonly threads: ReaderThread[] = [];
  private readonly sources: Source[] = [];
  private readonly heap: Source[] = [];
  /** The source of the row under the cursor, advanced on the next call to next(). */
  private current: Source | null = null;
  private started = false;

  constructor(files: readonly string[], query: CallQuery = {}, opts: ReadOpenOptions = {}) {
    for (const file of files) openStoreReadOnly(file, opts).close();
    if (files.length === 0) return;
    const withArgs = query.arguments !== false;
    // One thread per file, at most two: reading (SQLite, cutting rows up) and replaying cost
    // about the same, so one reader keeps the main thread busy on this 2-core target; a file
    // read by two threads, each its share of the rows, measured no faster and used more CPU.
    const parts: Part[] = files.map((file, index) => ({ index, file }));
    const threadCount = Math.min(THREADS, parts.length);
    const pageRows = PAGE_ROWS;
    try {
      for (let t = 0; t < threadCount; t++) {
        const mine = parts.filter((p) => p.index % threadCount === t);
        this.threads.push(new ReaderThread(mine, parts.length, query, withArgs, pageRows));
      }
      const route = (m: ReaderMessage): void => {
        if (m.type !== "closed") this.sources[m.file]!.accept(m);
      };
      const intern = interner();
      for (const p of parts) {
        this.sources.push(
          new Source(p.index, p.file, this.threads[p.index % threadCount]!, route, intern),
        );
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Move to the next row; false at the end (the stream is then closed). */
  next(): boolean {
    try {
      if (this.sources.length === 1) return this.nextSingle(this.sources[0]!);
      return this.nextMerged();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Stop reading: the threads end their read transactions (waited for) and go. */
  close(): void {
    for (const t of this.threads) t.close();
  }

  private nextSingle(s: Source): boolean {
    if (s.page === null || ++s.row >= s.page.n) {
      // An empty page never comes: a reader thread says "done" instead.
      if (!s.advance()) {
        this.close();
        return false;
      }
    }
    load(this.cursor, s, s.page!, s.row);
    return true;
  }

  private nextMerged(): boolean {
    const heap = this.heap;
    if (!this.started) {
      this.started = true;
      for (const s of this.sources) if (s.advance()) push(heap, s);
    } else if (this.current !== null) {
      const s = this.current;
      if (++s.row >= s.page!.n && !s.advance()) {
        const last = heap.pop()!;
        if (heap.length > 0 && last !== s) {
          heap[0] = last;
          siftDown(heap, 0);
        }
      } else {
        siftDown(heap, 0);
      }
    }
    if (heap.length === 0) {
      this.current = null;
      this.close();
      return false;
    }
    const s = heap[0]!;
    this.current = s;
    load(this.cursor, s, s.page!, s.row);
    return true;
  }
}

/** The rows of a CallStream as a generator (the cursor object is reused: copy what you keep). */
export function* streamCalls(
  files: readonly string[],
  query: CallQuery = {},
): Generator<CallCursor, void, undefined> {
  const stream = new CallStream(files, query);
  try {
    while (stream.next()) yield stream.cursor;
  } finally {
    stream.close();
  }
}

function load(c: CallCursor, s: Source, p: Page, i: number): void {
  const retry = p.nums[i * 3 + 2]!;
  c.file = s.index;
  c.id = p.nums[i * 3]!;
  c.ts = p.nums[i * 3 + 1]!;
  c.keyId = p.keys[i]!;
  c.keys = s.keys;
  c.retryAfterMs = Number.isNaN(retry) ? null : retry;
  c.approval = (APPROVALS[p.approvals[i]!] ?? null) as ApprovalAnswer | null;
  if (p.spans !== null && p.spans[i * 2]! >= 0) {
    c.argsText = p.text!;
    c.argsStart = p.spans[i * 2]!;
    c.argsEnd = p.spans[i * 2 + 1]!;
  } else {
    // Not the page's text: a call kept (a report's listing) would keep it alive.
    c.argsText = "";
    c.argsStart = -1;
    c.argsEnd = -1;
  }
}

/**
 * a's current row comes before b's, merging several files: by time; in one millisecond by the
 * counter service's sequence (a call without one before any with one), so that calls decided
 * against one Redis replay in the order Redis decided them; then by position in the list and
 * row id. Only the files' next rows are compared, so each file keeps its own order.
 */
function before(a: Source, b: Source): boolean {
  const pa = a.page!;
  const pb = b.page!;
  const ta = pa.nums[a.row * 3 + 1]!;
  const tb = pb.nums[b.row * 3 + 1]!;
  if (ta !== tb) return ta < tb;
  const sa = pa.seqs![a.row]!;
  const sb = pb.seqs![b.row]!;
  if (sa !== sb) return sa < sb;
  if (a.index !== b.index) return a.index < b.index;
  return pa.nums[a.row * 3]! < pb.nums[b.row * 3]!;
}

function push(heap: Source[], s: Source): void {
  heap.push(s);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i]!, heap[parent]!)) break;
    [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
    i = parent;
  }
}

function siftDown(heap: Source[], i: number): void {
  for (;;) {
    const l = i * 2 + 1;
    const r = l + 1;
    let m = i;
    if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
    if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
    if (m === i) return;
    [heap[i], heap[m]] = [heap[m]!, heap[i]!];
    i = m;
  }
}

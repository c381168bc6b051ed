// The JSON report's calls array, written as UTF-8 bytes straight into large chunks: the same
// text as JSON.stringify(resultJson(r)) (tests hold them byte-equal), without building a string
// per call. A million calls make about 350 MB of report, so this is the report's whole cost.
import type { Decision } from "../../engine/index.js";
import type { CallResult } from "../replay.js";

/**
 * Where the chunks go; true when it is done with the chunk (its memory is then reused), false
 * when it keeps it (a stream's queue), and the chunk is never written to again.
 */
export type ChunkOut = (chunk: Uint8Array) => boolean;

const utf8 = new TextEncoder();
const ascii = (s: string): Uint8Array => utf8.encode(s);

// The constant parts of a call, between its values.
const OPEN_FIRST = ascii('\n{"index":');
const OPEN = ascii(',\n{"index":');
const LINE = ascii(',"line":');
const SESSION = ascii(',"session":');
const ORDINAL = ascii(',"ordinal":');
const IDENTITY = ascii(',"identity":');
const TS = ascii(',"ts":');
const TOOL = ascii(',"tool":');
const DECISION = ascii(',"decision":');
const CODE = ascii(',"code":');
const RULE = ascii(',"rule":');
const REASON = ascii(',"reason":');
const RETRY = ascii(',"retry_after_ms":');
const LIMIT = ascii(',"limit":');
const COUNTER = ascii('{"counter":');
const SCOPE = ascii(',"scope":');
const ALGORITHM = ascii(',"algorithm":');
const WINDOW = ascii(',"window_ms":');
const MAX = ascii(',"max":');
const COUNT = ascii(',"count":');
const APPROVAL = ascii(',"approval":');
const INEXACT = ascii(',"inexact":');
const BEFORE = ascii(',"before":');
const BEFORE_DECISION = ascii('{"decision":');
const CHANGE = ascii(',"change":');
const ACCEPTED = ascii(',"accepted":');
const COUNTERFACTUAL = ascii(',"counterfactual":');
const NULL = ascii("null");
const TRUE = ascii("true");
const FALSE = ascii("false");
const CLOSE = ascii("}");
// The most a call's constant parts, numbers and booleans take: its strings come on top.
const FIXED_BYTES = 1024;

/** Bytes kept for strings seen before; dropped whole past this many, so memory stays flat. */
const CACHE_LIMIT = 1 << 16;

const POW10: number[] = [];
for (let i = 0, x = 1; i <= 8; i++, x *= 10) POW10.push(x);

/** A decision's serialized fields, kept by what they are made of (see JsonCallWriter.outcome). */
interface Segment {
  decision: string;
  code: string;
  rule: string | null;
  reason: string | null;
  approval: string | null;
  bytes: Uint8Array;
  /** bytes followed by each of PLAIN_TAILS, made when first needed: one copy for the rest. */
  plain: (Uint8Array | undefined)[];
  /** The decision last found to have this segment. */
  last: Decision | null;
}

// The fields after the outcome of a call compared with nothing: `inexact`, `before` null,
// `change` null, `accepted`, `counterfactual`, indexed by those three flags.
const PLAIN_TAILS = [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
  ascii(
    `,"inexact":${(i & 4) !== 0},"before":null,"change":null,` +
      `"accepted":${(i & 2) !== 0},"counterfactual":${(i & 1) !== 0}}`,
  ),
);

/**
 * Writes the calls of a JSON report, `,\n`-separated after a first `\n`, into chunks of about
 * `size` bytes handed to `out`. Names from the input are copied in as they are when they need no
 * escape, else serialized by JSON.stringify once and their bytes kept, as are rules, reasons and
 * codes; numbers are written digit by digit; everything else is a constant. A decision without
 * a limit is serialized once per distinct (decision, code, rule, reason, approval): the
 * policy's rules make few of them.
 */
export class JsonCallWriter {
  private buf: Uint8Array;
  private pos = 0;
  private first = true;
  private readonly strings = new Map<string, Uint8Array>();
  /** Segments by rule (null as ""), the few of each rule in a list compared by identity. */
  private readonly segments = new Map<string, Segment[]>();
  private readonly byDecision = new WeakMap<Decision, Segment>();
  private segmentCount = 0;
  private readonly index = new Digits();
  private readonly line = new Digits();
  private tsHigh = -1;
  private readonly tsHighScratch = new Uint8Array(24);
  private tsHighBytes = this.tsHighScratch.subarray(0, 0);

  constructor(
    private readonly out: ChunkOut,
    private readonly size = 1 << 20,
  ) {
    this.buf = new Uint8Array(size);
  }

  add(r: CallResult): void {
    const { call } = r.source;
    const { session, identity, tool } = call;
    const d = r.decision;
    const cached = d.limit === null && r.after.retry_after_ms === null;
    const plain = r.before === null && r.change === null;
    const segment = cached ? this.outcome(r) : null;
    const flags = (r.inexact ? 4 : 0) | (r.accepted ? 2 : 0) | (r.counterfactual ? 1 : 0);
    // The usual call: its outcome and the fields after it in one piece.
    const rest = segment !== null && plain ? plainRest(segment, flags) : null;
    const outcome = rest ?? segment?.bytes ?? null;
    // Escaped, a UTF-16 unit takes at most 6 bytes.
    let room = FIXED_BYTES + 6 * (session.length + identity.length + tool.length);
    room += outcome !== null ? outcome.length : this.outcomeRoom(r);
    if (!plain) room += this.comparedRoom(r);
    this.reserve(room);
    const buf = this.buf;
    let p = this.pos;
    p = put(buf, p, this.first ? OPEN_FIRST : OPEN);
    this.first = false;
    p = this.index.put(buf, p, r.source.index);
    p = put(buf, p, LINE);
    p = this.line.put(buf, p, r.source.line);
    p = put(buf, p, SESSION);
    p = this.putString(buf, p, session);
    p = put(buf, p, ORDINAL);
    p = putNumber(buf, p, r.ordinal);
    p = put(buf, p, IDENTITY);
    p = this.putString(buf, p, identity);
    p = put(buf, p, TS);
    p = this.putTs(buf, p, call.ts);
    p = put(buf, p, TOOL);
    p = this.putString(buf, p, tool);
    if (rest !== null) {
      this.pos = put(buf, p, rest);
      return;
    }
    p = outcome !== null ? put(buf, p, outcome) : this.putOutcome(buf, p, r);
    this.pos = plain ? put(buf, p, PLAIN_TAILS[flags]!) : this.putCompared(buf, p, r);
  }

  /** Text around the calls (the document's head and tail), written in order with them. */
  text(s: string): void {
    const bytes = utf8.encode(s);
    this.reserve(bytes.length);
    this.pos = put(this.buf, this.pos, bytes);
  }

  /** Hand over what is written so far. */
  flush(): void {
    if (this.pos === 0) return;
    const done = this.out(this.buf.subarray(0, this.pos));
    if (!done || this.buf.length !== this.size) this.buf = new Uint8Array(this.size);
    this.pos = 0;
  }

  /** Room for `n` more bytes: the chunk so far goes out first when it would overflow. */
  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) this.buf = new Uint8Array(n);
  }

  /** `,"decision":` to `"approval":…` for a decision without a limit, made once and kept. */
  private outcome(r: CallResult): Segment {
    const a = r.after;
    const d = r.decision;
    const approval = a.approval ?? null;
    // Without an approval answer the segment is the decision's alone, and most decisions are
    // a rule's one shared object: found by identity, once it has been seen twice.
    if (approval === null) {
      const known = this.byDecision.get(d);
      if (known !== undefined) return known;
    }
    const s = this.lookup(r, approval);
    if (approval === null) {
      if (s.last === d) this.byDecision.set(d, s);
      else s.last = d;
    }
    return s;
  }

  /** outcome()'s segment, found (or made) by what it is made of. */
  private lookup(r: CallResult, approval: string | null): Segment {
    const a = r.after;
    const reason = r.decision.reason;
    const key = a.rule ?? "";
    let list = this.segments.get(key);
    if (list !== undefined) {
      for (const s of list) {
        if (
          s.decision === a.decision &&
          s.code === a.code &&
          s.rule === a.rule &&
          s.reason === reason &&
          s.approval === approval
        ) {
          return s;
        }
      }
    } else {
      if (this.segmentCount >= CACHE_LIMIT) {
        this.segments.clear();
        this.segmentCount = 0;
      }
      list = [];
      this.segments.set(key, list);
    }
    const scratch = new Uint8Array(FIXED_BYTES + this.outcomeRoom(r));
    const bytes = scratch.slice(0, this.putOutcome(scratch, 0, r));
    const segment: Segment = {
      decision: a.decision,
      code: a.code,
      rule: a.rule,
      reason,
      approval,
      bytes,
      plain: [],
      last: null,
    };
    list.push(segment);
    this.segmentCount++;
    return segment;
  }

  /**
   * A call's time: its digits above the last five change every 100 s, so they are kept and
   * only the last five written (exactly: n % 1e5 and the rest divided are whole numbers).
   */
  private putTs(buf: Uint8Array, p: number, ts: number): number {
    if (!(ts >= 1e5 && ts <= Number.MAX_SAFE_INTEGER && Math.floor(ts) === ts)) {
      return putNumber(buf, p, ts);
    }
    const low = ts % 1e5;
    const high = (ts - low) / 1e5;
    if (high !== this.tsHigh) {
      this.tsHigh = high;
      this.tsHighBytes = this.tsHighScratch.subarray(0, putNumber(this.tsHighScratch, 0, high));
    }
    return putSmall(buf, put(buf, p, this.tsHighBytes), low, 5);
  }

  /** What putOutcome() writes besides constants and numbers. */
  private outcomeRoom(r: CallResult): number {
    const a = r.after;
    const d = r.decision;
    return (
      this.str(a.decision).length +
      this.str(a.code).length +
      (a.rule === null ? 0 : this.str(a.rule).length) +
      (d.reason === null ? 0 : this.str(d.reason).length) +
      (d.limit === null ? 0 : this.str(d.limit.counter).length)
    );
  }

  private putOutcome(buf: Uint8Array, p: number, r: CallResult): number {
    const a = r.after;
    const d = r.decision;
    const limit = d.limit;
    p = put(buf, p, DECISION);
    p = put(buf, p, this.str(a.decision));
    p = put(buf, p, CODE);
    p = put(buf, p, this.str(a.code));
    p = put(buf, p, RULE);
    p = put(buf, p, a.rule === null ? NULL : this.str(a.rule));
    p = put(buf, p, REASON);
    p = put(buf, p, d.reason === null ? NULL : this.str(d.reason));
    p = put(buf, p, RETRY);
    p = a.retry_after_ms === null ? put(buf, p, NULL) : putNumber(buf, p, a.retry_after_ms);
    p = put(buf, p, LIMIT);
    if (limit === null) {
      p = put(buf, p, NULL);
    } else {
      p = put(buf, p, COUNTER);
      p = put(buf, p, this.str(limit.counter));
      p = put(buf, p, SCOPE);
      p = put(buf, p, this.str(limit.scope));
      p = put(buf, p, ALGORITHM);
      p = put(buf, p, this.str(limit.algorithm));
      p = put(buf, p, WINDOW);
      p = putNumber(buf, p, limit.window_ms);
      p = put(buf, p, MAX);
      p = putNumber(buf, p, limit.max);
      p = put(buf, p, COUNT);
      p = putNumber(buf, p, limit.count);
      p = put(buf, p, CLOSE);
    }
    p = put(buf, p, APPROVAL);
    return put(buf, p, a.approval == null ? NULL : this.str(a.approval));
  }

  /** What putCompared() writes besides constants and numbers. */
  private comparedRoom(r: CallResult): number {
    const b = r.before;
    return b === null
      ? 0
      : this.str(b.decision).length +
          this.str(b.code).length +
          (b.rule === null ? 0 : this.str(b.rule).length);
  }

  /** From `,"inexact":` to the end, for a call compared with something. */
  private putCompared(buf: Uint8Array, p: number, r: CallResult): number {
    const b = r.before;
    p = put(buf, p, INEXACT);
    p = put(buf, p, r.inexact ? TRUE : FALSE);
    p = put(buf, p, BEFORE);
    if (b === null) {
      p = put(buf, p, NULL);
    } else {
      p = put(buf, p, BEFORE_DECISION);
      p = put(buf, p, this.str(b.decision));
      p = put(buf, p, CODE);
      p = put(buf, p, this.str(b.code));
      p = put(buf, p, RULE);
      p = put(buf, p, b.rule === null ? NULL : this.str(b.rule));
      p = put(buf, p, RETRY);
      p = b.retry_after_ms === null ? put(buf, p, NULL) : putNumber(buf, p, b.retry_after_ms);
      p = put(buf, p, CLOSE);
    }
    p = put(buf, p, CHANGE);
    p = put(buf, p, r.change === null ? NULL : this.str(r.change));
    p = put(buf, p, ACCEPTED);
    p = put(buf, p, r.accepted ? TRUE : FALSE);
    p = put(buf, p, COUNTERFACTUAL);
    p = put(buf, p, r.counterfactual ? TRUE : FALSE);
    return put(buf, p, CLOSE);
  }

  /**
   * JSON.stringify(s) written at `p`: copied as it is when it is printable ASCII without a
   * quote or backslash (names usually are; no lookup to pay), else from str().
   */
  private putString(buf: Uint8Array, p: number, s: string): number {
    const n = s.length;
    buf[p] = 34;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 32 || c > 126 || c === 34 || c === 92) return put(buf, p, this.str(s));
      buf[p + 1 + i] = c;
    }
    buf[p + 1 + n] = 34;
    return p + n + 2;
  }

  /** JSON.stringify(s) as UTF-8 (lone surrogates come out escaped, so nothing is lost). */
  private str(s: string): Uint8Array {
    let bytes = this.strings.get(s);
    if (bytes === undefined) {
      if (this.strings.size >= CACHE_LIMIT) this.strings.clear();
      bytes = utf8.encode(JSON.stringify(s));
      this.strings.set(s, bytes);
    }
    return bytes;
  }
}

function plainRest(s: Segment, flags: number): Uint8Array {
  let rest = s.plain[flags];
  if (rest === undefined) {
    const tail = PLAIN_TAILS[flags]!;
    rest = new Uint8Array(s.bytes.length + tail.length);
    rest.set(s.bytes);
    rest.set(tail, s.bytes.length);
    s.plain[flags] = rest;
  }
  return rest;
}

/** Copy `src` in at `p`; returns the position after it. Short copies beat a call to set(). */
function put(buf: Uint8Array, p: number, src: Uint8Array): number {
  const n = src.length;
  if (n > 64) {
    buf.set(src, p);
    return p + n;
  }
  for (let i = 0; i < n; i++) buf[p + i] = src[i]!;
  return p + n;
}

/**
 * A number that usually goes up by one from call to call (index, line), kept as digits: the next
 * is the last with its digits carried, one or two byte changes rather than a conversion.
 */
class Digits {
  /** Always a safe whole number, so adding one is carrying. */
  private n = 0;
  private readonly digits = new Uint8Array(16);
  private len = 1;

  constructor() {
    this.digits[0] = 48;
  }

  put(buf: Uint8Array, p: number, n: number): number {
    if (n !== this.n) {
      if (n === this.n + 1 && n <= Number.MAX_SAFE_INTEGER) this.increment();
      else if (Number.isSafeInteger(n) && n >= 0) this.len = putNumber(this.digits, 0, n);
      else return putNumber(buf, p, n);
      this.n = n;
    }
    const d = this.digits;
    const len = this.len;
    for (let i = 0; i < len; i++) buf[p + i] = d[i]!;
    return p + len;
  }

  private increment(): void {
    const d = this.digits;
    let i = this.len - 1;
    while (i >= 0 && d[i] === 57) d[i--] = 48;
    if (i >= 0) {
      d[i]!++;
      return;
    }
    // 99...9 + 1: a one in front of the zeros.
    d.copyWithin(1, 0, this.len);
    d[0] = 49;
    this.len++;
  }
}

/** "00" to "99": two digits per division. */
const PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  PAIRS[2 * i] = 48 + Math.floor(i / 10);
  PAIRS[2 * i + 1] = 48 + (i % 10);
}

/** A number as JSON.stringify writes it: digit by digit for the usual safe non-negative integer. */
function putNumber(buf: Uint8Array, p: number, n: number): number {
  if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && Math.floor(n) === n)) {
    return put(buf, p, utf8.encode(Number.isFinite(n) ? String(n) : "null"));
  }
  if (n < 1e8) return putSmall(buf, p, n, 0);
  // Times are 13 digits: split exactly (n / 10 may round up past 2^53 / 10) into int-sized halves.
  const low = n % 1e8;
  return putSmall(buf, putNumber(buf, p, (n - low) / 1e8), low, 8);
}

/** An integer below 1e8, in at least `width` digits (zeros in front). */
function putSmall(buf: Uint8Array, p: number, n: number, width: number): number {
  let len = 1;
  while (len < 8 && n >= POW10[len]!) len++;
  if (len < width) len = width;
  let i = p + len;
  while (i - p >= 2) {
    const q = (n / 100) | 0;
    const k = 2 * (n - q * 100);
    buf[--i] = PAIRS[k + 1]!;
    buf[--i] = PAIRS[k]!;
    n = q;
  }
  if (i > p) buf[--i] = 48 + n;
  return p + len;
}

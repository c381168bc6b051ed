// The JSON report's calls array, written as UTF-8 bytes straight into large chunks: the same
// text as JSON.stringify(resultJson(r)) (tests hold them byte-equal), without building a string
// per call. A million calls make about 350 MB of report, so this is the report's whole cost.
import type { CallResult } from "../replay.js";

/** Where the chunks go: each is handed over whole and never written to again. */
export type ChunkOut = (chunk: Uint8Array) => void;

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
 * `size` bytes handed to `out`. Strings (names from the input, rules and reasons from the
 * policy) are serialized by JSON.stringify once each and their bytes kept; numbers are written
 * digit by digit; everything else is a constant. A decision without a limit is serialized once
 * per distinct (decision, code, rule, reason, approval): the policy's rules make few of them.
 */
export class JsonCallWriter {
  private buf: Uint8Array;
  private pos = 0;
  private first = true;
  private readonly strings = new Map<string, Uint8Array>();
  /** Segments by rule (null as ""), the few of each rule in a list compared by identity. */
  private readonly segments = new Map<string, Segment[]>();
  private segmentCount = 0;

  constructor(
    private readonly out: ChunkOut,
    private readonly size = 1 << 20,
  ) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  add(r: CallResult): void {
    const { call } = r.source;
    const session = this.str(call.session);
    const identity = this.str(call.identity);
    const tool = this.str(call.tool);
    const outcome = this.outcome(r);
    const b = r.before;
    const tail =
      b === null && r.change === null
        ? PLAIN_TAILS[(r.inexact ? 4 : 0) | (r.accepted ? 2 : 0) | (r.counterfactual ? 1 : 0)]!
        : this.compared(r);
    this.reserve(
      FIXED_BYTES + session.length + identity.length + tool.length + outcome.length + tail.length,
    );
    const buf = this.buf;
    let p = this.pos;
    p = put(buf, p, this.first ? OPEN_FIRST : OPEN);
    this.first = false;
    p = putNumber(buf, p, r.source.index);
    p = put(buf, p, LINE);
    p = putNumber(buf, p, r.source.line);
    p = put(buf, p, SESSION);
    p = put(buf, p, session);
    p = put(buf, p, ORDINAL);
    p = putNumber(buf, p, r.ordinal);
    p = put(buf, p, IDENTITY);
    p = put(buf, p, identity);
    p = put(buf, p, TS);
    p = putNumber(buf, p, call.ts);
    p = put(buf, p, TOOL);
    p = put(buf, p, tool);
    p = put(buf, p, outcome);
    this.pos = put(buf, p, tail);
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
    this.out(this.buf.subarray(0, this.pos));
    // The chunk now belongs to `out` (a stream may hold it until written): write on a new one.
    this.buf = Buffer.allocUnsafeSlow(this.size);
    this.pos = 0;
  }

  /** Room for `n` more bytes: the chunk so far goes out first when it would overflow. */
  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) this.buf = Buffer.allocUnsafeSlow(n);
  }

  /** `,"decision":` to `"approval":…`: the candidate's decision, kept when it has no limit. */
  private outcome(r: CallResult): Uint8Array {
    const a = r.after;
    const d = r.decision;
    if (d.limit !== null || a.retry_after_ms !== null) return this.limited(r);
    const approval = a.approval ?? null;
    const key = a.rule ?? "";
    let list = this.segments.get(key);
    if (list !== undefined) {
      for (const s of list) {
        if (
          s.decision === a.decision &&
          s.code === a.code &&
          s.rule === a.rule &&
          s.reason === d.reason &&
          s.approval === approval
        ) {
          return s.bytes;
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
    const bytes = this.limited(r);
    list.push({
      decision: a.decision,
      code: a.code,
      rule: a.rule,
      reason: d.reason,
      approval,
      bytes,
    });
    this.segmentCount++;
    return bytes;
  }

  /** outcome()'s bytes written out, for a decision of its own (a limit's counts, a retry time). */
  private limited(r: CallResult): Uint8Array {
    const a = r.after;
    const d = r.decision;
    const limit = d.limit;
    const parts: Uint8Array[] = [
      DECISION,
      this.str(a.decision),
      CODE,
      this.str(a.code),
      RULE,
      a.rule === null ? NULL : this.str(a.rule),
      REASON,
      d.reason === null ? NULL : this.str(d.reason),
      RETRY,
      this.number(a.retry_after_ms),
      LIMIT,
    ];
    if (limit === null) {
      parts.push(NULL);
    } else {
      parts.push(
        COUNTER,
        this.str(limit.counter),
        SCOPE,
        this.str(limit.scope),
        ALGORITHM,
        this.str(limit.algorithm),
        WINDOW,
        this.number(limit.window_ms),
        MAX,
        this.number(limit.max),
        COUNT,
        this.number(limit.count),
        CLOSE,
      );
    }
    parts.push(APPROVAL, a.approval == null ? NULL : this.str(a.approval));
    return concat(parts);
  }

  /** From `,"inexact":` to the end, for a call compared with something. */
  private compared(r: CallResult): Uint8Array {
    const b = r.before;
    const parts: Uint8Array[] = [INEXACT, r.inexact ? TRUE : FALSE, BEFORE];
    if (b === null) {
      parts.push(NULL);
    } else {
      parts.push(
        BEFORE_DECISION,
        this.str(b.decision),
        CODE,
        this.str(b.code),
        RULE,
        b.rule === null ? NULL : this.str(b.rule),
        RETRY,
        this.number(b.retry_after_ms),
        CLOSE,
      );
    }
    parts.push(
      CHANGE,
      r.change === null ? NULL : this.str(r.change),
      ACCEPTED,
      r.accepted ? TRUE : FALSE,
      COUNTERFACTUAL,
      r.counterfactual ? TRUE : FALSE,
      CLOSE,
    );
    return concat(parts);
  }

  private number(n: number | null): Uint8Array {
    if (n === null) return NULL;
    const bytes = new Uint8Array(24);
    return bytes.subarray(0, putNumber(bytes, 0, n));
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

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const x of parts) n += x.length;
  const out = new Uint8Array(n);
  let p = 0;
  for (const x of parts) p = put(out, p, x);
  return out;
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
  for (let i = p + len - 1; i >= p; i--) {
    const q = (n / 10) | 0;
    buf[i] = 48 + n - q * 10;
    n = q;
  }
  return p + len;
}

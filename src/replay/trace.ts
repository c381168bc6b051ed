import { closeSync, openSync, readSync } from "node:fs";
import type { Call, DecisionKind } from "../engine/index.js";
import { type Fault, InputError } from "../errors.js";
import {
  deeperThan,
  invalidUtf8Offset,
  MAX_NESTING,
  NESTING_MESSAGE,
  nestingOverflow,
  utf8Position,
} from "../policy/input.js";
import { describe, describeIoError } from "../policy/load.js";
import { didYouMean } from "../policy/suggest.js";
import type { ApprovalAnswer, RecordedDecision, TraceCall } from "./types.js";

const KEY_LIST = [
  "session",
  "identity",
  "ts",
  "tool",
  "arguments",
  "decision",
  "code",
  "rule",
  "retry_after_ms",
  "approval",
];
const KEYS = new Set(KEY_LIST);
const DECISIONS = ["allow", "deny", "approval_required"];
const APPROVALS = ["approved", "rejected", "timeout"];

/**
 * Check one parsed line against SPEC section 7 and turn it into a TraceCall. Handwritten rather
 * than schema-driven because it runs once per line of million-line traces; it returns the
 * faults instead of throwing so the caller can report the line. With `into`, that object (and
 * its call) is refilled and returned instead of a new one.
 */
export function toTraceCall(
  value: unknown,
  index: number,
  line: number,
  into?: TraceCall,
): TraceCall | Fault {
  const fault = (path: string, message: string): Fault => ({ path, message, line });
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return fault("", `expected a JSON object (one call), not ${describe(value)}`);
  }
  const o = value as Record<string, unknown>;
  const { session, identity, ts, tool } = o;
  // An unknown key shows as more keys than known ones present (JSON has no undefined); only
  // then is each key looked up, to say which. Cheaper than a lookup per key on every line.
  let keys = 0;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- counted, not read
  for (const _ in o) keys++;
  const known =
    (session !== undefined ? 1 : 0) +
    (identity !== undefined ? 1 : 0) +
    (ts !== undefined ? 1 : 0) +
    (tool !== undefined ? 1 : 0) +
    (o.arguments !== undefined ? 1 : 0) +
    (o.decision !== undefined ? 1 : 0) +
    (o.code !== undefined ? 1 : 0) +
    (o.rule !== undefined ? 1 : 0) +
    (o.retry_after_ms !== undefined ? 1 : 0) +
    (o.approval !== undefined ? 1 : 0);
  if (keys !== known) {
    for (const k in o) {
      if (!KEYS.has(k)) return fault(k, `unknown key${didYouMean(k, KEY_LIST)}`);
    }
  }
  if (typeof session !== "string" || session === "") {
    return fault(
      "session",
      session === undefined
        ? "missing required key"
        : `must be a non-empty string, not ${describe(session)}`,
    );
  }
  if (identity !== undefined && (typeof identity !== "string" || identity === "")) {
    return fault("identity", `must be a non-empty string, not ${describe(identity)}`);
  }
  if (typeof ts !== "number" || !Number.isSafeInteger(ts) || ts < 0) {
    return fault(
      "ts",
      ts === undefined
        ? "missing required key"
        : `must be integer milliseconds since the epoch, not ${describe(ts)}`,
    );
  }
  // Any string, "" too: the proxy decides and records whatever string name an agent sends.
  if (typeof tool !== "string") {
    return fault(
      "tool",
      tool === undefined ? "missing required key" : `must be a string, not ${describe(tool)}`,
    );
  }
  const args = o.arguments;
  if (args !== undefined && (args === null || typeof args !== "object" || Array.isArray(args))) {
    return fault(
      "arguments",
      `must be an object, not ${describe(args)}${args === null ? "; leave the key out for a call without arguments" : ""}`,
    );
  }

  let recorded: RecordedDecision | null = null;
  if (o.decision !== undefined) {
    if (typeof o.decision !== "string" || !DECISIONS.includes(o.decision)) {
      return fault(
        "decision",
        `must be one of "allow", "deny", "approval_required", not ${describe(o.decision)}${didYouMean(o.decision, DECISIONS)}`,
      );
    }
    if (typeof o.code !== "string")
      return fault("code", "must be a decision code (a string) when decision is given");
    if (o.rule !== undefined && o.rule !== null && typeof o.rule !== "string") {
      return fault("rule", `must be a pattern or null, not ${describe(o.rule)}`);
    }
    const retry = o.retry_after_ms;
    if (
      retry !== undefined &&
      retry !== null &&
      (typeof retry !== "number" || !Number.isSafeInteger(retry))
    ) {
      return fault("retry_after_ms", `must be an integer or null, not ${describe(retry)}`);
    }
    recorded = {
      decision: o.decision as DecisionKind,
      code: o.code,
      rule: (o.rule as string | null | undefined) ?? null,
      retry_after_ms: (retry as number | null | undefined) ?? null,
    };
  } else if (o.code !== undefined || o.rule !== undefined || o.retry_after_ms !== undefined) {
    return fault(
      "decision",
      "missing: code, rule and retry_after_ms describe a recorded decision and need it",
    );
  }

  let approval: ApprovalAnswer | null = null;
  if (o.approval !== undefined && o.approval !== null) {
    if (typeof o.approval !== "string" || !APPROVALS.includes(o.approval)) {
      return fault(
        "approval",
        `must be one of "approved", "rejected", "timeout", not ${describe(o.approval)}${didYouMean(o.approval, APPROVALS)}`,
      );
    }
    approval = o.approval as ApprovalAnswer;
  }

  if (into !== undefined) {
    const call = into.call;
    call.tool = tool;
    call.identity = (identity as string | undefined) ?? "anonymous";
    call.session = session;
    call.ts = ts;
    call.arguments = args;
    into.index = index;
    into.line = line;
    into.recorded = recorded;
    into.approval = approval;
    return into;
  }
  const call: Call = {
    tool,
    identity: (identity as string | undefined) ?? "anonymous",
    session,
    ts,
  };
  if (args !== undefined) call.arguments = args;
  return { index, line, call, recorded, approval };
}

// Small reads keep each chunk in cache; measured faster than 1-4 MiB chunks.
const CHUNK = 1 << 16;

/** The longest line a trace may hold, in bytes (without its line end). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/**
 * Stream the calls of a JSONL trace in file order, checking each line and that time never goes
 * backwards. Memory stays flat however long the file is, and time linear however long a line
 * is: each byte is searched for the line end once. Throws InputError naming the line and the
 * file as `name` (what the user typed; the path itself by default).
 *
 * With `reuse`, every line refills the one TraceCall (and call) yielded before: for a consumer
 * that keeps none past the next line (keptTraceCall() what it keeps). Two objects fewer a line.
 */
export function* readTrace(path: string, name: string = path, reuse = false): Generator<TraceCall> {
  const file = name;
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new InputError(file, [
      { path: "", message: `cannot read the calls file (${describeIoError(err)})` },
    ]);
  }
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    // Made with every field a refill sets, `arguments` too, so its shape never changes.
    const reused: TraceCall | undefined = reuse
      ? {
          index: 0,
          line: 0,
          call: { tool: "", identity: "", session: "", ts: 0, arguments: undefined },
          recorded: null,
          approval: null,
        }
      : undefined;
    if (reused) refilled.add(reused);
    // The start of a line that runs past the chunk it began in, copied out piece by piece.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let lineNo = 0;
    let index = 0;
    let lastTs = -Infinity;
    let lastLine = 0;
    const tooLong = (): InputError =>
      new InputError(file, [
        {
          path: "",
          line: lineNo + 1,
          message: `line longer than ${MAX_LINE_BYTES / 1024 / 1024} MiB (${MAX_LINE_BYTES} bytes)`,
        },
      ]);
    /** Invalid UTF-8 in `bytes`, whose first line is line `first`, located; else null. */
    const checkUtf8 = (bytes: Buffer, first: number): InputError | null => {
      const bad = invalidUtf8Offset(bytes);
      if (bad < 0) return null;
      const at = utf8Position(bytes, bad);
      return new InputError(file, [
        { path: "", line: first + at.line - 1, column: at.column, message: "invalid UTF-8" },
      ]);
    };
    const handle = (text: string): TraceCall | null => {
      lineNo++;
      if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      // Blank lines are allowed (a trailing newline, a hand-made file); test cheaply first.
      if (text.length === 0 || (text.charCodeAt(0) <= 32 && /^\s*$/.test(text))) return null;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new InputError(file, [
          { path: "", line: lineNo, message: `not valid JSON (${(err as Error).message})` },
        ]);
      }
      // Nesting past the limit takes an opening and a closing bracket per level.
      if (text.length > 2 * MAX_NESTING && deeperThan(value)) {
        const at = nestingOverflow(text);
        throw new InputError(file, [
          { path: "", line: lineNo, column: at + 1, message: NESTING_MESSAGE },
        ]);
      }
      const r = toTraceCall(value, index, lineNo, reused);
      if (!("call" in r)) throw new InputError(file, [r]);
      if (r.call.ts < lastTs) {
        throw new InputError(file, [
          {
            path: "ts",
            line: lineNo,
            message: `${r.call.ts} is earlier than line ${lastLine}'s ${lastTs}; calls must be in time order`,
          },
        ]);
      }
      lastTs = r.call.ts;
      lastLine = lineNo;
      index++;
      return r;
    };
    const stripCr = (text: string): string =>
      text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text;
    /** The line held in `pending`, ended by the first `head` bytes of the chunk just read. */
    const pendingLine = (head: Buffer): string => {
      pending.push(head);
      const bytes = Buffer.concat(pending, pendingBytes + head.length);
      pending = [];
      pendingBytes = 0;
      if (bytes.length - (bytes.at(-1) === 13 ? 1 : 0) > MAX_LINE_BYTES) throw tooLong();
      const bad = checkUtf8(bytes, lineNo + 1);
      if (bad) throw bad;
      return stripCr(bytes.toString("utf8"));
    };
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, CHUNK, null);
      } catch (err) {
        throw new InputError(file, [
          { path: "", message: `cannot read the calls file (${describeIoError(err)})` },
        ]);
      }
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      // A newline byte is never part of a multi-byte character: splitting bytes is safe, and
      // each byte is searched once however long its line.
      let start = 0;
      const first = chunk.indexOf(10);
      if (first >= 0 && pending.length > 0) {
        const r = handle(pendingLine(chunk.subarray(0, first)));
        if (r) yield r;
        start = first + 1;
      }
      const last = first < 0 ? -1 : chunk.lastIndexOf(10);
      if (last >= start) {
        // The whole lines of this chunk: checked and decoded at once, then split as text.
        const whole = chunk.subarray(start, last);
        const bad = checkUtf8(whole, lineNo + 1);
        if (bad) throw bad;
        const text = whole.toString("utf8");
        let from = 0;
        for (;;) {
          const nl = text.indexOf("\n", from);
          const r = handle(stripCr(text.slice(from, nl < 0 ? text.length : nl)));
          if (r) yield r;
          if (nl < 0) break;
          from = nl + 1;
        }
        start = last + 1;
      }
      if (start < n) {
        pending.push(Buffer.from(chunk.subarray(start)));
        pendingBytes += n - start;
        // +1: a CR before the newline is not part of the line.
        if (pendingBytes > MAX_LINE_BYTES + 1) throw tooLong();
      }
    }
    if (pendingBytes > 0) {
      const r = handle(pendingLine(Buffer.alloc(0)));
      if (r) yield r;
    }
  } finally {
    closeSync(fd);
  }
}

/** The TraceCalls readTrace() refills (one per read with `reuse`). */
const refilled = new WeakSet<TraceCall>();

/** `tc` to keep past the next line: a copy when a reader refills it, else `tc` itself. */
export function keptTraceCall(tc: TraceCall): TraceCall {
  return refilled.has(tc) ? { ...tc, call: { ...tc.call } } : tc;
}

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Fault, InputError } from "../../src/errors.js";
import { MAX_NESTING } from "../../src/policy/input.js";
import { MAX_LINE_BYTES, readTrace, toTraceCall } from "../../src/replay/trace.js";
import type { TraceCall } from "../../src/replay/types.js";

const dir = mkdtempSync(join(tmpdir(), "policy-replay-trace-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
/** Write `content` to a fresh file in the temp dir and return its path. */
function traceFile(content: string | Buffer): string {
  const file = join(dir, `t${fileNo++}.jsonl`);
  writeFileSync(file, content);
  return file;
}

const readAll = (file: string): TraceCall[] => [...readTrace(file)];

/** Read `content` as a trace, expect an InputError and return its single fault. */
function faultOf(content: string | Buffer): { file: string; fault: Fault; error: InputError } {
  const file = traceFile(content);
  let caught: unknown;
  try {
    readAll(file);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InputError);
  const error = caught as InputError;
  expect(error.file).toBe(file);
  expect(error.faults).toHaveLength(1);
  return { file, fault: error.faults[0]!, error };
}

const call = (extra: Record<string, unknown> = {}, ts = 1000): string =>
  JSON.stringify({ session: "s1", identity: "a", ts, tool: "t", ...extra });

/** Two good lines and then `bad` on line 3, so the line number is not trivially 1. */
const third = (bad: string): string => `${call({}, 1)}\n${call({}, 2)}\n${bad}\n${call({}, 3)}\n`;

describe("readTrace: malformed lines are InputErrors naming the line and key", () => {
  const cases: [name: string, line: string, path: string, message: RegExp][] = [
    ["bad JSON", '{"session": "s1", "ts": 5', "", /^not valid JSON \(/],
    ["not JSON at all", "hello", "", /^not valid JSON/],
    ["an array, not an object", "[1, 2]", "", /expected a JSON object .*not a list/],
    ["a string, not an object", '"call"', "", /expected a JSON object .*not "call"/],
    ["null, not an object", "null", "", /expected a JSON object .*not null/],
    ["a number, not an object", "42", "", /expected a JSON object .*not 42/],
    ["missing session", '{"ts":1000,"tool":"t"}', "session", /^missing required key$/],
    ["missing ts", '{"session":"s","tool":"t"}', "ts", /^missing required key$/],
    ["missing tool", '{"session":"s","ts":1000}', "tool", /^missing required key$/],
    ["session a number", '{"session":7,"ts":1000,"tool":"t"}', "session", /non-empty string.*7/],
    ["session empty", '{"session":"","ts":1000,"tool":"t"}', "session", /non-empty string/],
    ["identity a number", call({ identity: 3 }), "identity", /non-empty string.*not 3/],
    ["identity empty", call({ identity: "" }), "identity", /non-empty string/],
    ["tool an object", call({ tool: {} }), "tool", /must be a string, not an object/],
    ["ts a string", call({ ts: "1000" }), "ts", /integer milliseconds.*"1000"/],
    ["ts not an integer", call({ ts: 1000.5 }), "ts", /integer milliseconds.*1000\.5/],
    ["ts negative", call({ ts: -1 }), "ts", /integer milliseconds.*-1/],
    ["ts beyond safe integers", call({ ts: 2 ** 60 }), "ts", /integer milliseconds/],
    ["arguments a list", call({ arguments: [1] }), "arguments", /must be an object.*a list/],
    [
      "arguments null",
      call({ arguments: null }),
      "arguments",
      /must be an object, not null; leave the key out for a call without arguments/,
    ],
    ["arguments a string", call({ arguments: "x" }), "arguments", /must be an object/],
    [
      "unknown key near session",
      call({ sesion: "x" }),
      "sesion",
      /^unknown key; did you mean "session"\?$/,
    ],
    [
      "unknown key near arguments",
      call({ argumnets: {} }),
      "argumnets",
      /did you mean "arguments"/,
    ],
    ["unknown key with no near name", call({ zzzzzzzz: 1 }), "zzzzzzzz", /^unknown key$/],
    [
      "decision without code",
      call({ decision: "allow" }),
      "code",
      /decision code.*when decision is given/,
    ],
    ["code without decision", call({ code: "rule_allow" }), "decision", /^missing: /],
    ["rule without decision", call({ rule: "t" }), "decision", /^missing: /],
    ["retry without decision", call({ retry_after_ms: 5 }), "decision", /^missing: /],
    [
      "decision misspelt",
      call({ decision: "alow", code: "x" }),
      "decision",
      /must be one of.*did you mean "allow"/,
    ],
    ["decision not a string", call({ decision: 1, code: "x" }), "decision", /must be one of/],
    ["code not a string", call({ decision: "deny", code: 4 }), "code", /decision code/],
    [
      "rule a number",
      call({ decision: "deny", code: "rule_deny", rule: 4 }),
      "rule",
      /pattern or null/,
    ],
    [
      "retry fractional",
      call({ decision: "deny", code: "rate_limited", retry_after_ms: 1.5 }),
      "retry_after_ms",
      /integer or null/,
    ],
    [
      "retry a string",
      call({ decision: "deny", code: "rate_limited", retry_after_ms: "5" }),
      "retry_after_ms",
      /integer or null/,
    ],
    [
      "approval misspelt",
      call({ approval: "approve" }),
      "approval",
      /must be one of "approved", "rejected", "timeout".*did you mean "approved"/,
    ],
    ["approval a boolean", call({ approval: true }), "approval", /must be one of/],
  ];

  it.each(cases)("%s", (_name, bad, path, message) => {
    const { fault, error } = faultOf(third(bad));
    expect(fault.line).toBe(3);
    expect(fault.path).toBe(path);
    expect(fault.message).toMatch(message);
    // The formatted message names file:line, the way the CLI prints it.
    expect(error.message).toContain(`${error.file}:3: `);
  });

  it("ts going backwards names the later line and the earlier one", () => {
    const { fault } = faultOf(`${call({}, 5000)}\n\n${call({}, 5000)}\n${call({}, 4999)}\n`);
    expect(fault).toMatchObject({ line: 4, path: "ts" });
    expect(fault.message).toMatch(/4999 is earlier than line 3's 5000/);
  });

  it("equal timestamps are in order", () => {
    expect(readAll(traceFile(`${call({}, 7)}\n${call({}, 7)}\n`))).toHaveLength(2);
  });

  it("line numbers count blank and CRLF lines; the first bad line wins", () => {
    const { fault } = faultOf(`\r\n${call()}\r\n\r\n   \r\n{oops\r\n[]\r\n`);
    expect(fault.line).toBe(5);
    expect(fault.message).toMatch(/not valid JSON/);
  });

  it("a bad last line without a newline is still reported with its line", () => {
    const { fault } = faultOf(`${call()}\n${call({ tool: 1 })}`);
    expect(fault).toMatchObject({ line: 2, path: "tool" });
  });
});

describe("readTrace: what is tolerated", () => {
  it("blank and whitespace-only lines, CRLF, a BOM, and no final newline", () => {
    const text = `\uFEFF${call({}, 1)}\r\n\r\n  \t \n${call({ tool: "u" }, 2)}\n\n${call({}, 3)}`;
    const got = readAll(traceFile(text));
    expect(got.map((c) => [c.index, c.line, c.call.tool, c.call.ts])).toEqual([
      [0, 1, "t", 1],
      [1, 4, "u", 2],
      [2, 6, "t", 3],
    ]);
  });

  it("a BOM on a file whose first line is blank", () => {
    const got = readAll(traceFile(`\uFEFF\n${call()}\n`));
    expect(got.map((c) => [c.index, c.line])).toEqual([[0, 2]]);
  });

  it("a final line ending in a bare CR", () => {
    const got = readAll(traceFile(`${call()}\r`));
    expect(got).toHaveLength(1);
  });

  it("an empty file has no calls", () => {
    expect(readAll(traceFile(""))).toEqual([]);
    expect(readAll(traceFile("\n\n\r\n"))).toEqual([]);
  });

  it("index counts calls, not lines; line is 1-based", () => {
    const got = readAll(traceFile(`\n\n${call({}, 1)}\n\n${call({}, 2)}\n`));
    expect(got.map((c) => ({ index: c.index, line: c.line }))).toEqual([
      { index: 0, line: 3 },
      { index: 1, line: 5 },
    ]);
  });

  it("fills in defaults and keeps the recorded fields", () => {
    const got = readAll(
      traceFile(
        [
          '{"session":"s","ts":1,"tool":"t"}',
          '{"session":"s","ts":2,"tool":"t","identity":"x","arguments":{"a":[1,{"b":null}]}}',
          '{"session":"s","ts":3,"tool":"t","decision":"deny","code":"rate_limited","rule":"t","retry_after_ms":250}',
          '{"session":"s","ts":4,"tool":"t","decision":"approval_required","code":"approval_required","approval":"timeout"}',
          '{"session":"s","ts":5,"tool":"t","decision":"allow","code":"default_allow","rule":null,"retry_after_ms":null,"approval":null}',
        ].join("\n"),
      ),
    );
    expect(got[0]).toEqual({
      index: 0,
      line: 1,
      call: { session: "s", identity: "anonymous", ts: 1, tool: "t" },
      recorded: null,
      approval: null,
    });
    expect(got[0]!.call).not.toHaveProperty("arguments");
    expect(got[1]!.call).toEqual({
      session: "s",
      identity: "x",
      ts: 2,
      tool: "t",
      arguments: { a: [1, { b: null }] },
    });
    expect(got[2]!.recorded).toEqual({
      decision: "deny",
      code: "rate_limited",
      rule: "t",
      retry_after_ms: 250,
    });
    expect(got[3]!.recorded).toEqual({
      decision: "approval_required",
      code: "approval_required",
      rule: null,
      retry_after_ms: null,
    });
    expect(got[3]!.approval).toBe("timeout");
    expect(got[4]!.recorded).toEqual({
      decision: "allow",
      code: "default_allow",
      rule: null,
      retry_after_ms: null,
    });
    expect(got[4]!.approval).toBeNull();
  });

  it("takes any string as a tool name, the empty one too, as the proxy records them", () => {
    const got = readAll(traceFile(`${call({ tool: "" }, 1)}\n`));
    expect(got[0]!.call.tool).toBe("");
  });
});

describe("readTrace: files", () => {
  it("a missing file is an InputError naming it", () => {
    const file = join(dir, "does-not-exist.jsonl");
    let caught: unknown;
    try {
      readAll(file);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InputError);
    const e = caught as InputError;
    expect(e.file).toBe(file);
    expect(e.faults[0]!.message).toMatch(/cannot read the calls file \(no such file\)/);
    expect(e.exitCode).toBe(2);
  });

  it("a directory is an InputError, not a crash", () => {
    expect(() => readAll(dir)).toThrow(InputError);
  });

  it("streams 200,000 lines across many 64 KiB chunks (LF, CRLF and blank lines mixed)", () => {
    const n = 200_000;
    const parts: string[] = [];
    let lineNo = 0;
    let lastLine = 0;
    for (let i = 0; i < n; i++) {
      // Varying lengths so line ends land at every offset relative to the chunk boundaries.
      parts.push(
        `{"session":"s${i % 7}","ts":${1_700_000_000_000 + i},"tool":"tool_${i % 13}","arguments":{"i":${i},"pad":"${"x".repeat(i % 37)}"}}`,
        i % 5 === 0 ? "\r\n" : "\n",
      );
      lastLine = ++lineNo;
      if (i % 11 === 0) {
        parts.push("\n");
        lineNo++;
      }
    }
    const file = traceFile(parts.join(""));
    let count = 0;
    let last: TraceCall | undefined;
    let firstBad: number | null = null;
    for (const tc of readTrace(file)) {
      if (
        firstBad === null &&
        (tc.index !== count || (tc.call.arguments as { i: number }).i !== count)
      )
        firstBad = count;
      count++;
      last = tc;
    }
    expect(firstBad).toBeNull();
    expect(count).toBe(n);
    expect(last!.index).toBe(n - 1);
    expect(last!.line).toBe(lastLine);
    expect(last!.call.ts).toBe(1_700_000_000_000 + n - 1);
    expect(last!.call.tool).toBe(`tool_${(n - 1) % 13}`);
    expect((last!.call.arguments as { pad: string }).pad).toBe("x".repeat((n - 1) % 37));
  });

  it("multi-byte UTF-8 characters straddling a 64 KiB chunk boundary", () => {
    const CHUNK = 1 << 16;
    const emoji = "😀"; // 4 bytes in UTF-8
    const accented = "é"; // 2 bytes
    for (const offset of [1, 2, 3]) {
      // Line 1 is padded so that the emoji's bytes start `offset` bytes before the boundary.
      const head = `{"session":"s","ts":1,"tool":"t","arguments":{"note":"`;
      const padLen = CHUNK - offset - Buffer.byteLength(head);
      const note = "a".repeat(padLen) + emoji + accented + "ü";
      const line1 = `${head}${note}"}}`;
      expect(Buffer.byteLength(line1.slice(0, head.length + padLen))).toBe(CHUNK - offset);
      // A second line whose "é" straddles the next boundary (byte 2 * CHUNK - 1 and on).
      const head2 = `{"session":"s","ts":2,"tool":"t","arguments":{"note":"`;
      const used = Buffer.byteLength(line1) + 1;
      const pad2 = 2 * CHUNK - 1 - used - Buffer.byteLength(head2);
      const note2 = "ü".repeat(Math.floor(pad2 / 2)) + "b".repeat(pad2 % 2) + accented;
      const line2 = `${head2}${note2}"}}`;
      expect(Buffer.byteLength(`${line1}\n${head2}${note2}`)).toBe(2 * CHUNK + 1);
      const body = `${line1}\n${line2}\n${call({ tool: "räksmörgås😀" }, 3)}\n`;
      const got = readAll(traceFile(body));
      expect(got).toHaveLength(3);
      expect((got[0]!.call.arguments as { note: string }).note).toBe(note);
      expect((got[1]!.call.arguments as { note: string }).note).toBe(note2);
      expect(got[2]!.call.tool).toBe("räksmörgås😀");
      expect(got.map((c) => c.line)).toEqual([1, 2, 3]);
    }
  });

  it("a CRLF split across a chunk boundary, after a BOM", () => {
    const CHUNK = 1 << 16;
    const head = `{"session":"s","ts":1,"tool":"t","arguments":{"p":"`;
    const tail = `"}}`;
    // The CR is the chunk's last byte and the LF the next chunk's first.
    const pad = CHUNK - 3 - Buffer.byteLength(head) - Buffer.byteLength(tail) - 1;
    const line1 = `\uFEFF${head}${"z".repeat(pad)}${tail}`;
    expect(Buffer.byteLength(line1) + 1).toBe(CHUNK);
    const got = readAll(traceFile(`${line1}\r\n${call({}, 2)}\r\n`));
    expect(got).toHaveLength(2);
    expect((got[0]!.call.arguments as { p: string }).p).toHaveLength(pad);
    expect(got[1]!.line).toBe(2);
  });
});

describe("readTrace: hostile files", () => {
  it("a 60 MB line is read in one pass (rescanning it per 64 KiB chunk took minutes)", () => {
    const big = "x".repeat(60 * 1024 * 1024);
    const file = traceFile(`${call()}\n${call({ arguments: { big } }, 1001)}\n${call({}, 1002)}\n`);
    const calls = readAll(file);
    expect(calls.map((c) => c.line)).toEqual([1, 2, 3]);
    expect((calls[1]!.call.arguments as { big: string }).big.length).toBe(big.length);
  });

  it("a line over 64 MiB is an error naming its line, read no further than the limit", () => {
    const over = Buffer.alloc(MAX_LINE_BYTES + 2, 0x20);
    over[0] = 0x7b;
    const { file, error } = faultOf(Buffer.concat([Buffer.from(`${call()}\n`), over]));
    expect(error.message).toBe(`${file}:2: line longer than 64 MiB (67108864 bytes)`);
  });

  it("a line of exactly 64 MiB, with CRLF, is within the limit", () => {
    const body = Buffer.from(call({ arguments: { pad: "" } }));
    const line = Buffer.alloc(MAX_LINE_BYTES, 0x20);
    body.copy(line);
    expect(readAll(traceFile(Buffer.concat([line, Buffer.from("\r\n")])))).toHaveLength(1);
  });

  it("invalid UTF-8 is an error at its line and column, not a silent U+FFFD", () => {
    const bad = Buffer.concat([
      Buffer.from(`${call()}\n${call({}, 1001)}\n{"session":"é`),
      Buffer.from([0xff]),
      Buffer.from(`","ts":1002,"tool":"t"}\n`),
    ]);
    const { file, error } = faultOf(bad);
    expect(error.message).toBe(`${file}:3:14: invalid UTF-8`);
  });

  it("invalid UTF-8 in a line that straddles chunks, and in a last line without newline", () => {
    const pad = "p".repeat(70_000);
    const straddling = Buffer.concat([
      Buffer.from(`${call()}\n${call({ arguments: { pad } }, 1001).slice(0, -2)}`),
      Buffer.from([0xc3, 0x28]),
      Buffer.from(`"}}\n`),
    ]);
    const s = faultOf(straddling);
    expect(s.fault).toMatchObject({ line: 2, message: "invalid UTF-8" });
    const last = faultOf(
      Buffer.concat([Buffer.from(`${call()}\n{"a":"`), Buffer.from([0xe2, 0x82])]),
    );
    expect(last.fault).toMatchObject({ line: 2, column: 7, message: "invalid UTF-8" });
  });

  it("arguments nested past the limit are a located error, not a stack overflow", () => {
    const n = 200_000;
    const deep = `${"[".repeat(n)}${"]".repeat(n)}`;
    const line = `{"session":"s1","ts":1,"tool":"t","arguments":{"a":${deep}}}`;
    const { file, error } = faultOf(`${call({}, 0)}\n${line}\n`);
    // The top-level object is level 1, arguments 2, so level 257 opens at the 255th bracket.
    const column = line.indexOf("[") + 255;
    expect(error.message).toBe(
      `${file}:2:${column}: arrays and objects nested deeper than ${MAX_NESTING} levels`,
    );
    const ok = `{"session":"s1","ts":1,"tool":"t","arguments":{"a":${"[".repeat(254)}${"]".repeat(254)}}}`;
    expect(readAll(traceFile(ok))).toHaveLength(1);
  });
});

describe("toTraceCall", () => {
  it("returns the fault instead of throwing, with the given line", () => {
    const r = toTraceCall({ session: "s", ts: 1 }, 4, 9);
    expect(r).toEqual({ path: "tool", message: "missing required key", line: 9 });
  });

  it("returns a TraceCall with the given index and line", () => {
    const r = toTraceCall({ session: "s", ts: 1, tool: "t" }, 4, 9);
    expect(r).toMatchObject({ index: 4, line: 9, call: { tool: "t" } });
  });
});

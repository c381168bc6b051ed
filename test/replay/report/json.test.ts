// The JSON report's bytes: the hand-written calls writer against JSON.stringify of each call's
// object, on the fixtures' replays, on arbitrary results and on random traces through the CLI,
// whether the output takes bytes (a stream, a file) or strings.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { Io } from "../../../src/cli/io.js";
import { run } from "../../../src/cli/main.js";
import { compile, type Decision } from "../../../src/engine/index.js";
import { loadPolicyFile } from "../../../src/policy/load.js";
import type { CallResult } from "../../../src/replay/replay.js";
import { replay } from "../../../src/replay/replay.js";
import { JsonCallWriter } from "../../../src/replay/report/json-calls.js";
import { jsonReportPart, resultJson } from "../../../src/replay/report/json.js";
import { SummaryBuilder } from "../../../src/replay/summary.js";
import { readTrace } from "../../../src/replay/trace.js";

const root = join(import.meta.dirname, "../../..");
const tmp = mkdtempSync(join(tmpdir(), "policy-replay-json-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const policy = (name: string) =>
  compile(loadPolicyFile(join(root, "fixtures/policies", name)).policy);

/** The calls array's inside as the report wrote it before the bytes writer: one stringify a call. */
const expectedCalls = (rs: CallResult[]): string =>
  rs.map((r) => "\n" + JSON.stringify(resultJson(r))).join(",");

/** What JsonCallWriter makes of `rs`, with chunks of `size` bytes, decoded. */
function written(rs: CallResult[], size: number): string {
  const chunks: Buffer[] = [];
  const w = new JsonCallWriter((c) => chunks.push(Buffer.from(c)) > 0, size);
  for (const r of rs) w.add(r);
  w.flush();
  return Buffer.concat(chunks).toString("utf8");
}

/** Odd strings: JSON's escapes, control characters, lone surrogates, astral characters. */
const odd = fc
  .array(
    fc.oneof(
      fc.constantFrom('"', "\\", "\u0000", "\u001f", "\u007f", "\n", "\t", "\b", "\u2028"),
      fc.constantFrom("\ud800", "\udfff", "\ud83d\ude00", "é", "__proto__", "constructor", ""),
      fc.string({ maxLength: 4 }),
    ),
    { maxLength: 6 },
  )
  .map((xs) => xs.join(""));
const someNumber = fc.oneof(
  fc.nat(),
  fc.maxSafeNat(),
  fc.integer(),
  fc.constantFrom(-0, 0.5, 1e21, 2 ** 53, NaN, Infinity),
  fc.double(),
);
const kind = fc.constantFrom("allow", "deny", "approval_required" as const);

const arbitraryResult: fc.Arbitrary<CallResult> = fc
  .record({
    index: someNumber,
    line: someNumber,
    session: odd,
    identity: odd,
    ts: someNumber,
    tool: odd,
    decision: kind,
    code: odd,
    rule: fc.option(odd),
    reason: fc.option(odd),
    retry: fc.option(someNumber),
    limit: fc.option(
      fc.record({
        counter: odd,
        scope: fc.constantFrom("grant", "session", "global" as const),
        algorithm: fc.constantFrom("sliding", "fixed" as const),
        window_ms: someNumber,
        max: someNumber,
        count: someNumber,
      }),
    ),
    approval: fc.option(fc.constantFrom("approved", "rejected", "timeout" as const)),
    before: fc.option(
      fc.record({
        decision: kind,
        code: odd,
        rule: fc.option(odd),
        retry_after_ms: fc.option(someNumber),
      }),
    ),
    change: fc.option(fc.constantFrom("tightened", "loosened", "changed" as const)),
    flags: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    ordinal: someNumber,
  })
  .map((x): CallResult => {
    const decision = {
      decision: x.decision,
      code: x.code,
      rule: x.rule,
      reason: x.reason,
      retry_after_ms: x.retry,
      limit: x.limit,
      inexact: x.flags[0]!,
    } as Decision;
    return {
      source: {
        index: x.index,
        line: x.line,
        call: { session: x.session, identity: x.identity, ts: x.ts, tool: x.tool },
        recorded: null,
        approval: x.approval,
      },
      decision,
      after: { ...decision, approval: x.approval },
      before: x.before,
      change: x.change,
      counterfactual: x.flags[1]!,
      inexact: x.flags[0]!,
      firstInSession: false,
      ordinal: x.ordinal,
      accepted: x.flags[2]!,
    };
  });

describe("the JSON report's calls, written as bytes", () => {
  const cases = readdirSync(join(root, "fixtures/policies"))
    .filter((f) => /\.(tightened|loosened)\.json$/.test(f))
    .map((f) => [f, f.replace(/\.(tightened|loosened)\.json$/, ".json")] as const);
  const traces: Record<string, string> = {
    "fleet.json": "fleet-loop",
    "secrets.json": "secrets-session",
    "game.json": "game-session",
  };

  it.each(cases)("are JSON.stringify of each call's object, byte for byte: %s", (variant, base) => {
    const trace = join(root, `fixtures/traces/${traces[base]!}.jsonl`);
    for (const against of [policy(base), null]) {
      const rs = [
        ...replay(readTrace(trace), {
          candidate: policy(variant),
          ...(against ? { baseline: against } : {}),
          file: trace,
        }),
      ];
      expect(rs.length).toBeGreaterThan(100);
      const expected = expectedCalls(rs);
      // Chunks far smaller than a call, a call or so, and one for all.
      for (const size of [1, 300, 1 << 20]) expect(written(rs, size)).toBe(expected);
    }
  });

  it("are JSON.stringify of each call's object for any strings and numbers", () => {
    fc.assert(
      fc.property(fc.array(arbitraryResult, { maxLength: 8 }), fc.nat(600), (rs, size) => {
        const text = written(rs, size + 1);
        expect(text).toBe(expectedCalls(rs));
        expect(JSON.parse(`[${text}]`)).toEqual(
          rs.map((r) => JSON.parse(JSON.stringify(resultJson(r)))),
        );
      }),
      { numRuns: 500 },
    );
  });

  it("count up from any number, past 9s, as JSON.stringify writes each", () => {
    // Indexes and lines usually go up by one: the writer carries digits then.
    const start = fc.oneof(someNumber, fc.constantFrom(8, 98, 9999998, 2 ** 53 - 3, -2, 0.5));
    fc.assert(
      fc.property(
        fc.array(arbitraryResult, { minLength: 1, maxLength: 6 }),
        start,
        fc.array(fc.option(someNumber, { freq: 3 }), { minLength: 6, maxLength: 6 }),
        (rs, first, jumps) => {
          let n = first;
          rs.forEach((r, i) => {
            r.source.index = n;
            r.source.line = n + 1;
            n = jumps[i] ?? n + 1;
          });
          expect(written(rs, 1 << 16)).toBe(expectedCalls(rs));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("frame the document as before, to a stream of bytes and to a string alike", () => {
    const trace = join(root, "fixtures/traces/fleet-loop.jsonl");
    const rs = [
      ...replay(readTrace(trace), { candidate: policy("fleet.tightened.json"), file: "t" }),
    ];
    const ctx = { candidate: 'p"1', baseline: null, source: "t\u0001", failOn: [], show: 50 };
    const asText = (bytes: boolean): string => {
      const chunks: (string | Uint8Array)[] = [];
      // The sink copies each chunk, so the writer may reuse its memory.
      const part = jsonReportPart(
        ctx,
        { write: (c: string | Uint8Array) => chunks.push(typeof c === "string" ? c : c.slice()) },
        { bytes, done: () => true },
      );
      const builder = new SummaryBuilder("none", []);
      for (const r of rs) {
        builder.add(r);
        part.add(r);
      }
      part.finish(builder.finish());
      if (bytes) expect(chunks.every((c) => c instanceof Uint8Array)).toBe(true);
      else expect(chunks.every((c) => typeof c === "string")).toBe(true);
      return chunks.map((c) => (typeof c === "string" ? c : Buffer.from(c).toString())).join("");
    };
    const builder = new SummaryBuilder("none", []);
    for (const r of rs) builder.add(r);
    const expected =
      `{"candidate":"p\\"1","baseline":null,"source":"t\\u0001","accept":null,\n"calls":[` +
      expectedCalls(rs) +
      `\n],\n"summary":${JSON.stringify(builder.finish(), null, 2)}}\n`;
    expect(asText(true)).toBe(expected);
    expect(asText(false)).toBe(expected);
  });
});

describe("the JSON report of a random trace through the CLI", () => {
  const line = fc.record(
    {
      session: odd.map((s) => `s${s}`),
      identity: odd.map((s) => `i${s}`),
      tool: odd,
      decision: kind,
      code: odd,
      rule: fc.option(odd),
      retry_after_ms: fc.option(fc.nat()),
      approval: fc.constantFrom("approved", "rejected", "timeout"),
    },
    { requiredKeys: ["session", "tool"] },
  );
  let n = 0;

  /** The report as a stream of bytes gets it, and as a string. */
  async function both(args: string[]): Promise<[string, string]> {
    const chunks: Buffer[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        done();
      },
    });
    let text = "";
    const io = (stdout: Io["stdout"]): Io => ({
      stdout,
      stderr: { write: () => true },
      cwd: root,
      env: {},
    });
    await run(args, io(stream));
    await run(args, io({ write: (s: string) => (text += s) }));
    return [Buffer.concat(chunks).toString("utf8"), text];
  }

  it("is the same bytes either way, each call JSON.stringify of its object", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 12 }), async (lines) => {
        const file = join(tmp, `${n++}.jsonl`);
        // A recorded decision needs its code: only lines with both keep them.
        const calls = lines.map((l, i) => {
          const { decision, code, rule, retry_after_ms, ...rest } = l;
          return decision !== undefined && code !== undefined
            ? { ...rest, ts: 1000 + i, decision, code, rule, retry_after_ms }
            : { ...rest, ts: 1000 + i };
        });
        writeFileSync(file, calls.map((c) => JSON.stringify(c)).join("\n") + "\n");
        const args = [
          "--policy",
          "fixtures/policies/fleet.json",
          "--calls",
          file,
          "--format",
          "json",
        ];
        const [bytes, text] = await both(args);
        expect(bytes).toBe(text);
        const rs = [...replay(readTrace(file), { candidate: policy("fleet.json"), file })];
        const summary = (JSON.parse(text) as { summary: unknown }).summary;
        expect(text).toBe(
          `{"candidate":"fixtures/policies/fleet.json","baseline":null,"source":${JSON.stringify(file)},` +
            // A trace has no tool lists: the array is there, empty (summary.visibility.known false).
            `"accept":null,\n"calls":[${expectedCalls(rs)}\n],\n"visibility":[],\n"summary":${JSON.stringify(summary, null, 2)}}\n`,
        );
      }),
      { numRuns: 40 },
    );
  });
});

describe("the JSON report to a stream that buffers", () => {
  it("waits for the stream to drain, so memory holds a few chunks, not the report", async () => {
    const file = join(tmp, "long.jsonl");
    const lines = Array.from({ length: 60_000 }, (_, i) =>
      JSON.stringify({
        session: `s${i % 50}`,
        identity: "agent",
        ts: 1000 + i,
        tool: "fleet_status",
      }),
    );
    writeFileSync(file, lines.join("\n") + "\n");
    const chunks: Buffer[] = [];
    let most = 0;
    const stream = new Writable({
      highWaterMark: 1 << 18,
      write(chunk: Buffer, _enc, done) {
        most = Math.max(most, stream.writableLength);
        chunks.push(chunk);
        setImmediate(done);
      },
    });
    const io: Io = { stdout: stream, stderr: { write: () => true }, cwd: root, env: {} };
    const code = await run(
      ["--policy", "fixtures/policies/fleet.json", "--calls", file, "--format", "json"],
      io,
    );
    expect(code).toBe(0);
    await new Promise<void>((resolve) => stream.end(resolve));
    const text = Buffer.concat(chunks).toString("utf8");
    expect(text.length).toBeGreaterThan(18 << 20);
    expect((JSON.parse(text) as { calls: unknown[] }).calls).toHaveLength(60_000);
    // Without waiting, every chunk but the first would be queued at once.
    expect(most).toBeLessThan(8 << 20);
  });
});

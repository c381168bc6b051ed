// `policy-replay export` and `import`: SPEC section 7 JSONL out of and into recordings.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import { RecordingCounters } from "../../src/proxy/counters.js";
import { relay } from "../../src/proxy/relay.js";
import { StdioAgentTransport } from "../../src/proxy/stdio.js";
import { createRedactor } from "../../src/store/redact.js";
import { openStore } from "../../src/store/sqlite.js";
import { naiveUpstream } from "../proxy/naive.js";
import {
  cli,
  demoCopy,
  type JsonCall,
  jsonReport,
  policyPath,
  tempRoot,
  writeRecording,
} from "./support.js";

const tempDir = tempRoot("interchange");
const sha = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex");

async function exportOf(...args: string[]): Promise<string> {
  const r = await cli(["export", ...args]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

async function importInto(db: string, text: string, dir = tempDir()): Promise<string> {
  const file = join(dir, `in-${readdirSync(dir).length}.jsonl`);
  writeFileSync(file, text);
  const r = await cli(["import", file, "--db", db]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

const withoutLine = (calls: JsonCall[]) => calls.map((c) => ({ ...c, line: 0 }));
const withoutLists = (summary: object) => ({ ...summary, visibility: null });

/**
 * Record `messages` (raw JSON-RPC from the agent) through the real relay, counters and
 * redactor into a new SQLite recording, as `policy-replay record` does, in front of the naive
 * server; the policy is written beside it as policy.json.
 */
async function recordThroughProxy(dir: string, policy: object, messages: object[]) {
  const file = join(dir, "proxy.sqlite");
  const policyFile = join(dir, "policy.json");
  writeFileSync(policyFile, JSON.stringify(policy));
  const loaded = parsePolicyText(JSON.stringify(policy), policyFile);
  const compiled = compile(loaded.policy);
  const store = openStore(file, { checkpointWorker: false });
  try {
    store.putPolicy(loaded.hash, loaded.text);
    const session = { id: "s1", identity: "agent-a" };
    store.startSession({
      ...session,
      transport: "stdio",
      mode: "enforce",
      policyHash: loaded.hash,
      startedAt: 1_000,
    });
    const { proxyEnd, serverEnd } = naiveUpstream([]);
    await serverEnd.start();
    const stdin = new PassThrough();
    const stdout = new PassThrough().resume();
    let t = 1_000;
    const { closed } = await relay({
      client: new StdioAgentTransport(stdin, stdout),
      server: proxyEnd,
      compiled,
      counters: new RecordingCounters(compiled),
      clock: { now: () => ++t },
      session,
      mode: "enforce",
      store,
      redactor: createRedactor({ keyFile: `${file}.key`, enabled: true }),
      approvalTimeoutMs: 1_000,
      requestTimeoutMs: 0,
      log: () => {},
    });
    for (const m of messages) stdin.write(JSON.stringify(m) + "\n");
    // Every call answered, then the agent leaves.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    stdin.end();
    await serverEnd.close();
    await closed;
  } finally {
    store.close();
  }
  return { file, policyFile };
}

describe("export", () => {
  it("writes one SPEC section 7 line per call, with the recorded decision and approval", async () => {
    const out = await exportOf("--db", demoCopy(tempDir()));
    const lines = out.trimEnd().split("\n");
    expect(lines).toHaveLength(60);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(first)).toEqual([
      "session",
      "identity",
      "ts",
      "tool",
      "arguments",
      "decision",
      "code",
      "rule",
      "retry_after_ms",
    ]);
    expect(first).toMatchObject({ identity: "agent-ops", tool: "fleet_status", decision: "allow" });
    // The rate-limited loop writes carry their retry times; secrets stay redacted.
    const limited = lines
      .map(
        (l) =>
          JSON.parse(l) as {
            code: string;
            retry_after_ms: number | null;
            arguments?: { value?: unknown };
          },
      )
      .filter((l) => l.code === "rate_limited");
    expect(limited).toHaveLength(15);
    for (const l of limited) {
      expect(l.retry_after_ms).toBeGreaterThan(0);
      expect(l.arguments!.value).toEqual({
        $redacted: expect.stringMatching(/^hmac-sha256:/) as unknown,
      });
    }
  });

  it("takes the replay's sources and filters", async () => {
    const dir = tempDir();
    const all = (await exportOf("--db", demoCopy(dir))).trimEnd().split("\n");
    const ci = await exportOf(
      "--db",
      join(dir, "demo.sqlite"),
      "--identity",
      "ci-bot",
      "--tool",
      "fleet_*",
    );
    expect(ci.trimEnd().split("\n")).toEqual(
      all.filter((l) => {
        const o = JSON.parse(l) as { identity: string; tool: string };
        return o.identity === "ci-bot" && o.tool.startsWith("fleet_");
      }),
    );
  });

  it("keeps approvals answered by a human, and merges recordings by time", async () => {
    const dir = tempDir();
    const T = 1_763_800_000_000;
    const a = writeRecording(join(dir, "a.sqlite"), [
      {
        session: "a",
        ts: T,
        tool: "fleet_hosts_lock",
        decision: "approval_required",
        code: "approval_required",
        approval: "approved",
        args: { host: "h1" },
      },
      {
        session: "a",
        ts: T + 2,
        tool: "fleet_hosts_lock",
        decision: "approval_required",
        code: "approval_required",
        approval: "unavailable",
      },
    ]);
    const b = writeRecording(join(dir, "b.sqlite"), [
      {
        session: "b",
        ts: T + 1,
        tool: "fleet_hosts_lock",
        decision: "approval_required",
        code: "approval_required",
        approval: "rejected",
      },
    ]);
    const lines = (await exportOf("--db", a, "--db", b))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.session, l.approval])).toEqual([
      ["a", "approved"],
      ["b", "rejected"],
      // No human was asked: no answer to export.
      ["a", undefined],
    ]);
    expect(lines[0]!.arguments).toEqual({ host: "h1" });
    expect("arguments" in lines[1]!).toBe(false);
  });
});

describe("a recording the proxy made", () => {
  const POLICY = {
    version: "1",
    default: "allow",
    tools: {
      denied: { action: "deny", reason: "no" },
      limited: { rate_limit: { max: 1, window: 60 } },
      safe: { deny_if: [{ path: "args.token", op: "eq", value: "x" }] },
    },
  };
  const call = (id: number, params: object) => ({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params,
  });

  it("with calls without arguments: export, --calls, import and export again", async () => {
    const dir = tempDir();
    const { file, policyFile } = await recordThroughProxy(dir, POLICY, [
      // MCP lets a call leave out its arguments.
      call(1, { name: "safe" }),
      call(2, { name: "limited" }),
      call(3, { name: "limited", arguments: {} }),
      call(4, { name: "denied" }),
      call(5, { name: "safe", arguments: { token: "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB" } }),
      // A string, so the proxy decides it (under the default) and records it.
      call(6, { name: "" }),
    ]);
    const exported = await exportOf("--db", file);
    const lines = exported
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.tool, l.code, "arguments" in l])).toEqual([
      ["safe", "rule_allow", false],
      ["limited", "rule_allow", false],
      ["limited", "rate_limited", true],
      ["denied", "rule_deny", false],
      ["safe", "rule_allow", true],
      ["", "default_allow", false],
    ]);
    const trace = join(dir, "proxy.jsonl");
    writeFileSync(trace, exported);
    const viaTrace = await jsonReport(["--policy", policyFile, "--calls", trace]);
    expect(viaTrace.code).toBe(0);
    expect(viaTrace.report.summary.changes.total).toBe(0);
    const db = join(dir, "imported.sqlite");
    await importInto(db, exported, dir);
    expect(await exportOf("--db", db)).toBe(exported);
    const a = await jsonReport(["--policy", policyFile, "--db", file, "--no-save"]);
    const b = await jsonReport(["--policy", policyFile, "--db", db, "--no-save"]);
    expect(withoutLine(b.report.calls)).toEqual(withoutLine(a.report.calls));
    expect(viaTrace.report.calls.map((c) => [c.decision, c.code, c.inexact])).toEqual(
      a.report.calls.map((c) => [c.decision, c.code, c.inexact]),
    );
  });
});

describe("import", () => {
  it("export, import, export: the same bytes", async () => {
    const dir = tempDir();
    const first = await exportOf("--db", demoCopy(dir));
    const db = join(dir, "imported.sqlite");
    expect(await importInto(db, first, dir)).toBe(`Imported 60 calls in 3 sessions into ${db}.\n`);
    expect(await exportOf("--db", db)).toBe(first);
  });

  it("export, import, replay: the same report as replaying the original", async () => {
    const dir = tempDir();
    const original = demoCopy(dir);
    const db = join(dir, "imported.sqlite");
    await importInto(db, await exportOf("--db", original), dir);
    for (const policy of ["fleet", "fleet.tightened", "fleet.loosened"]) {
      const a = await jsonReport(["--policy", policyPath(policy), "--db", original, "--no-save"]);
      const b = await jsonReport(["--policy", policyPath(policy), "--db", db, "--no-save"]);
      expect(b.code).toBe(a.code);
      expect(withoutLine(b.report.calls)).toEqual(withoutLine(a.report.calls));
      // A trace carries calls, not tools/list answers: the tool lists stay with the original.
      expect(withoutLists(b.report.summary)).toEqual(withoutLists(a.report.summary));
      const ta = await cli([
        "--policy",
        policyPath(policy),
        "--db",
        original,
        "--no-save",
        "--show",
        "all",
      ]);
      const tb = await cli([
        "--policy",
        policyPath(policy),
        "--db",
        db,
        "--no-save",
        "--show",
        "all",
      ]);
      const text = (out: string, file: string) =>
        out.replace(file, "X").replace(/^Tool lists: .*\n/m, "");
      expect(text(tb.stdout, db)).toBe(text(ta.stdout, original));
    }
    // And the JSONL itself replays the same (the trace reader takes the recorded fields).
    const trace = join(dir, "demo.jsonl");
    writeFileSync(trace, await exportOf("--db", original));
    const viaTrace = await jsonReport([
      "--policy",
      policyPath("fleet.tightened"),
      "--calls",
      trace,
    ]);
    const viaDb = await jsonReport([
      "--policy",
      policyPath("fleet.tightened"),
      "--db",
      original,
      "--no-save",
    ]);
    expect(
      viaTrace.report.calls.map((c) => [c.decision, c.code, c.change, c.counterfactual]),
    ).toEqual(viaDb.report.calls.map((c) => [c.decision, c.code, c.change, c.counterfactual]));
  });

  it("appends to an existing recording; its sessions are the trace's", async () => {
    const dir = tempDir();
    const db = demoCopy(dir);
    const line = (session: string, ts: number) =>
      JSON.stringify({
        session,
        identity: "ci-bot",
        ts,
        tool: "fleet_status",
        decision: "allow",
        code: "rule_allow",
        rule: "fleet_status",
      });
    await importInto(
      db,
      [line("new-1", 1), line("new-1", 2), line("new-2", 2)].join("\n") + "\n",
      dir,
    );
    const d = new Database(db, { readonly: true });
    expect(
      d
        .prepare(
          "SELECT id, identity, transport, mode, policy_hash, started_at, ended_at, end_reason FROM sessions WHERE id LIKE 'new-%' ORDER BY id",
        )
        .all(),
    ).toEqual([
      {
        id: "new-1",
        identity: "ci-bot",
        transport: "import",
        mode: "enforce",
        policy_hash: "",
        started_at: 1,
        ended_at: 2,
        end_reason: "imported",
      },
      {
        id: "new-2",
        identity: "ci-bot",
        transport: "import",
        mode: "enforce",
        policy_hash: "",
        started_at: 2,
        ended_at: 2,
        end_reason: "imported",
      },
    ]);
    expect(d.prepare("SELECT count(*) AS n FROM calls").get()).toEqual({ n: 63 });
    d.close();
  });

  describe("--policy: a hand-made trace, decided as the proxy would have", () => {
    const POLICY = {
      version: "1",
      default: "deny",
      tools: {
        search: { limits: [{ counter: "search", window: "minute", max: 2, scope: "grant" }] },
        "fleet_*": { action: "require_approval", reason: "writes need a human" },
        read: {
          deny_if: [{ path: "args.path", op: "regex", value: "^/etc" }],
          reason: "not there",
        },
      },
    };
    const T = 1_763_800_000_000;
    const TRACE = [
      { session: "s1", identity: "agent-a", ts: T, tool: "search", arguments: { q: "x" } },
      // The limit is per identity: s2 shares s1's count.
      { session: "s2", identity: "agent-a", ts: T + 1, tool: "search" },
      { session: "s1", identity: "agent-a", ts: T + 2, tool: "search" },
      { session: "s3", identity: "ci-bot", ts: T + 3, tool: "search" },
      {
        session: "s1",
        identity: "agent-a",
        ts: T + 4,
        tool: "fleet_hosts_lock",
        approval: "approved",
      },
      {
        session: "s1",
        identity: "agent-a",
        ts: T + 5,
        tool: "read",
        arguments: { path: "/etc/passwd" },
      },
      { session: "s1", identity: "agent-a", ts: T + 6, tool: "unknown" },
      // A minute after the first two, the window has room again.
      { session: "s2", identity: "agent-a", ts: T + 60_001, tool: "search" },
    ];
    const write = (dir: string) => {
      const policy = join(dir, "policy.json");
      writeFileSync(policy, JSON.stringify(POLICY, null, 2));
      const trace = join(dir, "hand-made.jsonl");
      writeFileSync(trace, TRACE.map((c) => JSON.stringify(c)).join("\n") + "\n");
      return { policy, trace };
    };

    it("stores each call with the decision the policy gives it, counters included", async () => {
      const dir = tempDir();
      const { policy, trace } = write(dir);
      const db = join(dir, "decided.sqlite");
      const r = await cli(["import", trace, "--db", db, "--policy", policy]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(
        `Imported 8 calls in 3 sessions into ${db}, decided under ${policy}: 4 allow, 3 deny, 1 approval_required.\n`,
      );
      const d = new Database(db, { readonly: true });
      try {
        expect(
          d
            .prepare(
              "SELECT session, tool, decision, code, rule, reason, counter, retry_after_ms, inexact, approval FROM calls ORDER BY id",
            )
            .raw()
            .all(),
        ).toEqual([
          ["s1", "search", "allow", "rule_allow", "search", null, null, null, 0, null],
          ["s2", "search", "allow", "rule_allow", "search", null, null, null, 0, null],
          ["s1", "search", "deny", "rate_limited", "search", null, "search", 59_998, 0, null],
          ["s3", "search", "allow", "rule_allow", "search", null, null, null, 0, null],
          [
            "s1",
            "fleet_hosts_lock",
            "approval_required",
            "approval_required",
            "fleet_*",
            "writes need a human",
            null,
            null,
            0,
            "approved",
          ],
          ["s1", "read", "deny", "condition_deny", "read", "not there", null, null, 0, null],
          ["s1", "unknown", "deny", "default_deny", null, null, null, null, 0, null],
          ["s2", "search", "allow", "rule_allow", "search", null, null, null, 0, null],
        ]);
        // The sessions name the policy that decided them, and the recording holds its text.
        const text = readFileSync(policy, "utf8");
        const hash = createHash("sha256").update(text).digest("hex");
        expect(d.prepare("SELECT DISTINCT policy_hash FROM sessions").pluck().all()).toEqual([
          hash,
        ]);
        expect(d.prepare("SELECT text FROM policies WHERE hash = ?").pluck().get(hash)).toBe(text);
      } finally {
        d.close();
      }
    });

    it("decides as the proxy and replay do: replaying the import under the policy changes nothing", async () => {
      const dir = tempDir();
      const { policy, trace } = write(dir);
      const db = join(dir, "decided.sqlite");
      expect((await cli(["import", trace, "--db", db, "--policy", policy])).code).toBe(0);
      const again = await jsonReport(["--policy", policy, "--db", db, "--no-save"]);
      expect(again.code).toBe(0);
      expect(again.report.summary.changes.total).toBe(0);
      // The decisions stored are the ones `--calls` replays the trace to (the report's decision
      // has the recorded approval answer applied).
      const viaTrace = await jsonReport(["--policy", policy, "--calls", trace]);
      const stored = (await exportOf("--db", db))
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l) as JsonCall);
      const answered = (c: JsonCall) =>
        c.decision === "approval_required" && c.approval
          ? c.approval === "approved"
            ? "allow"
            : "deny"
          : c.decision;
      expect(stored.map((c) => [answered(c), c.code, c.rule, c.retry_after_ms])).toEqual(
        viaTrace.report.calls.map((c) => [c.decision, c.code, c.rule, c.retry_after_ms]),
      );
    });

    it("refuses a trace that records decisions, writing nothing", async () => {
      const dir = tempDir();
      const { policy } = write(dir);
      const trace = join(dir, "recorded.jsonl");
      writeFileSync(trace, await exportOf("--db", demoCopy(dir)));
      const db = join(dir, "new.sqlite");
      const r = await cli(["import", trace, "--db", db, "--policy", policy]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(
        new RegExp(
          `^policy-replay: ${trace}:1: decision: recorded in the trace, so --policy has nothing to decide`,
        ),
      );
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(existsSync(db)).toBe(false);
    });

    it("an invalid policy stops the import before anything is written", async () => {
      const dir = tempDir();
      const { trace } = write(dir);
      const policy = join(dir, "bad.json");
      writeFileSync(policy, '{"version": "1", "default": "dney"}');
      const db = join(dir, "new.sqlite");
      const r = await cli(["import", trace, "--db", db, "--policy", policy]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${policy}:1:`);
      expect(r.stderr).toContain('did you mean "deny"');
      expect(existsSync(db)).toBe(false);
    });

    it("without --policy, a trace without decisions is refused, pointing at --policy", async () => {
      const dir = tempDir();
      const { trace } = write(dir);
      const r = await cli(["import", trace, "--db", join(dir, "new.sqlite")]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(`^policy-replay: ${trace}:1: decision: missing: .*--policy`),
      );
    });
  });

  describe("bad input: a line-numbered error naming the file, exit 2, nothing imported", () => {
    const good = (i: number) =>
      JSON.stringify({
        session: "s",
        identity: "a",
        ts: i,
        tool: "t",
        decision: "allow",
        code: "rule_allow",
      });

    it.each([
      ["not JSON", `${good(1)}\n${good(2)}\n{oops\n`, 3, "not valid JSON"],
      [
        "an unknown key",
        `${good(1)}\n{"sesion":"s","ts":2,"tool":"t"}\n`,
        2,
        'sesion: unknown key; did you mean "session"?',
      ],
      [
        "no recorded decision",
        `${good(1)}\n${JSON.stringify({ session: "s", identity: "a", ts: 2, tool: "t" })}\n`,
        2,
        "decision: missing",
      ],
      ["time going backwards", `${good(5)}\n${good(3)}\n`, 2, "ts: 3 is earlier than line 1's 5"],
      [
        "two identities in one session",
        `${good(1)}\n${good(2).replace('"a"', '"b"')}\n`,
        2,
        'identity: session "s" is "a" (line 1), not "b"',
      ],
    ])("%s", async (_what, text, line, message) => {
      const dir = tempDir();
      const file = join(dir, "bad.jsonl");
      writeFileSync(file, text);
      const created = join(dir, "new.sqlite");
      const r = await cli(["import", file, "--db", created]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`${file}:${line}`);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toMatch(/^\s{4}at /m);
      // The recording it would have created is not left behind...
      expect(readdirSync(dir)).toEqual(["bad.jsonl"]);
      // ...and an existing one is as it was.
      const existing = demoCopy(dir);
      const before = sha(existing);
      expect((await cli(["import", file, "--db", existing])).code).toBe(2);
      expect(sha(existing)).toBe(before);
    });

    it("a session the recording already holds", async () => {
      const dir = tempDir();
      const db = demoCopy(dir);
      const exported = await exportOf("--db", db);
      const file = join(dir, "again.jsonl");
      writeFileSync(file, exported);
      const before = sha(db);
      const r = await cli(["import", file, "--db", db]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`${file}:1: session: "[^"]+" is already in ${db}`));
      expect(sha(db)).toBe(before);
    });

    it("a missing trace creates nothing", async () => {
      const dir = tempDir();
      const r = await cli(["import", join(dir, "nope.jsonl"), "--db", join(dir, "x.sqlite")]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("nope.jsonl");
      expect(existsSync(join(dir, "x.sqlite"))).toBe(false);
    });

    it("--db is required", async () => {
      const r = await cli(["import", "x.jsonl"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--db/);
    });
  });
});

// The report and its gate through the CLI: the gate with --fail-on and --accept, every --format
// read back by a real parser, --out, colour, the progress bar and GitHub's job summary. Then
// what each report lists and in what order (--only), the text report's width, and words said
// once.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import MarkdownIt from "markdown-it";
import { afterAll, describe, expect, it } from "vitest";
import { type Io } from "../../src/cli/io.js";
import { run } from "../../src/cli/main.js";
import type { JsonReport } from "./support.js";

const root = join(import.meta.dirname, "../..");
const tmp = mkdtempSync(join(tmpdir(), "policy-replay-formats-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

interface CliIo {
  env?: Record<string, string>;
  stdoutTTY?: boolean;
  stderrTTY?: boolean;
  /** stdout's width, as a terminal reports it. */
  columns?: number;
  now?: () => number;
  cwd?: string;
}

/** The CLI in-process; `io` overrides the in-memory streams' TTY flags, env and clock. */
async function cli(args: string[], io: CliIo = {}): Promise<Ran> {
  let stdout = "";
  let stderr = "";
  const sinks: Io = {
    stdout: {
      write: (s: string) => (stdout += s),
      isTTY: io.stdoutTTY ?? false,
      ...(io.columns !== undefined ? { columns: io.columns } : {}),
    },
    stderr: { write: (s: string) => (stderr += s), isTTY: io.stderrTTY ?? false, columns: 100 },
    cwd: io.cwd ?? root,
    env: io.env ?? {},
    ...(io.now ? { now: io.now } : {}),
  };
  const code = await run(args, sinks);
  return { code, stdout, stderr };
}

let tmpNo = 0;
function tmpFile(name: string, content: string): string {
  const file = join(tmp, `${tmpNo++}-${name}`);
  writeFileSync(file, content);
  return file;
}

const policy = (name: string) => `fixtures/policies/${name}.json`;
const trace = (name: string) => `fixtures/traces/${name}.jsonl`;

/** fleet.json -> fleet.tightened.json on fleet-loop: 55 tightened and 1 changed (fixtures/README.md). */
const FLEET_TIGHTENED = [
  "--baseline",
  policy("fleet"),
  "--policy",
  policy("fleet.tightened"),
  "--calls",
  trace("fleet-loop"),
];
/** fleet.json -> fleet.loosened.json: 182 loosened. */
const FLEET_LOOSENED = [
  "--baseline",
  policy("fleet"),
  "--policy",
  policy("fleet.loosened"),
  "--calls",
  trace("fleet-loop"),
];

const accept = (entries: unknown[]) =>
  tmpFile("accept.json", JSON.stringify({ accept: entries }, null, 2));

// The one `changed` call of fleet.tightened: the anonymous fleet_hosts_list, the 2nd call of
// session stdio-300b8572 (rule_deny -> hidden).
const CHANGED_CALL = { session: "stdio-300b8572", call: 2, change: "changed", code: "hidden" };

const ACCEPTS = {
  none: null,
  "every tightened": accept([{ tool: "*", change: "tightened", reason: "all intended" }]),
  "the changed call": accept([CHANGED_CALL]),
  everything: accept([
    { tool: "*", change: "tightened" },
    { tool: "*", change: "loosened" },
    { tool: "*", change: "changed" },
  ]),
  // 42 of the 55 tightened: the secret-write cap; 11 credential reads and 2 hidden remain.
  "the write cap": accept([
    { tool: "fleet_secrets_set", change: "tightened", code: "rate_limited" },
  ]),
  "every loosened": accept([{ tool: "fleet_*", change: "loosened" }]),
} as const;
type AcceptName = keyof typeof ACCEPTS;

describe("the gate: exit codes for --fail-on x --accept", () => {
  // [fail-on, accept list, exit for fleet.tightened, exit for fleet.loosened]
  const cases: [string, AcceptName, number, number][] = [
    ["tightened,loosened", "none", 1, 1],
    ["tightened,loosened", "every tightened", 0, 1],
    ["tightened,loosened", "the changed call", 1, 1],
    ["tightened,loosened", "everything", 0, 0],
    ["tightened,loosened", "the write cap", 1, 1],
    ["tightened,loosened", "every loosened", 1, 0],
    ["tightened", "none", 1, 0],
    ["tightened", "every tightened", 0, 0],
    ["tightened", "the changed call", 1, 0],
    ["tightened", "everything", 0, 0],
    ["tightened", "the write cap", 1, 0],
    ["loosened", "none", 0, 1],
    ["loosened", "every tightened", 0, 1],
    ["loosened", "every loosened", 0, 0],
    ["loosened", "everything", 0, 0],
    ["changed", "none", 1, 0],
    ["changed", "every tightened", 1, 0],
    ["changed", "the changed call", 0, 0],
    ["changed", "everything", 0, 0],
    ["all", "none", 1, 1],
    ["all", "every tightened", 1, 1],
    ["all", "the changed call", 1, 1],
    ["all", "everything", 0, 0],
    ["none", "none", 0, 0],
    ["none", "everything", 0, 0],
  ];

  it.each(cases)("--fail-on %s, accept %s", async (failOn, name, tightenedExit, loosenedExit) => {
    const file = ACCEPTS[name];
    const extra = ["--fail-on", failOn, ...(file ? ["--accept", file] : [])];
    const t = await cli([...FLEET_TIGHTENED, ...extra, "--format", "json"]);
    const l = await cli([...FLEET_LOOSENED, ...extra, "--format", "json"]);
    expect([t.code, l.code]).toEqual([tightenedExit, loosenedExit]);
    for (const r of [t, l]) {
      const { summary } = JSON.parse(r.stdout) as {
        summary: {
          changes: Record<string, number>;
          accepted: Record<string, number>;
          gate: { failing: number; failed: boolean };
        };
      };
      expect(summary.gate.failed).toBe(r.code === 1);
      // failing = changes of a failing class that no entry accepted.
      const classes =
        failOn === "all"
          ? ["tightened", "loosened", "changed"]
          : failOn === "none"
            ? []
            : failOn.split(",");
      const expected = classes.reduce((n, c) => n + summary.changes[c]! - summary.accepted[c]!, 0);
      expect(summary.gate.failing).toBe(expected);
    }
  });

  it("counts what was accepted, marks the calls and leaves the rest failing", async () => {
    const r = await cli([
      ...FLEET_TIGHTENED,
      "--accept",
      ACCEPTS["the write cap"],
      "--format",
      "json",
    ]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as {
      accept: string;
      calls: { change: string | null; accepted: boolean; tool: string; code: string }[];
      summary: { accepted: Record<string, number>; gate: { failing: number } };
    };
    expect(report.accept).toBe(ACCEPTS["the write cap"]);
    expect(report.summary.accepted).toEqual({ tightened: 42, loosened: 0, changed: 0, total: 42 });
    expect(report.summary.gate.failing).toBe(55 - 42);
    const accepted = report.calls.filter((c) => c.accepted);
    expect(accepted).toHaveLength(42);
    for (const c of accepted)
      expect([c.tool, c.code]).toEqual(["fleet_secrets_set", "rate_limited"]);
    expect(report.calls.every((c) => c.change !== null || !c.accepted)).toBe(true);
  });

  it("the text report says how many were accepted and marks them", async () => {
    const r = await cli([
      ...FLEET_TIGHTENED,
      "--accept",
      ACCEPTS["the write cap"],
      "--show",
      "all",
    ]);
    expect(r.code).toBe(1);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe(
      "501 calls in 8 sessions replayed; 55 tightened, 0 loosened, 1 changed; 42 accepted.",
    );
    expect(lines[1]).toBe(
      "Gate: FAIL — 13 changes of a failing class (fails on tightened, loosened; 42 accepted changes not counted).",
    );
    expect(r.stdout).toContain(
      `Accept list: ${ACCEPTS["the write cap"]}; 42 changes accepted (42 tightened), which never fail the gate.`,
    );
    expect(lines.filter((l) => /fleet_secrets_set\s.*\saccepted\s*$/.test(l))).toHaveLength(42);
  });

  it("an entry by session and call covers that call only if its expectations hold", async () => {
    const file = accept([
      { ...CHANGED_CALL, change: "tightened" }, // it changed, but not this way
      { session: "ops-93314522", call: 1 }, // a call that did not change
      { session: "no-such-session", call: 1 },
      { tool: "fleet_wipe", change: "tightened" }, // a tool whose decision never changed
      { session: "ops-93314522", call: 14, decision: "deny", code: "condition_deny" },
    ]);
    const r = await cli([...FLEET_TIGHTENED, "--accept", file, "--format", "json"]);
    const report = JSON.parse(r.stdout) as {
      calls: { session: string; ordinal: number; accepted: boolean }[];
    };
    expect(report.calls.filter((c) => c.accepted).map((c) => [c.session, c.ordinal])).toEqual([
      ["ops-93314522", 14],
    ]);
    // Each stale entry is a note on stderr with its place in the file; the run goes on.
    const notes = r.stderr.trimEnd().split("\n");
    expect(notes).toEqual([
      `policy-replay: note: ${file}:3:5: accept[0] matched nothing: call 2 of session "stdio-300b8572" changed differently: changed to deny (hidden)`,
      `policy-replay: note: ${file}:9:5: accept[1] matched nothing: call 1 of session "ops-93314522" did not change`,
      `policy-replay: note: ${file}:13:5: accept[2] matched nothing: no session "no-such-session" in this replay`,
      `policy-replay: note: ${file}:17:5: accept[3] matched nothing: no change of a tool matching "fleet_wipe" was tightened`,
    ]);
  });

  it("ordinals name the same calls in a JSONL trace and in its recorded twin", async () => {
    const a = await cli([
      "--policy",
      policy("fleet.tightened"),
      "--calls",
      trace("fleet-loop.recorded"),
      "--format",
      "json",
    ]);
    const b = await cli([...FLEET_TIGHTENED, "--format", "json"]);
    type Calls = { calls: { session: string; ordinal: number; change: string | null }[] };
    const key = (r: Ran) =>
      (JSON.parse(r.stdout) as Calls).calls
        .filter((c) => c.change !== null)
        .map((c) => `${c.session}#${c.ordinal}`);
    expect(key(a)).toEqual(key(b));
  });
});

describe("a bad accept list: one line with file:line:col, exit 2", () => {
  it.each([
    [
      "a misspelt key",
      '{\n  "accept": [\n    { "sesion": "s1", "call": 3 }\n  ]\n}\n',
      /^policy-replay: (.*):3:7: accept\[0\]\.sesion: unknown key; did you mean "session"\?$/,
    ],
    [
      "a call of 0",
      '{\n  "accept": [\n    { "session": "s1", "call": 0 }\n  ]\n}\n',
      /^policy-replay: (.*):3:32: accept\[0\]\.call: must be a whole number >= 1 \(the call's position in its session\), not 0$/,
    ],
    [
      "a tool entry without a class",
      '{ "accept": [\n  { "tool": "fleet_*" }\n] }',
      /^policy-replay: (.*):2:3: accept\[0\]\.change: missing required key "change"/,
    ],
    [
      "an unknown class",
      '{ "accept": [\n  { "tool": "fleet_*", "change": "tightend" }\n] }',
      /^policy-replay: (.*):2:34: accept\[0\]\.change: must be one of "tightened", "loosened", "changed", not "tightend"; did you mean "tightened"\?$/,
    ],
    [
      "not JSON",
      '{ "accept": [\n  { "tool": "fleet_*", "change": "tightened" },\n] }',
      /^policy-replay: (.*):2:47: not valid JSON: trailing comma before "\]"$/,
    ],
    ["an empty file", "", /^policy-replay: (.*):1:1: not valid JSON: the file is empty$/],
    [
      "a duplicate key",
      '{ "accept": [\n  { "session": "a", "session": "b", "call": 1 }\n] }',
      /^policy-replay: (.*):2:21: accept\[0\]\.session: duplicate key/,
    ],
  ])("%s", async (_name, text, pattern) => {
    const file = tmpFile("bad-accept.json", text);
    const r = await cli([...FLEET_TIGHTENED, "--accept", file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(lines[0]!.match(pattern)![1]).toBe(file);
  });

  it("a missing accept list", async () => {
    const r = await cli([...FLEET_TIGHTENED, "--accept", "nope/accept.json"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "policy-replay: nope/accept.json: cannot read the accept list (no such file)\n",
    );
  });
});

// ---------------------------------------------------------------------------------------------

/** Every `<tag>` under a parsed node, as a list (fast-xml-parser gives one or many). */
const list = <T>(x: T | T[] | undefined): T[] =>
  x === undefined ? [] : Array.isArray(x) ? x : [x];

interface XmlCase {
  "@_classname": string;
  "@_name": string;
  failure?: { "@_type": string; "@_message": string; "#text"?: string } | "";
  skipped?: { "@_message": string } | "";
  "system-out"?: string;
}
interface XmlSuite {
  "@_name": string;
  "@_tests": string;
  "@_failures": string;
  "@_skipped": string;
  testcase: XmlCase | XmlCase[];
  properties?: { property: { "@_name": string; "@_value": string }[] };
}

function parseJunit(xml: string): { root: Record<string, string>; suites: XmlSuite[] } {
  expect(XMLValidator.validate(xml)).toBe(true);
  const doc = new XMLParser({
    ignoreAttributes: false,
    // Decodes character references such as &#10; too (a newline kept in an attribute).
    htmlEntities: true,
    parseAttributeValue: false,
    parseTagValue: false,
    trimValues: false,
  }).parse(xml) as { testsuites: Record<string, string> & { testsuite: XmlSuite | XmlSuite[] } };
  return { root: doc.testsuites, suites: list(doc.testsuites.testsuite) };
}

describe("--format junit", () => {
  it("one suite per changed tool, a failing case per failing change, a summary case first", async () => {
    const r = await cli([
      ...FLEET_TIGHTENED,
      "--format",
      "junit",
      "--accept",
      accept([{ session: "ops-93314522", call: 14 }]),
    ]);
    expect(r.code).toBe(1);
    const { root, suites } = parseJunit(r.stdout);
    const [summary, ...tools] = suites;
    expect(summary!["@_name"]).toBe("policy-replay");
    const summaryCase = list(summary!.testcase)[0]!;
    expect(summaryCase["@_name"]).toBe("replay summary");
    expect(summaryCase.failure).toBeUndefined();
    expect(summaryCase["system-out"]).toMatch(
      /^501 calls in 8 sessions replayed; 55 tightened, 0 loosened, 1 changed; 1 accepted\.\nGate: FAIL/,
    );
    expect(
      Object.fromEntries(summary!.properties!.property.map((p) => [p["@_name"], p["@_value"]])),
    ).toMatchObject({ candidate: policy("fleet.tightened"), fail_on: "tightened,loosened" });

    const byTool = Object.fromEntries(tools.map((s) => [s["@_name"], s]));
    expect(Object.keys(byTool).sort()).toEqual(
      ["fleet_hosts_list", "fleet_secrets_get", "fleet_secrets_set", "fleet_status"].sort(),
    );
    const counts = (s: XmlSuite) => [s["@_tests"], s["@_failures"], s["@_skipped"]].map(Number);
    expect(counts(byTool.fleet_secrets_set!)).toEqual([42, 42, 0]);
    expect(counts(byTool.fleet_secrets_get!)).toEqual([11, 10, 1]); // one accepted
    expect(counts(byTool.fleet_status!)).toEqual([2, 2, 0]);
    expect(counts(byTool.fleet_hosts_list!)).toEqual([1, 0, 0]); // "changed" does not fail
    expect([root["@_tests"], root["@_failures"], root["@_skipped"]].map(Number)).toEqual([
      57, 54, 1,
    ]);
    // Each suite's counts agree with its cases.
    for (const s of tools) {
      const cases = list(s.testcase);
      expect(cases).toHaveLength(Number(s["@_tests"]));
      expect(cases.filter((c) => c.failure !== undefined)).toHaveLength(Number(s["@_failures"]));
      expect(cases.filter((c) => c.skipped !== undefined)).toHaveLength(Number(s["@_skipped"]));
      for (const c of cases) expect(c["@_classname"]).toBe(s["@_name"]);
    }
    const first = list(byTool.fleet_status!.testcase)[0]!;
    expect(first["@_name"]).toBe("stdio-300b8572 call 1: allow rule_allow -> deny hidden");
    const failure = first.failure as { "@_type": string; "@_message": string; "#text": string };
    expect(failure["@_type"]).toBe("tightened");
    expect(failure["@_message"]).toBe("tightened: allow rule_allow -> deny hidden");
    expect(failure["#text"]).toContain("identity: anonymous");
    expect(failure["#text"]).toContain(
      'to accept it, add to the accept list: {"session":"stdio-300b8572","call":1,"change":"tightened","code":"hidden"}',
    );
    const skipped = list(byTool.fleet_secrets_get!.testcase).find((c) => c.skipped !== undefined)!;
    expect(skipped["@_name"]).toMatch(/^ops-93314522 call 14: /);
  });

  it("an all-clear run still has one passing test", async () => {
    const r = await cli([
      "--baseline",
      policy("game"),
      "--policy",
      policy("game"),
      "--calls",
      trace("game-session"),
      "--format",
      "junit",
    ]);
    expect(r.code).toBe(0);
    const { root, suites } = parseJunit(r.stdout);
    expect([root["@_tests"], root["@_failures"]]).toEqual(["1", "0"]);
    expect(suites).toHaveLength(1);
    expect(list(suites[0]!.testcase)[0]!["system-out"]).toMatch(
      /^882 calls in 7 sessions replayed\. No decision changed\.\nGate: pass/,
    );
  });

  it("escapes markup and makes characters XML cannot hold visible", async () => {
    const nasty = "a<b>&\"c'\u0001\u0008\u000b\u001f\ud800\n]]>";
    const calls = [
      { session: nasty, identity: "agent-ops", ts: 1, tool: "fleet_<wipe>&" },
      { session: nasty, identity: "agent-ops", ts: 2, tool: "fleet_wipe" },
    ].map((c) => JSON.stringify({ ...c, decision: "allow", code: "rule_allow", rule: "x" }));
    const file = tmpFile("nasty.jsonl", calls.join("\n") + "\n");
    const r = await cli(["--policy", policy("fleet"), "--calls", file, "--format", "junit"]);
    expect(r.code).toBe(1);
    const { suites } = parseJunit(r.stdout);
    const cases = suites.slice(1).flatMap((s) => list(s.testcase));
    expect(cases).toHaveLength(2);
    const visible = "a<b>&\"c'\\u0001\\u0008\\u000b\\u001f\\ud800\n]]>";
    expect(cases.map((c) => c["@_name"]).sort()).toEqual([
      `${visible} call 1: allow rule_allow -> approval_required`,
      `${visible} call 2: allow rule_allow -> deny rule_deny`,
    ]);
    const odd = cases.find((c) => c["@_classname"] === "fleet_<wipe>&")!;
    expect((odd.failure as { "#text": string })["#text"]).toContain(`call 1 of session ${visible}`);
  });
});

// ---------------------------------------------------------------------------------------------

interface Command {
  level: string;
  props: Record<string, string>;
  message: string;
}

/** Parse workflow commands line by line, undoing GitHub's escapes. */
function parseCommands(stdout: string): { commands: Command[]; plain: string[] } {
  const unescape = (s: string) =>
    s
      .replace(/%0A/g, "\n")
      .replace(/%0D/g, "\r")
      .replace(/%3A/g, ":")
      .replace(/%2C/g, ",")
      .replace(/%25/g, "%");
  const commands: Command[] = [];
  const plain: string[] = [];
  for (const line of stdout.split("\n").slice(0, -1)) {
    const m = /^::(\w+)(?: ([^:]*))?::(.*)$/.exec(line);
    if (!m) {
      plain.push(line);
      continue;
    }
    const props: Record<string, string> = {};
    for (const kv of (m[2] ?? "").split(",").filter(Boolean)) {
      const i = kv.indexOf("=");
      props[kv.slice(0, i)] = unescape(kv.slice(i + 1));
    }
    commands.push({ level: m[1]!, props, message: unescape(m[3]!) });
  }
  return { commands, plain };
}

describe("--format github", () => {
  it("a summary line, an error for the gate, then one annotation per changed call", async () => {
    const r = await cli([
      ...FLEET_TIGHTENED,
      "--format",
      "github",
      "--show",
      "all",
      "--accept",
      accept([{ tool: "fleet_status", change: "tightened" }]),
    ]);
    expect(r.code).toBe(1);
    const { commands, plain } = parseCommands(r.stdout);
    expect(plain).toEqual([
      "501 calls in 8 sessions replayed; 55 tightened, 0 loosened, 1 changed; 2 accepted.",
      "Gate: FAIL — 53 changes of a failing class (fails on tightened, loosened; 2 accepted changes not counted).",
    ]);
    const [gate, ...calls] = commands;
    expect(gate).toMatchObject({ level: "error", props: { title: "policy-replay: gate failed" } });
    expect(gate!.message).toMatch(/^Gate: FAIL — 53 changes/);
    expect(calls).toHaveLength(56);
    const levels: Record<string, number> = {};
    for (const c of calls) levels[c.level] = (levels[c.level] ?? 0) + 1;
    // Failing changes are errors, accepted ones notices, the `changed` one a warning.
    expect(levels).toEqual({ error: 53, notice: 2, warning: 1 });
    const read = calls.find((c) => c.message.startsWith("ops-93314522 call 14 "))!;
    expect(read).toMatchObject({
      level: "error",
      props: {
        file: policy("fleet.tightened"),
        line: "19", // the "fleet_secrets_get" rule in fleet.tightened.json
        title: "policy-replay: tightened fleet_secrets_get",
      },
    });
    expect(read.message).toContain(
      "allow rule_allow -> deny condition_deny, rule fleet_secrets_get.",
    );
    const hidden = calls.find((c) => c.props.title === "policy-replay: changed fleet_hosts_list")!;
    expect(hidden).toMatchObject({ level: "warning", props: { line: "93" } }); // the grant's hide
    expect(hidden.message).toContain("[counterfactual]");
  });

  it("caps annotations at --show and says how many more", async () => {
    const r = await cli([...FLEET_TIGHTENED, "--format", "github", "--show", "5"]);
    const { commands } = parseCommands(r.stdout);
    expect(commands).toHaveLength(1 + 5 + 1);
    expect(commands.at(-1)).toMatchObject({ level: "notice" });
    expect(commands.at(-1)!.message).toMatch(/^51 more changed calls not annotated/);
  });

  it("a passing run is one notice", async () => {
    const r = await cli([
      ...FLEET_TIGHTENED,
      "--format",
      "github",
      "--fail-on",
      "none",
      "--show",
      "0",
    ]);
    expect(r.code).toBe(0);
    const { commands } = parseCommands(r.stdout);
    expect(commands[0]).toMatchObject({ level: "notice", props: { title: "policy-replay" } });
  });

  it("escapes % CR LF in messages and also : , in properties, so nothing can inject a command", async () => {
    const evil = "s%1\r\n::error::injected,x:y";
    const calls = [{ session: evil, identity: "agent-ops", ts: 1, tool: "a,b:c" }].map((c) =>
      JSON.stringify({ ...c, decision: "allow", code: "rule_allow", rule: "x" }),
    );
    const file = tmpFile("evil.jsonl", calls.join("\n") + "\n");
    const r = await cli(["--policy", policy("fleet"), "--calls", file, "--format", "github"]);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.filter((l) => l.startsWith("::error::injected"))).toEqual([]);
    const { commands } = parseCommands(r.stdout);
    expect(commands).toHaveLength(2);
    expect(commands[1]!.props.title).toBe("policy-replay: tightened a,b:c");
    expect(commands[1]!.message.startsWith(`${evil} call 1 `)).toBe(true);
  });

  it("appends the markdown report to $GITHUB_STEP_SUMMARY, and --out gets markdown too", async () => {
    const summaryFile = tmpFile("step-summary.md", "earlier step\n");
    const out = join(tmp, "github-report.md");
    const r = await cli([...FLEET_TIGHTENED, "--format", "github", "--out", out], {
      env: { GITHUB_STEP_SUMMARY: summaryFile },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^::error /m); // annotations stay on stdout
    const step = readFileSync(summaryFile, "utf8");
    expect(step.startsWith("earlier step\n## policy-replay: ❌ gate failed\n")).toBe(true);
    expect(readFileSync(out, "utf8")).toBe(step.slice("earlier step\n".length, -1));
  });

  it("names the policy relative to GITHUB_WORKSPACE", async () => {
    const r = await cli(
      [
        ...FLEET_TIGHTENED.slice(0, 3),
        join(root, policy("fleet.tightened")),
        ...FLEET_TIGHTENED.slice(4),
        "--format",
        "github",
      ],
      { env: { GITHUB_WORKSPACE: join(root, "fixtures") } },
    );
    const { commands } = parseCommands(r.stdout);
    expect(commands[1]!.props.file).toBe("policies/fleet.tightened.json");
  });
});

// ---------------------------------------------------------------------------------------------

/** Tables in markdown as rows of cell texts (what a reader sees), in document order. */
function markdownTables(md: string): string[][][] {
  const tokens = new MarkdownIt().parse(md, {});
  const tables: string[][][] = [];
  let row: string[] | null = null;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.type === "table_open") tables.push([]);
    else if (t.type === "tr_open") row = [];
    else if (t.type === "tr_close") tables.at(-1)!.push(row!);
    else if ((t.type === "th_open" || t.type === "td_open") && row) {
      const inline = tokens[i + 1]!;
      row.push(
        inline.type === "inline"
          ? (inline.children ?? [])
              .map((c) => (c.type === "text" || c.type === "code_inline" ? c.content : ""))
              .join("")
          : "",
      );
    }
  }
  return tables;
}

describe("--format markdown", () => {
  it("headline, gate, tables by tool and identity, changed calls with 'and N more'", async () => {
    const r = await cli([...FLEET_TIGHTENED, "--format", "markdown", "--show", "4"]);
    expect(r.code).toBe(1);
    const md = r.stdout;
    const lines = md.split("\n");
    expect(lines[0]).toBe("## policy-replay: ❌ gate failed");
    expect(new MarkdownIt().render(md)).toContain(
      "<strong>501 calls in 8 sessions replayed; 55 tightened, 0 loosened, 1 changed.</strong>",
    );
    const [byTool, byIdentity, changed] = markdownTables(md);
    expect(byTool![0]).toEqual([
      "tool",
      "calls",
      "allow",
      "deny",
      "approval",
      "tightened",
      "loosened",
      "changed",
    ]);
    expect(byTool![1]).toEqual(["fleet_secrets_set", "418", "33", "385", "0", "42", "0", "0"]);
    expect(byTool!.find((row) => row[0] === "fleet_hosts_list")).toEqual([
      "fleet_hosts_list",
      "6",
      "5",
      "1",
      "0",
      "0",
      "0",
      "1",
    ]);
    expect(byTool).toHaveLength(1 + 16);
    expect(byIdentity!.slice(1).map((row) => row[0])).toEqual(["agent-ops", "anonymous", "ci-bot"]);
    expect(changed![0]).toEqual([
      "#",
      "session",
      "call",
      "time (UTC)",
      "tool",
      "class",
      "before",
      "after",
      "rule",
      "marks",
    ]);
    expect(changed!.slice(1)).toEqual([
      [
        "14",
        "ops-93314522",
        "14",
        "2025-11-22 08:27:22.217",
        "fleet_secrets_get",
        "tightened",
        "allow rule_allow",
        "deny condition_deny",
        "fleet_secrets_get",
        "",
      ],
      [
        "41",
        "stdio-300b8572",
        "1",
        "2025-11-22 08:30:00.000",
        "fleet_status",
        "tightened",
        "allow rule_allow",
        "deny hidden",
        "fleet_status -> -",
        "",
      ],
      // The `changed` call 42 comes after every tightened one: it does not fail the gate.
      [
        "46",
        "stdio-300b8572",
        "6",
        "2025-11-22 08:30:14.644",
        "fleet_status",
        "tightened",
        "allow rule_allow",
        "deny hidden",
        "fleet_status -> -",
        "counterfactual",
      ],
      [
        "61",
        "ops-b94402e2",
        "13",
        "2025-11-22 08:31:24.018",
        "fleet_secrets_set",
        "tightened",
        "allow rule_allow",
        "deny rate_limited, retry 27.1s",
        "fleet_secrets_set",
        "",
      ],
    ]);
    expect(md).toContain("<summary>56 changed calls (first 4 of 56)</summary>");
    expect(md).toContain("… and 52 more changed calls (`--show all` lists every one;");
  });

  it("keeps cell text intact whatever the names hold", async () => {
    const calls = [
      { session: "a|b*c_d`e<f>&\\g\nh", identity: "x|y", ts: 1, tool: "t|*_[x](y)" },
    ].map((c) => JSON.stringify({ ...c, decision: "allow", code: "rule_allow", rule: "x" }));
    const file = tmpFile("md.jsonl", calls.join("\n") + "\n");
    const r = await cli(["--policy", policy("fleet"), "--calls", file, "--format", "markdown"]);
    const [byTool, byIdentity, changed] = markdownTables(r.stdout);
    expect(byTool![1]![0]).toBe("t|*_[x](y)");
    expect(byIdentity![1]![0]).toBe("x|y");
    expect(changed![1]!.slice(1, 5)).toEqual([
      "a|b*c_d`e<f>&\\g h",
      "1",
      "1970-01-01 00:00:00.001",
      "t|*_[x](y)",
    ]);
    expect(new MarkdownIt().render(r.stdout)).not.toContain("<f>");
  });
});

// ---------------------------------------------------------------------------------------------

describe("--out", () => {
  it.each(["text", "json", "markdown", "junit"] as const)(
    "writes the full %s report to the file; stdout gets the headline and the gate",
    async (format) => {
      const out = join(tmp, `out.${format}`);
      const r = await cli([...FLEET_TIGHTENED, "--format", format, "--out", out]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe(
        "501 calls in 8 sessions replayed; 55 tightened, 0 loosened, 1 changed.\n" +
          "Gate: FAIL — 55 changes of a failing class (fails on tightened, loosened).\n" +
          `Report (${format}): ${out}\n`,
      );
      const full = await cli([...FLEET_TIGHTENED, "--format", format]);
      expect(readFileSync(out, "utf8")).toBe(full.stdout);
    },
  );

  it("relative to cwd; a directory that does not exist is exit 2 before anything runs", async () => {
    const r = await cli([...FLEET_TIGHTENED, "--out", "no/such/dir/report.txt"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      "policy-replay: --out no/such/dir/report.txt: cannot write the report (no such file)\n",
    );
  });

  it("leaves no file behind when the replay fails half-way", async () => {
    const dir = mkdtempSync(join(tmp, "out-fail-"));
    const good = JSON.stringify({ session: "s", ts: 1, tool: "fleet_status" });
    const file = tmpFile("bad.jsonl", `${good}\n{"session":"s"}\n`);
    const r = await cli([
      "--policy",
      policy("fleet"),
      "--calls",
      file,
      "--format",
      "json",
      "--out",
      join(dir, "r.json"),
    ]);
    expect(r.code).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("colour", () => {
  const ESC = "\x1b[";
  const textRun = (opts: CliIo) => cli([...FLEET_TIGHTENED, "--show", "3"], opts);

  it.each([
    ["a terminal", { stdoutTTY: true }, true],
    ["a pipe or file", { stdoutTTY: false }, false],
    ["a terminal with NO_COLOR", { stdoutTTY: true, env: { NO_COLOR: "1" } }, false],
    [
      "a terminal with NO_COLOR empty (unset, per no-color.org)",
      { stdoutTTY: true, env: { NO_COLOR: "" } },
      true,
    ],
    ["a terminal with TERM=dumb", { stdoutTTY: true, env: { TERM: "dumb" } }, false],
    ["a pipe with FORCE_COLOR=1", { stdoutTTY: false, env: { FORCE_COLOR: "1" } }, true],
    ["a terminal with FORCE_COLOR=0", { stdoutTTY: true, env: { FORCE_COLOR: "0" } }, false],
    ["FORCE_COLOR beats NO_COLOR", { env: { FORCE_COLOR: "1", NO_COLOR: "1" } }, true],
  ] as const)("%s", async (_name, opts, coloured) => {
    const r = await textRun(opts);
    expect(r.code).toBe(1);
    expect(r.stdout.includes(ESC)).toBe(coloured);
    // Colour never changes the words.
    const plainText = (await textRun({})).stdout;
    // eslint-disable-next-line no-control-regex
    expect(r.stdout.replace(/\x1b\[\d+m/g, "")).toBe(plainText);
  });

  it("the gate is red when it fails and green when it passes", async () => {
    const fail = await textRun({ stdoutTTY: true });
    expect(fail.stdout).toContain(`${ESC}31mGate: FAIL`);
    // The headline is bold throughout: its coloured counts do not end the bold early.
    const head = fail.stdout.split("\n")[0]!;
    expect(head.startsWith(`${ESC}1m`)).toBe(true);
    expect(head.split(`${ESC}22m`)).toHaveLength(2);
    expect(head.endsWith(`${ESC}22m`)).toBe(true);
    const pass = await cli([...FLEET_TIGHTENED, "--fail-on", "none"], { stdoutTTY: true });
    expect(pass.stdout).toContain(`${ESC}32mGate: pass`);
  });

  it("never colours a report written to --out, and machine formats never", async () => {
    const out = join(tmp, "coloured.txt");
    const r = await cli([...FLEET_TIGHTENED, "--out", out], { stdoutTTY: true });
    expect(r.stdout).toContain(ESC);
    expect(readFileSync(out, "utf8")).not.toContain(ESC);
    for (const format of ["json", "markdown", "junit", "github"]) {
      const m = await cli([...FLEET_TIGHTENED, "--format", format], { stdoutTTY: true });
      expect(m.stdout).not.toContain(ESC);
    }
  });
});

describe("the progress bar", () => {
  // 10,000 calls: two progress ticks (every 4,096 calls).
  const big = tmpFile(
    "big.jsonl",
    Array.from({ length: 10_000 }, (_, i) =>
      JSON.stringify({
        session: `s${i % 7}`,
        identity: "ci-bot",
        ts: 1_763_800_000_000 + i,
        tool: "fleet_status",
      }),
    ).join("\n") + "\n",
  );
  /** A clock that moves 400 ms each time it is read: the replay looks slow. */
  function slowClock(): () => number {
    let t = 0;
    return () => (t += 400);
  }
  const replayBig = (opts: CliIo) => cli(["--policy", policy("fleet"), "--calls", big], opts);

  it("shows on a terminal after the delay, on stderr, and is cleared at the end", async () => {
    const r = await replayBig({ stderrTTY: true, now: slowClock() });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("replaying: 8,192 calls");
    // Cleared: the last thing written is "erase the line".
    expect(r.stderr.endsWith("\x1b[2K")).toBe(true);
    expect(r.stdout).not.toContain("replaying");
  });

  const quiet: [string, CliIo][] = [
    ["stderr is not a terminal", { stderrTTY: false, now: slowClock() }],
    ["CI is set", { stderrTTY: true, env: { CI: "true" }, now: slowClock() }],
    ["the replay is quick (under 500 ms)", { stderrTTY: true, now: () => 0 }],
  ];
  it.each(quiet)("is not shown when %s", async (_name, opts) => {
    const r = await replayBig(opts);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
  });

  it("is not shown while a JSON report streams to the same terminal", async () => {
    const r = await cli(["--policy", policy("fleet"), "--calls", big, "--format", "json"], {
      stderrTTY: true,
      stdoutTTY: true,
      now: slowClock(),
    });
    expect(r.stderr).toBe("");
  });

  it("a failed replay clears it too", async () => {
    const lines = readFileSync(big, "utf8").split("\n").slice(0, 9000);
    const bad = tmpFile("big-bad.jsonl", [...lines, '{"session":"s"}'].join("\n"));
    const r = await cli(["--policy", policy("fleet"), "--calls", bad], {
      stderrTTY: true,
      now: slowClock(),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("replaying: 8,192 calls");
    const [bar, message] = r.stderr.split("\x1b[2K");
    expect(bar).toContain("replaying");
    expect(message).toMatch(/^policy-replay: .*big-bad\.jsonl:9001: ts: missing required key\n$/);
  });
});

it("--help lists the formats, --accept and --out", async () => {
  const r = await cli(["--help"]);
  for (const s of ["markdown", "junit", "github", "--accept", "--out"])
    expect(r.stdout).toContain(s);
  expect(existsSync(join(root, "README.md"))).toBe(true);
});

// ---------------------------------------------------------------------------------------------

describe("harmless changes do not bury the failures", () => {
  // `default: allow`, and the candidate spells out allow rules: every read and list is
  // `allow default_allow -> allow rule_allow`, which the agent never notices. Among them, one
  // wipe is denied (s1) and one deploy needs approval (s2).
  const base = tmpFile("harmless.base.json", JSON.stringify({ version: "1", default: "allow" }));
  const candidate = tmpFile(
    "harmless.candidate.json",
    JSON.stringify({
      version: "1",
      default: "allow",
      tools: {
        read: { action: "allow" },
        list: { action: "allow" },
        wipe: { action: "deny", reason: "never wipe" },
        deploy: { action: "require_approval" },
      },
    }),
  );
  const calls = [
    ["s1", "read"], // 0 changed
    ["s1", "list"], // 1 changed
    ["s1", "read"], // 2 changed
    ["s1", "wipe"], // 3 tightened: the agent sees it
    ["s1", "read"], // 4 changed, counterfactual
    ["s2", "list"], // 5 changed
    ["s2", "read"], // 6 changed
    ["s2", "deploy"], // 7 tightened
    ["s2", "list"], // 8 changed, counterfactual
    ["s3", "read"], // 9 changed
    ["s3", "list"], // 10 changed
  ];
  const file = tmpFile(
    "harmless.jsonl",
    calls
      .map(([session, tool], i) =>
        JSON.stringify({ session, identity: "agent", ts: 1_763_800_000_000 + i * 1000, tool }),
      )
      .join("\n") + "\n",
  );
  const args = ["--baseline", base, "--policy", candidate, "--calls", file];

  it("only a change the agent could see marks the rest of its session counterfactual", async () => {
    const r = await cli([...args, "--format", "json"]);
    const report = JSON.parse(r.stdout) as JsonReport;
    expect(report.summary.changes).toMatchObject({ tightened: 2, changed: 9 });
    expect(report.calls.filter((c) => c.counterfactual).map((c) => c.index)).toEqual([4, 8]);
    expect(report.summary.counterfactual_changes).toBe(2);
  });

  it("the text report lists the calls that fail the gate first, then the rest in call order", async () => {
    const r = await cli([...args, "--show", "4"]);
    expect(r.code).toBe(1);
    const rows = changedRows(r.stdout);
    expect(rows.map((l) => l.trim().split(/\s+/)[0])).toEqual(["3", "7", "0", "1"]);
    expect(r.stdout).toContain("Changed calls (first 4 of 11; --show all lists every one):");
    expect(r.stdout).toContain("Calls that fail the gate come first.");
  });

  it("--fail-on decides what comes first: with changed failing too, call order again", async () => {
    const r = await cli([...args, "--show", "3", "--fail-on", "all"]);
    expect(changedRows(r.stdout).map((l) => l.trim().split(/\s+/)[0])).toEqual(["0", "1", "2"]);
    expect(r.stdout).not.toContain("come first");
  });

  it("github: the errors come before any warning", async () => {
    const r = await cli([...args, "--format", "github", "--show", "5"]);
    const { commands } = parseCommands(r.stdout);
    expect(commands.map((c) => c.level)).toEqual([
      "error", // the gate
      "error",
      "error",
      "warning",
      "warning",
      "warning",
      "notice", // 6 more
    ]);
    expect(commands[1]!.props.title).toBe("policy-replay: tightened wipe");
  });

  it("markdown and junit list them first too", async () => {
    const md = await cli([...args, "--format", "markdown", "--show", "3"]);
    const changed = markdownTables(md.stdout)[2]!;
    expect(changed.slice(1).map((row) => row[0])).toEqual(["3", "7", "0"]);
    const xml = await cli([...args, "--format", "junit"]);
    const { suites } = parseJunit(xml.stdout);
    // Suites with a failure first; in each, the failing cases first.
    const names = suites.slice(1).map((s) => s["@_name"]);
    expect(names.slice(0, 2).sort()).toEqual(["deploy", "wipe"]);
    expect(names.slice(2)).toEqual(["read", "list"]);
  });

  it("--only lists the classes named; the counts and the gate stay complete", async () => {
    const r = await cli([...args, "--only", "tightened"]);
    expect(r.code).toBe(1);
    expect(r.stdout.split("\n")[0]).toBe(
      "11 calls in 3 sessions replayed; 2 tightened, 0 loosened, 9 changed.",
    );
    expect(r.stdout).toContain("Changed calls (tightened only: 2 of 11):");
    expect(changedRows(r.stdout).map((l) => l.trim().split(/\s+/)[0])).toEqual(["3", "7"]);

    const some = await cli([...args, "--only", "changed", "--show", "2"]);
    expect(some.code).toBe(1);
    expect(some.stdout).toContain(
      "Changed calls (changed only: first 2 of 9, of 11 in all; --show all lists every one):",
    );
  });

  it("--only in markdown, github and junit; json keeps every call", async () => {
    const md = await cli([...args, "--format", "markdown", "--only", "changed,loosened"]);
    expect(md.stdout).toContain("<summary>11 changed calls (loosened and changed only: 9 of 11)");
    expect(markdownTables(md.stdout)[2]!).toHaveLength(1 + 9);

    const gh = await cli([...args, "--format", "github", "--only", "changed"]);
    const { commands } = parseCommands(gh.stdout);
    expect(commands[0]!.level).toBe("error");
    expect(commands.slice(1, -1).every((c) => c.level === "warning")).toBe(true);
    expect(commands.at(-1)!.message).toBe(
      "2 more changed calls not annotated (2 of a class --only changed leaves out); --format json lists every call.",
    );

    // JUnit: the calls left out still fail, summed up per tool.
    const xml = await cli([...args, "--format", "junit", "--only", "changed"]);
    const { root, suites } = parseJunit(xml.stdout);
    expect(root["@_failures"]).toBe("2");
    const wipe = suites.find((s) => s["@_name"] === "wipe")!;
    expect(list(wipe.testcase).map((c) => c["@_name"])).toEqual(["and 1 more changed call"]);
    expect(list(wipe.testcase)[0]!.failure).toBeDefined();

    const json = await cli([...args, "--format", "json", "--only", "tightened"]);
    expect((JSON.parse(json.stdout) as JsonReport).calls).toHaveLength(11);
  });

  it("--only takes all; an unknown class is exit 2 with one line", async () => {
    const all = await cli([...args, "--only", "all"]);
    expect(all.stdout).toContain("Changed calls:");
    const bad = await cli([...args, "--only", "tighten"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      'policy-replay: --only: unknown class "tighten"; use any of tightened, loosened, changed, hidden, unhidden, or all\n',
    );
  });

  it("says approval_required once where the decision and the code are the same word", async () => {
    const only = ["--only", "tightened"];
    const text = await cli([...args, ...only]);
    const deploy = changedRows(text.stdout).find((l) => l.includes("deploy"))!;
    expect(deploy).toMatch(
      /tightened {2}allow default_allow {2}approval_required {2}- -> deploy\s*$/,
    );
    expect(text.stdout).not.toContain("approval_required approval_required");
    for (const [format, after] of [
      ["markdown", "| approval_required |"],
      ["github", "-> approval_required"],
      ["junit", "-&gt; approval_required"],
    ]) {
      const r = await cli([...args, ...only, "--format", format!]);
      // (Markdown writes `_` as `\_`.)
      const words = r.stdout.replace(/\\_/g, "_");
      expect(words).toContain(after);
      expect(words).not.toContain("approval_required approval_required");
    }
    const { suites } = parseJunit((await cli([...args, ...only, "--format", "junit"])).stdout);
    expect(list(suites.find((s) => s["@_name"] === "deploy")!.testcase)[0]!["@_name"]).toBe(
      "s2 call 3: allow default_allow -> approval_required",
    );
  });
});

/** The rows of a text report's changed-calls table (one line a call). */
function changedRows(stdout: string): string[] {
  const lines = stdout.split("\n");
  const at = lines.findIndex((l) => l.startsWith("Changed calls"));
  return lines.slice(at + 2, lines.indexOf("", at));
}

describe("the text report fits the terminal", () => {
  const at = (columns: number, more: string[] = [], env: Record<string, string> = {}) =>
    cli([...FLEET_TIGHTENED, "--show", "10", ...more], {
      stdoutTTY: true,
      columns,
      env: { NO_COLOR: "1", ...env },
    });
  const widest = (text: string) =>
    // eslint-disable-next-line no-control-regex
    Math.max(...text.split("\n").map((l) => [...l.replace(/\x1b\[\d+m/g, "")].length));

  it("not a terminal: every column in full, a row a call, however wide", async () => {
    const r = await cli([...FLEET_TIGHTENED, "--show", "10"], { columns: 80 });
    const rows = changedRows(r.stdout);
    expect(rows).toHaveLength(10);
    expect(rows[0]).toMatch(
      /^ {2}14 {2}ops-93314522 {6}14 {2}2025-11-22 08:27:22\.217 {2}fleet_secrets_get {2}tightened/,
    );
    expect(widest(r.stdout)).toBeGreaterThan(150);
    expect(r.stdout).not.toContain("…");
  });

  it("120 columns: no line is wider; a call on two lines, names whole", async () => {
    const r = await at(120);
    expect(widest(r.stdout)).toBeLessThanOrEqual(120);
    const lines = r.stdout.split("\n");
    const title = lines.findIndex((l) => l.startsWith("Changed calls"));
    // The date moves to the heading, since every listed call shares it.
    expect(lines[title]).toBe(
      "Changed calls on 2025-11-22 (first 10 of 56; --show all lists every one):",
    );
    expect(lines[title + 1]!.trim().split(/\s+/)).toEqual([
      "#",
      "session",
      "call",
      "time",
      "(UTC)",
      "tool",
      "class",
      "marks",
    ]);
    expect(lines[title + 3]).toBe(
      "  14  ops-93314522      14  08:27:22.217  fleet_secrets_get  tightened",
    );
    expect(lines[title + 4]).toBe(
      "      allow rule_allow -> deny condition_deny; rule fleet_secrets_get",
    );
    expect(r.stdout).not.toContain("…");
  });

  it("80 columns: no line is wider; session ids and tool names cut with an ellipsis", async () => {
    const r = await at(80);
    expect(widest(r.stdout)).toBeLessThanOrEqual(80);
    const lines = r.stdout.split("\n");
    const title = lines.findIndex((l) => l.startsWith("Changed calls"));
    expect(lines[title + 3]).toMatch(
      /^ {2}14 {2}ops-9331… {4}14 {2}08:27:22\.217 {2}fleet_\S*…\S*get {2}tightened$/,
    );
    expect(lines[title + 4]).toBe(
      "      allow rule_allow -> deny condition_deny; rule fleet_secrets_get",
    );
    // Prose breaks between words, never inside one.
    const source = lines.findIndex((l) => l.startsWith("Source:"));
    expect(lines[source]).toBe(
      "Source: fixtures/traces/fleet-loop.jsonl (3 identities; calls from",
    );
    expect(lines[source + 1]).toBe("2025-11-22T08:26:41.500Z to 2025-11-22T08:37:30.000Z).");
  });

  it("narrower still: a block of short lines a call", async () => {
    const r = await at(60);
    const lines = r.stdout.split("\n");
    const title = lines.findIndex((l) => l.startsWith("Changed calls"));
    // (The tables by tool and identity need about 70 columns whatever is cut.)
    expect(widest(lines.slice(title).join("\n"))).toBeLessThanOrEqual(60);
    expect(lines.slice(title + 1, title + 5)).toEqual([
      "  14  tightened  fleet_secrets_get",
      "      ops-93314522 call 14, 2025-11-22 08:27:22.217",
      "      allow rule_allow -> deny condition_deny",
      "      rule fleet_secrets_get",
    ]);
  });

  it("colour does not count toward the width", async () => {
    const r = await at(80, [], { FORCE_COLOR: "1" });
    expect(r.stdout).toContain("\x1b[");
    expect(widest(r.stdout)).toBeLessThanOrEqual(80);
  });

  it("a report written to --out keeps every column, whatever the terminal", async () => {
    const out = join(tmp, "wide.txt");
    await at(80, ["--out", out]);
    const full = await cli([...FLEET_TIGHTENED, "--show", "10"]);
    expect(readFileSync(out, "utf8")).toBe(full.stdout);
  });
});

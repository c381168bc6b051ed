import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli, type Ran } from "./support.js";

const root = join(import.meta.dirname, "../..");
const tmp = mkdtempSync(join(tmpdir(), "policy-replay-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** SPEC section 7's entries, plus what this implementation adds. */
interface JsonCall {
  index: number;
  line: number;
  session: string;
  identity: string;
  ts: number;
  tool: string;
  decision: string;
  code: string;
  rule: string | null;
  retry_after_ms: number | null;
  before: {
    decision: string;
    code: string;
    rule: string | null;
    retry_after_ms: number | null;
  } | null;
  change: "tightened" | "loosened" | "changed" | null;
  counterfactual: boolean;
  inexact: boolean;
}
interface JsonReport {
  candidate: string;
  baseline: string | null;
  source: string;
  calls: JsonCall[];
  summary: {
    calls: number;
    sessions: number;
    basis: string;
    changes: { tightened: number; loosened: number; changed: number; total: number };
    gate: { fail_on: string[]; failing: number; failed: boolean };
  };
}

async function jsonRun(args: string[], cwd = root): Promise<{ code: number; report: JsonReport }> {
  const r = await cli([...args, "--format", "json"], cwd);
  expect(r.stderr).toBe("");
  return { code: r.code, report: JSON.parse(r.stdout) as JsonReport };
}

let tmpNo = 0;
function tmpFile(name: string, content: string): string {
  const file = join(tmp, `${tmpNo++}-${name}`);
  writeFileSync(file, content);
  return file;
}

const policyPath = (name: string) => `fixtures/policies/${name}.json`;
const tracePath = (name: string) => `fixtures/traces/${name}.jsonl`;

/** A trace's lines as objects, for checks on arguments (the report does not repeat them). */
function traceLines(name: string): {
  session: string;
  identity: string;
  ts: number;
  tool: string;
  arguments?: Record<string, unknown>;
}[] {
  return readFileSync(join(root, tracePath(name)), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as ReturnType<typeof traceLines>[number]);
}

// ---------------------------------------------------------------------------------------------
// Each variant against its base: the diff fixtures/README.md describes, call by call.
//
// Runs of changed calls, [firstIndex, lastIndex, tool, before.code, after.code, class]; every
// index in a run changed the same way and no call outside the runs changed. Derived once from the
// CLI, checked against the README's narrative (each `groups` entry quotes its sentence; the
// detail tests after the table check sessions and arguments), then pinned.

type Run = [from: number, to: number, tool: string, before: string, after: string, change: string];
type Row = [index: number, tool: string, before: string, after: string, change: string];

const expand = (runs: Run[]): Row[] =>
  runs.flatMap(([from, to, ...rest]) =>
    Array.from({ length: to - from + 1 }, (_, i): Row => [from + i, ...rest]),
  );

interface Variant {
  base: string;
  variant: "tightened" | "loosened";
  trace: string;
  counts: { tightened: number; loosened: number; changed: number };
  runs: Run[];
  /** Counts by `tool before->after class`, one entry per sentence of the README. */
  groups: Record<string, number>;
}

const VARIANTS: Variant[] = [
  {
    base: "fleet",
    variant: "tightened",
    trace: "fleet-loop",
    counts: { tightened: 55, loosened: 0, changed: 1 },
    runs: [
      [14, 14, "fleet_secrets_get", "rule_allow", "condition_deny", "tightened"],
      [41, 41, "fleet_status", "rule_allow", "hidden", "tightened"],
      [42, 42, "fleet_hosts_list", "rule_deny", "hidden", "changed"],
      [46, 46, "fleet_status", "rule_allow", "hidden", "tightened"],
      [61, 62, "fleet_secrets_set", "rule_allow", "rate_limited", "tightened"],
      [68, 68, "fleet_secrets_get", "rule_allow", "condition_deny", "tightened"],
      [80, 99, "fleet_secrets_set", "rule_allow", "rate_limited", "tightened"],
      [120, 120, "fleet_secrets_get", "rule_allow", "condition_deny", "tightened"],
      [171, 171, "fleet_secrets_get", "rule_allow", "condition_deny", "tightened"],
      [225, 225, "fleet_secrets_get", "rule_allow", "condition_deny", "tightened"],
      [276, 276, "fleet_secrets_get", "rule_allow", "condition_deny", "tightened"],
      [328, 328, "fleet_secrets_get", "rule_allow", "condition_deny", "tightened"],
      [361, 379, "fleet_secrets_set", "rule_allow", "rate_limited", "tightened"],
      [380, 380, "fleet_secrets_get", "rule_allow", "condition_deny", "tightened"],
      [381, 381, "fleet_secrets_set", "rule_allow", "rate_limited", "tightened"],
      [431, 431, "fleet_secrets_get", "rule_allow", "condition_deny", "tightened"],
      [482, 482, "fleet_secrets_get", "rule_allow", "condition_deny", "tightened"],
      [498, 498, "fleet_secrets_get", "rule_allow", "condition_deny", "tightened"],
    ],
    groups: {
      // 40 more loop writes and the last 2 onboarding writes become rate_limited.
      "fleet_secrets_set rule_allow->rate_limited tightened": 42,
      // 11 reads of DB_PASSWORD become condition_deny.
      "fleet_secrets_get rule_allow->condition_deny tightened": 11,
      // 2 anonymous fleet_status calls become hidden.
      "fleet_status rule_allow->hidden tightened": 2,
      // Changed: the anonymous fleet_hosts_list goes from rule_deny to hidden.
      "fleet_hosts_list rule_deny->hidden changed": 1,
    },
  },
  {
    base: "fleet",
    variant: "loosened",
    trace: "fleet-loop",
    counts: { tightened: 0, loosened: 182, changed: 0 },
    runs: [
      [24, 24, "fleet_secrets_get", "rule_deny", "rule_allow", "loosened"],
      [27, 27, "fleet_hosts_lock", "approval_required", "rule_allow", "loosened"],
      [100, 119, "fleet_secrets_set", "rate_limited", "rule_allow", "loosened"],
      [121, 170, "fleet_secrets_set", "rate_limited", "rule_allow", "loosened"],
      [172, 191, "fleet_secrets_set", "rate_limited", "rule_allow", "loosened"],
      [382, 383, "fleet_secrets_set", "rate_limited", "rule_allow", "loosened"],
      [385, 430, "fleet_secrets_set", "rate_limited", "rule_allow", "loosened"],
      [432, 448, "fleet_secrets_set", "rate_limited", "rule_allow", "loosened"],
      [450, 454, "fleet_secrets_set", "rate_limited", "rule_allow", "loosened"],
      [456, 475, "fleet_secrets_set", "rate_limited", "rule_allow", "loosened"],
    ],
    groups: {
      // 180 loop writes now pass.
      "fleet_secrets_set rate_limited->rule_allow loosened": 180,
      // The stolen-laptop lock goes from approval to allow.
      "fleet_hosts_lock approval_required->rule_allow loosened": 1,
      // ci-bot's SENTRY_DSN read goes from rule_deny to allow.
      "fleet_secrets_get rule_deny->rule_allow loosened": 1,
    },
  },
  {
    base: "secrets",
    variant: "tightened",
    trace: "secrets-session",
    counts: { tightened: 56, loosened: 0, changed: 2 },
    runs: [
      [4, 4, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [11, 11, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [26, 26, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [28, 30, "set_secret", "rule_allow", "rate_limited", "tightened"],
      [34, 35, "set_secret", "rule_allow", "rate_limited", "tightened"],
      [41, 41, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [50, 50, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [57, 58, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [60, 60, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [66, 66, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [69, 69, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [76, 76, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [78, 78, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [87, 87, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [94, 94, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [98, 98, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [100, 100, "export_secrets", "default_deny", "hidden", "changed"],
      [103, 103, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [111, 111, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [114, 115, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [119, 119, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [124, 124, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [127, 128, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [133, 133, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [135, 135, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [143, 147, "set_secret", "rule_allow", "rate_limited", "tightened"],
      [151, 151, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [154, 154, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [157, 157, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [167, 167, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [171, 171, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [178, 178, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [182, 182, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [198, 198, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [202, 202, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [205, 205, "export_secrets", "default_deny", "hidden", "changed"],
      [213, 213, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [218, 218, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [222, 222, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [224, 225, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [227, 227, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [229, 229, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [233, 234, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [240, 241, "get_secret", "rule_allow", "condition_deny", "tightened"],
      [243, 243, "get_secret", "rule_allow", "condition_deny", "tightened"],
    ],
    groups: {
      // 46 staging/ reads become condition_deny.
      "get_secret rule_allow->condition_deny tightened": 46,
      // 10 writes become rate_limited, 5 in each burst.
      "set_secret rule_allow->rate_limited tightened": 10,
      // Changed: both export_secrets calls go from default_deny to hidden.
      "export_secrets default_deny->hidden changed": 2,
    },
  },
  {
    base: "secrets",
    variant: "loosened",
    trace: "secrets-session",
    counts: { tightened: 0, loosened: 14, changed: 0 },
    runs: [
      [38, 39, "set_secret", "rate_limited", "rule_allow", "loosened"],
      [44, 45, "set_secret", "rate_limited", "rule_allow", "loosened"],
      [89, 89, "get_secret", "requirement_failed", "rule_allow", "loosened"],
      [92, 92, "rotate_secret", "approval_required", "rule_allow", "loosened"],
      [95, 95, "rotate_secret", "approval_required", "rule_allow", "loosened"],
      [148, 149, "set_secret", "rate_limited", "rule_allow", "loosened"],
      [249, 249, "rotate_secret", "approval_required", "rule_allow", "loosened"],
      [251, 251, "rotate_secret", "approval_required", "rule_allow", "loosened"],
      [253, 253, "rotate_secret", "approval_required", "rule_allow", "loosened"],
      [255, 255, "rotate_secret", "approval_required", "rule_allow", "loosened"],
      [259, 259, "get_secret", "requirement_failed", "rule_allow", "loosened"],
    ],
    groups: {
      // The 6 rate-limited writes now pass.
      "set_secret rate_limited->rule_allow loosened": 6,
      // 6 rotations go from approval to allow.
      "rotate_secret approval_required->rule_allow loosened": 6,
      // release-bot's 2 staging/ reads go from requirement_failed to allow.
      "get_secret requirement_failed->rule_allow loosened": 2,
    },
  },
  {
    base: "game",
    variant: "tightened",
    trace: "game-session",
    counts: { tightened: 130, loosened: 0, changed: 0 },
    runs: [
      [15, 16, "move", "rule_allow", "rate_limited", "tightened"],
      [21, 21, "trade", "default_allow", "hidden", "tightened"],
      [43, 44, "move", "rule_allow", "rate_limited", "tightened"],
      [53, 53, "trade", "default_allow", "hidden", "tightened"],
      [88, 88, "move", "rule_allow", "rate_limited", "tightened"],
      [90, 91, "move", "rule_allow", "rate_limited", "tightened"],
      [122, 122, "chat", "rule_allow", "rate_limited", "tightened"],
      [129, 129, "move", "rule_allow", "rate_limited", "tightened"],
      [131, 131, "chat", "rule_allow", "rate_limited", "tightened"],
      [137, 137, "chat", "rule_allow", "rate_limited", "tightened"],
      [140, 140, "chat", "rule_allow", "rate_limited", "tightened"],
      [148, 150, "move", "rule_allow", "rate_limited", "tightened"],
      [151, 151, "chat", "rule_allow", "rate_limited", "tightened"],
      [170, 170, "move", "rule_allow", "rate_limited", "tightened"],
      [172, 172, "trade", "default_allow", "hidden", "tightened"],
      [189, 189, "chat", "rule_allow", "rate_limited", "tightened"],
      [192, 192, "chat", "rule_allow", "rate_limited", "tightened"],
      [195, 195, "chat", "rule_allow", "rate_limited", "tightened"],
      [198, 198, "trade", "default_allow", "hidden", "tightened"],
      [211, 213, "move", "rule_allow", "rate_limited", "tightened"],
      [217, 217, "trade", "default_allow", "hidden", "tightened"],
      [223, 224, "move", "rule_allow", "rate_limited", "tightened"],
      [226, 226, "move", "rule_allow", "rate_limited", "tightened"],
      [242, 243, "move", "rule_allow", "rate_limited", "tightened"],
      [245, 245, "move", "rule_allow", "rate_limited", "tightened"],
      [258, 260, "move", "rule_allow", "rate_limited", "tightened"],
      [270, 270, "move", "rule_allow", "rate_limited", "tightened"],
      [271, 271, "trade", "default_allow", "hidden", "tightened"],
      [272, 273, "move", "rule_allow", "rate_limited", "tightened"],
      [284, 284, "move", "rule_allow", "rate_limited", "tightened"],
      [286, 286, "move", "rule_allow", "rate_limited", "tightened"],
      [288, 288, "move", "rule_allow", "rate_limited", "tightened"],
      [300, 302, "move", "rule_allow", "rate_limited", "tightened"],
      [308, 308, "trade", "default_allow", "hidden", "tightened"],
      [314, 316, "move", "rule_allow", "rate_limited", "tightened"],
      [328, 330, "move", "rule_allow", "rate_limited", "tightened"],
      [343, 345, "move", "rule_allow", "rate_limited", "tightened"],
      [346, 346, "trade", "default_allow", "hidden", "tightened"],
      [357, 359, "move", "rule_allow", "rate_limited", "tightened"],
      [368, 370, "move", "rule_allow", "rate_limited", "tightened"],
      [382, 382, "trade", "default_allow", "hidden", "tightened"],
      [433, 434, "move", "rule_allow", "rate_limited", "tightened"],
      [436, 436, "move", "rule_allow", "rate_limited", "tightened"],
      [458, 459, "move", "rule_allow", "rate_limited", "tightened"],
      [483, 485, "move", "rule_allow", "rate_limited", "tightened"],
      [503, 503, "trade", "default_allow", "hidden", "tightened"],
      [511, 512, "move", "rule_allow", "rate_limited", "tightened"],
      [514, 514, "trade", "default_allow", "hidden", "tightened"],
      [526, 526, "move", "rule_allow", "rate_limited", "tightened"],
      [528, 529, "move", "rule_allow", "rate_limited", "tightened"],
      [534, 534, "trade", "default_allow", "hidden", "tightened"],
      [538, 538, "trade", "default_allow", "hidden", "tightened"],
      [543, 543, "trade", "default_allow", "hidden", "tightened"],
      [556, 556, "move", "rule_allow", "rate_limited", "tightened"],
      [558, 559, "move", "rule_allow", "rate_limited", "tightened"],
      [566, 566, "trade", "default_allow", "hidden", "tightened"],
      [573, 574, "move", "rule_allow", "rate_limited", "tightened"],
      [576, 576, "trade", "default_allow", "hidden", "tightened"],
      [584, 584, "move", "rule_allow", "rate_limited", "tightened"],
      [589, 591, "move", "rule_allow", "rate_limited", "tightened"],
      [631, 631, "trade", "default_allow", "hidden", "tightened"],
      [636, 636, "trade", "default_allow", "hidden", "tightened"],
      [648, 648, "trade", "default_allow", "hidden", "tightened"],
      [654, 654, "move", "rule_allow", "rate_limited", "tightened"],
      [656, 657, "move", "rule_allow", "rate_limited", "tightened"],
      [695, 697, "move", "rule_allow", "rate_limited", "tightened"],
      [716, 718, "move", "rule_allow", "rate_limited", "tightened"],
      [726, 727, "move", "rule_allow", "rate_limited", "tightened"],
      [729, 729, "move", "rule_allow", "rate_limited", "tightened"],
      [738, 738, "trade", "default_allow", "hidden", "tightened"],
      [759, 761, "move", "rule_allow", "rate_limited", "tightened"],
      [768, 770, "move", "rule_allow", "rate_limited", "tightened"],
      [781, 781, "trade", "default_allow", "hidden", "tightened"],
      [790, 790, "move", "rule_allow", "rate_limited", "tightened"],
      [801, 802, "move", "rule_allow", "rate_limited", "tightened"],
      [804, 804, "move", "rule_allow", "rate_limited", "tightened"],
      [811, 813, "move", "rule_allow", "rate_limited", "tightened"],
      [819, 821, "move", "rule_allow", "rate_limited", "tightened"],
      [858, 858, "move", "rule_allow", "rate_limited", "tightened"],
      [860, 861, "move", "rule_allow", "rate_limited", "tightened"],
    ],
    groups: {
      // 101 moves become rate_limited.
      "move rule_allow->rate_limited tightened": 101,
      // 21 trade calls become hidden.
      "trade default_allow->hidden tightened": 21,
      // 8 of player-bo's chats become rate_limited.
      "chat rule_allow->rate_limited tightened": 8,
    },
  },
  {
    base: "game",
    variant: "loosened",
    trace: "game-session",
    counts: { tightened: 0, loosened: 50, changed: 0 },
    runs: [
      [19, 19, "jump", "rate_limited", "rule_allow", "loosened"],
      [49, 49, "jump", "rate_limited", "rule_allow", "loosened"],
      [55, 55, "jump", "rate_limited", "rule_allow", "loosened"],
      [62, 62, "jump", "rate_limited", "rule_allow", "loosened"],
      [66, 66, "move", "condition_deny", "rule_allow", "loosened"],
      [71, 71, "jump", "rate_limited", "rule_allow", "loosened"],
      [112, 112, "jump", "rate_limited", "rule_allow", "loosened"],
      [130, 130, "jump", "rate_limited", "rule_allow", "loosened"],
      [157, 157, "jump", "rate_limited", "rule_allow", "loosened"],
      [197, 197, "jump", "rate_limited", "rule_allow", "loosened"],
      [201, 201, "jump", "rate_limited", "rule_allow", "loosened"],
      [233, 233, "move", "condition_deny", "rule_allow", "loosened"],
      [246, 246, "jump", "rate_limited", "rule_allow", "loosened"],
      [321, 321, "jump", "rate_limited", "rule_allow", "loosened"],
      [399, 399, "jump", "rate_limited", "rule_allow", "loosened"],
      [411, 411, "jump", "rate_limited", "rule_allow", "loosened"],
      [423, 423, "jump", "rate_limited", "rule_allow", "loosened"],
      [443, 443, "jump", "rate_limited", "rule_allow", "loosened"],
      [470, 470, "jump", "rate_limited", "rule_allow", "loosened"],
      [501, 501, "jump", "rate_limited", "rule_allow", "loosened"],
      [516, 516, "jump", "rate_limited", "rule_allow", "loosened"],
      [518, 518, "move", "condition_deny", "rule_allow", "loosened"],
      [527, 527, "move", "condition_deny", "rule_allow", "loosened"],
      [537, 537, "jump", "rate_limited", "rule_allow", "loosened"],
      [546, 546, "move", "condition_deny", "rule_allow", "loosened"],
      [599, 599, "jump", "rate_limited", "rule_allow", "loosened"],
      [606, 606, "jump", "rate_limited", "rule_allow", "loosened"],
      [616, 616, "move", "condition_deny", "rule_allow", "loosened"],
      [618, 618, "jump", "rate_limited", "rule_allow", "loosened"],
      [625, 625, "jump", "rate_limited", "rule_allow", "loosened"],
      [630, 630, "jump", "rate_limited", "rule_allow", "loosened"],
      [634, 634, "move", "condition_deny", "rule_allow", "loosened"],
      [658, 658, "jump", "rate_limited", "rule_allow", "loosened"],
      [674, 675, "chat", "rate_limited", "rule_allow", "loosened"],
      [677, 686, "chat", "rate_limited", "rule_allow", "loosened"],
      [691, 691, "chat", "rate_limited", "rule_allow", "loosened"],
      [805, 805, "jump", "rate_limited", "rule_allow", "loosened"],
      [842, 842, "jump", "rate_limited", "rule_allow", "loosened"],
      [870, 870, "move", "condition_deny", "rule_allow", "loosened"],
      [871, 871, "jump", "rate_limited", "rule_allow", "loosened"],
    ],
    groups: {
      // 29 double jumps pass.
      "jump rate_limited->rule_allow loosened": 29,
      // All 13 storm chats that hit the global cap pass.
      "chat rate_limited->rule_allow loosened": 13,
      // 8 moves of 6 to 8 tiles go from condition_deny to allow.
      "move condition_deny->rule_allow loosened": 8,
    },
  },
];

describe("each fixture variant against its base (fixtures/README.md)", () => {
  const reports = new Map<string, Promise<{ code: number; report: JsonReport }>>();
  const reportOf = (v: Variant) => {
    const key = `${v.base}.${v.variant}`;
    let p = reports.get(key);
    if (!p) {
      p = jsonRun([
        "--baseline",
        policyPath(v.base),
        "--policy",
        policyPath(key),
        "--calls",
        tracePath(v.trace),
        "--fail-on",
        "none",
      ]);
      reports.set(key, p);
    }
    return p;
  };
  const changedRows = (r: JsonReport): Row[] =>
    r.calls
      .filter((c) => c.change !== null)
      .map((c) => [c.index, c.tool, c.before!.code, c.code, c.change!]);

  describe.each(VARIANTS.map((v) => [`${v.base}.${v.variant}`, v] as const))("%s", (_name, v) => {
    it("has the README's counts by class", async () => {
      const { code, report } = await reportOf(v);
      expect(code).toBe(0);
      const total = v.counts.tightened + v.counts.loosened + v.counts.changed;
      expect(report.summary.changes).toEqual({ ...v.counts, total });
      expect(report.summary.basis).toBe("baseline");
      expect(report.baseline).toBe(policyPath(v.base));
      // The pinned runs add up to the same counts.
      const rows = expand(v.runs);
      expect(rows).toHaveLength(total);
      for (const cls of ["tightened", "loosened", "changed"] as const)
        expect(rows.filter((r) => r[4] === cls)).toHaveLength(v.counts[cls]);
    });

    it("changes exactly the pinned calls, each the pinned way", async () => {
      const { report } = await reportOf(v);
      expect(changedRows(report)).toEqual(expand(v.runs));
    });

    it("matches the README's narrative, sentence by sentence", async () => {
      const { report } = await reportOf(v);
      const groups: Record<string, number> = {};
      for (const [, tool, before, after, change] of changedRows(report)) {
        const k = `${tool} ${before}->${after} ${change}`;
        groups[k] = (groups[k] ?? 0) + 1;
      }
      expect(groups).toEqual(v.groups);
    });

    it("every unchanged call has the same decision, code and rule on both sides", async () => {
      const { report } = await reportOf(v);
      for (const c of report.calls.filter((x) => x.change === null)) {
        expect([c.decision, c.code, c.rule]).toEqual([
          c.before!.decision,
          c.before!.code,
          c.before!.rule,
        ]);
      }
    });
  });

  // The narrative's details that need the trace's sessions and arguments.

  it("fleet.tightened: who the changed calls belong to", async () => {
    const { report } = await reportOf(VARIANTS[0]!);
    const lines = traceLines("fleet-loop");
    const changed = report.calls.filter((c) => c.change !== null);
    // The loop session: the one with 400-odd fleet_secrets_set calls.
    const setsBySession = new Map<string, number[]>();
    lines.forEach((l, i) => {
      if (l.tool === "fleet_secrets_set")
        setsBySession.set(l.session, [...(setsBySession.get(l.session) ?? []), i]);
    });
    const [loopSession, loopSets] = [...setsBySession].sort(
      (a, b) => b[1].length - a[1].length,
    )[0]!;
    expect(loopSets.length).toBeGreaterThanOrEqual(400);
    const onboarding = [...setsBySession].find(([, idx]) => idx.length === 12)!;
    const limited = changed.filter((c) => c.code === "rate_limited");
    expect(limited.filter((c) => c.session === loopSession)).toHaveLength(40);
    // "the last 2 onboarding writes"
    expect(limited.filter((c) => c.session === onboarding[0]).map((c) => c.index)).toEqual(
      onboarding[1].slice(-2),
    );
    // "11 reads of DB_PASSWORD"
    for (const c of changed.filter((x) => x.code === "condition_deny"))
      expect(lines[c.index]!.arguments).toMatchObject({ name: "DB_PASSWORD" });
    // The hidden ones are all the anonymous session's.
    for (const c of changed.filter((x) => x.code === "hidden"))
      expect(c.identity).toBe("anonymous");
  });

  it("fleet.loosened: about 240 of the 400 loop writes pass; the bystander is still refused", async () => {
    const { report } = await reportOf(VARIANTS[1]!);
    const lines = traceLines("fleet-loop");
    const loop = report.calls.filter((c) => c.tool === "fleet_secrets_set");
    const bySession = new Map<string, JsonCall[]>();
    for (const c of loop) bySession.set(c.session, [...(bySession.get(c.session) ?? []), c]);
    const loopCalls = [...bySession.values()].sort((a, b) => b.length - a.length)[0]!;
    // 400 in the loop plus the recovery write minutes later.
    expect(loopCalls).toHaveLength(401);
    const passedBefore = loopCalls.filter((c) => c.before!.decision === "allow").length;
    const passedAfter = loopCalls.filter((c) => c.decision === "allow").length;
    expect(passedBefore).toBe(60 + 1);
    expect(passedAfter).toBe(240 + 1);
    // The bystander: another agent-ops session's write during the loop is refused on both sides.
    const first = loopCalls[0]!.ts;
    const last = loopCalls[399]!.ts;
    const bystander = report.calls.filter(
      (c) =>
        c.tool === "fleet_secrets_set" &&
        c.identity === "agent-ops" &&
        c.session !== loopCalls[0]!.session &&
        c.ts >= first &&
        c.ts <= last,
    );
    expect(bystander.length).toBeGreaterThan(0);
    for (const c of bystander) {
      expect(c.code).toBe("rate_limited");
      expect(c.change).toBeNull();
    }
    const lock = report.calls.find((c) => c.tool === "fleet_hosts_lock")!;
    expect(lines[lock.index]!.arguments).toHaveProperty("reason");
    const dsn = report.calls.find((c) => c.change !== null && c.tool === "fleet_secrets_get")!;
    expect(dsn.identity).toBe("ci-bot");
    expect(lines[dsn.index]!.arguments).toMatchObject({ name: "SENTRY_DSN" });
  });

  it("secrets.tightened: staging reads, 5 writes in each burst", async () => {
    const { report } = await reportOf(VARIANTS[2]!);
    const lines = traceLines("secrets-session");
    const changed = report.calls.filter((c) => c.change !== null);
    for (const c of changed.filter((x) => x.code === "condition_deny"))
      expect(String(lines[c.index]!.arguments?.name)).toMatch(/^staging\//);
    const writes = changed.filter((c) => c.code === "rate_limited");
    const perSession = new Map<string, number>();
    for (const c of writes) perSession.set(c.session, (perSession.get(c.session) ?? 0) + 1);
    expect([...perSession.values()]).toEqual([5, 5]);
  });

  it("secrets.loosened: release-bot's staging reads pass, its dev read and the auditor's rotate do not", async () => {
    const { report } = await reportOf(VARIANTS[3]!);
    const lines = traceLines("secrets-session");
    const release = report.calls.filter((c) => c.identity === "release-bot");
    const reads = release.filter((c) => c.tool === "get_secret");
    const name = (c: JsonCall) => String(lines[c.index]!.arguments?.name);
    for (const c of reads) {
      if (name(c).startsWith("staging/")) expect(c.change).toBe("loosened");
      if (name(c).startsWith("dev/")) {
        expect(c.decision).toBe("deny");
        expect(c.change).toBeNull();
      }
    }
    expect(reads.filter((c) => name(c).startsWith("dev/")).length).toBeGreaterThan(0);
    const auditorRotate = report.calls.filter(
      (c) => c.identity === "auditor" && c.tool === "rotate_secret",
    );
    expect(auditorRotate.length).toBeGreaterThan(0);
    for (const c of auditorRotate) expect([c.code, c.change]).toEqual(["hidden", null]);
  });

  it("game.tightened: player-bo's chats, 5 before the minute boundary and 3 after", async () => {
    const { report } = await reportOf(VARIANTS[4]!);
    const chats = report.calls.filter((c) => c.change !== null && c.tool === "chat");
    expect(new Set(chats.map((c) => c.identity))).toEqual(new Set(["player-bo"]));
    const minutes = chats.map((c) => Math.floor(c.ts / 60_000));
    const first = Math.min(...minutes);
    expect(minutes.filter((m) => m === first)).toHaveLength(5);
    expect(minutes.filter((m) => m === first + 1)).toHaveLength(3);
    const farm = report.calls.filter((c) => c.change !== null && c.identity === "farm-bot-3");
    expect(farm.some((c) => c.tool === "move")).toBe(true);
  });

  it("game.loosened: the moves that now pass ask for 6 to 8 tiles", async () => {
    const { report } = await reportOf(VARIANTS[5]!);
    const lines = traceLines("game-session");
    const moves = report.calls.filter((c) => c.change !== null && c.tool === "move");
    for (const c of moves) {
      const steps = lines[c.index]!.arguments?.steps as number;
      expect(steps).toBeGreaterThanOrEqual(6);
      expect(steps).toBeLessThanOrEqual(8);
    }
    // The storm chats: all within about 3 s.
    const chats = report.calls.filter((c) => c.change !== null && c.tool === "chat");
    expect(chats.at(-1)!.ts - chats[0]!.ts).toBeLessThan(3_000);
  });
});

// ---------------------------------------------------------------------------------------------

describe("the demo recording under its own policy", () => {
  it("reproduces every recorded decision: zero changes, exit 0", async () => {
    const { code, report } = await jsonRun([
      "--policy",
      policyPath("fleet"),
      "--calls",
      "fixtures/traces/fleet-loop.recorded.jsonl",
    ]);
    expect(code).toBe(0);
    expect(report.source).toBe("fixtures/traces/fleet-loop.recorded.jsonl");
    expect(report.summary.basis).toBe("recorded");
    expect(report.summary.calls).toBe(501);
    expect(report.summary.changes.total).toBe(0);
    // Bit for bit, including retry times (SPEC: replaying under the recording's policy).
    const recorded = readFileSync(join(root, "fixtures/traces/fleet-loop.recorded.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(report.calls.map((c) => [c.decision, c.code, c.rule, c.retry_after_ms])).toEqual(
      recorded.map((r) => [r.decision, r.code, r.rule ?? null, r.retry_after_ms ?? null]),
    );
  });

  it("the text report says so and exits 0", async () => {
    const r = await cli([
      "--policy",
      policyPath("fleet"),
      "--calls",
      "fixtures/traces/fleet-loop.recorded.jsonl",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("No decision changed.");
    expect(r.stdout).not.toContain("Changed calls");
  });
});

describe("--format json: SPEC section 7's shape", () => {
  it("a calls array, one entry per input line in order, and a summary", async () => {
    const lines = [
      { session: "s1", identity: "agent-ops", ts: 1763800000000, tool: "fleet_status" },
      { session: "s1", identity: "agent-ops", ts: 1763800000001, tool: "fleet_wipe" },
      { session: "s2", ts: 1763800000002, tool: "fleet_status" },
      { session: "s2", ts: 1763800000003, tool: "fleet_secrets_set", arguments: { app: "web" } },
      { session: "s1", identity: "agent-ops", ts: 1763800000004, tool: "fleet_scripts_run" },
    ];
    // Blank lines and CRLF in between: index counts calls, line counts lines.
    const file = tmpFile("shape.jsonl", lines.map((l) => JSON.stringify(l)).join("\r\n\n") + "\n");
    const { code, report } = await jsonRun(["--policy", policyPath("fleet"), "--calls", file]);
    expect(code).toBe(0);
    expect(Object.keys(report)).toEqual(expect.arrayContaining(["calls", "summary"]));
    expect(Array.isArray(report.calls)).toBe(true);
    expect(report.calls).toHaveLength(lines.length);
    report.calls.forEach((c, i) => {
      expect(c.index).toBe(i);
      expect(c.line).toBe(2 * i + 1);
      expect(c.tool).toBe(lines[i]!.tool);
      expect(["allow", "deny", "approval_required"]).toContain(c.decision);
      expect(typeof c.code).toBe("string");
      expect(c).toHaveProperty("rule");
      expect(c.rule === null || typeof c.rule === "string").toBe(true);
      expect(c).toHaveProperty("retry_after_ms");
      expect(c.retry_after_ms === null || Number.isInteger(c.retry_after_ms)).toBe(true);
    });
    expect(report.calls.map((c) => [c.decision, c.code, c.rule, c.retry_after_ms])).toEqual([
      ["allow", "rule_allow", "fleet_status", null],
      ["deny", "rule_deny", "fleet_wipe", null],
      ["allow", "rule_allow", "fleet_status", null], // anonymous: status only
      ["deny", "hidden", null, null], // anonymous: the secrets tools are hidden
      ["approval_required", "approval_required", "fleet_*", null],
    ]);
    expect(report.calls[2]!.identity).toBe("anonymous");
    // Nothing recorded and no baseline: nothing to compare.
    expect(report.summary.basis).toBe("none");
    expect(report.calls.every((c) => c.before === null && c.change === null)).toBe(true);
    expect(report.summary).toMatchObject({ calls: 5, sessions: 2 });
  });

  it("retry_after_ms is a number for a rate-limited call", async () => {
    const { report } = await jsonRun([
      "--policy",
      policyPath("fleet"),
      "--calls",
      "fixtures/traces/fleet-loop.recorded.jsonl",
    ]);
    const limited = report.calls.filter((c) => c.code === "rate_limited");
    expect(limited.length).toBeGreaterThan(300);
    for (const c of limited) expect(c.retry_after_ms).toBeGreaterThan(0);
  });

  it("is byte-for-byte the same on a second run (determinism)", async () => {
    const args = [
      "--baseline",
      policyPath("game"),
      "--policy",
      policyPath("game.tightened"),
      "--calls",
      tracePath("game-session"),
      "--format",
      "json",
    ];
    const a = await cli(args);
    const b = await cli(args);
    expect(a.code).toBe(1);
    expect(b).toEqual(a);
    const t1 = await cli(args.slice(0, -2));
    const t2 = await cli(args.slice(0, -2));
    expect(t2).toEqual(t1);
  });
});

describe("conformance vectors through the CLI", () => {
  const SAMPLE = [
    "seed-fleet-30-per-minute-boundary.json",
    "equal-timestamps-keep-order.json",
    "grants-before-top-level.json",
    "one-counter-two-windows-counts-once.json",
    "shared-counter-across-tools-and-scopes.json",
    "random-1-006.json",
    "random-1-012.json",
    "random-1-017.json",
    "random-1-028.json",
    "random-1-035.json",
  ];

  interface Vector {
    policy: unknown;
    calls: Record<string, unknown>[];
    expected: {
      decision: string;
      code: string;
      rule: string | null;
      retry_after_ms: number | null;
    }[];
  }

  it.each(SAMPLE)("%s", async (name) => {
    const v = JSON.parse(readFileSync(join(root, "fixtures/conformance", name), "utf8")) as Vector;
    const policy = tmpFile(`policy-${name}`, JSON.stringify(v.policy, null, 2));
    const calls = tmpFile(`${name}.jsonl`, v.calls.map((c) => JSON.stringify(c)).join("\n") + "\n");
    const { code, report } = await jsonRun(["--policy", policy, "--calls", calls]);
    expect(code).toBe(0);
    expect(report.calls).toHaveLength(v.expected.length);
    expect(
      report.calls.map((c) => ({
        decision: c.decision,
        code: c.code,
        rule: c.rule,
        retry_after_ms: c.retry_after_ms,
      })),
    ).toEqual(v.expected);
  });
});

// ---------------------------------------------------------------------------------------------

describe("exit codes: --fail-on", () => {
  // fleet.tightened: 55 tightened + 1 changed; fleet.loosened: 182 loosened;
  // game.tightened: 130 tightened and nothing else.
  const cases: [failOn: string, tightening: number, loosening: number, tightenedOnly: number][] = [
    ["tightened", 1, 0, 1],
    ["loosened", 0, 1, 0],
    ["changed", 1, 0, 0],
    ["all", 1, 1, 1],
    ["none", 0, 0, 0],
    ["tightened,loosened", 1, 1, 1],
    ["tightened,changed", 1, 0, 1],
    ["loosened,changed", 1, 1, 0],
    ["tightened,loosened,changed", 1, 1, 1],
    [" loosened , loosened ", 0, 1, 0],
  ];
  const runWith = (base: string, variant: string, trace: string, failOn: string) =>
    cli([
      "--baseline",
      policyPath(base),
      "--policy",
      policyPath(`${base}.${variant}`),
      "--calls",
      tracePath(trace),
      "--fail-on",
      failOn,
    ]);

  it.each(cases)("--fail-on %j", async (failOn, tightening, loosening, tightenedOnly) => {
    const t = await runWith("fleet", "tightened", "fleet-loop", failOn);
    const l = await runWith("fleet", "loosened", "fleet-loop", failOn);
    const g = await runWith("game", "tightened", "game-session", failOn);
    expect([t.code, l.code, g.code]).toEqual([tightening, loosening, tightenedOnly]);
    for (const r of [t, l, g]) {
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain(r.code === 1 ? "Gate: FAIL" : "Gate: pass");
    }
  });

  it("the default is tightened,loosened", async () => {
    const t = await cli([
      "--policy",
      policyPath("fleet.tightened"),
      "--calls",
      "fixtures/traces/fleet-loop.recorded.jsonl",
    ]);
    expect(t.code).toBe(1);
    expect(t.stdout).toContain(
      "Gate: FAIL — 55 changes of a failing class (fails on tightened, loosened).",
    );
    const { code, report } = await jsonRun([
      "--policy",
      policyPath("fleet.loosened"),
      "--calls",
      "fixtures/traces/fleet-loop.recorded.jsonl",
    ]);
    expect(code).toBe(1);
    expect(report.summary.gate).toEqual({
      fail_on: ["tightened", "loosened"],
      failing: 182,
      failed: true,
    });
  });

  it("the JSON summary's gate says which classes failed", async () => {
    const { code, report } = await jsonRun([
      "--policy",
      policyPath("fleet.tightened"),
      "--calls",
      "fixtures/traces/fleet-loop.recorded.jsonl",
      "--fail-on",
      "changed",
    ]);
    expect(code).toBe(1);
    expect(report.summary.gate).toEqual({ fail_on: ["changed"], failing: 1, failed: true });
  });
});

describe("exit codes: bad input and usage exit 2 with a message, never a stack trace", () => {
  const noStack = (r: Ran) => {
    expect(r.stderr).not.toMatch(/^\s{4}at /m);
    expect(r.stderr).not.toMatch(/internal error/);
  };

  it("a policy that is not JSON: the file and line:col", async () => {
    const r = await cli(["--policy", "fixtures/invalid-policies/not-json-trailing-comma.json"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/not-json-trailing-comma\.json:\d+:\d+: not valid JSON/);
    noStack(r);
  });

  it("a policy that fails validation: the file, the path and a suggestion", async () => {
    const file = tmpFile(
      "typo.json",
      JSON.stringify({
        version: "1",
        tools: { t: { limits: [{ counter: "c", windw: "minute", max: 1 }] } },
      }),
    );
    const r = await cli(["--policy", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain("tools.t.limits[0].windw");
    expect(r.stderr).toContain('did you mean "window"');
    noStack(r);
  });

  it("a missing policy file", async () => {
    const r = await cli(["--policy", "fixtures/policies/nope.json"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope\.json.*no such file/s);
    noStack(r);
  });

  it("a missing baseline file", async () => {
    const r = await cli(["--policy", policyPath("fleet"), "--baseline", "nope-baseline.json"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nope-baseline.json");
    noStack(r);
  });

  it("a missing calls file", async () => {
    const r = await cli(["--policy", policyPath("fleet"), "--calls", "recordings/nope.jsonl"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      /recordings\/nope\.jsonl.*cannot read the calls file \(no such file\)/s,
    );
    noStack(r);
  });

  it.each(["text", "json"])(
    "a malformed trace line (--format %s): the file and line",
    async (format) => {
      const good = (ts: number) =>
        JSON.stringify({ session: "s", identity: "ci-bot", ts, tool: "fleet_status" });
      const file = tmpFile("bad-line.jsonl", `${good(1)}\n${good(2)}\n\n{"session":"s","ts":3}\n`);
      const r = await cli(["--policy", policyPath("fleet"), "--calls", file, "--format", format]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${file}:4: tool: missing required key`);
      noStack(r);
    },
  );

  it("a malformed line after the JSON report has started streaming still exits 2", async () => {
    // Over 64 KiB of calls are written before line 401 is read; what reached stdout is a
    // truncated document, and only the exit code and stderr say so.
    const head = readFileSync(join(root, tracePath("fleet-loop")), "utf8")
      .split("\n")
      .slice(0, 400)
      .join("\n");
    const file = tmpFile("late-bad-line.jsonl", `${head}\n{"sesion":"s","ts":1,"tool":"t"}\n`);
    const r = await cli(["--policy", policyPath("fleet"), "--calls", file, "--format", "json"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:401: sesion: unknown key; did you mean "session"?`);
    noStack(r);
  });

  it("a trace whose time goes backwards: the file and line", async () => {
    const line = (ts: number) => JSON.stringify({ session: "s", ts, tool: "fleet_status" });
    const file = tmpFile("backwards.jsonl", [line(5), line(9), line(7)].join("\n"));
    const r = await cli(["--policy", policyPath("fleet"), "--calls", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:3: ts:`);
    noStack(r);
  });

  it("an unknown option", async () => {
    const r = await cli(["--policy", policyPath("fleet"), "--polcy", "x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--polcy'/);
    expect(r.stdout).toBe("");
    noStack(r);
  });

  it.each(["tightend", "all,none", "tightened,bogus"])("a bad --fail-on value (%s)", async (v) => {
    const r = await cli(["--policy", policyPath("fleet"), "--fail-on", v]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--fail-on: unknown class/);
    expect(r.stdout).toBe("");
    noStack(r);
  });

  it.each(["-1", "1.5", "many"])("a bad --show value (%s)", async (v) => {
    const r = await cli(["--policy", policyPath("fleet"), "--show", v]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--show/);
    noStack(r);
  });

  it("a bad --format value", async () => {
    const r = await cli(["--policy", policyPath("fleet"), "--format", "yaml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/yaml/);
    noStack(r);
  });

  it("a missing --policy", async () => {
    const r = await cli(["--calls", tracePath("fleet-loop")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--policy/);
    noStack(r);
  });

  it("no --calls and no default recording in cwd", async () => {
    const empty = join(tmp, "empty-project");
    mkdirSync(empty, { recursive: true });
    const r = await cli(["--policy", join(root, policyPath("fleet"))], empty);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--db FILE or --calls FILE");
    expect(r.stderr).toContain("recordings/");
    expect(r.stderr).toContain(empty);
    noStack(r);
  });

  it("relative paths resolve against cwd", async () => {
    const project = join(tmp, "project");
    mkdirSync(join(project, "recordings"), { recursive: true });
    writeFileSync(
      join(project, "recordings/demo.sqlite"),
      readFileSync(join(root, "recordings/demo.sqlite")),
    );
    writeFileSync(join(project, "p.json"), readFileSync(join(root, policyPath("fleet"))));
    const r = await cli(["--policy", "p.json"], project);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("No decision changed.");
  });

  it("--help exits 0 and prints usage", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: policy-replay/);
    for (const opt of ["--policy", "--calls", "--baseline", "--format", "--fail-on", "--show"])
      expect(r.stdout).toContain(opt);
    expect(r.stderr).toBe("");
  });
});

// ---------------------------------------------------------------------------------------------

describe("the text report", () => {
  it("leads with the answer and the gate, then the context, the tables, the changed calls", async () => {
    const r = await cli([
      "--policy",
      policyPath("fleet.tightened"),
      "--calls",
      "fixtures/traces/fleet-loop.recorded.jsonl",
    ]);
    expect(r.code).toBe(1);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("501 calls in 8 sessions replayed; 55 tightened, 0 loosened, 1 changed.");
    expect(lines[1]).toBe(
      "Gate: FAIL — 55 changes of a failing class (fails on tightened, loosened).",
    );
    expect(lines[2]).toBe("");
    expect(lines[3]).toBe(
      "Source: fixtures/traces/fleet-loop.recorded.jsonl (3 identities; calls from 2025-11-22T08:26:41.500Z to 2025-11-22T08:37:30.000Z).",
    );
    expect(lines[4]).toBe(
      "Policy: fixtures/policies/fleet.tightened.json, compared with the recorded decisions.",
    );
    expect(lines[5]).toMatch(
      /^52 of the 56 changed calls follow an earlier change in their session \(counterfactual/,
    );
    const byTool = lines.indexOf("By tool:");
    const byIdentity = lines.indexOf("By identity:");
    const changedCalls = lines.findIndex((l) => l.startsWith("Changed calls"));
    expect(5).toBeLessThan(byTool);
    expect(byTool).toBeLessThan(byIdentity);
    expect(byIdentity).toBeLessThan(changedCalls);
    // Table rows: tool, calls, allow, deny, approval, tightened, loosened, changed.
    const row = (from: number, key: string) =>
      lines
        .slice(from)
        .find((l) => l.trim().startsWith(`${key} `))!
        .trim()
        .split(/\s+/);
    expect(lines[byTool + 1]!.trim().split(/\s+/)).toEqual([
      "tool",
      "calls",
      "allow",
      "deny",
      "approval",
      "tightened",
      "loosened",
      "changed",
    ]);
    expect(row(byTool, "fleet_secrets_set")).toEqual([
      "fleet_secrets_set",
      "418",
      "33",
      "385",
      "0",
      "42",
      "0",
      "0",
    ]);
    expect(row(byTool, "fleet_hosts_list")).toEqual([
      "fleet_hosts_list",
      "6",
      "5",
      "1",
      "0",
      "0",
      "0",
      "1",
    ]);
    expect(row(byIdentity, "anonymous")).toEqual(["anonymous", "6", "0", "6", "0", "2", "0", "1"]);
    // The most-changed tool and identity come first.
    expect(lines[byTool + 2]!.trim()).toMatch(/^fleet_secrets_set /);
    expect(lines[byIdentity + 2]!.trim()).toMatch(/^agent-ops /);
  });

  /** The rows of the changed-calls table: from its header to the blank line before the legend. */
  const changedRowsOf = (stdout: string): { title: string; head: string; rows: string[] } => {
    const lines = stdout.trimEnd().split("\n");
    const at = lines.findIndex((l) => l.startsWith("Changed calls"));
    const end = lines.indexOf("", at);
    return { title: lines[at]!, head: lines[at + 1]!, rows: lines.slice(at + 2, end) };
  };

  it("--show 3 lists 3 changed calls with session, call, time, tool, before, after, rule, marks", async () => {
    const r = await cli([
      "--policy",
      policyPath("fleet.tightened"),
      "--calls",
      "fixtures/traces/fleet-loop.recorded.jsonl",
      "--show",
      "3",
    ]);
    const { title, head, rows } = changedRowsOf(r.stdout);
    expect(title).toBe("Changed calls (first 3 of 56; --show all lists every one):");
    expect(head.trim().split(/\s+/)).toEqual([
      "#",
      "session",
      "call",
      "time",
      "(UTC)",
      "tool",
      "class",
      "before",
      "after",
      "rule",
      "marks",
    ]);
    expect(rows).toHaveLength(3);
    // Tightened calls fail the gate, so they come first: the `changed` call 42 waits.
    expect(rows.map((l) => l.trim().split(/\s+/).slice(0, 6))).toEqual([
      ["14", "ops-93314522", "14", "2025-11-22", "08:27:22.217", "fleet_secrets_get"],
      ["41", "stdio-300b8572", "1", "2025-11-22", "08:30:00.000", "fleet_status"],
      ["46", "stdio-300b8572", "6", "2025-11-22", "08:30:14.644", "fleet_status"],
    ]);
    expect(rows[0]).toMatch(
      /tightened\s+allow rule_allow\s+deny condition_deny\s+fleet_secrets_get/,
    );
    // The anonymous session's later changes are counterfactual.
    expect(rows[1]).not.toMatch(/counterfactual/);
    expect(rows[2]).toMatch(
      /tightened\s+allow rule_allow\s+deny hidden\s+fleet_status -> -\s+counterfactual/,
    );
  });

  it("--show all lists every changed call", async () => {
    const r = await cli([
      "--policy",
      policyPath("fleet.tightened"),
      "--calls",
      "fixtures/traces/fleet-loop.recorded.jsonl",
      "--show",
      "all",
    ]);
    const { title, rows } = changedRowsOf(r.stdout);
    expect(title).toBe("Changed calls:");
    expect(rows).toHaveLength(56);
  });

  it("the default --show is 50", async () => {
    const r = await cli([
      "--policy",
      policyPath("fleet.tightened"),
      "--calls",
      "fixtures/traces/fleet-loop.recorded.jsonl",
    ]);
    expect(r.stdout).toContain("Changed calls (first 50 of 56; --show all lists every one):");
  });

  it("says 'No decision changed.' for the same policy as baseline", async () => {
    const r = await cli([
      "--baseline",
      policyPath("game"),
      "--policy",
      policyPath("game"),
      "--calls",
      tracePath("game-session"),
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("882 calls in 7 sessions replayed. No decision changed.");
    expect(lines[1]).toBe("Gate: pass (fails on tightened, loosened).");
    expect(lines[3]).toBe(
      "Source: fixtures/traces/game-session.jsonl (6 identities; calls from 2025-11-22T08:26:44.335Z to 2025-11-22T08:31:01.961Z).",
    );
    expect(lines[4]).toBe(
      "Policy: fixtures/policies/game.json, compared with baseline fixtures/policies/game.json.",
    );
    expect(r.stdout).toContain("By tool:");
    expect(r.stdout).not.toContain("Changed calls");
  });

  it("with nothing to compare, says so and exits 0", async () => {
    const r = await cli([
      "--policy",
      policyPath("game.tightened"),
      "--calls",
      tracePath("game-session"),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(
      "882 calls in 7 sessions replayed; nothing to compare with (no --baseline, and the calls carry no recorded decisions).",
    );
    expect(r.stdout).not.toContain("Gate:");
  });
});

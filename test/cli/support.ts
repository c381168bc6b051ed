import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { run } from "../../src/cli/main.js";
import { openStore } from "../../src/store/sqlite.js";

export const root = join(import.meta.dirname, "../..");
export const policyPath = (name: string): string => join(root, `fixtures/policies/${name}.json`);
export const DEMO = join(root, "recordings/demo.sqlite");

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Call the CLI in-process with in-memory streams. */
export async function cli(args: string[], cwd = root): Promise<Ran> {
  let stdout = "";
  let stderr = "";
  const code = await run(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    cwd,
    env: {},
  });
  return { code, stdout, stderr };
}

/** A temporary directory for this test file, removed after it. */
export function tempRoot(prefix: string): () => string {
  const base = mkdtempSync(join(tmpdir(), `policy-replay-${prefix}-`));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  let n = 0;
  return () => {
    const d = join(base, String(n++));
    mkdirSync(d);
    return d;
  };
}

/** A copy of the committed demo recording (tests never write into the real one). */
export function demoCopy(dir: string, name = "demo.sqlite"): string {
  const file = join(dir, name);
  copyFileSync(DEMO, file);
  return file;
}

/** The JSON report's shape, as far as these tests look. */
export interface JsonCall {
  index: number;
  line: number;
  session: string;
  identity: string;
  ts: number;
  tool: string;
  decision: string;
  code: string;
  rule: string | null;
  reason: string | null;
  retry_after_ms: number | null;
  approval: string | null;
  inexact: boolean;
  before: { decision: string; code: string; rule: string | null } | null;
  change: "tightened" | "loosened" | "changed" | null;
  counterfactual: boolean;
}
export interface JsonReport {
  source: string;
  calls: JsonCall[];
  summary: {
    calls: number;
    sessions: number;
    basis: string;
    changes: { tightened: number; loosened: number; changed: number; total: number };
    counterfactual_changes: number;
    gate: { failed: boolean };
  };
}

/** Run with --format json and parse the report; stderr must stay empty. */
export async function jsonReport(
  args: string[],
  cwd = root,
): Promise<{ code: number; report: JsonReport }> {
  const r = await cli([...args, "--format", "json"], cwd);
  if (r.stderr !== "") throw new Error(`unexpected stderr: ${r.stderr}`);
  return { code: r.code, report: JSON.parse(r.stdout) as JsonReport };
}

/** A call to put into a test recording, with what was decided when it was recorded. */
export interface CallSpec {
  session: string;
  identity?: string;
  ts: number;
  tool: string;
  args?: Record<string, unknown>;
  decision?: "allow" | "deny" | "approval_required";
  code?: string;
  rule?: string | null;
  retry?: number | null;
  approval?: "approved" | "rejected" | "timeout" | "unavailable";
}

/** Write a recording through the store, calls in the order given (the proxy's order). */
export function writeRecording(file: string, calls: CallSpec[]): string {
  const store = openStore(file, { checkpointWorker: false });
  try {
    store.transaction(() => {
      const seq = new Map<string, number>();
      for (const c of calls) {
        const identity = c.identity ?? "agent-ops";
        if (!seq.has(c.session)) {
          seq.set(c.session, 0);
          store.startSession({
            id: c.session,
            identity,
            transport: "stdio",
            mode: "enforce",
            policyHash: "h",
            startedAt: c.ts,
          });
        }
        const n = seq.get(c.session)! + 1;
        seq.set(c.session, n);
        const id = store.recordDecision({
          session: c.session,
          seq: n,
          ts: c.ts,
          identity,
          tool: c.tool,
          arguments: c.args,
          jsonrpcId: String(n),
          mode: "enforce",
          decision: {
            decision: c.decision ?? "allow",
            code: (c.code ?? "rule_allow") as "rule_allow",
            rule: c.rule === undefined ? c.tool : c.rule,
            reason: null,
            retry_after_ms: c.retry ?? null,
            limit: null,
            inexact: false,
          },
        });
        if (c.approval) store.recordApproval(id, c.approval);
      }
    });
  } finally {
    store.close();
  }
  return file;
}

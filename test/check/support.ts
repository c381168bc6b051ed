import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect } from "vitest";
import type { Finding } from "../../src/check/analyze.js";
import { compile, createState, decide } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import { openStore } from "../../src/store/sqlite.js";
import { cli } from "../cli/support.js";

export const root = join(import.meta.dirname, "../..");

/** A temporary directory for this test file, removed at the end. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "policy-replay-check-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export { cli, type Ran } from "../cli/support.js";

export interface CheckJson {
  policy: string;
  valid: boolean;
  recordings: string[];
  scope: {
    calls: number;
    sessions: number;
    identities: string[];
    tools_list_answers: number;
    listed_tools: number;
    known_tools: number;
    unjudged_calls: number;
    unjudged_sessions: number;
  } | null;
  findings: Finding[];
  rules: {
    rule: { pattern: string; grant: string | null; kind: string };
    calls: number;
    allow: number;
    deny: number;
    approval_required: number;
  }[];
  summary: { warnings: number; notes: number; failed: boolean; by_kind: Record<string, number> };
}

/** `check --format json`, parsed; nothing on stderr. */
export async function checkJson(
  args: string[],
  cwd = root,
): Promise<{ code: number; report: CheckJson }> {
  const r = await cli(["check", ...args, "--format", "json"], cwd);
  expect(r.stderr).toBe("");
  return { code: r.code, report: JSON.parse(r.stdout) as CheckJson };
}

/** Write a policy (the JSON given, pretty-printed as people write them) into `dir`. */
export function writePolicy(dir: string, name: string, body: Record<string, unknown>): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ version: "1", ...body }, null, 2));
  return file;
}

export interface SessionSpec {
  id: string;
  identity?: string;
  /** Default stdio. */
  transport?: "stdio" | "http";
  /** serverInfo.name; null: the server gave none. */
  server?: string | null;
  /** The tools/list answer; null: the agent never asked. */
  listed?: string[] | null;
  /** Tools called, in order, after the list. */
  calls?: string[];
}

const T0 = 1_763_800_000_000;

/**
 * A recording written the way the proxy writes one: per session, initialize, an optional
 * tools/list request and its answer, then each tools/call with its decision under `policyText`.
 */
export function writeRecording(file: string, policyText: string, sessions: SessionSpec[]): string {
  const loaded = parsePolicyText(policyText, "<recorded>");
  const compiled = compile(loaded.policy);
  const state = createState(compiled);
  const store = openStore(file, { checkpointWorker: false });
  let ts = T0;
  try {
    store.putPolicy(loaded.hash, loaded.text);
    for (const s of sessions) {
      const identity = s.identity ?? "anonymous";
      store.startSession({
        id: s.id,
        identity,
        transport: s.transport ?? "stdio",
        mode: "enforce",
        policyHash: loaded.hash,
        startedAt: ts,
      });
      let seq = 0;
      const msg = (
        direction: "client_to_server" | "server_to_client",
        method: string | null,
        id: number | null,
        message: unknown,
      ) =>
        store.recordMessage({
          session: s.id,
          direction,
          seq: ++seq,
          ts: ++ts,
          method,
          jsonrpcId: id === null ? null : String(id),
          message,
        });
      msg("client_to_server", "initialize", 0, { jsonrpc: "2.0", id: 0, method: "initialize" });
      const serverInfo = s.server === null ? {} : { name: s.server ?? "test-server" };
      msg("server_to_client", null, 0, { jsonrpc: "2.0", id: 0, result: { serverInfo } });
      store.updateSession(s.id, { serverInfo });
      let id = 1;
      if (s.listed != null) {
        msg("client_to_server", "tools/list", id, { jsonrpc: "2.0", id, method: "tools/list" });
        const tools = s.listed.map((name) => ({ name, inputSchema: { type: "object" } }));
        msg("server_to_client", null, id, { jsonrpc: "2.0", id, result: { tools } });
        id++;
      }
      for (const tool of s.calls ?? []) {
        const callTs = ++ts;
        const request = {
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: { name: tool, arguments: {} },
        };
        msg("client_to_server", "tools/call", id, request);
        const decision = decide(compiled, { tool, identity, session: s.id, ts: callTs }, state);
        store.recordDecision({
          session: s.id,
          seq,
          ts: callTs,
          identity,
          tool,
          arguments: {},
          jsonrpcId: String(id),
          mode: "enforce",
          decision: { ...decision },
        });
        id++;
      }
    }
  } finally {
    store.close();
  }
  return file;
}

/** The findings of one kind. */
export function ofKind<K extends Finding["kind"]>(
  report: CheckJson,
  kind: K,
): Extract<Finding, { kind: K }>[] {
  return report.findings.filter((f): f is Extract<Finding, { kind: K }> => f.kind === kind);
}

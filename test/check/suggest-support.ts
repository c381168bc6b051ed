import { compile, createState, type Decision, decide } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import { readRecordings } from "../../src/replay/recording.js";
import { createReplayer, type CallResult, warmUpSpan } from "../../src/replay/replay.js";
import { openStore } from "../../src/store/sqlite.js";
import type { CallSpec } from "../cli/support.js";

export type { CallSpec } from "../cli/support.js";

/**
 * Write a recording through the store's writer: each session's tools/list exchange (when
 * `listed` names the session), then the calls in the order given with their recorded
 * decisions and approval answers.
 */
export function writeCalls(
  file: string,
  calls: readonly CallSpec[],
  listed: Record<string, readonly string[]> = {},
): string {
  const store = openStore(file, { checkpointWorker: false });
  try {
    const seq = new Map<string, number>();
    const next = (session: string): number => {
      const n = (seq.get(session) ?? 0) + 1;
      seq.set(session, n);
      return n;
    };
    const start = (session: string, identity: string, ts: number): void => {
      if (seq.has(session)) return;
      seq.set(session, 0);
      store.startSession({
        id: session,
        identity,
        transport: "stdio",
        mode: "enforce",
        policyHash: "h",
        startedAt: ts,
      });
      store.updateSession(session, { serverInfo: { name: "test-server" } });
      const tools = listed[session];
      if (tools === undefined) return;
      const id = `list-${session}`;
      const message = (direction: "client_to_server" | "server_to_client", body: unknown) =>
        store.recordMessage({
          session,
          direction,
          seq: next(session),
          ts,
          method: direction === "client_to_server" ? "tools/list" : null,
          jsonrpcId: JSON.stringify(id),
          message: body,
        });
      message("client_to_server", { jsonrpc: "2.0", id, method: "tools/list" });
      message("server_to_client", {
        jsonrpc: "2.0",
        id,
        result: { tools: tools.map((name) => ({ name, inputSchema: { type: "object" } })) },
      });
    };
    store.transaction(() => {
      for (const c of calls) {
        const identity = c.identity ?? "agent-ops";
        start(c.session, identity, c.ts);
        const n = next(c.session);
        const callId = store.recordDecision({
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
            code: (c.code ?? "rule_allow") as Decision["code"],
            rule: c.rule === undefined ? c.tool : c.rule,
            reason: null,
            retry_after_ms: c.retry ?? null,
            limit: null,
            inexact: false,
          },
        });
        if (c.approval) store.recordApproval(callId, c.approval);
      }
    });
  } finally {
    store.close();
  }
  return file;
}

/**
 * Replay recordings under a policy text through the replay's own reader and replayer, with
 * the warm-up a replay from `since` does; every result.
 */
export function replayUnder(
  policyText: string,
  files: readonly string[],
  filter: { since?: number; until?: number; identities?: string[] } = {},
): CallResult[] {
  const compiled = compile(parsePolicyText(policyText, "<suggested>").policy);
  const span = warmUpSpan(compiled);
  const warmUp =
    filter.since !== undefined && span > 0
      ? [
          ...readRecordings(files, {
            filter: { ...filter, since: filter.since - span, until: filter.since },
          }),
        ]
      : undefined;
  const step = createReplayer({
    candidate: compiled,
    file: "<test>",
    ...(warmUp ? { warmUp } : {}),
  });
  return [...readRecordings(files, { filter })].map(step);
}

/** The decision a policy text gives one call of `tool` by `identity`, with empty counters. */
export function decideOnce(policyText: string, identity: string, tool: string): Decision {
  const compiled = compile(parsePolicyText(policyText, "<suggested>").policy);
  return decide(compiled, { identity, tool, session: "probe", ts: 0 }, createState(compiled));
}

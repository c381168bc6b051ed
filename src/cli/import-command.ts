import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { DecisionCode } from "../engine/index.js";
import { InputError } from "../errors.js";
import { readTrace } from "../replay/trace.js";
import { openStore, openStoreReadOnly, type RecordingStore } from "../store/sqlite.js";
import type { Io } from "./io.js";

export interface ImportCommandOptions {
  /** The JSONL trace. */
  calls: string;
  /** The recording to write into; created if missing. */
  db: string;
}

/**
 * `policy-replay import calls.jsonl --db FILE`: write a trace's calls into a recording, each
 * with the decision (and approval answer) its line records. The whole trace is checked first,
 * without writing: a bad line (InputError naming the file and line, exit 2) leaves the
 * recording untouched, byte for byte, and creates none. Then everything is written in one
 * transaction. Each session of the trace becomes a session of the recording (transport
 * "import", started at its first call, ended at its last); a session the recording already
 * holds is refused, so a trace cannot be imported twice by mistake. Arguments are stored as the
 * trace has them (an export of a recording is already redacted).
 */
export async function importCommand(opts: ImportCommandOptions, io: Io): Promise<number> {
  const callsPath = resolve(io.cwd, opts.calls);
  const dbPath = resolve(io.cwd, opts.db);
  const existed = existsSync(dbPath);
  const known = new Set<string>();
  if (existed) {
    const reader = openStoreReadOnly(dbPath);
    try {
      for (const s of reader.sessions()) known.add(s.id);
    } finally {
      reader.close();
    }
  }
  // Pass 1 checks every line; pass 2 writes the same lines, checked the same way.
  importLines(callsPath, opts, known, null);
  mkdirSync(dirname(dbPath), { recursive: true });
  const store = openStore(dbPath, { checkpointWorker: false });
  let done: { calls: number; sessions: number } | null = null;
  try {
    done = store.transaction(() => importLines(callsPath, opts, known, store));
  } finally {
    store.close();
    if (done === null && !existed) {
      for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, `${dbPath}-journal`]) {
        rmSync(f, { force: true });
      }
    }
  }
  const { calls, sessions } = done;
  io.stdout.write(
    `Imported ${calls} call${calls === 1 ? "" : "s"} in ${sessions} session${sessions === 1 ? "" : "s"} into ${opts.db}.\n`,
  );
  return 0;
}

/** Check (store null) or write the trace's calls; InputError at the first bad line. */
function importLines(
  callsPath: string,
  opts: ImportCommandOptions,
  known: ReadonlySet<string>,
  store: RecordingStore | null,
): { calls: number; sessions: number } {
  const sessions = new Map<
    string,
    { identity: string; line: number; seq: number; lastTs: number }
  >();
  let calls = 0;
  for (const tc of readTrace(callsPath, opts.calls)) {
    const { call } = tc;
    const fault = (path: string, message: string) =>
      new InputError(opts.calls, [{ path, line: tc.line, message }]);
    if (!tc.recorded) {
      throw fault(
        "decision",
        "missing: import stores each call's recorded decision (decision, code); replay a trace without them with --calls",
      );
    }
    let s = sessions.get(call.session);
    if (!s) {
      if (known.has(call.session)) {
        throw fault(
          "session",
          `"${call.session}" is already in ${opts.db}; import a trace once, or into another recording`,
        );
      }
      s = { identity: call.identity, line: tc.line, seq: 0, lastTs: call.ts };
      sessions.set(call.session, s);
      store?.startSession({
        id: call.session,
        identity: call.identity,
        transport: "import",
        mode: "enforce",
        // The trace does not say which policy decided it.
        policyHash: "",
        startedAt: call.ts,
      });
    } else if (s.identity !== call.identity) {
      throw fault(
        "identity",
        `session "${call.session}" is "${s.identity}" (line ${s.line}), not "${call.identity}": a session has one identity`,
      );
    }
    s.seq++;
    s.lastTs = call.ts;
    calls++;
    if (!store) continue;
    const r = tc.recorded;
    const id = store.recordDecision({
      session: call.session,
      seq: s.seq,
      ts: call.ts,
      identity: call.identity,
      tool: call.tool,
      arguments: call.arguments,
      // No JSON-RPC messages come with a trace; the call's place in its session stands in.
      jsonrpcId: String(s.seq),
      mode: "enforce",
      decision: {
        decision: r.decision,
        code: r.code as DecisionCode,
        rule: r.rule,
        reason: null,
        retry_after_ms: r.retry_after_ms,
        limit: null,
        inexact: false,
      },
    });
    if (tc.approval) store.recordApproval(id, tc.approval);
  }
  for (const [id, s] of sessions)
    store?.updateSession(id, { endedAt: s.lastTs, endReason: "imported" });
  return { calls, sessions: sessions.size };
}

import { mkdirSync, rmdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import {
  compile,
  type CompiledPolicy,
  createState,
  type Decision,
  type DecisionCode,
  type DecisionKind,
  decide,
} from "../engine/index.js";
import { InputError } from "../errors.js";
import { loadPolicyFile } from "../policy/load.js";
import { readTrace } from "../replay/trace.js";
import type { TraceCall } from "../replay/types.js";
import { type CallImport, startImport } from "../store/sqlite.js";
import type { Io } from "./io.js";

export interface ImportCommandOptions {
  /** The JSONL trace. */
  calls: string;
  /** The recording to write into; created if missing. */
  db: string;
  /** Decide the trace's calls under this policy file; the trace must then record no decisions. */
  policy?: string;
}

/** The policy that decides a trace's calls (`--policy`). */
interface Decider {
  compiled: CompiledPolicy;
  hash: string;
  text: string;
}

/**
 * `policy-replay import calls.jsonl --db FILE [--policy P]`: write a trace's calls into a
 * recording, each with the decision (and approval answer) its line records or, with --policy,
 * the decision P gives it, all in one transaction: a bad line (InputError naming the file and
 * line, exit 2) leaves the recording untouched, byte for byte, and creates none. Each session of the trace
 * becomes a session of the recording (transport "import", started at its first call, ended at
 * its last); a session the recording already holds is refused, so a trace cannot be imported
 * twice by mistake. Arguments are stored as the trace has them (an export of a recording is
 * already redacted).
 *
 * With --policy the calls are decided as the proxy decides (SPEC section 2): by the engine, in
 * trace order, against one counter state that starts empty at the trace's first call. That is
 * also how `--calls` replays the trace, so replaying the import under P changes nothing. A
 * trace that records decisions is refused with --policy: recorded decisions are what happened,
 * and import does not overwrite them with what a policy would have done.
 */
export async function importCommand(opts: ImportCommandOptions, io: Io): Promise<number> {
  const callsPath = resolve(io.cwd, opts.calls);
  const dbPath = resolve(io.cwd, opts.db);
  let decider: Decider | null = null;
  if (opts.policy !== undefined) {
    const loaded = loadPolicyFile(resolve(io.cwd, opts.policy));
    decider = { compiled: compile(loaded.policy), hash: loaded.hash, text: loaded.text };
  }
  // One pass: each line is checked and written in the import's transaction, and the first bad
  // one aborts it (a new file is never put in place, an existing one is rolled back).
  const madeDir = mkdirSync(dirname(dbPath), { recursive: true });
  let done: Imported | null = null;
  try {
    const into = await startImport(dbPath);
    try {
      done = await importLines(callsPath, opts, into, decider);
      await into.finish();
    } catch (err) {
      await into.abort();
      throw err;
    }
  } finally {
    if (done === null && madeDir !== undefined) removeMadeDirs(dirname(dbPath), madeDir);
  }
  const { calls, sessions, decided } = done;
  let line = `Imported ${calls} call${calls === 1 ? "" : "s"} in ${sessions} session${sessions === 1 ? "" : "s"} into ${opts.db}`;
  if (opts.policy !== undefined) {
    line += `, decided under ${opts.policy}: ${decided.allow} allow, ${decided.deny} deny, ${decided.approval_required} approval_required`;
  }
  io.stdout.write(`${line}.\n`);
  return 0;
}

/** Remove the directories made for a recording that was not written, deepest first. */
function removeMadeDirs(dir: string, top: string): void {
  for (let d = dir; d.length >= top.length; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
  }
}

interface Imported {
  calls: number;
  sessions: number;
  /** With --policy: how many calls got each decision. */
  decided: Record<DecisionKind, number>;
}

/** Write the trace's calls through `into`; InputError at the first bad line. */
async function importLines(
  callsPath: string,
  opts: ImportCommandOptions,
  into: CallImport,
  decider: Decider | null,
): Promise<Imported> {
  const sessions = new Map<
    string,
    { identity: string; line: number; seq: number; lastTs: number }
  >();
  const decided: Record<DecisionKind, number> = { allow: 0, deny: 0, approval_required: 0 };
  let calls = 0;
  // One counter state for the whole trace, as one proxy has for all its sessions.
  const state = decider ? createState(decider.compiled) : null;
  if (decider) into.putPolicy(decider.hash, decider.text);
  for (const tc of readTrace(callsPath, opts.calls)) {
    const { call } = tc;
    if (decider && tc.recorded) {
      throw fault(
        opts,
        tc,
        "decision",
        "recorded in the trace, so --policy has nothing to decide: import without --policy to keep the recorded decisions, or leave out decision, code, rule and retry_after_ms",
      );
    }
    if (!decider && !tc.recorded) {
      throw fault(
        opts,
        tc,
        "decision",
        "missing: import stores each call's recorded decision (decision, code); give --policy P to decide the calls under P, or replay the trace with --calls",
      );
    }
    let s = sessions.get(call.session);
    if (!s) {
      if (into.hasSession(call.session)) {
        throw fault(
          opts,
          tc,
          "session",
          `"${call.session}" is already in ${opts.db}; import a trace once, or into another recording`,
        );
      }
      s = { identity: call.identity, line: tc.line, seq: 0, lastTs: call.ts };
      sessions.set(call.session, s);
      into.startSession({
        id: call.session,
        identity: call.identity,
        transport: "import",
        mode: "enforce",
        // Without --policy the trace does not say which policy decided it.
        policyHash: decider?.hash ?? "",
        startedAt: call.ts,
      });
    } else if (s.identity !== call.identity) {
      throw fault(
        opts,
        tc,
        "identity",
        `session "${call.session}" is "${s.identity}" (line ${s.line}), not "${call.identity}": a session has one identity`,
      );
    }
    s.seq++;
    s.lastTs = call.ts;
    calls++;
    // The trace's times never go backwards (readTrace checks), so the engine takes them all.
    const decision = decider ? decide(decider.compiled, call, state!) : recorded(tc);
    decided[decision.decision]++;
    // Kept as written, whatever the decision: it is the answer replay applies to this call
    // whenever a policy sends it to approval (SPEC section 5).
    const behind = into.addCall(
      {
        session: call.session,
        seq: s.seq,
        ts: call.ts,
        identity: call.identity,
        tool: call.tool,
        arguments: call.arguments,
        // No JSON-RPC messages come with a trace; the call's place in its session stands in.
        jsonrpcId: String(s.seq),
        mode: "enforce",
        decision,
      },
      tc.approval,
    );
    // Once a batch at most: the import's thread is behind, or gone.
    if (behind !== null) await behind;
  }
  for (const [id, s] of sessions) into.endSession(id, s.lastTs, "imported");
  return { calls, sessions: sessions.size, decided };
}

function fault(opts: ImportCommandOptions, tc: TraceCall, path: string, message: string) {
  return new InputError(opts.calls, [{ path, line: tc.line, message }]);
}

/** The decision a trace line records, as a decision row holds it. */
function recorded(tc: TraceCall): Decision {
  const r = tc.recorded!;
  return {
    decision: r.decision,
    code: r.code as DecisionCode,
    rule: r.rule,
    reason: null,
    retry_after_ms: r.retry_after_ms,
    limit: null,
    inexact: false,
  };
}

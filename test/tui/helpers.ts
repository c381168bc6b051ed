import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach } from "vitest";
import { compile } from "../../src/engine/index.js";
import { loadPolicyFile } from "../../src/policy/load.js";
import { readRecording } from "../../src/replay/recording.js";
import { type CallResult, createReplayer } from "../../src/replay/replay.js";
import { markRecording, openRunsFile } from "../../src/store/runs-file.js";

export const root = join(import.meta.dirname, "../..");
export const DEMO = join(root, "recordings/demo.sqlite");
export const TIGHTENED = join(root, "fixtures/policies/fleet.tightened.json");
export const LOOSENED = join(root, "fixtures/policies/fleet.loosened.json");

/** A fresh directory per test, removed afterwards. */
export function tempDirs(): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), "policy-replay-tui-"));
    dirs.push(d);
    return d;
  };
}

/** A copy of the demo recording in `dir` (the original is never touched). */
export function copyDemo(dir: string, name = "demo.sqlite"): string {
  const file = join(dir, name);
  copyFileSync(DEMO, file);
  return file;
}

/**
 * Replay a recording under `policy` and save the run the way a saved replay does, into the
 * recording's runs file: a `runs` row, what identifies the recording (`run_recording`), and a
 * `run_results` row (with its `run_outcomes` row) per call that changed or was inexact. With
 * `inRecording`, into the recording itself instead, as an older policy-replay saved runs.
 * Returns its id.
 */
export function saveRun(
  file: string,
  policy: string,
  opts: { createdAt?: number; inRecording?: boolean } = {},
): number {
  const loaded = loadPolicyFile(policy);
  const step = createReplayer({ candidate: compile(loaded.policy), file });
  const results: { id: number; r: CallResult }[] = [];
  const sessions = new Set<string>();
  let calls = 0;
  for (const tc of readRecording(file)) {
    const r = step(tc);
    calls++;
    sessions.add(tc.call.session);
    if (r.change !== null || r.inexact) results.push({ id: tc.line, r });
  }
  const tally = (cls: string): number => results.filter((x) => x.r.change === cls).length;
  const mark = markRecording(file);
  const db = opts.inRecording ? new Database(file) : openRunsFile(file);
  try {
    db.prepare("INSERT OR IGNORE INTO policies (hash, text, first_seen) VALUES (?, ?, ?)").run(
      loaded.hash,
      loaded.text,
      Date.now(),
    );
    const run = db
      .prepare(
        `INSERT INTO runs (id, created_at, policy_hash, policy_path, baseline_hash, baseline_path,
           options, calls, sessions, tightened, loosened, changed, counterfactual, inexact,
           gate_failed)
         VALUES ((SELECT max(ifnull(max(id), 0), ?) + 1 FROM runs), ?, ?, ?, NULL, NULL, ?, ?, ?,
           ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        // Numbered after the recording's own runs, as a saved replay numbers them.
        mark.lastRun,
        opts.createdAt ?? Date.now(),
        loaded.hash,
        policy,
        JSON.stringify({ failOn: ["tightened", "loosened"] }),
        calls,
        sessions.size,
        tally("tightened"),
        tally("loosened"),
        tally("changed"),
        results.filter((x) => x.r.counterfactual && x.r.change !== null).length,
        results.filter((x) => x.r.inexact).length,
        tally("tightened") + tally("loosened") > 0 ? 1 : 0,
      );
    const id = Number(run.lastInsertRowid);
    if (!opts.inRecording)
      db.prepare("INSERT INTO run_recording VALUES (?, ?, ?, ?, ?)").run(
        id,
        mark.firstSession,
        mark.lastCall,
        mark.lastCallTs,
        mark.lastCallSession,
      );
    // Schema 5: each distinct outcome once in run_outcomes, each result pointing at it.
    const putOutcome = db.prepare(
      `INSERT INTO run_outcomes (run, id, old_decision, old_code, old_rule, new_decision,
         new_code, new_rule, new_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insert = db.prepare(
      `INSERT INTO run_results (run, call, outcome, class, new_retry_after_ms, counterfactual,
         inexact) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const outcomeIds = new Map<string, number>();
    db.transaction(() => {
      for (const { id: call, r } of results) {
        const before = r.before!;
        const fields = [
          before.decision,
          before.code,
          before.rule,
          r.after.decision,
          r.after.code,
          r.after.rule,
          r.decision.reason,
        ] as const;
        const key = JSON.stringify(fields);
        let outcome = outcomeIds.get(key);
        if (outcome === undefined) {
          outcome = outcomeIds.size;
          outcomeIds.set(key, outcome);
          putOutcome.run(id, outcome, ...fields);
        }
        insert.run(
          id,
          call,
          outcome,
          r.change,
          r.decision.retry_after_ms,
          r.counterfactual ? 1 : 0,
          r.inexact ? 1 : 0,
        );
      }
    })();
    return id;
  } finally {
    db.close();
  }
}

// Counters shared through one recording by several proxies: for random policies (grant, global
// and session limits, sliding and fixed) and random schedules of calls spread over several
// proxies on one file, some restarted midway, replaying the file under the same policy changes
// nothing: every proxy decided against the same counts, in the order the file holds.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { compile } from "../../src/engine/index.js";
import { RecordingCounters } from "../../src/proxy/counters.js";
import { readRecordings } from "../../src/replay/recording.js";
import { createReplayer } from "../../src/replay/replay.js";
import { openStore } from "../../src/store/sqlite.js";
import type { RecordingStore } from "../../src/store/types.js";
import { load, policyArb, policyWindows, startArb, toCalls, traceArb } from "../engine/support.js";

const dir = mkdtempSync(join(tmpdir(), "policy-replay-counters-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let runs = 0;

/** What each scheduled call does to its proxy: decide through it, or restart it first. */
const scheduleArb = fc.array(fc.record({ proxy: fc.nat({ max: 2 }), restart: fc.boolean() }), {
  maxLength: 60,
});

describe("counters shared through the recording", () => {
  it("several proxies on one file, some restarted: replay under the same policy changes nothing", () => {
    fc.assert(
      fc.property(policyArb(), startArb, traceArb, scheduleArb, (policy, start, specs, plan) => {
        const compiled = compile(load(policy));
        const file = join(dir, `r${++runs}.sqlite`);
        const open = (): { store: RecordingStore; counters: RecordingCounters } => ({
          store: openStore(file),
          counters: new RecordingCounters(compiled),
        });
        const proxies = [open(), open(), open()];
        try {
          const calls = toCalls(specs, start, policyWindows(policy));
          calls.forEach((call, i) => {
            const step = plan[i] ?? { proxy: 0, restart: false };
            if (step.restart && i % 7 === 3) {
              proxies[step.proxy]!.store.close();
              proxies[step.proxy] = open();
            }
            const p = proxies[step.proxy]!;
            p.counters.decide(
              {
                tool: call.tool,
                identity: call.identity,
                session: call.session,
                ...(call.arguments !== undefined ? { arguments: call.arguments } : {}),
              },
              call.ts,
              p.store,
              (ts, decision) => ({
                session: call.session,
                seq: i + 1,
                ts,
                identity: call.identity,
                tool: call.tool,
                arguments: call.arguments ?? null,
                jsonrpcId: String(i),
                mode: "enforce",
                decision,
              }),
            );
          });
        } finally {
          for (const p of proxies) p.store.close();
        }
        const step = createReplayer({ candidate: compiled, file });
        const changed = [...readRecordings([file])]
          .map(step)
          .filter((r) => r.change !== null)
          .map(
            (r) =>
              `${r.source.call.tool} at ${r.source.call.ts}: ${r.before?.code} -> ${r.after.code}`,
          );
        expect(changed).toEqual([]);
      }),
      { numRuns: 25 },
    );
    // Dozens of files opened and migrated: a loaded machine can take several times its 7 s.
  }, 120_000);
});

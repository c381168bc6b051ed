// `record --shadow`: the real command over stdio, in front of the naive server, decides each
// call under the enforced policy and records the candidate's decision beside it; the agent sees
// only the enforced one. `policy-replay shadow` then reports the two as a replay would.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { type Answer, startRecord } from "../proxy/record-process.js";
import { deletePrefix, REDIS_URL, redisUp } from "../proxy/redis-available.js";
import { cli, type JsonReport, tempRoot } from "./support.js";

const temp = tempRoot("record-shadow");

const ENFORCED = {
  version: "1",
  default: "allow",
  tools: { denied: { action: "deny", reason: "not today" } },
};
// Tighter on `limited` (2 a minute, its own counters), looser on `denied`.
const CANDIDATE = {
  version: "1",
  default: "allow",
  tools: { limited: { limits: [{ counter: "l", window: "minute", max: 2, scope: "session" }] } },
};

function files(dir: string): { policy: string; candidate: string; db: string } {
  const policy = join(dir, "policy.json");
  const candidate = join(dir, "candidate.json");
  writeFileSync(policy, JSON.stringify(ENFORCED));
  writeFileSync(candidate, JSON.stringify(CANDIDATE, null, 2));
  return { policy, candidate, db: join(dir, "rec.sqlite") };
}

const call = (id: number, name: string): Record<string, unknown> & { id: number } => ({
  id,
  method: "tools/call",
  params: { name, arguments: {} },
});

describe("record --shadow", () => {
  it("records both decisions; the agent sees the enforced one; shadow reports the difference", async () => {
    const dir = temp();
    const { policy, candidate, db } = files(dir);
    const p = await startRecord(["--policy", policy, "--db", db, "--shadow", candidate]);
    const answers: Answer[] = [];
    for (const [i, name] of ["limited", "limited", "limited", "denied", "safe"].entries())
      answers.push(await p.request(call(i + 1, name)));
    const { code, stderr } = await p.close();
    expect(code).toBe(0);
    expect(stderr).toBe("");
    // The enforced policy allows all three `limited` calls: the shadow's limit changes nothing.
    expect(answers.map((a) => a.result?.isError === true)).toEqual([
      false,
      false,
      false,
      true,
      false,
    ]);

    const file = new Database(db, { readonly: true });
    const rows = file
      .prepare(
        "SELECT tool, decision, code, shadow_decision, shadow_code, shadow_rule, shadow_counts FROM calls ORDER BY id",
      )
      .all() as Record<string, string | null>[];
    const session = file.prepare("SELECT policy_hash, shadow_policy_hash FROM sessions").get() as {
      policy_hash: string;
      shadow_policy_hash: string;
    };
    const text = file
      .prepare("SELECT text FROM policies WHERE hash = ?")
      .pluck()
      .get(session.shadow_policy_hash);
    file.close();
    expect(text).toBe(JSON.stringify(CANDIDATE, null, 2));
    expect(session.shadow_policy_hash).not.toBe(session.policy_hash);
    expect(rows.map((r) => [r.tool, r.code, r.shadow_code])).toEqual([
      ["limited", "default_allow", "rule_allow"],
      ["limited", "default_allow", "rule_allow"],
      ["limited", "default_allow", "rate_limited"],
      ["denied", "rule_deny", "default_allow"],
      ["safe", "default_allow", "default_allow"],
    ]);
    expect(JSON.parse(rows[2]!.shadow_counts!)).toMatchObject([{ counter: "l", count: 2, max: 2 }]);

    const r = await cli(["shadow", "--db", db, "--format", "json"], dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as JsonReport;
    expect(report.summary.calls).toBe(5);
    expect(report.summary.changes).toMatchObject({ tightened: 1, loosened: 1, changed: 2 });
    expect(report.calls.map((c) => c.change)).toEqual([
      "changed",
      "changed",
      "tightened",
      "loosened",
      null,
    ]);
    // The tightened call is the first the agent would have seen differently.
    expect(report.calls.map((c) => c.counterfactual)).toEqual([false, false, false, true, true]);

    const text2 = await cli(["shadow", "--db", db, "--fail-on", "none"], dir);
    expect(text2.code).toBe(0);
    expect(text2.stdout).toContain("shadow policy sha256:");
  });

  it("says how many calls have no shadow decision, and compares none of them", async () => {
    const dir = temp();
    const { policy, candidate, db } = files(dir);
    const plain = await startRecord(["--policy", policy, "--db", db]);
    await plain.request(call(1, "safe"));
    await plain.request(call(2, "safe"));
    expect((await plain.close()).code).toBe(0);
    const shadowed = await startRecord(["--policy", policy, "--db", db, "--shadow", candidate]);
    await shadowed.request(call(1, "denied"));
    expect((await shadowed.close()).code).toBe(0);

    const r = await cli(["shadow", "--db", db, "--format", "json", "--fail-on", "none"], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      "policy-replay: note: 2 calls have no shadow decision (recorded without --shadow); not compared\n",
    );
    const report = JSON.parse(r.stdout) as JsonReport;
    expect(report.summary.calls).toBe(1);
    expect(report.calls[0]).toMatchObject({ tool: "denied", change: "loosened" });
  });

  it("--policy names the candidate's file and compares only the sessions shadowed under it", async () => {
    const dir = temp();
    const { policy, candidate, db } = files(dir);
    const other = join(dir, "other.json");
    writeFileSync(other, JSON.stringify({ version: "1", default: "deny" }));
    for (const shadow of [candidate, other]) {
      const p = await startRecord(["--policy", policy, "--db", db, "--shadow", shadow]);
      for (let i = 1; i <= 3; i++) await p.request(call(i, "limited"));
      expect((await p.close()).code).toBe(0);
    }

    const mixed = await cli(["shadow", "--db", db, "--fail-on", "none"], dir);
    expect(mixed.stderr).toContain("shadowed under 2 different policies");

    const r = await cli(
      ["shadow", "--db", db, "--policy", "candidate.json", "--format", "github"],
      dir,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "policy-replay: note: 3 calls were shadowed under another policy than candidate.json; not compared\n",
    );
    // The tightened call is annotated on the candidate's rule, in its file.
    expect(r.stdout).toMatch(
      /::error file=candidate\.json,line=5,title=policy-replay%3A tightened limited::/,
    );

    const wrong = await cli(["shadow", "--db", db, "--policy", "policy.json"], dir);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("--policy policy.json: no session of");
  });

  it("a bad candidate stops the proxy before it starts: exit 2, the fault located", async () => {
    const dir = temp();
    const { policy, db } = files(dir);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, '{\n  "version": "1",\n  "default": "alow"\n}\n');
    const r = await cli(
      ["record", "--policy", policy, "--db", db, "--shadow", bad, "--", "true"],
      dir,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("bad.json:3:");
    expect(r.stderr).toContain("default");
    const missing = await cli(
      ["record", "--policy", policy, "--db", db, "--shadow", join(dir, "nope.json"), "--", "true"],
      dir,
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("nope.json");
  });

  it.skipIf(!redisUp)(
    "with --counters (Redis): the shadow's counters in Redis, apart, shared and resumed",
    async () => {
      const dir = temp();
      const { db } = files(dir);
      const policy = join(dir, "policy-redis.json");
      const candidate = join(dir, "candidate-redis.json");
      // `both` has limits under either policy, on a counter of the same name; `shadowed` only
      // under the candidate (its lookup is for the shadow alone).
      const global = (counter: string, max: number) => ({
        limits: [{ counter, window: "minute", max, scope: "global" }],
      });
      writeFileSync(
        policy,
        JSON.stringify({ version: "1", default: "allow", tools: { both: global("e", 2) } }),
      );
      const candidateText = JSON.stringify({
        version: "1",
        default: "allow",
        tools: { both: global("e", 3), shadowed: global("s", 1) },
      });
      writeFileSync(candidate, candidateText);
      const prefix = `test-policy-replay-record-shadow:${process.pid}`;
      const args = ["--policy", policy, "--db", db, "--shadow", candidate];
      args.push("--counters", REDIS_URL, "--counters-prefix", prefix);
      try {
        // Two proxies one after the other: the second resumes what the first counted.
        for (let run = 0; run < 2; run++) {
          const p = await startRecord(args);
          for (const [i, name] of ["both", "both", "shadowed"].entries())
            await p.request(call(i + 1, name));
          const { code, stderr } = await p.close();
          expect(code).toBe(0);
          expect(stderr).toBe("");
        }
        const file = new Database(db, { readonly: true });
        const rows = file
          .prepare(
            "SELECT tool, code, counter_seq, shadow_code, shadow_counts FROM calls ORDER BY id",
          )
          .all() as Record<string, string | number | null>[];
        file.close();
        expect(rows.map((r) => [r.tool, r.code, r.shadow_code])).toEqual([
          ["both", "rule_allow", "rule_allow"],
          ["both", "rule_allow", "rule_allow"],
          ["shadowed", "default_allow", "rule_allow"],
          ["both", "rate_limited", "rule_allow"],
          ["both", "rate_limited", "rate_limited"],
          ["shadowed", "default_allow", "rate_limited"],
        ]);
        // The enforced sequence is as without a shadow: only the enforced limited calls take it.
        expect(rows.map((r) => r.counter_seq)).toEqual([1, 2, null, 3, 4, null]);
        expect(JSON.parse(rows[4]!.shadow_counts as string)).toMatchObject([
          { counter: "e", count: 3, max: 3 },
        ]);

        // Apart from the enforced keys, under the candidate's hash, and expiring.
        const hash = createHash("sha256").update(candidateText).digest("hex");
        const redis = new Redis(REDIS_URL);
        try {
          const keys = (await redis.keys(`${prefix}:*`)).sort();
          const shadowKeys = `${prefix}:~shadow:${hash.slice(0, 16)}`;
          expect(keys).toEqual(
            [
              `${prefix}:~clock`,
              `${prefix}:e:global:`,
              `${shadowKeys}:~clock`,
              `${shadowKeys}:e:global:`,
              `${shadowKeys}:s:global:`,
            ].sort(),
          );
          expect(await redis.zcard(`${prefix}:e:global:`)).toBe(2);
          expect(await redis.zcard(`${shadowKeys}:e:global:`)).toBe(3);
          for (const key of keys.filter((k) => k.startsWith(shadowKeys)))
            expect(await redis.pttl(key)).toBeGreaterThan(0);
        } finally {
          redis.disconnect();
        }
      } finally {
        await deletePrefix(prefix);
      }
    },
    20_000,
  );
});

// The fixture policies' variants against their base: the tightened ones grant nothing new; the
// loosened ones grant exactly what they were written to loosen, each with a call that shows it.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compare } from "../../../src/check/compare/compare.js";
import { selfCheck } from "../../../src/check/compare/self-check.js";
import { compile } from "../../../src/engine/index.js";
import { loadPolicyFile } from "../../../src/policy/load.js";

const policy = (name: string) =>
  loadPolicyFile(join(import.meta.dirname, `../../../fixtures/policies/${name}.json`)).policy;

/** class identity tool (decisive call's NEW code), sorted as compare sorts them. */
const summary = (base: string, variant: string): string[] =>
  compare(policy(base), policy(`${base}.${variant}`)).findings.map(
    (f) => `${f.class} ${f.identity} ${f.tool} ${f.example.length}`,
  );

describe("compare on the fixture policies", () => {
  it.each(["fleet", "game", "secrets"])("%s.tightened grants nothing new", (name) => {
    const r = compare(policy(name), policy(`${name}.tightened`));
    expect(r.findings).toEqual([]);
    expect(r.undecided).toEqual([]);
    expect(r.internal_errors).toEqual([]);
    expect(r.tools_complete).toBe(true);
  });

  it("fleet.loosened: hosts_lock without approval, ci-bot reads secrets, 120 secret writes a minute", () => {
    expect(summary("fleet", "loosened")).toEqual([
      // fleet_hosts_lock: require_approval -> allow (with a reason) for all but ci-bot and
      // anonymous, whose grants deny fleet_*.
      "newly_allowed agent-ops fleet_hosts_lock 1",
      // fleet_secrets_set: 30 -> 120 a minute per grant; the 31st call tells them apart.
      "limits_loosened agent-ops fleet_secrets_set 31",
      // ci-bot's grant gains fleet_secrets_get (its fleet_* denied it).
      "newly_allowed ci-bot fleet_secrets_get 1",
      "newly_allowed any-other-identity fleet_hosts_lock 1",
      "limits_loosened any-other-identity fleet_secrets_set 31",
    ]);
  });

  it("game.loosened: moves of 6-10 tiles, double jumps, 40 chats per 10 s server-wide", () => {
    expect(summary("game", "loosened")).toEqual([
      // jump_cooldown 1 -> 2 per 2 s: a second jump at once.
      "limits_loosened moderator jump 2",
      // deny_if steps > 5 -> > 10.
      "arguments_allowed moderator move 1",
      // chat_server 15 -> 40 per 10 s: one player's 10 + 10 across a minute's edge (the
      // per-player cap is per calendar minute) reach 16. Moderators' chat has no caps either way.
      "limits_loosened any-other-identity chat 16",
      "limits_loosened any-other-identity jump 2",
      "arguments_allowed any-other-identity move 1",
    ]);
  });

  it("secrets.loosened: release-bot reads staging/, rotation without approval, 30 writes a minute", () => {
    expect(summary("secrets", "loosened")).toEqual([
      // release-bot's get_secret requires ^(prod|staging)/ instead of ^prod/.
      "arguments_allowed release-bot get_secret 1",
      // rotate_secret gets its own rule: *_secret's approval -> allow (auditors have it hidden).
      "newly_allowed release-bot rotate_secret 1",
      // set_secret's rate_limit 10 -> 30 a minute per session.
      "limits_loosened release-bot set_secret 11",
      "newly_allowed any-other-identity rotate_secret 1",
      "limits_loosened any-other-identity set_secret 11",
    ]);
  });

  it("gives examples that show the change, and each replays as claimed", () => {
    const oldP = policy("secrets");
    const newP = policy("secrets.loosened");
    const r = compare(oldP, newP);
    const get = r.findings.find((f) => f.tool === "get_secret")!;
    expect(get.example[0]!.arguments).toEqual({ name: "staging/" });
    expect(get.old).toEqual({ decision: "deny", code: "requirement_failed", rule: "get_secret" });
    expect(get.new).toEqual({ decision: "allow", code: "rule_allow", rule: "get_secret" });
    const set = r.findings.find((f) => f.class === "limits_loosened")!;
    expect(set.decisive).toBe(10);
    expect(set.old.code).toBe("rate_limited");
    for (const f of r.findings) expect(selfCheck(compile(oldP), compile(newP), f)).toBeNull();
  });

  it("is the same for one seed, and narrows to the identities named", () => {
    const a = compare(policy("game"), policy("game.loosened"), { seed: 7 });
    const b = compare(policy("game"), policy("game.loosened"), { seed: 7 });
    expect(a).toEqual(b);
    const only = compare(policy("game"), policy("game.loosened"), { identities: ["moderator"] });
    expect(only.findings.map((f) => f.identity)).toEqual(["moderator", "moderator"]);
  });

  it("finds nothing between a policy and itself", () => {
    for (const name of ["fleet", "game", "secrets"]) {
      expect(compare(policy(name), policy(name)).findings).toEqual([]);
    }
  });
});

// Schema 7: a shadow decision is written beside the enforced one and read back by the reader
// and the browser; a recording from before it upgrades, its calls read as having no shadow.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openBrowser } from "../../src/store/browse.js";
import { openStore, openStoreReadOnly, SCHEMA_VERSION } from "../../src/store/sqlite.js";
import { decision, rateLimited, session, tempDirs, toSchema6 } from "./helpers.js";

const tmp = tempDirs();

function recording(): string {
  const file = join(tmp(), "r.sqlite");
  const store = openStore(file, { checkpointWorker: false });
  store.startSession({ ...session("s1"), shadowPolicyHash: "c".repeat(64) });
  store.startSession(session("s2"));
  const counts = [{ ...rateLimited.limit!, count: 2 }];
  store.recordDecision(decision(1, { shadow: { decision: rateLimited, counts } }));
  store.recordDecision(decision(2, { shadow: null }));
  store.recordDecision(decision(3, { session: "s2" }));
  store.close();
  return file;
}

describe("shadow columns", () => {
  it("reads back the shadow decision of each call, and each session's shadow policy", () => {
    const reader = openStoreReadOnly(recording());
    try {
      const calls = [...reader.calls()];
      expect(calls.map((c) => c.decision)).toEqual(["allow", "allow", "allow"]);
      expect(calls[0]!.shadow).toEqual({
        decision: "deny",
        code: "rate_limited",
        rule: rateLimited.rule,
        reason: rateLimited.reason,
        retry_after_ms: rateLimited.retry_after_ms,
        counts: [{ ...rateLimited.limit, count: 2 }],
      });
      expect(calls[1]!.shadow).toBeNull();
      expect(calls[2]!.shadow).toBeNull();
      expect([...reader.sessions()].map((s) => s.shadowPolicyHash)).toEqual(["c".repeat(64), null]);
    } finally {
      reader.close();
    }
  });

  it("the browser shows them too", () => {
    const file = recording();
    const browser = openBrowser(file);
    try {
      const first = browser.call(1)!;
      expect(first.shadow).toMatchObject({ decision: "deny", code: "rate_limited" });
      expect(browser.session("s1")!.shadowPolicyHash).toBe("c".repeat(64));
    } finally {
      browser.close();
    }
  });

  it("a recording of schema 6 upgrades: its calls and sessions have no shadow", () => {
    const file = recording();
    toSchema6(file);
    // The browser reads an older file as it is.
    const browser = openBrowser(file);
    try {
      expect(browser.call(1)!.shadow).toBeNull();
      expect(browser.session("s1")!.shadowPolicyHash).toBeNull();
    } finally {
      browser.close();
    }
    const told: number[][] = [];
    const reader = openStoreReadOnly(file, { onUpgrade: (_f, from, to) => told.push([from, to]) });
    try {
      expect(told).toEqual([[6, SCHEMA_VERSION]]);
      expect([...reader.calls()].map((c) => c.shadow)).toEqual([null, null, null]);
      expect([...reader.sessions()].map((s) => s.shadowPolicyHash)).toEqual([null, null]);
    } finally {
      reader.close();
    }
  });
});

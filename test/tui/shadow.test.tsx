// A recording made with `record --shadow`: the timeline shows the shadow's decision beside the
// enforced one and a per-session summary of how they differ; a call's detail shows the shadow's
// decision, rule, reason and counts. A recording without shadow decisions looks as before.
import { join } from "node:path";
import { render } from "ink-testing-library";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Decision } from "../../src/engine/index.js";
import { type Browser, openBrowser } from "../../src/store/browse.js";
import { openStore } from "../../src/store/sqlite.js";
import type { DecisionRecord } from "../../src/store/types.js";
import { App } from "../../src/tui/app.js";
import { callLines, loadCallView } from "../../src/tui/detail.js";
import { shadowSeg } from "../../src/tui/screens/timeline.js";
import { themeFor } from "../../src/tui/theme.js";
import { copyDemo, tempDirs } from "./helpers.js";

const temp = tempDirs();
const open: Browser[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.close();
});
const T0 = 1_763_800_000_000;

const decisionOf = (
  decision: Decision["decision"],
  code: Decision["code"],
  rule: string | null,
  reason: string | null = null,
  retry: number | null = null,
): Decision => ({
  decision,
  code,
  rule,
  reason,
  retry_after_ms: retry,
  limit: null,
  inexact: false,
});

function recording(): string {
  const file = join(temp(), "shadowed.sqlite");
  const store = openStore(file, { checkpointWorker: false });
  store.startSession({
    id: "s1",
    identity: "agent-a",
    transport: "stdio",
    mode: "enforce",
    policyHash: "e".repeat(64),
    startedAt: T0,
    shadowPolicyHash: "c".repeat(64),
  });
  const limit = {
    counter: "deploys",
    scope: "session" as const,
    algorithm: "sliding" as const,
    window_ms: 60_000,
    max: 2,
    count: 2,
  };
  const rows: [Decision, Decision | null][] = [
    [decisionOf("allow", "default_allow", null), decisionOf("allow", "rule_allow", "deploy")],
    [
      decisionOf("allow", "default_allow", null),
      decisionOf("deny", "rate_limited", "deploy", "two a minute", 41_000),
    ],
    [decisionOf("deny", "rule_deny", "wipe", "never"), decisionOf("allow", "default_allow", null)],
    [decisionOf("allow", "default_allow", null), decisionOf("allow", "default_allow", null)],
    [decisionOf("allow", "default_allow", null), null],
  ];
  rows.forEach(([enforced, shadow], i) => {
    const d: DecisionRecord = {
      session: "s1",
      seq: i + 1,
      ts: T0 + i,
      identity: "agent-a",
      tool: ["deploy", "deploy", "wipe", "status", "status"][i]!,
      arguments: {},
      jsonrpcId: String(i + 1),
      mode: "enforce",
      decision: enforced,
      shadow: shadow && { decision: shadow, counts: i === 1 ? [limit] : null },
    };
    store.recordDecision(d);
  });
  store.close();
  return file;
}

function browse(file: string): Browser {
  const b = openBrowser(file);
  open.push(b);
  return b;
}

describe("shadow decisions in the UI", () => {
  it("the browser counts a session's shadow decisions by class", () => {
    const b = browse(recording());
    expect(b.shadowCounts("s1")).toEqual({ calls: 4, tightened: 1, loosened: 1, changed: 1 });
    const rows = b.calls({ session: "s1", filter: "" }).after(null, 10);
    expect(rows.map((c) => shadowSeg(c).text)).toEqual([
      "~ allow rule_allow",
      "▲ deny rate_limited",
      "▼ allow default_allow",
      "= same",
      "—",
    ]);
  });

  it("the timeline shows the shadow beside the enforced decision, and the summary", async () => {
    const b = browse(recording());
    const app = render(<App browser={b} theme={themeFor({})} size={{ columns: 140, rows: 24 }} />);
    const frame = (): string => app.lastFrame() ?? "";
    const see = async (text: string | RegExp): Promise<void> => {
      await vi.waitFor(() => expect(frame()).toMatch(text), { timeout: 3000, interval: 10 });
    };
    await see("agent-a");
    app.stdin.write("\r");
    await see("shadow: 1 tightened, 1 loosened, 1 changed");
    expect(frame()).toMatch(/shadow/);
    expect(frame()).toContain("▲ deny rate_limited");
    app.unmount();
  });

  it("a call's detail shows the shadow's decision, rule, reason and counts", () => {
    const b = browse(recording());
    const view = loadCallView(b, 2, null)!;
    const text = callLines(view, 120)
      .map((l) => l.map((s) => s.text).join(""))
      .join("\n");
    expect(text).toContain("Shadow policy (recorded, not enforced)");
    expect(text).toMatch(/Decision\s+↻ limited\s+rate_limited\s+· policy sha256:cccccccccccc/);
    expect(text).toMatch(/Reason\s+two a minute/);
    expect(text).toMatch(/deploys: 2 of 2/);
  });

  it("a recording without shadow decisions shows no shadow column or summary", async () => {
    const b = browse(copyDemo(temp()));
    expect(
      b.shadowCounts([...b.sessions({ sort: "newest", filter: "" }).after(null, 1)][0]!.id),
    ).toEqual({ calls: 0, tightened: 0, loosened: 0, changed: 0 });
    const app = render(<App browser={b} theme={themeFor({})} size={{ columns: 140, rows: 24 }} />);
    const frame = (): string => app.lastFrame() ?? "";
    await vi.waitFor(() => expect(frame()).toMatch("agent-ops"), { timeout: 3000 });
    app.stdin.write("\r");
    await vi.waitFor(() => expect(frame()).toMatch("rule · limit"), { timeout: 3000 });
    expect(frame()).not.toMatch(/shadow/);
    app.unmount();
  });
});

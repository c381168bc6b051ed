// The app's reducer on its own, without Ink: keys in, screens out, over a real recording.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Decision, LimitHit } from "../../src/engine/index.js";
import { type Browser, openBrowser } from "../../src/store/browse.js";
import { openStore } from "../../src/store/sqlite.js";
import type { CountersWhere } from "../../src/store/types.js";
import {
  callLines,
  defaultSource,
  findRule,
  loadCallView,
  ruleHasLimits,
} from "../../src/tui/detail.js";
import {
  type AppAction,
  type AppState,
  type Ctx,
  current,
  initialState,
  reduce,
} from "../../src/tui/state.js";
import { lineText } from "../../src/tui/text.js";
import { selected } from "../../src/tui/widgets/list/list-state.js";
import { copyDemo, saveRun, tempDirs, TIGHTENED } from "./helpers.js";

const temp = tempDirs();
const open: Browser[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.close();
});

function setup(withRun = false): { ctx: Ctx; s: AppState; b: Browser } {
  const file = copyDemo(temp());
  if (withRun) saveRun(file, TIGHTENED);
  const b = openBrowser(file);
  open.push(b);
  const ctx: Ctx = {
    browser: b,
    detail: (screen, width) => {
      const v = loadCallView(b, screen.call, screen.run);
      return v === null ? [] : callLines(v, width);
    },
  };
  return { ctx, s: initialState(ctx, { columns: 80, rows: 24 }), b };
}

const apply = (s: AppState, ctx: Ctx, ...actions: AppAction[]): AppState =>
  actions.reduce((st, a) => reduce(st, a, ctx), s);

describe("the app's reducer", () => {
  it("pushes sessions → timeline → call and pops back, the cursor where it was", () => {
    const { ctx, s } = setup();
    const last = apply(s, ctx, { type: "move", move: { type: "last" } });
    const inCall = apply(
      last,
      ctx,
      { type: "open" },
      { type: "move", move: { type: "down" } },
      { type: "open" },
    );
    expect(inCall.stacks.sessions.map((x) => x.kind)).toEqual(["sessions", "timeline", "call"]);
    const call = current(inCall);
    expect(call.kind === "call" && call.call).toBe(2);
    const back = apply(inCall, ctx, { type: "back" }, { type: "back" });
    const top = current(back);
    expect(top.kind === "sessions" && selected(top.list)?.identity).toBe("agent-ops");
    expect(apply(back, ctx, { type: "back" })).toBe(back);
  });

  it("applies a filter on Enter, drops an edit on Esc, and Esc clears an applied filter", () => {
    const { ctx, s } = setup();
    const typed = apply(
      s,
      ctx,
      { type: "filterStart" },
      ...[..."ops"].map((c): AppAction => ({
        type: "filterEdit",
        edit: { type: "insert", text: c },
      })),
    );
    expect(typed.filter?.value).toBe("ops");
    const applied = apply(typed, ctx, { type: "filterApply" });
    const top = current(applied);
    expect(top.kind === "sessions" && [top.total, top.query.filter]).toEqual([1, "ops"]);
    const cancelled = apply(applied, ctx, { type: "filterStart" }, { type: "filterCancel" });
    expect(cancelled.filter).toBeNull();
    expect(current(cancelled)).toBe(current(applied));
    const cleared = current(apply(applied, ctx, { type: "back" }));
    expect(cleared.kind === "sessions" && cleared.total).toBe(3);
  });

  it("keeps each tab's stack, cycles sort and class, opens a changed call with its run", () => {
    const { ctx, s } = setup(true);
    const sorted = apply(s, ctx, { type: "sort" }, { type: "sort" });
    const top = current(sorted);
    expect(top.kind === "sessions" && top.query.sort).toBe("identity");
    const run = apply(sorted, ctx, { type: "tab" }, { type: "open" }, { type: "class" });
    const r = current(run);
    expect(r.kind === "run" && [r.query.class, r.total]).toEqual(["tightened", 22]);
    const call = current(apply(run, ctx, { type: "open" }));
    expect(call.kind === "call" && call.run).toBe(1);
    const back = apply(run, ctx, { type: "tab", tab: "sessions" });
    expect(current(back)).toBe(top);
  });

  it("turns a failed read into an error screen that Esc dismisses", () => {
    const { ctx, s, b } = setup();
    b.close();
    const failed = apply(s, ctx, { type: "move", move: { type: "last" } });
    expect(failed.error).toMatch(/demo\.sqlite: .*(not open|closed)/);
    expect(apply(failed, ctx, { type: "open" })).toBe(failed);
    expect(apply(failed, ctx, { type: "back" }).error).toBeNull();
  });

  it("fits every list again after a resize", () => {
    const { ctx, s } = setup();
    const timeline = apply(s, ctx, { type: "move", move: { type: "last" } }, { type: "open" });
    const small = apply(timeline, ctx, { type: "resize", size: { columns: 60, rows: 12 } });
    const t = current(small);
    expect(t.kind === "timeline" && [t.list.height, t.list.rows.length]).toEqual([7, 7]);
    const root = small.stacks.sessions[0]!;
    expect(root.kind === "sessions" && root.list.height).toBe(8);
  });
});

describe("a call's rule, found in the policy's text", () => {
  it("looks in the identity's grant first, then the top-level tools", () => {
    const { b } = setup();
    const policy = b.policy(
      b.sessions({ sort: "newest", filter: "" }).after(null, 1)[0]!.policyHash,
    )!;
    const grant = findRule(policy, "ci-bot", "fleet_*");
    expect(grant?.where).toBe("grants.ci-bot.tools");
    expect(grant?.text).toMatch(/^"fleet_\*": \{\n {2}"action": "deny",/);
    const top = findRule(policy, "agent-ops", "fleet_*");
    expect(top?.where).toBe("tools");
    expect(top?.text).toContain("other Fleet writes");
    expect(findRule(policy, "agent-ops", "nope")).toBeNull();
    expect(defaultSource(policy, "agent-ops")).toBe('grants.agent-ops.default: "require_approval"');
    expect(defaultSource(policy, "someone")).toBe('default: "deny"');
  });

  it("lays a call out as lines that fit the width", () => {
    const { b } = setup();
    const v = loadCallView(b, 34, null)!;
    const lines = callLines(v, 80).map(lineText);
    expect(lines.some((l) => l.includes("↻ limited  rate_limited"))).toBe(true);
    expect(lines.some((l) => /Retry +retry in 59\.9 s/.test(l))).toBe(true);
    // Long fields wrap under their label; the rest is cut when drawn.
    const reason = lines.findIndex((l) => l.startsWith(" Reason"));
    expect(lines[reason]!.length).toBeLessThanOrEqual(80);
    expect(lines[reason + 1]).toMatch(/^ {11}\S/);
  });
});

describe("a call's counters", () => {
  const POLICY = JSON.stringify({
    version: "1",
    tools: {
      fleet: {
        limits: [
          { counter: "fleet", window: "minute", max: 3, scope: "grant" },
          { counter: "fleet", window: "hour", max: 100, scope: "global", algorithm: "fixed" },
        ],
      },
      free: {},
    },
  });
  const hit = (over: Partial<LimitHit>): LimitHit => ({
    counter: "fleet",
    scope: "grant",
    algorithm: "sliding",
    window_ms: 60_000,
    max: 3,
    count: 2,
    ...over,
  });
  const ALLOW: Decision = {
    decision: "allow",
    code: "rule_allow",
    rule: "fleet",
    reason: null,
    retry_after_ms: null,
    limit: null,
    inexact: false,
  };

  /** The lines of one call, recorded in a session whose counters lived in `where`. */
  function linesOf(
    where: CountersWhere | undefined,
    call: { tool?: string; decision?: Decision; counts?: LimitHit[] | null; seq?: number | null },
  ): string[] {
    const file = join(temp(), "counts.sqlite");
    const store = openStore(file, { checkpointWorker: false });
    store.putPolicy("h", POLICY);
    store.startSession({
      id: "s1",
      identity: "agent-a",
      transport: "stdio",
      mode: "enforce",
      policyHash: "h",
      startedAt: 1_763_800_000_000,
      ...(where ? { counters: where } : {}),
    });
    const id = store.recordDecision({
      session: "s1",
      seq: 1,
      ts: 1_763_800_000_000,
      identity: "agent-a",
      tool: call.tool ?? "fleet",
      arguments: {},
      jsonrpcId: "1",
      mode: "enforce",
      decision: call.decision ?? ALLOW,
      counts: call.counts ?? null,
      counterSeq: call.seq ?? null,
    });
    store.close();
    const b = openBrowser(file);
    open.push(b);
    return callLines(loadCallView(b, id, null)!, 80).map(lineText);
  }
  const about = (lines: string[]) =>
    lines.filter((l) => /^ (Counts|Counters| {10}\S)/.test(l)).map((l) => l.trimEnd());

  it("shows each limit's count at decision time, where the counters lived and Redis's sequence", () => {
    const counts = [
      hit({}),
      hit({ scope: "global", algorithm: "fixed", window_ms: 3_600_000, max: 100, count: 41 }),
    ];
    expect(about(linesOf("redis", { counts, seq: 1234 }))).toEqual([
      " Counts    fleet: 2 of 3 (grant, sliding 1 min)",
      "           fleet: 41 of 100 (global, fixed 1 h)",
      " Counters  Redis · sequence 1234",
    ]);
    expect(about(linesOf("recording", { counts: [hit({})] })).at(-1)).toBe(
      " Counters  the recording",
    );
    expect(about(linesOf("memory", { counts: [hit({})] })).at(-1)).toBe(" Counters  this process");
  });

  it("says a recording from before counts were kept has none, for a rule with limits only", () => {
    expect(about(linesOf(undefined, {}))).toEqual([
      " Counts    not recorded",
      " Counters  not recorded",
    ]);
    const free = { ...ALLOW, rule: "free" };
    expect(about(linesOf(undefined, { tool: "free", decision: free }))).toEqual([]);
    expect(about(linesOf("redis", { tool: "free", decision: free }))).toEqual([]);
    const offline: Decision = { ...ALLOW, decision: "deny", code: "counters_unavailable" };
    expect(about(linesOf("redis", { decision: offline }))).toEqual([
      " Counts    not read: Redis did not answer",
    ]);
  });

  it("tells from the policy's text whether a rule has limits", () => {
    expect(ruleHasLimits(POLICY, "agent-a", "fleet")).toBe(true);
    expect(ruleHasLimits(POLICY, "agent-a", "free")).toBe(false);
    const grant = JSON.stringify({
      version: "1",
      tools: { t: {} },
      grants: { bot: { tools: { t: { rate_limit: { max: 1, window: "minute" } } } } },
    });
    expect(ruleHasLimits(grant, "bot", "t")).toBe(true);
    expect(ruleHasLimits(grant, "other", "t")).toBe(false);
    expect(ruleHasLimits("not json", "bot", "t")).toBe(false);
  });

  it("the demo, recorded before counts were kept, says so on a rate-limited call", () => {
    const { b } = setup();
    const lines = callLines(loadCallView(b, 34, null)!, 80).map(lineText);
    expect(lines.some((l) => /^ Counts +not recorded/.test(l))).toBe(true);
  });
});

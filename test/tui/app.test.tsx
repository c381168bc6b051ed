import { render } from "ink-testing-library";
import { afterEach, describe, expect, it, vi } from "vitest";
import Database from "better-sqlite3";
import { type Browser, openBrowser } from "../../src/store/browse.js";
import { App } from "../../src/tui/app.js";
import type { Size } from "../../src/tui/state.js";
import { themeFor } from "../../src/tui/theme.js";
import { copyDemo, saveRun, tempDirs, TIGHTENED } from "./helpers.js";

const temp = tempDirs();
const open: Browser[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.close();
});

function browse(file: string): Browser {
  const b = openBrowser(file);
  open.push(b);
  return b;
}

const SIZE: Size = { columns: 100, rows: 24 };
const WIDE: Size = { columns: 140, rows: 30 };

function start(b: Browser, size: Size = SIZE, env: Record<string, string> = {}) {
  const app = render(<App browser={b} theme={themeFor(env)} size={size} />);
  const frame = (): string => app.lastFrame() ?? "";
  /** Type keys one at a time, as a person would, letting each frame settle. */
  const press = async (...keys: string[]): Promise<void> => {
    for (const k of keys) {
      app.stdin.write(k);
      // Ink waits a moment after a lone Esc, in case a longer sequence follows.
      await new Promise((r) => setTimeout(r, k === ESC ? 60 : 5));
    }
  };
  const see = async (text: string | RegExp): Promise<void> => {
    await vi.waitFor(() => expect(frame()).toMatch(text), { timeout: 3000, interval: 10 });
  };
  return { app, frame, press, see };
}

const ENTER = "\r";
const ESC = "\x1b";
const DOWN = "\x1b[B";
const PGDN = "\x1b[6~";
const TAB = "\t";

describe("the terminal UI", () => {
  it("opens on the sessions list with identity, client, server, start, duration and counts", async () => {
    const { frame, see } = start(browse(copyDemo(temp())));
    await see(/agent-ops .* 53 +18 +15 +1/);
    expect(frame()).toContain("3 sessions · newest first");
    expect(frame()).toMatch(
      /identity +client +server +started +duration +calls +deny +limit +appr/,
    );
    expect(frame()).toContain("demo-ci-bot");
    expect(frame()).toMatch(/demo-ci-bot +policy-replay-f/);
    expect(frame()).toMatch(/› anonymous/);
    expect(frame()).toContain("Sessions 1/3");
    expect(frame()).toContain("? help");
    expect(frame().split("\n")).toHaveLength(24);
  });

  it("goes sessions → timeline → call → back, and the timeline shows rate limits", async () => {
    const { frame, press, see } = start(browse(copyDemo(temp())), WIDE);
    await see("agent-ops");
    await press("G", ENTER);
    await see("fleet_status");
    expect(frame()).toContain("agent-ops · demo-agent-ops 1.0.0 → policy-replay-fixture 1.0.0");
    await see("53 calls: 18 denied, 15 rate-limited, 1 approval");
    expect(frame()).toMatch(/✓ allow +rule_allow +fleet_status/);
    expect(frame()).toContain("Sessions › agent-ops 76c81072 1/53");
    // Page down to the loop that trips the limit.
    await press(PGDN, PGDN);
    await see("↻ limited");
    expect(frame()).toMatch(/fleet_secrets_set_rate 30\/30 per 1 min, retry in \d+\.\d s/);
    await press("/");
    await press(..."rate_limited", ENTER);
    await see('filter "rate_limited"');
    expect(frame()).toMatch(/› \S+ +fleet_secrets_set +↻ limited +rate_limited/);
    // The header keeps the session's tally under a filter, never "counting calls…" until Esc.
    await see('53 calls: 18 denied, 15 rate-limited, 1 approval · filter "rate_limited"');
    expect(frame()).not.toContain("counting calls");
    await press(ENTER);
    await see("Decision  ↻ limited  rate_limited");
    expect(frame()).toContain("fleet_secrets_set_rate: 30 of 30 calls in the last 1 min — full");
    expect(frame()).toMatch(/Retry +retry in \d+\.\d s/);
    expect(frame()).toContain("value: ‹redacted");
    expect(frame()).toContain("from the proxy: the call never reached the server");
    expect(frame()).toMatch(/Sessions › agent-ops 76c81072 › call \d+ lines 1-28\/\d+/);
    // Scroll to the rule and the messages around the call.
    await press("G");
    await see("Messages around it");
    expect(frame()).toContain('"fleet_secrets_set": {');
    expect(frame()).toMatch(/▶ +\d+ \S+ client → server +tools\/call id \d+ fleet_secrets_set/);
    await press(ESC);
    await see('filter "rate_limited"');
    await press(ESC);
    await see("Sessions › agent-ops 76c81072");
    expect(frame()).not.toContain('filter "');
    // Backspace goes back too (terminals send DEL for it).
    await press("\x7f");
    await see("3 sessions");
  });

  it("jumps from a call to its place in the session's timeline with t", async () => {
    const { frame, press, see } = start(browse(copyDemo(temp())));
    await see("agent-ops");
    await press("G", ENTER);
    await see("fleet_status");
    await press("G", ENTER);
    await see("fleet_wipe · call");
    await press("t");
    await see(/› \S+ +fleet_wipe/);
    expect(frame()).toContain("› call 53 › agent-ops");
  });

  it("filters and sorts the sessions list", async () => {
    const { frame, press, see } = start(browse(copyDemo(temp())));
    await see("anonymous");
    await press("/", ..."ci", ENTER);
    await see('1 session · newest first · filter "ci"');
    expect(frame()).toContain("ci-bot");
    expect(frame()).not.toContain("agent-ops");
    await press(ESC);
    await see("3 sessions");
    await press("s");
    await see("oldest first");
    expect(frame()).toMatch(/› agent-ops/);
    await press("s");
    await see("by identity");
    expect(frame()).toMatch(/› agent-ops[^]*anonymous[^]*ci-bot/);
    await press("/", ..."nothing-matches", ENTER);
    await see('No session matches "nothing-matches"');
    // Esc while typing cancels the edit, not the filter already applied.
    await press("/", "x", ESC);
    await see('filter "nothing-matches"');
  });

  it("shows the help overlay with every key, and any key closes it", async () => {
    const { frame, press, see } = start(browse(copyDemo(temp())));
    await see("anonymous");
    await press("?");
    await see("Keys  (any key closes this help)");
    for (const k of [
      "↓ j  ↑ k",
      "PgDn PgUp",
      "g Home  G End",
      "Enter",
      "Esc Backspace",
      "/",
      "Tab 1 2",
      "q Ctrl-C",
    ])
      expect(frame()).toContain(k);
    expect(frame()).toContain("✓ allow  ✗ deny  ↻ rate-limited  ? approval");
    await press("j");
    await see("3 sessions");
    expect(frame()).toMatch(/› anonymous/);
  });

  it("quits with q", async () => {
    const { app, press, see } = start(browse(copyDemo(temp())));
    await see("anonymous");
    await press("q");
    await new Promise((r) => setTimeout(r, 50));
    // The app has unmounted: keys draw nothing any more.
    const frames = app.frames.length;
    await press("j", "?");
    expect(app.frames.length).toBe(frames);
  });

  it("lists saved runs and their changed calls; Enter shows old and new side by side", async () => {
    const file = copyDemo(temp());
    saveRun(file, TIGHTENED);
    const { frame, press, see } = start(browse(file), WIDE);
    await see("anonymous");
    await press(TAB);
    await see("1 saved replay run");
    expect(frame()).toMatch(
      /1 \S+ \S+ +fleet\.tightened\.json +recorded +60 +22 +0 +0 +20 +0 FAIL/,
    );
    await press(ENTER);
    await see("run 1 · candidate fleet.tightened.json");
    expect(frame()).toContain("▲ 22");
    expect(frame()).toMatch(/fleet_secrets_get +agent-ops +✓ allow +✗ deny +▲ tightened/);
    expect(frame()).toMatch(/fleet_secrets_set +agent-ops +✓ allow +↻ limited +▲ tightened +cf/);
    expect(frame()).toContain("Runs › run 1 1/22");
    await press("c");
    await see("showing tightened only");
    await press("c");
    await see("showing loosened only");
    await see("No result matches");
    await press("c", "c", "c");
    await see("showing every result");
    await press("/", ..."tool:fleet_secrets_get", ENTER);
    await see('filter "tool:fleet_secrets_get"');
    expect(frame()).not.toMatch(/fleet_secrets_set /);
    await press(ENTER);
    await see(/recorded +candidate fleet\.tightened\.json/);
    expect(frame()).toMatch(/Decision +✓ allow +✗ deny/);
    expect(frame()).toMatch(/Code +rule_allow +condition_deny/);
    expect(frame()).toContain("Change    ▲ tightened");
    await press("G");
    await see("candidate fleet.tightened.json policy");
    await press(ESC, ESC, DOWN);
    await see(/› \S+ +fleet_secrets_set +agent-ops +✓ allow +↻ limited/);
    await press(ENTER);
    await see("counterfactual");
    await press("2", ESC, ESC, "1");
    await see("3 sessions");
  });

  it("says why runs are not shown when its runs file's runs are of another recording", async () => {
    const file = copyDemo(temp());
    saveRun(file, TIGHTENED);
    // The recording no longer holds the run's newest call: it is not the file the run read.
    const db = new Database(file);
    db.exec("DELETE FROM calls WHERE id = (SELECT max(id) FROM calls)");
    db.close();
    const { frame, press, see } = start(browse(file), WIDE);
    await see("anonymous");
    await press(TAB);
    await see(
      "0 saved replay runs · demo.sqlite.runs: 1 run of another recording (this one replaced it) not shown",
    );
    expect(frame()).toContain("No saved replay runs for this recording yet");
  });

  it("says so when there are no runs, and when there are no sessions", async () => {
    const file = copyDemo(temp());
    const { press, see } = start(browse(file));
    await see("anonymous");
    await press(TAB);
    await see("No saved replay runs for this recording yet: replay it (without --no-save)");
    const empty = copyDemo(temp(), "empty.sqlite");
    const db = new Database(empty);
    db.exec("DELETE FROM calls; DELETE FROM messages; DELETE FROM sessions;");
    db.close();
    const e = start(browse(empty));
    await e.see("No sessions in this recording yet");
    expect(e.frame()).toContain("0 sessions");
    await e.press(ENTER, "j", PGDN, "G");
    expect(e.frame()).toContain("No sessions in this recording yet");
  });

  it("shows a read failure as a message, not a crash", async () => {
    const b = browse(copyDemo(temp()));
    b.close();
    const { frame, press, see } = start(b);
    await see("The recording could not be read");
    expect(frame()).toContain("recording is closed");
    await press("j", ENTER);
    expect(frame()).toContain("The recording could not be read");
  });

  it("fits 80x24, and adapts to a smaller and a too small terminal", async () => {
    const b = browse(copyDemo(temp()));
    const small = start(b, { columns: 80, rows: 24 });
    await small.see("agent-ops");
    const lines = small.frame().split("\n");
    expect(lines).toHaveLength(24);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    small.app.rerender(<App browser={b} theme={themeFor({})} size={{ columns: 60, rows: 12 }} />);
    await vi.waitFor(() => expect(small.frame().split("\n")).toHaveLength(12));
    for (const l of small.frame().split("\n")) expect(l.length).toBeLessThanOrEqual(60);
    expect(small.frame()).toContain("agent-ops");
    small.app.rerender(<App browser={b} theme={themeFor({})} size={{ columns: 30, rows: 8 }} />);
    await small.see("too small");
  });

  it("reads without colour under NO_COLOR: symbols and words carry the meaning", async () => {
    const { frame, press, see } = start(browse(copyDemo(temp())), SIZE, { NO_COLOR: "1" });
    await see("agent-ops");
    await press("G", ENTER);
    await see("✓ allow");
    await press("G");
    await see("✗ deny");
    expect(frame()).toContain("↻ limited");
    expect(frame()).toContain("? approval");
  });
});

describe("the layout at 80 and 120 columns", () => {
  const SIZES: Size[] = [
    { columns: 80, rows: 24 },
    { columns: 120, rows: 40 },
  ];
  const lines = (frame: string): string[] => frame.split("\n");

  for (const size of SIZES) {
    const at = `${size.columns}x${size.rows}`;

    it(`wraps the empty Runs screen's explanation instead of cutting it (${at})`, async () => {
      const { frame, press, see } = start(browse(copyDemo(temp())), size);
      await see("anonymous");
      await press(TAB);
      await see("No saved replay runs for this recording yet");
      const text = lines(frame())
        .map((l) => l.trim())
        .join(" ");
      expect(text).toContain(
        "No saved replay runs for this recording yet: replay it (without --no-save) to see one here.",
      );
      expect(frame()).not.toContain("…");
    });

    it(`shows the diff's headers whole and the timeline's counter names in full (${at})`, async () => {
      const file = copyDemo(temp());
      saveRun(file, TIGHTENED);
      const { frame, press, see } = start(browse(file), size);
      await see("anonymous");
      await press("G", ENTER);
      await see("fleet_status");
      await press("G");
      await see("↻ limited");
      // The tool column takes what its names need and leaves the rest to the limit.
      expect(frame()).toMatch(/fleet_secrets_set +↻ limited +rate_limited +fleet_secrets_set_rate/);
      if (size.columns >= 120)
        expect(frame()).toMatch(/fleet_secrets_set_rate 30\/30 per 1 min, retry in \d+\.\d s/);
      await press(TAB);
      await see("1 saved replay run");
      await press(ENTER);
      await see("run 1 · candidate");
      expect(frame()).toMatch(/time +tool +identity +before +after +class +marks/);
      expect(frame()).toMatch(/fleet_secrets_set +agent-ops +✓ allow +↻ limited +▲ tightened +cf/);
    });

    it(`never splits a mark from its meaning in the help overlay (${at})`, async () => {
      const { frame, press, see } = start(browse(copyDemo(temp())), size);
      await see("anonymous");
      await press("?");
      await see("Marks");
      const shown = lines(frame());
      for (const pair of [
        "✓ allow",
        "✗ deny",
        "↻ rate-limited",
        "? approval",
        "▲ tightened",
        "▼ loosened",
        "~ changed",
        "= same",
        "cf counterfactual",
        "≈ inexact",
      ])
        expect(shown.some((l) => l.includes(pair))).toBe(true);
      for (const l of shown) expect(l.trimEnd()).not.toMatch(/ [~=✓✗↻?▲▼≈]$/);
    });

    it(`keeps the start of where you are in the status line (${at})`, async () => {
      const file = copyDemo(temp());
      const db = new Database(file);
      db.prepare("UPDATE sessions SET identity = ? WHERE identity = 'agent-ops'").run(
        `agent-ops-${"x".repeat(size.columns - 40)}`,
      );
      db.close();
      const { frame, press, see } = start(browse(file), size);
      await see("anonymous");
      await press("G", ENTER);
      await see("fleet_status");
      await press(ENTER);
      await see("Decision");
      const status = lines(frame()).at(-1)!;
      expect(status).toMatch(/^ Sessions › /);
      expect(status).toMatch(/call 1\b/);
      expect(status).toContain("q quit");
      expect(status.length).toBeLessThanOrEqual(size.columns);
    });
  }
});

// The real thing: bin/policy-replay.js in a real terminal (tmux, 80x24 and 120x40), driven by
// keys and read back from the screen as a person would see it.
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { copyDemo, root, saveRun, tempDirs, TIGHTENED } from "./helpers.js";

const temp = tempDirs();
const hasTmux = spawnSync("tmux", ["-V"]).status === 0;
const sockets: string[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) spawnSync("tmux", ["-L", s, "kill-server"]);
});

let serial = 0;

// SGR colour codes: 30-37 and 90-97 foreground, 38;5 and 38;2 extended.
// eslint-disable-next-line no-control-regex -- escape sequences are what is looked for
const COLOUR = /\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;[25])(?:;[0-9;]*)?m/;

/**
 * A tmux server of its own running the UI on a copy of the demo recording (`prepare` may
 * change the copy first), in a terminal of `size` columns and rows.
 */
function terminal(
  env: Record<string, string> = {},
  { size = [80, 24], prepare }: { size?: [number, number]; prepare?: (db: string) => void } = {},
) {
  const socket = `policy-replay-test-${process.pid}-${serial++}`;
  sockets.push(socket);
  const db = copyDemo(temp());
  prepare?.(db);
  const vars = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  // `echo EXITED`: after q the pane stays, showing what the shell shows once the UI is gone.
  const command = `cd ${root} && env ${vars} node ${join(root, "bin/policy-replay.js")} tui --db ${db}; echo EXITED $?; sleep 30`;
  const tmux = (...args: string[]): string =>
    execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
  tmux("new-session", "-d", "-x", String(size[0]), "-y", String(size[1]), command);
  const screen = (escapes = false): string =>
    tmux("capture-pane", "-p", ...(escapes ? ["-e"] : []), "-t", "0");
  /** Wait until the screen shows `text` (polling, no fixed sleeps). */
  const until = async (
    text: string | RegExp | ((screen: string) => boolean),
    timeoutMs = 15_000,
  ): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = screen();
      const seen =
        typeof text === "string"
          ? s.includes(text)
          : text instanceof RegExp
            ? text.test(s)
            : text(s);
      if (seen) return s;
      if (Date.now() > deadline) throw new Error(`never saw ${String(text)} on screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const keys = (...k: string[]): void => void tmux("send-keys", "-t", "0", ...k);
  const resize = (x: number, y: number): void =>
    void tmux("resize-window", "-t", "0", "-x", String(x), "-y", String(y));
  /**
   * The first key: typed before the UI has taken the keyboard (raw mode), a terminal keeps it
   * for a line that never comes; so send it again until the screen answers (it must be a key
   * that does the same twice).
   */
  const firstKey = async (key: string, then: RegExp): Promise<void> => {
    for (let i = 0; ; i++) {
      keys(key);
      try {
        await until(then, 2000);
        return;
      } catch (err) {
        if (i >= 5) throw err;
      }
    }
  };
  return { until, keys, screen, resize, firstKey };
}

describe.skipIf(!hasTmux)("policy-replay tui in a real terminal", () => {
  it("sessions, Enter to a timeline, ? for help, q to quit — at 80x24, even with CI set", async () => {
    const t = terminal({ CI: "true" });
    // Every check waits for its whole screen: a frame can reach the terminal in pieces.
    const first = await t.until(/3 sessions · newest first[^]*› anonymous +demo-ano[^]*q quit/);
    expect(first.split("\n")[0]).toContain("policy-replay · ");
    // Counts are filled in just after the first frame.
    await t.until(/agent-ops .* 53 +18 +15 +1/);
    await t.firstKey("G", /› agent-ops/);
    t.keys("Enter");
    await t.until(
      /53 calls: 18 denied, 15 rate-limited, 1 approval[^]*✓ allow +rule_allow +fleet_status[^]*Sessions › agent-ops/,
    );
    t.keys("?");
    await t.until(/Keys {2}\(any key closes this help\)[^]*q Ctrl-C/);
    t.keys("Escape");
    await t.until(/53 calls[^]*fleet_status/);
    // A smaller terminal: the screen is laid out again to fit it.
    t.resize(60, 14);
    await t.until((s: string) => {
      const rows = s.split("\n");
      return (
        rows[0]?.includes("policy-replay · ") === true &&
        rows[13]?.includes("q quit") === true &&
        /› \S+ +fleet_status/.test(s) &&
        rows.every((l) => l.length <= 60)
      );
    });
    t.keys("q");
    const after = await t.until("EXITED 0");
    // The alternate screen is gone: the terminal is back as it was.
    expect(after).not.toContain("53 calls");
  });

  it("at 120x40 lays the columns out by content: whole headers, full counter names", async () => {
    const t = terminal({}, { size: [120, 40], prepare: (db) => void saveRun(db, TIGHTENED) });
    const first = await t.until(/agent-ops .* 53 +18 +15 +1[^]*q quit/);
    expect(first).toMatch(/identity +client +server +started +duration +calls +deny +limit +appr/);
    expect(first).toMatch(/agent-ops +demo-agent-ops +policy-replay-fixture/);
    await t.firstKey("G", /› agent-ops/);
    t.keys("Enter");
    await t.until(/53 calls[^]*fleet_status/);
    t.keys("G");
    // The tool column keeps what its names need; the rate limit's note is whole beside it.
    const timeline = await t.until(/› \S+ +fleet_wipe/);
    expect(timeline).toMatch(
      /fleet_secrets_set +↻ limited +rate_limited +fleet_secrets_set_rate 30\/30 per 1 min, retry in \d+\.\d s/,
    );
    expect(timeline).toMatch(/Sessions › agent-ops 76c81072 53\/53/);
    t.keys("?");
    const help = await t.until(/Marks[^]*inexact/);
    for (const pair of ["~ changed", "= same", "cf counterfactual", "≈ inexact"])
      expect(help).toContain(pair);
    t.keys("Escape");
    await t.until(/› \S+ +fleet_wipe/);
    t.keys("Tab");
    const runs = await t.until(/1 saved replay run[^]*fleet\.tightened\.json/);
    expect(runs).toMatch(/run +created +candidate +against +calls +▲ +▼ +~ +cf +≈ +gate/);
    t.keys("Enter");
    const diff = await t.until(/run 1 · candidate[^]*▲ tightened +cf/);
    expect(diff).toMatch(/time +tool +identity +before +after +class +marks/);
    expect(diff).not.toContain("mar…");
    for (const l of diff.split("\n")) expect(l.length).toBeLessThanOrEqual(120);
    t.keys("q");
    await t.until("EXITED 0");
  });

  it("under NO_COLOR draws no colour, and symbols still say what happened", async () => {
    const plain = terminal({ NO_COLOR: "1" });
    await plain.until("q quit");
    await plain.firstKey("G", /› agent-ops/);
    plain.keys("Enter");
    await plain.until("✓ allow");
    plain.keys("G");
    await plain.until(/✗ deny[^]*\? approval/);
    expect(plain.screen(true)).not.toMatch(COLOUR);
    const colour = terminal();
    await colour.until("q quit");
    await colour.firstKey("G", /› agent-ops/);
    colour.keys("Enter");
    await colour.until("✓ allow");
    expect(colour.screen(true)).toMatch(COLOUR);
  });
});

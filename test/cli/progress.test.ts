import { describe, expect, it } from "vitest";
import type { Io } from "../../src/cli/io.js";
import { formatProgress, startProgress } from "../../src/cli/progress.js";

function io(opts: { tty: boolean; env?: Record<string, string>; clock?: number[] }) {
  let stderr = "";
  let t = 0;
  const ticks = opts.clock ?? [];
  const value: Io = {
    stdout: { write: () => true },
    stderr: { write: (s: string) => (stderr += s), isTTY: opts.tty, columns: 120 },
    cwd: "/",
    env: opts.env ?? {},
    now: () => (t = ticks.shift() ?? t),
  };
  return { io: value, stderr: () => stderr };
}

describe("formatProgress", () => {
  it("with a total: a bar, the percentage, the counts and the time left", () => {
    expect(formatProgress(450_000, 1_000_000, 3_000)).toBe(
      "replaying [==============----------------] 45% 450,000 / 1,000,000 calls, 3.7 s left",
    );
  });

  it("without one: the count and the rate", () => {
    expect(formatProgress(450_000, null, 3_000)).toBe("replaying: 450,000 calls (150,000/s)");
  });
});

describe("startProgress", () => {
  it("appears only after the delay, redraws with the total, and stop() clears the line", () => {
    // Clock reads: start 0; update at 100 (too early); update at 600 (shown); later reads.
    const t = io({ tty: true, clock: [0, 100, 600, 600, 600, 1200, 1200, 1200, 1200] });
    const p = startProgress(t.io);
    p.update(4096, 100_000);
    expect(t.stderr()).toBe("");
    p.update(8192, 100_000);
    expect(t.stderr()).toContain("replaying [==");
    expect(t.stderr()).toContain("8% 8,192 / 100,000 calls");
    p.stop();
    expect(t.stderr().endsWith("\x1b[2K")).toBe(true);
    // Nothing after stop.
    const before = t.stderr();
    p.update(12_288, 100_000);
    p.stop();
    expect(t.stderr()).toBe(before);
  });

  it.each([
    ["not a terminal", { tty: false }],
    ["CI=true", { tty: true, env: { CI: "true" } }],
    ["CI=1", { tty: true, env: { CI: "1" } }],
  ])("shows nothing when %s", (_name, opts) => {
    const t = io({ ...opts, clock: [0, 10_000, 20_000] });
    const p = startProgress(t.io);
    p.update(4096, null);
    p.update(8192, null);
    p.stop();
    expect(t.stderr()).toBe("");
  });

  it("CI=false or CI=0 does not count as CI", () => {
    for (const CI of ["false", "0", ""]) {
      const t = io({ tty: true, env: { CI }, clock: [0, 10_000, 10_000, 10_000] });
      const p = startProgress(t.io);
      p.update(4096, null);
      p.stop();
      expect(t.stderr()).toContain("replaying: 4,096 calls");
    }
  });
});

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { plainTuiArgs } from "../../src/cli/tui-main.js";
import { defaultRecording } from "../../src/cli/tui-command.js";
import { copyDemo, root, tempDirs } from "../tui/helpers.js";
import { cli } from "./support.js";

const temp = tempDirs();

describe("policy-replay tui", () => {
  it("a recording that cannot be opened: exit 2 and one clear line, before anything is drawn", async () => {
    const dir = temp();
    const missing = await cli(["tui", "--db", join(dir, "nope.sqlite")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^policy-replay: .*nope\.sqlite: no such recording\n$/);
    writeFileSync(join(dir, "junk.sqlite"), "not a database ".repeat(500));
    const junk = await cli(["tui", "--db", "junk.sqlite"], dir);
    expect(junk.code).toBe(2);
    expect(junk.stderr).toContain("junk.sqlite: not a recording");
    expect(junk.stderr).not.toContain("    at ");
  });

  it("needs a terminal", async () => {
    const r = await cli(["tui", "--db", copyDemo(temp())]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("tui needs a terminal");
  });

  it("opens recordings/demo.sqlite by default, else the first recording there", async () => {
    expect(defaultRecording(root)).toBe("recordings/demo.sqlite");
    const dir = temp();
    expect(defaultRecording(dir)).toBeNull();
    expect((await cli(["tui"], dir)).stderr).toContain("no recording to open: pass --db FILE");
    mkdirSync(join(dir, "recordings"));
    copyDemo(join(dir, "recordings"), "b.sqlite");
    copyDemo(join(dir, "recordings"), "a.sqlite");
    expect(defaultRecording(dir)).toBe(join("recordings", "a.sqlite"));
  });

  it("replay never loads React or Ink: the CLI reaches them only through a dynamic import", () => {
    // Walk the static imports of the built CLI (dist/, built by global setup).
    const seen = new Set<string>();
    const packages = new Set<string>();
    const walk = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gm)) {
        const spec = m[1]!;
        if (spec.startsWith(".")) {
          const next = resolve(dirname(file), spec);
          if (existsSync(next)) walk(next);
        } else packages.add(spec.split("/")[0]!);
      }
    };
    // The CLI's entry, and the replay command it imports when a replay runs.
    walk(join(root, "dist/src/cli/main.js"));
    walk(join(root, "dist/src/cli/replay-command.js"));
    expect(seen.size).toBeGreaterThan(10);
    // The walk does reach packages: the progress bar's is one.
    expect(packages.has("cli-progress")).toBe(true);
    for (const ui of ["ink", "react", "react-reconciler", "string-width"])
      expect(packages.has(ui)).toBe(false);
    expect([...seen].some((f) => f.includes("/tui/"))).toBe(false);
  });
});

describe("plain tui arguments skip the argument parser", () => {
  it("tui, tui --db FILE and tui --db=FILE; anything else goes to commander", () => {
    expect(plainTuiArgs(["tui"])).toEqual({});
    expect(plainTuiArgs(["tui", "--db", "a.sqlite"])).toEqual({ db: "a.sqlite" });
    expect(plainTuiArgs(["tui", "--db=a.sqlite"])).toEqual({ db: "a.sqlite" });
    for (const argv of [
      [],
      ["--policy", "p.json"],
      ["tui", "--help"],
      ["tui", "--db"],
      ["tui", "--db="],
      ["tui", "--db", "--help"],
      ["tui", "--db", "a", "b"],
      ["tui", "extra"],
    ])
      expect(plainTuiArgs(argv)).toBeNull();
  });

  it("tui --help is still commander's", async () => {
    const r = await cli(["tui", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: policy-replay tui");
  });
});

describe("the UI bundle (npm run build)", () => {
  const bundle = join(root, "dist/src/tui/tui.bundle.cjs");

  it.runIf(existsSync(bundle))(
    "loads from its code cache, and draws the opening screen of the demo recording",
    async () => {
      const { codeCacheFile, loadUiBundle } = await import("../../src/cli/tui-bundle.js");
      const { openBrowser } = await import("../../src/store/browse.js");
      expect(existsSync(codeCacheFile(bundle))).toBe(true);
      const { ui, script } = loadUiBundle(bundle);
      expect(script.cachedDataRejected).toBe(false);
      await ui.yogaReady;
      const browser = openBrowser(join(root, "recordings/demo.sqlite"));
      try {
        const screen = ui.drawOnce(browser);
        expect(screen).toContain("Sessions");
        expect(screen).toContain("q quit");
      } finally {
        browser.close();
      }
    },
  );
});

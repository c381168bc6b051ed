// The README's quick start in a git checkout of its own: replaying the committed demo recording
// saves the run beside it, where the terminal UI finds it, and `git status` stays clean.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultRecording } from "../../src/cli/tui-command.js";
import { openBrowser } from "../../src/store/browse.js";
import { DEMO, policyPath, root, tempRoot } from "./support.js";

const tempDir = tempRoot("quick-start");

/** Run git in `cwd`, with no user or system configuration; its stdout. */
function git(cwd: string, ...args: string[]): string {
  const r = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" },
  });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

describe("the quick start", () => {
  it("a saved replay of the committed demo leaves git status clean, and the terminal UI shows the run", () => {
    const repo = tempDir();
    mkdirSync(join(repo, "recordings"));
    mkdirSync(join(repo, "fixtures/policies"), { recursive: true });
    copyFileSync(DEMO, join(repo, "recordings/demo.sqlite"));
    copyFileSync(join(root, ".gitignore"), join(repo, ".gitignore"));
    const policy = "fixtures/policies/fleet.tightened.json";
    copyFileSync(policyPath("fleet.tightened"), join(repo, policy));
    git(repo, "init", "-q");
    git(repo, "add", "-A");
    git(repo, "commit", "-q", "-m", "the demo");

    // node bin/policy-replay.js --policy fixtures/policies/fleet.tightened.json
    const r = spawnSync(
      process.execPath,
      [join(root, "bin/policy-replay.js"), "--policy", policy],
      {
        cwd: repo,
        encoding: "utf8",
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("60 calls in 3 sessions replayed; 22 tightened, 0 loosened");
    expect(existsSync(join(repo, "recordings/demo.sqlite.runs"))).toBe(true);
    expect(git(repo, "status", "--porcelain")).toBe("");
    // The runs file's journal, while a run is being saved, is ignored too.
    for (const side of ["-journal", "-wal", "-shm"])
      expect(git(repo, "check-ignore", `recordings/demo.sqlite.runs${side}`)).not.toBe("");

    // node bin/policy-replay.js tui: the recording it opens, and the run under Runs.
    const browser = openBrowser(join(repo, defaultRecording(repo)!));
    try {
      expect(browser.runCount()).toBe(1);
      const [run] = browser.runs().after(null, 5);
      expect(run).toMatchObject({ policyPath: policy, calls: 60, tightened: 22, gateFailed: true });
      expect(browser.diffCount(run!.id, "tightened")).toBe(22);
      expect(browser.runsNotice()).toBeNull();
    } finally {
      browser.close();
    }
    expect(git(repo, "status", "--porcelain")).toBe("");
  });
});

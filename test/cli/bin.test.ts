// The real launcher, as the README's quick start runs it: `node bin/policy-replay.js`, which
// loads the compiled CLI's bundle from dist/ (scripts/bundle-cli.ts). test/global-setup.ts
// rebuilds dist/ and the bundles at the start of every test run, so these never exercise a
// stale build.
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
const bin = join(root, "bin/policy-replay.js");
// The quick start saves its run into the recording it replays: run it on a copy of the
// project's recordings/, never on the committed demo recording itself.
const project = mkdtempSync(join(tmpdir(), "policy-replay-bin-"));
mkdirSync(join(project, "recordings"));
copyFileSync(join(root, "recordings/demo.sqlite"), join(project, "recordings/demo.sqlite"));
symlinkSync(join(root, "fixtures"), join(project, "fixtures"));
afterAll(() => rmSync(project, { recursive: true, force: true }));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function launch(
  args: string[],
  opts: { closeStdoutEarly?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: project,
      stdio: ["ignore", "pipe", "pipe"],
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (s: string) => {
      stdout += s;
      // Like `| head -1`: read a little, then go away.
      if (opts.closeStdoutEarly) child.stdout.destroy();
    });
    child.stderr.on("data", (s: string) => (stderr += s));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("bin/policy-replay.js (README quick start)", () => {
  it("--policy fixtures/policies/fleet.tightened.json exits 1 and prints the summary", async () => {
    const r = await launch(["--policy", "fixtures/policies/fleet.tightened.json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("60 calls in 3 sessions replayed; 22 tightened, 0 loosened, 0 changed.");
    expect(lines[1]).toMatch(/^Gate: FAIL/);
    expect(r.stdout).toContain("Source: recordings/demo.sqlite (3 identities;");
  });

  it("--policy fixtures/policies/fleet.json exits 0", async () => {
    const r = await launch(["--policy", "fixtures/policies/fleet.json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("No decision changed.");
  });

  it("bad input exits 2 with a message and no stack trace", async () => {
    const r = await launch(["--policy", "fixtures/invalid-policies/not-json-trailing-comma.json"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/not-json-trailing-comma\.json:\d+:\d+/);
    expect(r.stderr).not.toMatch(/^\s{4}at /m);
  });

  // Node's module debug log names each CommonJS file it loads.
  it("runs the CLI's bundle, not its modules", async () => {
    const r = await launch(["--policy", "fixtures/policies/fleet.json", "--no-save"], {
      env: { NODE_DEBUG: "module" },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/load "[^"]*dist\/src\/cli\/cli\.bundle\.cjs"/);
    expect(r.stdout).toContain("No decision changed.");
  });

  it("runs plain `tui --db FILE` from its own bundle, without the CLI's", async () => {
    const r = await launch(["tui", "--db", "no-such.sqlite"], { env: { NODE_DEBUG: "module" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/load "[^"]*dist\/src\/cli\/tui-main\.bundle\.cjs"/);
    expect(r.stderr).not.toMatch(/cli\.bundle\.cjs/);
    expect(r.stderr).toMatch(/policy-replay: .*no-such\.sqlite: no such recording/);
  });

  it("--help exits 0", async () => {
    const r = await launch(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: policy-replay/);
  });

  // `policy-replay ... | head` closes the pipe early. The launcher does not handle EPIPE on
  // stdout, so Node prints "Unhandled 'error' event" with a stack trace to stderr.
  it("a reader that closes stdout early (| head) gets no stack trace", async () => {
    const r = await launch(["--policy", "fixtures/policies/fleet.json", "--format", "json"], {
      closeStdoutEarly: true,
    });
    expect(r.stderr).not.toMatch(/^\s{4}at /m);
    expect(r.stderr).not.toMatch(/EPIPE/);
  });
});

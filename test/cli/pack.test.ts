// The package as a user gets it: `npm pack`, installed into an empty project, then the
// installed `policy-replay` runs --help and replays a recording. Catches a file the tarball
// leaves out, a dependency declared only as a devDependency, a bin that only works in the repo.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");
const work = mkdtempSync(join(tmpdir(), "policy-replay-pack-"));
const app = join(work, "app");
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Packed {
  filename: string;
  files: { path: string }[];
}

let packed: Packed;

beforeAll(async () => {
  // dist/ is already built by the global setup: --ignore-scripts skips `prepare`'s rebuild.
  const { stdout } = await run(
    "npm",
    ["pack", "--ignore-scripts", "--json", "--pack-destination", work],
    { cwd: root },
  );
  packed = (JSON.parse(stdout) as Packed[])[0]!;
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
  // From npm's cache where it holds the packages (a fresh `npm ci` fills it with tarballs but
  // not the registry's metadata, which resolving a tarball's ranges needs), and install scripts
  // skipped, so better-sqlite3 is not compiled again (minutes on a small machine); its addon is
  // taken from this checkout's install, the same version by the lockfile.
  await run(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      join(work, packed.filename),
    ],
    { cwd: app },
  );
  const addon = "node_modules/better-sqlite3/build/Release/better_sqlite3.node";
  mkdirSync(join(app, addon, ".."), { recursive: true });
  copyFileSync(join(root, addon), join(app, addon));
}, 240_000);

describe("the packed package", () => {
  it("holds what a user needs and nothing the user cannot use", () => {
    const paths = packed.files.map((f) => f.path);
    for (const needed of [
      "LICENSE",
      "README.md",
      "package.json",
      "bin/policy-replay.js",
      "schema/policy.schema.json",
      "dist/src/cli/cli.bundle.cjs",
      "dist/src/cli/tui-main.bundle.cjs",
      "dist/src/tui/tui.bundle.cjs",
    ]) {
      expect(paths).toContain(needed);
    }
    // Source maps point at src/, which is not shipped; the UI's code cache only fits the Node
    // version that built it (any other rejects it and compiles afresh).
    expect(paths.filter((p) => p.endsWith(".map") || p.endsWith(".cache"))).toEqual([]);
    expect(paths.filter((p) => /^(test|bench|scripts|src|fixtures|recordings)\//.test(p))).toEqual(
      [],
    );
  });

  it("installed into an empty project, runs --help", async () => {
    const bin = join(app, "node_modules/.bin/policy-replay");
    expect(existsSync(bin)).toBe(true);
    const { stdout } = await run(bin, ["--help"], { cwd: app });
    expect(stdout).toMatch(/^Usage: policy-replay/m);
  }, 60_000);

  it("installed into an empty project, replays a recording", async () => {
    copyFileSync(join(root, "recordings/demo.sqlite"), join(app, "demo.sqlite"));
    const policy = join(root, "fixtures/policies/fleet.json");
    const bin = join(app, "node_modules/.bin/policy-replay");
    const { stdout } = await run(bin, ["--db", "demo.sqlite", "--policy", policy, "--no-save"], {
      cwd: app,
    });
    expect(stdout).toContain("60 calls in 3 sessions replayed. No decision changed.");
  }, 60_000);
});

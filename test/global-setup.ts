import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";

/** What the build reads: a change to any of these makes dist/ stale. */
const SOURCES = ["src", "bench", "scripts", "tsconfig.json", "tsconfig.build.json", "package.json"];
/** What the build writes last in each step; the oldest of them is when dist/ was built. */
const OUTPUTS = [
  "dist/src/cli/main.js",
  "dist/src/tui/tui.bundle.cjs",
  "dist/src/cli/cli.bundle.cjs",
  "dist/src/cli/tui-main.bundle.cjs",
];

/** The newest modification time under `path` (0 when it does not exist). */
function newest(path: string): number {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let most = st.mtimeMs;
  for (const entry of readdirSync(path)) most = Math.max(most, newest(join(path, entry)));
  return most;
}

/** Whether dist/ and its bundles are missing or older than a source they are built from. */
export function isStale(root: string): boolean {
  const built = Math.min(...OUTPUTS.map((o) => newest(join(root, o)) || -Infinity));
  return SOURCES.some((s) => newest(join(root, s)) > built);
}

/**
 * Build dist/ and its bundles when a source changed since the last build, so the tests that
 * spawn the real launcher (bin/policy-replay.js imports dist/) never run a stale build, and a
 * run on a built checkout starts at once. Afterwards, check that no test wrote into the
 * committed demo recording (replays save runs into what they read).
 */
export default function setup(): () => void {
  const root = join(import.meta.dirname, "..");
  const demo = join(root, "recordings/demo.sqlite");
  const digest = (): string => createHash("sha256").update(readFileSync(demo)).digest("hex");
  const before = digest();
  // Every temporary file of the run (tests and the processes they start) goes under one folder,
  // removed at the end, so no run leaves policy-replay-* folders in the system's temp directory.
  const tmp = mkdtempSync(join(tmpdir(), "policy-replay-test-"));
  // Searchable by others, as the system's temp directory is: a test runs the CLI as nobody.
  chmodSync(tmp, 0o755);
  process.env.TMPDIR = tmp;
  if (isStale(root)) {
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
      cwd: root,
      stdio: "inherit",
    });
    // And the bundles, as `npm run build` makes them: the terminal UI's (scripts/bundle-tui.ts),
    // then the command line's, which the launcher loads (scripts/bundle-cli.ts).
    for (const script of ["dist/scripts/bundle-tui.js", "dist/scripts/bundle-cli.js"])
      execFileSync(process.execPath, [script], { cwd: root, stdio: "inherit" });
  }
  return () => {
    rmSync(tmp, { recursive: true, force: true });
    if (digest() !== before) {
      throw new Error(`a test modified ${demo}: copy it to a temporary directory first`);
    }
  };
}

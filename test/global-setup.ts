import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/**
 * Build dist/ and its bundles from the current sources once per test run, so the tests that spawn the real
 * launcher (bin/policy-replay.js imports dist/) never run a stale build. Afterwards, check that
 * no test wrote into the committed demo recording (replays save runs into what they read).
 */
export default function setup(): () => void {
  const root = join(import.meta.dirname, "..");
  const demo = join(root, "recordings/demo.sqlite");
  const digest = (): string => createHash("sha256").update(readFileSync(demo)).digest("hex");
  const before = digest();
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
    cwd: root,
    stdio: "inherit",
  });
  // And the bundles, as `npm run build` makes them: the terminal UI's (scripts/bundle-tui.ts),
  // then the command line's, which the launcher loads (scripts/bundle-cli.ts).
  for (const script of ["dist/scripts/bundle-tui.js", "dist/scripts/bundle-cli.js"])
    execFileSync(process.execPath, [script], { cwd: root, stdio: "inherit" });
  return () => {
    if (digest() !== before) {
      throw new Error(`a test modified ${demo}: copy it to a temporary directory first`);
    }
  };
}

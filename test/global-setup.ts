import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";

/**
 * Build dist/ from the current sources once per test run, so the tests that spawn the real
 * launcher (bin/policy-replay.js imports dist/) never run a stale build.
 */
export default function setup(): void {
  const root = join(import.meta.dirname, "..");
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
    cwd: root,
    stdio: "inherit",
  });
  // And the terminal UI's bundle, as `npm run build` makes it (see scripts/bundle-tui.ts).
  execFileSync(process.execPath, ["dist/scripts/bundle-tui.js"], { cwd: root, stdio: "inherit" });
}

import type { BuildOptions } from "esbuild";

/** What both bundles (bundle-tui.ts, bundle-cli.ts) are: one CommonJS file for Node 20. */
export const NODE_BUNDLE: BuildOptions = {
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  // ESM builds where packages have them: jsonc-parser's UMD build hides its requires.
  mainFields: ["module", "main"],
  legalComments: "none",
  // A native addon, found from the bundle's own folder as from the modules'.
  external: ["better-sqlite3"],
};

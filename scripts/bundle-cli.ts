// Run by `npm run build` after tsc and bundle-tui: bundles the command line (dist/src/cli/main.js
// with its own modules, commander, zod and the rest) into one CommonJS file,
// dist/src/cli/cli.bundle.cjs, which bin/policy-replay.js loads with require() when it is
// newer than the modules. Loading the CLI module by module is about 150 files to resolve and
// compile before the first call is replayed: 0.1 s of the 2 s a million-call replay may take,
// and of every small replay a CI job runs.
//
// Loaded by require(), not compiled from a code cache as the terminal UI's bundle is: a script
// compiled through node:vm cannot import() on Node 20 without a flag, and the CLI imports the
// UI's modules when the UI's bundle is missing (tui-command.ts); the cache would save another
// 30 ms or so (measured).
import { join } from "node:path";
import { build, type BuildOptions, type Plugin } from "esbuild";
import { NODE_BUNDLE } from "./bundle-options.js";

const root = join(import.meta.dirname, "../..");
const BUNDLE = join(root, "dist/src/cli/cli.bundle.cjs");
// Plain `tui [--db FILE]` alone (src/cli/tui-main.ts): what a person waiting on the UI loads.
const TUI_BUNDLE = join(root, "dist/src/cli/tui-main.bundle.cjs");

// The UI's modules stay out (and the Redis client, see below): the UI has a bundle of its own (bundle-tui.ts); these are only its
// fallback, imported as they are (the bundle sits beside main.js, so the path still holds).
const uiOutside: Plugin = {
  name: "ui-outside",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/tui\/run\.js$/ }, (a) => ({ path: a.path, external: true }));
    // Redis's client is needed only by `record --counters`: required from node_modules then.
    b.onResolve({ filter: /^ioredis$/ }, (a) => ({ path: a.path, external: true }));
    // fast-check searches runs of calls for `compare` alone: required from node_modules then.
    b.onResolve({ filter: /^fast-check$/ }, (a) => ({ path: a.path, external: true }));
  },
};

const options: BuildOptions = {
  ...NODE_BUNDLE,
  // Whitespace and syntax only: a bug's stack trace (exit 70) keeps the functions' names.
  minifyWhitespace: true,
  minifySyntax: true,
  // import.meta does not exist in CommonJS: the modules use its url to find files beside them
  // (the UI's bundle) and better-sqlite3 for their threads, both as seen from dist/src/cli/.
  define: { "import.meta.url": "__bundleUrl" },
  banner: { js: 'var __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [uiOutside],
  logLevel: "warning",
};
await build({ ...options, entryPoints: [join(root, "dist/src/cli/main.js")], outfile: BUNDLE });
await build({
  ...options,
  entryPoints: [join(root, "dist/src/cli/tui-main.js")],
  outfile: TUI_BUNDLE,
});

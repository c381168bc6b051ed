// Run by `npm run build` after tsc: bundles the terminal UI (dist/src/tui/run.js with React,
// Ink and the rest) into one file, dist/src/tui/tui.bundle.js. Loading Ink module by module
// is hundreds of files (its lodash-style helpers alone are 415) and React's CommonJS parsed
// for exports: about four times slower than one pre-linked file, and the UI must draw its
// first screen within 300 ms. `policy-replay tui` falls back to the unbundled modules when the
// bundle is missing or older than them.
import { join } from "node:path";
import { build } from "esbuild";

const root = join(import.meta.dirname, "../..");
// Next to the module it bundles; src/cli/tui-command.ts looks for it there.
const BUNDLE = join(root, "dist/src/tui/tui.bundle.js");

await build({
  entryPoints: [join(root, "dist/src/tui/run.js")],
  outfile: BUNDLE,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // ESM builds where packages have them: jsonc-parser's UMD build hides its requires.
  mainFields: ["module", "main"],
  minify: true,
  legalComments: "none",
  // React's production build: smaller, faster, and without development warnings.
  define: { "process.env.NODE_ENV": '"production"' },
  external: ["better-sqlite3"],
  // Bundled CommonJS asks for Node's built-ins through require, which an ES module lacks.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  plugins: [
    {
      // Ink loads React DevTools only when DEV=true; they are not installed, so leave them out.
      name: "no-devtools",
      setup(b) {
        b.onResolve({ filter: /^(react-devtools-core|ws)$/ }, (a) => ({
          path: a.path,
          namespace: "no-devtools",
        }));
        b.onLoad({ filter: /.*/, namespace: "no-devtools" }, () => ({
          contents: "export default {};",
        }));
      },
    },
  ],
  logLevel: "warning",
});

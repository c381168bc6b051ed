#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install` through `prepare`).
// The build also bundles it into one file (scripts/bundle-cli.ts), which loads about 0.1 s
// sooner; the modules themselves when the bundle is missing or older than them (tsc ran since).
// Plain `tui` has a bundle of its own, loading in half the time: a person waits on its screen.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { isFresh } from "../dist/src/cli/fresh.js";

const require = createRequire(import.meta.url);
/** dist/src/cli/<bundle> if it is fresh, else the module it was made from. */
const load = async (bundleName, moduleName) => {
  const bundle = fileURLToPath(new URL(`../dist/src/cli/${bundleName}`, import.meta.url));
  const modules = new URL(`../dist/src/cli/${moduleName}`, import.meta.url);
  return isFresh(bundle, fileURLToPath(modules)) ? require(bundle) : await import(modules.href);
};

// A reader that stops early (`policy-replay ... | head`) closes the pipe: that is not an error
// worth a stack trace. Leave quietly with the exit code the run earned.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const argv = process.argv.slice(2);
// null: not plain `tui [--db FILE]` after all (--help, a typo): the whole command line's.
const tui =
  argv[0] === "tui"
    ? await (await load("tui-main.bundle.cjs", "tui-main.js")).runPlainTui(argv)
    : null;
process.exitCode = tui ?? (await (await load("cli.bundle.cjs", "main.js")).run(argv));

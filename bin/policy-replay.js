#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install` through `prepare`).
// The build also bundles it into one file (scripts/bundle-cli.ts), which loads about 0.1 s
// sooner; the modules themselves when the bundle is missing or older than them (tsc ran since).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { isFresh } from "../dist/src/cli/fresh.js";

const bundle = fileURLToPath(new URL("../dist/src/cli/cli.bundle.cjs", import.meta.url));
const modules = new URL("../dist/src/cli/main.js", import.meta.url);
const { run } = isFresh(bundle, fileURLToPath(modules))
  ? createRequire(import.meta.url)(bundle)
  : await import(modules.href);

// A reader that stops early (`policy-replay ... | head`) closes the pipe: that is not an error
// worth a stack trace. Leave quietly with the exit code the run earned.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await run(process.argv.slice(2));

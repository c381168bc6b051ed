#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install` through `prepare`).
import { run } from "../dist/src/cli/main.js";

// A reader that stops early (`policy-replay ... | head`) closes the pipe: that is not an error
// worth a stack trace. Leave quietly with the exit code the run earned.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await run(process.argv.slice(2));

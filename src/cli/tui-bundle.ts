import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { Script } from "node:vm";
import type { drawOnce as DrawOnce, runTui as RunTui } from "../tui/run.js";

/** What the UI bundle (scripts/bundle-tui.ts) exports. */
export interface UiBundle {
  runTui: typeof RunTui;
  drawOnce: typeof DrawOnce;
  /** Yoga's WebAssembly, compiling off the main thread: await it before drawing. */
  yogaReady: Promise<void>;
}

/** Where the build keeps V8's compiled code for a bundle: beside it. */
export function codeCacheFile(bundle: string): string {
  return `${bundle}.cache`;
}

/**
 * Load the UI bundle, a CommonJS file, compiled with the code cache the build made for it
 * when there is one that this Node accepts (V8 checks its version, flags and the source, and
 * compiles afresh otherwise). Returns the bundle's exports and the script, to make a cache of.
 */
export function loadUiBundle(bundle: string): { ui: UiBundle; script: Script } {
  const source = readFileSync(bundle, "utf8");
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(codeCacheFile(bundle));
  } catch {
    // No cache (a build that could not make one): compile as usual.
  }
  // Node's own CommonJS wrapper, so the bundle runs as `require` would run it.
  const script = new Script(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    { filename: bundle, ...(cachedData ? { cachedData } : {}) },
  );
  const module = { exports: {} as UiBundle };
  const run = script.runInThisContext() as (
    exports: UiBundle,
    require: NodeJS.Require,
    module: { exports: UiBundle },
    filename: string,
    dirname: string,
  ) => void;
  run(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  return { ui: module.exports, script };
}

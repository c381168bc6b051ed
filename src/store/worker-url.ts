// The store's threads run from their compiled files in dist/src/store/. This module is there
// too, or inside the CLI's bundle in dist/src/cli/ (whose import.meta.url is the bundle's), so
// "../store/" is that folder from either. Under the test runner it runs from src/store/*.ts:
// the workers are then the build's (test/global-setup.ts builds dist/ first).

/** The URL of the compiled worker `name` (e.g. "read.worker"). Not at load: see above. */
export function workerUrl(name: string): URL {
  const here = import.meta.url;
  const dir = here.endsWith(".ts") ? "../../dist/src/store/" : "../store/";
  return new URL(`${dir}${name}.js`, here);
}

// Run by `npm run build` after tsc: bundles the terminal UI (dist/src/tui/run.js with React,
// Ink and the rest) into one CommonJS file, dist/src/tui/tui.bundle.cjs, and saves V8's
// compiled code for it beside it (tui.bundle.cjs.cache). The UI must draw its first screen
// within 250 ms of start, and loading Ink module by module is hundreds of files (its
// lodash-style helpers alone are 415) and React's CommonJS parsed for exports: about four
// times slower than one pre-linked file. CommonJS, not an ES module, because only a script
// can be compiled from a code cache on Node 20 (vm.Script's cachedData). `policy-replay tui`
// (src/cli/tui-command.ts) falls back to the unbundled modules when the bundle is missing or
// older than them.
import { readFile } from "node:fs/promises";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build, type Plugin } from "esbuild";
import stringWidth from "string-width";
import { codeCacheFile, loadUiBundle } from "../src/cli/tui-bundle.js";
import { openBrowser } from "../src/store/browse.js";
import { NODE_BUNDLE } from "./bundle-options.js";

const root = join(import.meta.dirname, "../..");
// Next to the module it bundles; src/cli/tui-command.ts looks for it there.
const BUNDLE = join(root, "dist/src/tui/tui.bundle.cjs");

/** Replace `from` with `to` in a dependency's source, or fail the build if it is not there. */
function patch(file: string, text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`${file}: expected to find ${JSON.stringify(from)}`);
  return text.replace(from, to);
}

// Yoga ships as an ES module that waits for its WebAssembly at the top level, which a script
// cannot do. Its entry is replaced by one that exports `yogaReady` instead, awaited by
// tui-command before anything is drawn (Ink reaches for Yoga only when it renders). And its
// Emscripten loader reads the embedded WebAssembly through fetch() on a data: URL unless it is
// handed the bytes; merely looking at `fetch` on Node 20 loads undici, about 30 ms on the main
// thread. So the loader also exports its base64 text, decoded here with Buffer.
// The WebAssembly magic number, "\0asm", in base64: where the embedded bytes begin.
const DATA_URI = '"data:application/octet-stream;base64,AGFzbQ';
const yogaAsScript: Plugin = {
  name: "yoga-as-script",
  setup(b) {
    b.onLoad(
      { filter: /yoga-layout[\\/]dist[\\/]binaries[\\/]yoga-wasm-base64-esm\.js$/ },
      async (a) => {
        const text = await readFile(a.path, "utf8");
        const start = text.indexOf(DATA_URI);
        const end = text.indexOf('"', start + DATA_URI.length);
        if (start < 0 || end < 0) throw new Error(`${a.path}: no embedded WebAssembly found`);
        const base64 = text.slice(start + DATA_URI.length - "AGFzbQ".length, end);
        const loader = patch(a.path, text, "import.meta.url", "undefined");
        const at = loader.indexOf(DATA_URI);
        return {
          contents:
            `export const yogaWasmBase64 = "${base64}";\n` +
            loader.slice(0, at) +
            `"data:application/octet-stream;base64," + yogaWasmBase64` +
            loader.slice(loader.indexOf('"', at + DATA_URI.length) + 1),
          loader: "js",
        };
      },
    );
    b.onLoad({ filter: /yoga-layout[\\/]dist[\\/]src[\\/]index\.js$/ }, () => ({
      contents: [
        'import loadYoga, { yogaWasmBase64 } from "../binaries/yoga-wasm-base64-esm.js";',
        'import wrapAssembly from "./wrapAssembly.js";',
        "let Yoga;",
        'const wasmBinary = Buffer.from(yogaWasmBase64, "base64");',
        "export const yogaReady = loadYoga({ wasmBinary }).then((m) => {",
        "  Yoga = wrapAssembly(m);",
        "});",
        "export { Yoga as default };",
        'export * from "./generated/YGEnums.js";',
      ].join("\n"),
      loader: "js",
      resolveDir: join(root, "node_modules/yoga-layout/dist/src"),
    }));
  },
};

// Ink's reconciler awaits two things at the top level, both only when DEV=true (React
// DevTools, and its package.json for them): never here, and a script cannot await.
const inkWithoutDevtools: Plugin = {
  name: "ink-without-devtools",
  setup(b) {
    b.onLoad({ filter: /ink[\\/]build[\\/]reconciler\.js$/ }, async (a) => {
      let text = await readFile(a.path, "utf8");
      text = patch(a.path, text, "await import('./devtools.js');", "void 0;");
      text = patch(a.path, text, "? await loadPackageJson()", "? {}");
      return { contents: text, loader: "js" };
    });
  },
};

// string-width answers plain ASCII at once and segments anything else into graphemes, testing
// each against emoji regular expressions; the first such string costs ~25 ms while V8 compiles
// those expressions, and the UI's symbols (› · … ↑↓ ⏎ ✓ ✗) reach it on the first frame. So its
// fast path is widened to every character below U+3000 that string-width itself measures as
// one column and that never joins a neighbour into one grapheme: a string of only those is as
// wide as it is long, the same answer, sooner.
function narrowClass(): string {
  const segments = new Intl.Segmenter();
  const alone = (s: string) => [...segments.segment(s)].length === 2;
  const ranges: [number, number][] = [];
  for (let cp = 0x20; cp < 0x3000; cp++) {
    if (cp >= 0x7f && cp < 0xa0) continue;
    const ch = String.fromCodePoint(cp);
    if (/[\p{M}\p{C}]/u.test(ch) || stringWidth(ch) !== 1 || !alone(`a${ch}`) || !alone(`${ch}a`))
      continue;
    const last = ranges[ranges.length - 1];
    if (last && last[1] === cp - 1) last[1] = cp;
    else ranges.push([cp, cp]);
  }
  const u = (cp: number) => `\\u${cp.toString(16).padStart(4, "0")}`;
  return ranges.map(([a, b]) => (a === b ? u(a) : `${u(a)}-${u(b)}`)).join("");
}
const FAST_PATH = "/^[\\u0020-\\u007E]*$/";
const stringWidthFastPath: Plugin = {
  name: "string-width-fast-path",
  setup(b) {
    const cls = narrowClass();
    b.onLoad({ filter: /[\\/]node_modules[\\/]string-width[\\/]index\.js$/ }, async (a) => {
      const text = await readFile(a.path, "utf8");
      // Only the version with the fast path (Ink's); wrap-ansi's older copy is left as it is.
      if (!text.includes(FAST_PATH)) return undefined;
      return { contents: text.replace(FAST_PATH, `/^[${cls}]*$/`), loader: "js" };
    });
  },
};

rmSync(codeCacheFile(BUNDLE), { force: true });
await build({
  stdin: {
    contents: [
      // Yoga first: its WebAssembly compiles on another thread while the rest is evaluated.
      'export { yogaReady } from "yoga-layout";',
      'export { drawOnce, runTui } from "./dist/src/tui/run.js";',
    ].join("\n"),
    resolveDir: root,
    sourcefile: "tui-entry.js",
    loader: "js",
  },
  outfile: BUNDLE,
  ...NODE_BUNDLE,
  minify: true,
  // React's production build: smaller, faster, and without development warnings.
  define: { "process.env.NODE_ENV": '"production"' },
  plugins: [yogaAsScript, inkWithoutDevtools, stringWidthFastPath],
  logLevel: "warning",
});

// The code cache: compile and run the bundle as `policy-replay tui` will, draw the demo
// recording's opening screen (read only), and keep what V8 compiled by then. Made by the Node
// that will run it; another Node (or other V8 flags) rejects it and compiles as usual.
const { ui, script } = loadUiBundle(BUNDLE);
await ui.yogaReady;
const demo = join(root, "recordings/demo.sqlite");
if (existsSync(demo)) {
  const browser = openBrowser(demo);
  try {
    ui.drawOnce(browser);
  } finally {
    browser.close();
  }
}
writeFileSync(codeCacheFile(BUNDLE), script.createCachedData());

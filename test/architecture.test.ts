// The shape of src/, kept by a test: imports only point down the layers, there is no import
// cycle, no file grows past what a newcomer can hold in their head, and no worker is code in a
// string.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const src = resolve(import.meta.dirname, "../src");

/** Each part may import only parts of a lower rank (and itself). */
const RANK: Record<string, number> = {
  policy: 0,
  engine: 1,
  store: 2,
  proxy: 3,
  replay: 3,
  check: 3,
  tui: 4,
  cli: 5,
};
/** About 600 lines, with room for a long comment. */
const MAX_LINES = 650;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : /\.tsx?$/.test(p) ? [p] : [];
  });
}

const files = sources(src);
const known = new Set(files);
/** Relative imports of each file, resolved to source files (type imports included). */
const graph = new Map(
  files.map((f) => {
    const text = readFileSync(f, "utf8");
    const deps: string[] = [];
    for (const m of text.matchAll(/(?:import|export)[^'";]*?from\s+["'](\.[^"']+)["']/g)) {
      const base = resolve(dirname(f), m[1]!).replace(/\.js$/, "");
      const hit = [".ts", ".tsx"].map((ext) => base + ext).find((p) => known.has(p));
      if (hit) deps.push(hit);
    }
    return [f, deps] as const;
  }),
);
const part = (f: string): string => relative(src, f).split("/")[0]!;

describe("the shape of src/", () => {
  it("imports only point down: policy, engine, store, then proxy/replay/check, tui, cli", () => {
    const up: string[] = [];
    for (const [f, deps] of graph) {
      const from = part(f);
      for (const d of deps) {
        const to = part(d);
        if (to === from || RANK[to] === undefined || RANK[from] === undefined) continue;
        if (RANK[to]! >= RANK[from]!) up.push(`${relative(src, f)} -> ${relative(src, d)}`);
      }
    }
    expect(up).toEqual([]);
  });

  it("has no import cycle", () => {
    const cycles: string[] = [];
    const state = new Map<string, 1 | 2>();
    const stack: string[] = [];
    const visit = (n: string): void => {
      state.set(n, 1);
      stack.push(n);
      for (const d of graph.get(n) ?? []) {
        if (state.get(d) === 1)
          cycles.push(
            stack
              .slice(stack.indexOf(d))
              .map((x) => relative(src, x))
              .join(" -> "),
          );
        else if (!state.has(d)) visit(d);
      }
      stack.pop();
      state.set(n, 2);
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it(`has no file over ${MAX_LINES} lines`, () => {
    const long = files
      .map((f) => [relative(src, f), readFileSync(f, "utf8").split("\n").length] as const)
      .filter(([, n]) => n > MAX_LINES);
    expect(long).toEqual([]);
  });

  it("starts no worker from code in a string", () => {
    const evals = files.filter((f) => /eval:\s*true/.test(readFileSync(f, "utf8")));
    expect(evals.map((f) => relative(src, f))).toEqual([]);
  });
});

import { compileCondition, jsonEqual, Truth } from "../../engine/conditions.js";
import type { Condition } from "../../policy/schema.js";
import { searchStrings, type StringTest } from "./strings.js";

// Arguments for a call, built from the conditions that could decide it: for each argument path,
// values that give every combination of the conditions' results some value can give (absent,
// numbers around each bound, each constant, strings found by the string search, arrays with
// and without each element), so that trying one value per combination per path tries every
// way the conditions can come out.

/** A path with no value: the key is left out of the arguments. */
export const ABSENT = Symbol("absent");
export type Value = unknown;

/** One path's values, one per combination of its conditions' results that some value gives. */
export interface PathValues {
  path: string;
  values: Value[];
  /** Every combination some value gives is among them (false: the search could not tell). */
  complete: boolean;
}

export interface ArgumentSpace {
  paths: PathValues[];
  /** Why the space may miss some arguments, when it may; empty when it is exhaustive. */
  gaps: string[];
}

const keysOf = (path: string): string[] => path.split(".").slice(1);

/** Distinct conditions by path, op and value. */
function distinct(conds: readonly Condition[]): Condition[] {
  const out: Condition[] = [];
  for (const c of conds) {
    if (!out.some((o) => o.path === c.path && o.op === c.op && jsonEqual(o.value, c.value))) {
      out.push(c);
    }
  }
  return out;
}

/** Numbers on each side of and at every bound and constant, and between each two. */
function numbers(points: number[]): number[] {
  const sorted = [...new Set(points)].sort((a, b) => a - b);
  if (sorted.length === 0) return [1];
  const out = [sorted[0]! - 1];
  sorted.forEach((p, i) => {
    out.push(p);
    const next = sorted[i + 1];
    if (next === undefined) out.push(p + 1);
    else out.push(next - p > 1 ? p + 1 : (p + next) / 2);
  });
  return out;
}

/** A string that is none of `taken`, from readable names. */
function freshString(taken: readonly unknown[]): string {
  for (let i = 0; ; i++) {
    const s = i === 0 ? "x" : `x${i}`;
    if (!taken.includes(s)) return s;
  }
}

/** Values of one path, for its conditions. */
function pathValues(path: string, conds: Condition[]): PathValues {
  const constants: unknown[] = [];
  const bounds: number[] = [];
  const tests: StringTest[] = [];
  const elements: unknown[] = [];
  for (const c of conds) {
    switch (c.op) {
      case "eq":
      case "neq":
        constants.push(c.value);
        break;
      case "in":
      case "not_in":
        constants.push(...c.value);
        break;
      case "lt":
      case "lte":
      case "gt":
      case "gte":
        bounds.push(c.value);
        break;
      case "regex":
        tests.push({ kind: "regex", pattern: c.value });
        break;
      case "contains":
        if (typeof c.value === "string") tests.push({ kind: "contains", text: c.value });
        elements.push(c.value);
        break;
      case "exists":
        break;
    }
  }
  let complete = true;
  const strings = constants.filter((v) => typeof v === "string");
  // Simple and readable values first: the first of those alike is the one an example shows.
  const values: Value[] = [ABSENT, ...constants, freshString(strings)];
  if (tests.length > 0) {
    const search = searchStrings(tests, strings.length + 1);
    if (!search.complete) complete = false;
    for (const found of search.found.values()) {
      // One that is no constant stands for the strings equal to none (the constants are tried).
      const other = found.find((s) => !strings.includes(s));
      if (other === undefined) complete = false;
      else values.push(other);
    }
  }
  values.push(
    ...numbers([...bounds, ...constants.filter((v): v is number => typeof v === "number")]),
    true,
    false,
    null,
  );
  // Arrays holding each subset of the sought elements (a few; beyond, the gaps say so).
  const el = distinct(elements.map((value) => ({ path, op: "eq", value }) as Condition)).map(
    (c) => c.value,
  );
  if (el.length <= 4) {
    for (let mask = 0; mask < 1 << el.length; mask++) {
      values.push(el.filter((_, i) => mask & (1 << i)));
    }
  } else {
    values.push([], el);
    complete = false;
  }
  values.push({});
  return { path, values: dedupeByResults(path, conds, values), complete };
}

/** One value per combination of the conditions' results, the first (simplest) one kept. */
function dedupeByResults(path: string, conds: Condition[], values: Value[]): Value[] {
  const tests = conds.map(compileCondition);
  const seen = new Set<string>();
  const out: Value[] = [];
  for (const v of values) {
    const args = buildArgs([[path, v]]);
    const key = tests.map((t) => (t(args) === Truth.True ? "1" : "0")).join("");
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(v);
  }
  return out;
}

/** Arguments with each path set to its value (ABSENT ones left out); shorter paths first. */
export function buildArgs(
  assignments: readonly (readonly [string, Value])[],
): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  const sorted = [...assignments].sort((a, b) => keysOf(a[0]).length - keysOf(b[0]).length);
  for (const [path, value] of sorted) {
    if (value === ABSENT) continue;
    const keys = keysOf(path);
    let cur: Record<string, unknown> = args;
    let ok = true;
    for (const k of keys.slice(0, -1)) {
      const next = cur[k];
      if (next === undefined) cur = cur[k] = {};
      else if (next !== null && typeof next === "object" && !Array.isArray(next)) {
        cur = next as Record<string, unknown>;
      } else {
        ok = false;
        break;
      }
    }
    if (ok) cur[keys[keys.length - 1]!] = structuredClone(value);
  }
  return args;
}

/** The argument space of the conditions of the rules that may decide a call. */
export function argumentSpace(conds: readonly Condition[]): ArgumentSpace {
  const byPath = new Map<string, Condition[]>();
  for (const c of distinct(conds)) {
    const list = byPath.get(c.path);
    if (list) list.push(c);
    else byPath.set(c.path, [c]);
  }
  const paths = [...byPath.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([p, cs]) => pathValues(p, cs));
  const gaps: string[] = [];
  for (const p of paths) {
    if (!p.complete) gaps.push(`the values of ${p.path} were searched, not exhausted`);
  }
  const names = [...byPath.keys()];
  for (const a of names) {
    for (const b of names) {
      if (a !== b && b.startsWith(a + ".")) {
        gaps.push(`${a} and ${b} are nested, and were searched as if independent`);
      }
    }
  }
  return { paths, gaps };
}

/** Past this many argument combinations the search stops, and says so. */
export const MAX_COMBINATIONS = 50_000;

/**
 * The first arguments (in an order that tries absent and simple values first) for which `want`
 * holds; null when none of the space's combinations does. `exhausted` is false when the space
 * had more combinations than were tried.
 */
export function findArguments(
  space: ArgumentSpace,
  want: (args: Record<string, unknown>) => boolean,
): { args: Record<string, unknown> | null; exhausted: boolean } {
  const { paths } = space;
  const total = paths.reduce((n, p) => n * p.values.length, 1);
  const limit = Math.min(total, MAX_COMBINATIONS);
  for (let i = 0; i < limit; i++) {
    let rest = i;
    const assignments: [string, Value][] = [];
    for (const p of paths) {
      assignments.push([p.path, p.values[rest % p.values.length]]);
      rest = Math.floor(rest / p.values.length);
    }
    const args = buildArgs(assignments);
    if (want(args)) return { args, exhausted: true };
  }
  return { args: null, exhausted: total <= MAX_COMBINATIONS };
}

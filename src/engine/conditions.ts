import { compilePattern } from "../policy/regex.js";
import type { Condition } from "../policy/schema.js";

/**
 * A recorded argument value that is not held in clear: redacted to a keyed hash, or cut for
 * size. Recordings and traces write it as an object with the single key `$redacted` or
 * `$truncated`.
 */
export function isOpaque(value: unknown): boolean {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === "$redacted" || keys[0] === "$truncated");
}

/** Result of testing one condition: it holds, it does not, or it cannot be known exactly. */
export const Truth = {
  False: 0,
  True: 1,
  /** The path reached an opaque value; counted as not holding, and the decision is inexact. */
  Unknown: 2,
} as const;
export type Truth = (typeof Truth)[keyof typeof Truth];

export type CompiledCondition = (args: unknown) => Truth;

const ABSENT = Symbol("absent");
/** The path runs through an opaque value: whether it is even present is unknown. */
const OPAQUE = Symbol("opaque");
/** The path ends on an opaque value: present, but its content is unknown. */
const OPAQUE_LEAF = Symbol("opaque leaf");

function resolve(args: unknown, keys: readonly string[]): unknown {
  let cur = args;
  for (const key of keys) {
    if (isOpaque(cur)) return OPAQUE;
    if (cur === null || typeof cur !== "object") return ABSENT;
    if (Array.isArray(cur)) {
      // Dotted paths may index arrays (`args.tags.0`), as a JSON path would.
      if (!/^(0|[1-9][0-9]*)$/.test(key)) return ABSENT;
      const i = Number(key);
      if (i >= cur.length) return ABSENT;
      cur = cur[i];
    } else {
      if (!Object.hasOwn(cur, key)) return ABSENT;
      cur = (cur as Record<string, unknown>)[key];
    }
  }
  return isOpaque(cur) ? OPAQUE_LEAF : cur;
}

/** JSON equality: same type and value; objects compare by keys regardless of order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  for (const k of ak) {
    if (!Object.hasOwn(b, k)) return false;
    if (!jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
      return false;
  }
  return true;
}

const t = (b: boolean): Truth => (b ? Truth.True : Truth.False);

/** Compile one condition (SPEC section 1.1) into a test of a call's arguments. */
export function compileCondition(cond: Condition): CompiledCondition {
  const keys = cond.path.split(".").slice(1);
  const test = compileTest(cond);
  return (args) => {
    const v = resolve(args, keys);
    if (v === OPAQUE) return Truth.Unknown;
    // An opaque value is still a present one: `exists` needs no more than that.
    if (v === OPAQUE_LEAF) return cond.op === "exists" ? t(cond.value === true) : Truth.Unknown;
    if (v === ABSENT) return cond.op === "exists" ? t(cond.value === false) : Truth.False;
    return t(test(v));
  };
}

function compileTest(cond: Condition): (v: unknown) => boolean {
  switch (cond.op) {
    case "eq": {
      const want = cond.value;
      return (v) => jsonEqual(v, want);
    }
    case "neq": {
      const want = cond.value;
      return (v) => !jsonEqual(v, want);
    }
    case "in": {
      const list = cond.value;
      return (v) => list.some((x) => jsonEqual(v, x));
    }
    case "not_in": {
      const list = cond.value;
      return (v) => !list.some((x) => jsonEqual(v, x));
    }
    case "lt": {
      const n = cond.value;
      return (v) => typeof v === "number" && v < n;
    }
    case "lte": {
      const n = cond.value;
      return (v) => typeof v === "number" && v <= n;
    }
    case "gt": {
      const n = cond.value;
      return (v) => typeof v === "number" && v > n;
    }
    case "gte": {
      const n = cond.value;
      return (v) => typeof v === "number" && v >= n;
    }
    case "regex": {
      // Linear in the argument's length whatever the pattern (SPEC section 1.1).
      const test = compilePattern(cond.value);
      return (v) => typeof v === "string" && test(v);
    }
    case "contains": {
      const want = cond.value;
      return (v) => {
        if (typeof v === "string") return typeof want === "string" && v.includes(want);
        if (Array.isArray(v)) return v.some((x) => jsonEqual(x, want));
        return false;
      };
    }
    case "exists": {
      // The path is present here; absent paths are handled by the caller.
      const want = cond.value === true;
      return () => want;
    }
  }
}

import { isUtf8 } from "node:buffer";

// Limits on hostile input files (policies, traces, accept lists), checked by linear scans before
// anything recursive reads them: a 200,000-deep `[[[[...` must give a one-line error, not a
// stack overflow, and invalid UTF-8 must not be silently replaced.

/**
 * Deepest nesting of arrays and objects accepted in a policy file and in each line of a trace
 * (the top-level object counts as 1). Every recursive walk of such a value (validation, the
 * locator, JSON equality) stays far within the stack below it.
 */
export const MAX_NESTING = 256;

/**
 * The offset of the `[` or `{` that opens level `max + 1` of JSON text, or -1. Strings are
 * skipped whole, so brackets inside them do not count; text that is not JSON still scans.
 */
export function nestingOverflow(text: string, max = MAX_NESTING): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) i++;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return -1;
}

/** True when a parsed JSON value nests arrays and objects deeper than `max` (the value is 1). */
export function deeperThan(value: unknown, max = MAX_NESTING): boolean {
  const walk = (v: unknown, depth: number): boolean => {
    if (v === null || typeof v !== "object") return false;
    if (depth > max) return true;
    if (Array.isArray(v)) {
      for (const x of v) if (walk(x, depth + 1)) return true;
    } else {
      for (const k in v) if (walk((v as Record<string, unknown>)[k], depth + 1)) return true;
    }
    return false;
  };
  return walk(value, 1);
}

/** The message for nesting past MAX_NESTING, the same for every kind of file. */
export const NESTING_MESSAGE = `arrays and objects nested deeper than ${MAX_NESTING} levels`;

/** Offset of the first byte that is not part of valid UTF-8 in `bytes`, or -1. */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1;
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b < 0x80) need = 0;
    else if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      // No overlong forms, no surrogates.
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const x = bytes[i + k];
      if (x === undefined) return i;
      if (k === 1 ? x < lo || x > hi : x < 0x80 || x > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

/**
 * The 1-based line and column of byte `offset` in UTF-8 `bytes` whose prefix up to `offset`
 * is valid: columns count UTF-16 units, as the other messages' columns do.
 */
export function utf8Position(bytes: Buffer, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = bytes.indexOf(10); i >= 0 && i < offset; i = bytes.indexOf(10, i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: bytes.toString("utf8", start, offset).length + 1 };
}

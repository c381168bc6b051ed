import { RE2JS } from "re2js";

// Policy `regex` patterns (SPEC section 1.1): the common subset of ECMAScript and RE2 syntax,
// with ECMAScript's meaning (as with the `u` flag: one code point at a time), matched in time
// linear in the argument's length. The parser here accepts only that subset, says where and
// why it rejects anything else, and rewrites each accepted pattern into explicit RE2 syntax so
// that the linear-time matcher cannot read it another way (`.` and `\s` differ between them).

/** Why a pattern is rejected, and where: `position` counts characters (code points) from 1. */
export interface PatternFault {
  position: number;
  reason: string;
}

/** Deepest nesting of groups accepted; the parser recurses once per level. */
export const MAX_GROUP_DEPTH = 100;
/** Largest count in `{n}`, `{n,}` or `{n,m}` (RE2's own limit). */
export const MAX_REPEAT = 1000;

/** ECMAScript's WhiteSpace and LineTerminator code points, which `\s` matches. */
const JS_SPACE: readonly [number, number][] = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];
const DIGIT: readonly [number, number][] = [[0x30, 0x39]];
const WORD: readonly [number, number][] = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
/** What `.` matches: anything but ECMAScript's line terminators. */
const DOT = complement([
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
]);

/** Characters that an escape may make literal, outside and inside `[...]`. */
const SYNTAX = "^$\\.*+?()[]{}|/";

function complement(ranges: readonly (readonly [number, number])[]): [number, number][] {
  const out: [number, number][] = [];
  let next = 0;
  for (const [lo, hi] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}

const hex = (cp: number): string => `\\x{${cp.toString(16)}}`;
const literal = (cp: number): string =>
  (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a)
    ? String.fromCodePoint(cp)
    : hex(cp);
const classOf = (ranges: readonly (readonly [number, number])[], negated = false): string =>
  `[${negated ? "^" : ""}${ranges.map(([lo, hi]) => (lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`)).join("")}]`;

/**
 * A parsed piece: its RE2 rendering, and what a backtracking matcher could spend on it from one
 * start position: `paths` ways through, each at most `len` steps, counting each unbounded
 * repeat of one character (`[0-9]+`) as one step and `loops` of them; Infinity when an
 * unbounded repeat covers more than one character.
 */
interface Frag {
  re2: string;
  paths: number;
  len: number;
  loops: number;
  /** Matches exactly one character (a literal, `.`, a class). */
  single?: boolean;
  /** An assertion (`^`, `$`, `\b`, `\B`): matches no character and cannot be repeated. */
  assertion?: boolean;
  /** Every way through starts with `^`. */
  anchored?: boolean;
}

class Reject extends Error {
  constructor(
    readonly position: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

class Parser {
  private i = 0;
  private depth = 0;
  /** The pattern has a \B: see parse(). */
  nonBoundary = false;
  constructor(private readonly cps: readonly number[]) {}

  private peek(k = 0): number | undefined {
    return this.cps[this.i + k];
  }
  private fail(reason: string, at = this.i): never {
    throw new Reject(at + 1, reason);
  }

  parse(): Frag {
    const f = this.alternation();
    if (this.i < this.cps.length) this.fail("unmatched )");
    return f;
  }

  private alternation(): Frag {
    const alts = [this.sequence()];
    while (this.peek() === 0x7c /* | */) {
      this.i++;
      alts.push(this.sequence());
    }
    if (alts.length === 1) return alts[0]!;
    return {
      re2: alts.map((a) => a.re2).join("|"),
      paths: alts.reduce((n, a) => n + a.paths, 0),
      len: Math.max(...alts.map((a) => a.len)),
      loops: alts.reduce((n, a) => n + a.loops, 0),
      anchored: alts.every((a) => a.anchored),
    };
  }

  private sequence(): Frag {
    let re2 = "";
    let paths = 1;
    let len = 0;
    let loops = 0;
    let anchored: boolean | undefined;
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === 0x7c || c === 0x29 /* ) */) break;
      let f = this.atom();
      f = this.quantified(f);
      re2 += f.re2;
      paths *= f.paths;
      len += f.len;
      loops += f.loops;
      anchored ??= f.anchored ?? (f.re2 === "^" && f.assertion);
    }
    return { re2, paths, len, loops, anchored };
  }

  private quantified(f: Frag): Frag {
    const at = this.i;
    const c = this.peek();
    let min: number;
    let max: number;
    if (c === 0x2a /* * */) [min, max] = [0, Infinity];
    else if (c === 0x2b /* + */) [min, max] = [1, Infinity];
    else if (c === 0x3f /* ? */) [min, max] = [0, 1];
    else if (c === 0x7b /* { */) [min, max] = this.braces();
    else return f;
    if (c !== 0x7b) this.i++;
    if (f.assertion) this.fail("an anchor or \\b cannot be repeated", at);
    if (this.peek() === 0x3f) this.i++; // lazy: the same strings match
    const next = this.peek();
    if (next === 0x2a || next === 0x2b || next === 0x3f || next === 0x7b) {
      this.fail("nothing to repeat (a quantifier cannot follow another)");
    }
    const bound = max === Infinity ? "," : min === max ? "" : `,${max}`;
    const re2 = `(?:${f.re2}){${min}${bound}}`;
    if (max === 0) return { re2, paths: 1, len: 0, loops: 0 };
    if (max === Infinity) {
      return f.single
        ? { re2, paths: 1, len: min + 1, loops: 1 }
        : { re2, paths: Infinity, len: Infinity, loops: Infinity };
    }
    return {
      re2,
      paths: (max - min + 1) * f.paths ** max,
      len: f.len * max,
      loops: f.loops * max,
      anchored: min > 0 && f.anchored,
    };
  }

  /** `{n}`, `{n,}` or `{n,m}` at the cursor; a `{` that is none of them is rejected. */
  private braces(): [number, number] {
    const start = this.i;
    this.i++;
    const number = (): number | undefined => {
      const from = this.i;
      let n = 0;
      while (this.peek() !== undefined && this.peek()! >= 0x30 && this.peek()! <= 0x39) {
        n = Math.min(n * 10 + (this.peek()! - 0x30), 1e9);
        this.i++;
      }
      return this.i > from ? n : undefined;
    };
    const min = number();
    let max = min;
    if (min !== undefined && this.peek() === 0x2c /* , */) {
      this.i++;
      max = number() ?? Infinity;
    }
    if (min === undefined || this.peek() !== 0x7d /* } */) {
      this.fail("a { that does not start a count like {2,5} must be escaped as \\{", start);
    }
    this.i++;
    if (min > MAX_REPEAT || (max !== Infinity && max! > MAX_REPEAT)) {
      this.fail(`repeat counts above ${MAX_REPEAT} are not supported`, start);
    }
    if (max! < min) this.fail("numbers out of order in {n,m}", start);
    return [min, max!];
  }

  private atom(): Frag {
    const at = this.i;
    const c = this.peek()!;
    const one = (re2: string): Frag => ({ re2, paths: 1, len: 1, loops: 0, single: true });
    switch (c) {
      case 0x5e /* ^ */:
      case 0x24 /* $ */:
        this.i++;
        return { re2: c === 0x5e ? "^" : "$", paths: 1, len: 1, loops: 0, assertion: true };
      case 0x2e /* . */:
        this.i++;
        return one(classOf(DOT));
      case 0x28 /* ( */:
        return this.group();
      case 0x5b /* [ */:
        return one(this.bracket());
      case 0x5c /* \ */:
        return this.escape();
      case 0x2a:
      case 0x2b:
      case 0x3f:
        return this.fail("nothing to repeat");
      case 0x7b:
        return this.fail("a { that does not start a count like {2,5} must be escaped as \\{");
      case 0x7d:
        return this.fail("a bare } must be escaped as \\}");
      case 0x5d:
        return this.fail("a bare ] must be escaped as \\]");
      default:
        this.i++;
        this.checkScalar(c, at);
        return one(literal(c));
    }
  }

  private checkScalar(c: number, at: number): void {
    if (c >= 0xd800 && c <= 0xdfff) this.fail("a lone surrogate is not a Unicode character", at);
  }

  private group(): Frag {
    const open = this.i;
    this.i++;
    if (this.peek() === 0x3f /* ? */) {
      const k = this.peek(1);
      const k2 = this.peek(2);
      if (k === 0x3a /* : */) this.i += 2;
      else if (k === 0x3d || k === 0x21) this.fail("lookahead (?= or (?! is not supported", open);
      else if (k === 0x3c && (k2 === 0x3d || k2 === 0x21))
        this.fail("lookbehind (?<= or (?<! is not supported", open);
      else if (k === 0x3c || k === 0x50 /* P */)
        this.fail("named groups are not supported; use (...) or (?:...)", open);
      else this.fail("inline flags and other (?...) groups are not supported", open);
    }
    if (++this.depth > MAX_GROUP_DEPTH) {
      this.fail(`groups nested deeper than ${MAX_GROUP_DEPTH} are not supported`, open);
    }
    const inner = this.alternation();
    this.depth--;
    if (this.peek() !== 0x29) this.fail(`missing ) for the ( at character ${open + 1}`);
    this.i++;
    return { ...inner, re2: `(?:${inner.re2})`, single: false, assertion: false };
  }

  /** An escape outside `[...]`. */
  private escape(): Frag {
    const at = this.i;
    const set = this.classEscape();
    if (set)
      return { re2: classOf(set.ranges, set.negated), paths: 1, len: 1, loops: 0, single: true };
    const e = this.peek(1);
    if (e === 0x62 /* b */ || e === 0x42 /* B */) {
      this.i += 2;
      if (e === 0x42) this.nonBoundary = true;
      return { re2: e === 0x62 ? "\\b" : "\\B", paths: 1, len: 1, loops: 0, assertion: true };
    }
    const cp = this.charEscape(false);
    this.checkScalar(cp, at);
    return { re2: literal(cp), paths: 1, len: 1, loops: 0, single: true };
  }

  /** `\d \D \w \W \s \S` at the cursor, consumed; else undefined. */
  private classEscape():
    { ranges: readonly (readonly [number, number])[]; negated: boolean } | undefined {
    const e = this.peek(1);
    let ranges: readonly (readonly [number, number])[];
    if (e === 0x64 || e === 0x44) ranges = DIGIT;
    else if (e === 0x77 || e === 0x57) ranges = WORD;
    else if (e === 0x73 || e === 0x53) ranges = JS_SPACE;
    else return undefined;
    this.i += 2;
    return { ranges, negated: e === 0x44 || e === 0x57 || e === 0x53 };
  }

  /** An escape that stands for one character, consumed; anything else is rejected. */
  private charEscape(inClass: boolean): number {
    const at = this.i;
    const e = this.peek(1);
    if (e === undefined) this.fail("\\ at the end of the pattern");
    const name = `\\${String.fromCodePoint(e)}`;
    const simple: Record<number, number> = { 0x74: 9, 0x6e: 10, 0x76: 11, 0x66: 12, 0x72: 13 };
    if (simple[e] !== undefined) {
      this.i += 2;
      return simple[e];
    }
    if (e === 0x78 /* x */) {
      const h = [this.peek(2), this.peek(3)].map((d) =>
        d === undefined ? NaN : parseInt(String.fromCodePoint(d), 16),
      );
      if (!(h[0]! >= 0 && h[1]! >= 0)) this.fail("\\x must be followed by two hex digits", at);
      this.i += 4;
      return h[0]! * 16 + h[1]!;
    }
    if (e < 0x80 && SYNTAX.includes(String.fromCodePoint(e))) {
      this.i += 2;
      return e;
    }
    if (inClass && e === 0x2d /* - */) {
      this.i += 2;
      return e;
    }
    return this.fail(`${name}: ${escapeReason(e, inClass)}`, at);
  }

  /** A class `[...]`, rendered for RE2 as explicit code point ranges. */
  private bracket(): string {
    const open = this.i;
    this.i++;
    const negated = this.peek() === 0x5e;
    if (negated) this.i++;
    if (this.peek() === 0x5d) {
      this.fail("an empty class [] or [^] is not supported (RE2 reads it another way)", open);
    }
    const ranges: [number, number][] = [];
    const first = this.i;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail(`missing ] for the [ at character ${open + 1}`, open);
      if (c === 0x5d) break;
      const at = this.i;
      const a = this.classAtom();
      if (typeof a !== "number") {
        if (this.peek() === 0x2d && this.peek(1) !== 0x5d) {
          this.fail("a range cannot start or end with \\d, \\w or \\s");
        }
        ranges.push(...a);
        continue;
      }
      const literalDash = a === 0x2d && this.cps[at] === 0x2d;
      if (literalDash && at !== first && this.peek() !== 0x5d) {
        this.fail("a - inside [...] must come first or last, or be escaped as \\-", at);
      }
      if (this.peek() === 0x2d && this.peek(1) !== 0x5d && this.peek(1) !== undefined) {
        const dash = this.i;
        this.i++;
        if (literalDash)
          this.fail("a - inside [...] must come first or last, or be escaped as \\-", dash);
        const bAt = this.i;
        const b = this.classAtom();
        if (typeof b !== "number")
          this.fail("a range cannot start or end with \\d, \\w or \\s", bAt);
        if (b === 0x2d && this.cps[bAt] === 0x2d) {
          this.fail("a - inside [...] must come first or last, or be escaped as \\-", bAt);
        }
        if (b < a) this.fail("range out of order in [...]", at);
        ranges.push([a, b]);
      } else {
        ranges.push([a, a]);
      }
    }
    this.i++;
    return classOf(ranges, negated);
  }

  /** One member of a class: a character, or the ranges of a class escape. */
  private classAtom(): number | [number, number][] {
    const at = this.i;
    const c = this.peek()!;
    if (c === 0x5b) {
      this.fail(
        "a [ inside [...] must be escaped as \\[ (POSIX classes like [:alpha:] are not supported)",
      );
    }
    if (c !== 0x5c) {
      this.i++;
      this.checkScalar(c, at);
      return c;
    }
    const set = this.classEscape();
    if (set) return set.negated ? complement(set.ranges) : set.ranges.map(([l, h]) => [l, h]);
    if (this.peek(1) === 0x62 || this.peek(1) === 0x42) {
      this.fail("\\b and \\B inside [...] are not supported (write \\x08 for a backspace)");
    }
    const cp = this.charEscape(true);
    this.checkScalar(cp, at);
    return cp;
  }
}

function escapeReason(e: number, inClass: boolean): string {
  if (e >= 0x31 && e <= 0x39) return "backreferences are not supported";
  if (e === 0x30) return "octal and \\0 escapes are not supported; write \\x00";
  switch (String.fromCodePoint(e)) {
    case "k":
      return "named backreferences are not supported";
    case "u":
      return "\\u escapes are not supported; write the character itself or \\xHH";
    case "c":
      return "control escapes are not supported; write \\xHH";
    case "p":
    case "P":
      return "Unicode property classes are not supported";
    case "A":
    case "z":
    case "Z":
      return "write ^ and $ for the start and end of the string";
    case "Q":
    case "E":
      return "\\Q...\\E quoting is not supported; escape each character";
    case "-":
      if (!inClass) return "\\- is only an escape inside [...]; write - alone";
  }
  return `unknown escape; only ${SYNTAX.split("").join(" ")} can be escaped, and \\d \\w \\s \\b \\t \\n \\v \\f \\r \\xHH have meanings`;
}

/**
 * Under this many steps per start position (per character, with one unbounded repeat of one
 * character), backtracking is linear too, and several times faster than the RE2 port.
 */
const BACKTRACK_BUDGET = 256;

/** How an accepted pattern is best run, both ways linear in the text's length. */
interface Parsed {
  re2: string;
  /**
   * "search": ECMAScript's engine, which tries each start position, each in at most
   * BACKTRACK_BUDGET steps. "sticky": it tries position 0 only (the pattern starts with `^`),
   * with one unbounded one-character repeat: at most BACKTRACK_BUDGET steps per character.
   * "linear": anything else goes to RE2JS.
   */
  engine: "search" | "sticky" | "linear";
}

function parse(source: string): Parsed {
  const parser = new Parser(Array.from(source, (ch) => ch.codePointAt(0)!));
  const f = parser.parse();
  // V8 also tries a \B between the two halves of an emoji (both "non-word"), so `\B` finds
  // "a😀a" though no position between code points qualifies; RE2 reads code points only.
  const cheap = f.paths * f.len <= BACKTRACK_BUDGET && !parser.nonBoundary;
  let engine: Parsed["engine"] = "linear";
  if (cheap && f.loops === 0) engine = "search";
  else if (cheap && f.loops === 1 && f.anchored) engine = "sticky";
  return { re2: f.re2, engine };
}

/** Where and why `source` is outside the accepted subset; undefined when it is accepted. */
export function checkPattern(source: string): PatternFault | undefined {
  try {
    compileRe2(parse(source).re2);
    return undefined;
  } catch (err) {
    if (err instanceof Reject) return { position: err.position, reason: err.reason };
    const why = (err as Error).message;
    // RE2 caps the product of nested counts, as in (a{100}){100}, at 1000.
    return {
      position: 1,
      reason: /repeat count/.test(why)
        ? `nested repeat counts multiply beyond ${MAX_REPEAT}`
        : `not accepted by the linear-time matcher (${why})`,
    };
  }
}

function compileRe2(re2: string): RE2JS {
  return RE2JS.compile(re2);
}

/** A regex `value` as a linear-time search of a string; call only on accepted patterns. */
export type PatternTest = (text: string) => boolean;

/** Compile an accepted pattern into the fastest of the linear-time matchers that fits it. */
export function compilePattern(source: string): PatternTest {
  const parsed = parse(source);
  if (parsed.engine === "search") {
    const re = new RegExp(source, "u");
    return (text) => re.test(text);
  }
  if (parsed.engine === "sticky") {
    // Sticky: tried at lastIndex only, which test() moves on a match; hence the reset.
    const re = new RegExp(source, "uy");
    return (text) => {
      re.lastIndex = 0;
      return re.test(text);
    };
  }
  return compileLinear(parsed);
}

function compileLinear(parsed: Parsed): PatternTest {
  const re = compileRe2(parsed.re2);
  return (text) => re.test(text);
}

/** Which matcher compilePattern() picks, for tests. */
export function patternEngine(source: string): Parsed["engine"] {
  return parse(source).engine;
}

/** An accepted pattern rewritten in explicit RE2 syntax, as the linear-time matcher reads it. */
export function re2Source(source: string): string {
  return parse(source).re2;
}

/** The RE2JS matcher alone, whatever the pattern: for tests that compare engines. */
export function compilePatternRe2(source: string): PatternTest {
  return compileLinear(parse(source));
}

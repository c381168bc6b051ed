import { RE2JS } from "re2js";
import { re2Source } from "../../policy/regex.js";

// Which combinations of string tests (regex searches, substrings) some string passes, with a
// shortest such string each: a search over the product of the tests' automata. The automata are
// RE2's compiled programs for the patterns exactly as the engine's linear-time matcher reads
// them; the engine's matcher still confirms every witness (the self-check replays them).

/** A test of a string: a policy regex (searched, unanchored), or a substring. */
export type StringTest = { kind: "regex"; pattern: string } | { kind: "contains"; text: string };

/** What the search found: per combination of results (one letter per test, "1"/"0"), strings. */
export interface StringSearch {
  /** Combination ("101": tests 0 and 2 hold, 1 does not) -> shortest strings found, up to a few. */
  found: Map<string, string[]>;
  /** Every reachable combination was found (the search ran out of states, not of budget). */
  complete: boolean;
}

interface Inst {
  op: number;
  out: number;
  arg: number;
  runes: ArrayLike<number>;
}
interface Prog {
  inst: Inst[];
  start: number;
}

// RE2's instruction codes and empty-width flags (re2js's Inst and Utils).
const ALT = 1;
const ALT_MATCH = 2;
const CAPTURE = 3;
const EMPTY_WIDTH = 4;
const FAIL = 5;
const MATCH = 6;
const NOP = 7;
const RUNE = 8;
const RUNE1 = 9;
const RUNE_ANY = 10;
const RUNE_ANY_NOT_NL = 11;
const BEGIN_LINE = 1;
const END_LINE = 2;
const BEGIN_TEXT = 4;
const END_TEXT = 8;
const WORD_BOUNDARY = 16;
const NO_WORD_BOUNDARY = 32;
const FOLD_CASE = 1;

/**
 * RE2's program for an RE2 pattern, or null when re2js no longer has the shape read here (then
 * the search says it could not decide rather than misread a program).
 */
function progOf(re2: string): Prog | null {
  const compiled = RE2JS.compile(re2) as unknown as { re2Input?: { prog?: Prog } };
  const prog = compiled.re2Input?.prog;
  if (!prog || !Array.isArray(prog.inst) || typeof prog.start !== "number") return null;
  for (const i of prog.inst) {
    if (typeof i.op !== "number" || i.op < ALT || i.op > RUNE_ANY_NOT_NL) return null;
    if ((i.op === RUNE || i.op === RUNE1) && (i.arg & FOLD_CASE) !== 0) return null;
  }
  return prog;
}

const isWord = (cp: number): boolean =>
  (cp >= 0x30 && cp <= 0x39) ||
  (cp >= 0x41 && cp <= 0x5a) ||
  cp === 0x5f ||
  (cp >= 0x61 && cp <= 0x7a);

function runeMatches(inst: Inst, cp: number): boolean {
  switch (inst.op) {
    case RUNE1:
      return inst.runes[0] === cp;
    case RUNE: {
      for (let j = 0; j + 1 < inst.runes.length; j += 2) {
        if (cp >= inst.runes[j]! && cp <= inst.runes[j + 1]!) return true;
      }
      return false;
    }
    case RUNE_ANY:
      return true;
    case RUNE_ANY_NOT_NL:
      return cp !== 0x0a;
    default:
      return false;
  }
}

/**
 * One step of an unanchored search: from the threads waiting at this position (plus a new one
 * at the start, as a search tries every position), follow empty moves under the position's
 * flags; report whether a match is reached, and the threads that `next` (a code point, or -1 at
 * the end) moves on to.
 */
function step(
  prog: Prog,
  pending: readonly number[],
  flags: number,
  next: number,
): { matched: boolean; after: number[] } {
  const seen = new Set<number>();
  const stack = [...pending, prog.start];
  let matched = false;
  const after = new Set<number>();
  while (stack.length > 0) {
    const pc = stack.pop()!;
    if (seen.has(pc)) continue;
    seen.add(pc);
    const inst = prog.inst[pc]!;
    switch (inst.op) {
      case ALT:
      case ALT_MATCH:
        stack.push(inst.out, inst.arg);
        break;
      case CAPTURE:
      case NOP:
        stack.push(inst.out);
        break;
      case EMPTY_WIDTH:
        if ((inst.arg & ~flags) === 0) stack.push(inst.out);
        break;
      case MATCH:
        matched = true;
        break;
      case FAIL:
        break;
      default:
        if (next >= 0 && runeMatches(inst, next)) after.add(inst.out);
    }
  }
  return { matched, after: [...after].sort((a, b) => a - b) };
}

function flagsAt(atStart: boolean, prev: number, next: number): number {
  let f = 0;
  // Policy patterns are single-line: ^ and $ mean the text's start and end, as without /m.
  if (atStart) f |= BEGIN_TEXT | BEGIN_LINE;
  if (next < 0) f |= END_TEXT | END_LINE;
  const wb = (prev >= 0 && isWord(prev)) !== (next >= 0 && isWord(next));
  f |= wb ? WORD_BOUNDARY : NO_WORD_BOUNDARY;
  return f;
}

/** Characters tried first as a class's stand-in: readable ones. */
const PREFERRED = Array.from(
  "abcdefghijklmnopqrstuvwxyz0123456789_-/.ABCDEFGHIJKLMNOPQRSTUVWXYZ ",
  (c) => c.codePointAt(0)!,
);

/**
 * One code point per class of characters that every test treats alike: the boundaries of every
 * character range the programs name, of word characters (for \b) and of the newline.
 */
function alphabet(progs: readonly Prog[]): number[] {
  const cuts = new Set<number>([
    0, 0x30, 0x3a, 0x41, 0x5b, 0x5f, 0x60, 0x61, 0x7b, 0x0a, 0x0b, 0x110000,
  ]);
  for (const prog of progs) {
    for (const inst of prog.inst) {
      if (inst.op === RUNE1) {
        cuts.add(inst.runes[0]!);
        cuts.add(inst.runes[0]! + 1);
      } else if (inst.op === RUNE) {
        for (let j = 0; j + 1 < inst.runes.length; j += 2) {
          cuts.add(inst.runes[j]!);
          cuts.add(inst.runes[j + 1]! + 1);
        }
      }
    }
  }
  const sorted = [...cuts].filter((c) => c <= 0x110000).sort((a, b) => a - b);
  const out: number[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    const lo = sorted[i]!;
    const hi = sorted[i + 1]! - 1;
    // Surrogates are no code points a string can hold alone.
    if (lo >= 0xd800 && hi <= 0xdfff) continue;
    const nice = PREFERRED.find((c) => c >= lo && c <= hi);
    out.push(nice ?? (lo >= 0xd800 && lo <= 0xdfff ? 0xe000 : lo));
  }
  // Readable characters first, so the shortest witnesses found first read well.
  return out.sort((a, b) => rank(a) - rank(b));
}

const rank = (cp: number): number => {
  const i = PREFERRED.indexOf(cp);
  return i >= 0 ? i : PREFERRED.length + cp;
};

/** Past this many states the search stops and says it is not complete. */
const MAX_STATES = 20_000;

/**
 * Search strings over the tests' product automaton, breadth first (so shortest first): which
 * combinations of results some string gives, with up to `perCombination` strings each.
 */
export function searchStrings(tests: readonly StringTest[], perCombination = 3): StringSearch {
  const progs: Prog[] = [];
  for (const t of tests) {
    const prog = progOf(t.kind === "regex" ? re2Source(t.pattern) : RE2JS.quote(t.text));
    if (prog === null) return { found: new Map(), complete: false };
    progs.push(prog);
  }
  const sigma = alphabet(progs);
  interface State {
    text: string;
    prev: number;
    pending: number[][];
    matched: boolean[];
  }
  const keyOf = (s: State): string =>
    `${s.text === "" ? "^" : isWord(s.prev) ? "w" : "n"}|${s.matched.map((m, i) => (m ? "M" : s.pending[i]!.join(","))).join("|")}`;
  const found = new Map<string, string[]>();
  const seen = new Set<string>();
  let queue: State[] = [
    { text: "", prev: -1, pending: progs.map(() => []), matched: progs.map(() => false) },
  ];
  seen.add(keyOf(queue[0]!));
  let complete = true;
  while (queue.length > 0) {
    const nextQueue: State[] = [];
    for (const s of queue) {
      const atStart = s.text === "";
      // The string ends here: which tests matched.
      const combo = progs
        .map((p, i) =>
          s.matched[i] || step(p, s.pending[i]!, flagsAt(atStart, s.prev, -1), -1).matched
            ? "1"
            : "0",
        )
        .join("");
      const list = found.get(combo);
      if (!list) found.set(combo, [s.text]);
      else if (list.length < perCombination) list.push(s.text);
      for (const cp of sigma) {
        const flags = flagsAt(atStart, s.prev, cp);
        const pending: number[][] = [];
        const matched: boolean[] = [];
        progs.forEach((p, i) => {
          if (s.matched[i]) {
            pending.push([]);
            matched.push(true);
            return;
          }
          const r = step(p, s.pending[i]!, flags, cp);
          pending.push(r.matched ? [] : r.after);
          matched.push(r.matched);
        });
        const n: State = { text: s.text + String.fromCodePoint(cp), prev: cp, pending, matched };
        const key = keyOf(n);
        if (seen.has(key)) continue;
        if (seen.size >= MAX_STATES) {
          complete = false;
          continue;
        }
        seen.add(key);
        nextQueue.push(n);
      }
    }
    queue = nextQueue;
  }
  return { found, complete };
}

// What looks like a credential, and how key names split into words. Everything here runs on
// bytes an agent or a server chose, on the proxy's per-message path, so every scan is a single
// pass: no regular expression that could backtrack, and no scan restarted from each position
// (a 256 KB string of repeated prefixes once took minutes). `scanSteps` counts the work so
// tests can hold it to a constant per input character.

/** Character classes, as bit flags by char code (ASCII only; anything else is in none). */
const WORD = 1; // [A-Za-z0-9_], what \b separates
const B64URL = 2; // [A-Za-z0-9_-]
const ALNUM = 4; // [A-Za-z0-9]
const ALNUM_DASH = 8; // [A-Za-z0-9-]
const UPPER_DIGIT = 16; // [0-9A-Z]
const UPPER_SPACE = 32; // [A-Z ]
const RUN = 64; // hex, base64 and base64url: [A-Za-z0-9+/_-]

const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  const upper = ch >= "A" && ch <= "Z";
  const lower = ch >= "a" && ch <= "z";
  const digit = ch >= "0" && ch <= "9";
  const alnum = upper || lower || digit;
  let f = 0;
  if (alnum || ch === "_") f |= WORD;
  if (alnum || ch === "_" || ch === "-") f |= B64URL;
  if (alnum) f |= ALNUM;
  if (alnum || ch === "-") f |= ALNUM_DASH;
  if (upper || digit) f |= UPPER_DIGIT;
  if (upper || ch === " ") f |= UPPER_SPACE;
  if (alnum || ch === "+" || ch === "/" || ch === "_" || ch === "-") f |= RUN;
  CLASS[c] = f;
}

/** First characters of the credential prefixes. */
const STARTS = new Uint8Array(128);
for (const c of "-ersgxAn") STARTS[c.charCodeAt(0)] = 1;

/** No credential shape is shorter: looksLikeToken is false below this length. */
export const MIN_TOKEN_LENGTH = 16;

/** Candidate runs for the entropy test are this long or longer. */
const MIN_RUN = 32;

let steps = 0;

/** Characters examined by the scanners since the last call (for tests: linear means bounded). */
export function scanSteps(): number {
  const n = steps;
  steps = 0;
  return n;
}

function is(s: string, i: number, cls: number): boolean {
  steps++;
  const c = s.charCodeAt(i); // NaN past the end: in no class
  return c < 128 && (CLASS[c]! & cls) !== 0;
}

/** Whether s holds `lit` at i. */
function at(s: string, i: number, lit: string): boolean {
  steps += lit.length;
  return s.startsWith(lit, i);
}

/** Whether s[i, i+k) are all in cls: at most k steps. */
function runOf(s: string, i: number, cls: number, k: number): boolean {
  for (let j = i; j < i + k; j++) if (!is(s, j, cls)) return false;
  return true;
}

/** Where the run of cls starting at i ends. */
function runEnd(s: string, i: number, cls: number): number {
  let j = i;
  while (is(s, j, cls)) j++;
  return j;
}

/**
 * The end of the cls run holding position i, remembered: candidates come in increasing order,
 * and all those inside one run share its end, so each run is walked once.
 */
class RunCache {
  private start = -1;
  private end = -1;
  constructor(private readonly cls: number) {}
  endFrom(s: string, i: number): number {
    if (i < this.start || i >= this.end) {
      this.start = i;
      this.end = runEnd(s, i, this.cls);
    }
    return this.end;
  }
}

/**
 * Whether s holds a credential shape (these, as regular expressions; \b is a word boundary):
 *
 *   \beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}     JWT / JWS / JWE
 *   \bsk-[A-Za-z0-9_-]{16,}                        OpenAI, Anthropic and similar
 *   \b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}         Stripe
 *   \bgh[pousr]_[A-Za-z0-9]{30,}                   GitHub
 *   \bgithub_pat_[A-Za-z0-9_]{22,}                 GitHub fine-grained
 *   \bxox[abposr]-[A-Za-z0-9-]{10,}                Slack
 *   \b(?:AKIA|ASIA)[0-9A-Z]{16}\b                  AWS access key ids
 *   \bAIza[0-9A-Za-z_-]{35}                        Google API keys
 *   \bnpm_[A-Za-z0-9]{36}                          npm
 *   -----BEGIN [A-Z ]*PRIVATE KEY-----             PEM private keys
 *
 * One pass over s; each candidate prefix is checked with a bounded run, except the two
 * unbounded runs (JWT header, PEM label), whose ends are remembered across candidates.
 */
export function hasTokenShape(s: string): boolean {
  let jwt: RunCache | null = null;
  let pem: RunCache | null = null;
  const n = s.length;
  steps += n; // the loop's own look at each character; checks from a candidate count apart
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || STARTS[c] === 0) continue;
    if (c === 45 /* - */) {
      if (at(s, i, "-----BEGIN ")) {
        // [A-Z ]* then "PRIVATE KEY", itself [A-Z ], then "-": the label must end the run.
        const q = i + 11;
        const e = (pem ??= new RunCache(UPPER_SPACE)).endFrom(s, q);
        if (e - 11 >= q && at(s, e - 11, "PRIVATE KEY") && at(s, e, "-----")) return true;
      }
      continue;
    }
    // The other prefixes start with a word character: a word boundary must come before it.
    if (i > 0 && is(s, i - 1, WORD)) continue;
    switch (c) {
      case 101 /* e */:
        if (at(s, i, "eyJ")) {
          const e = (jwt ??= new RunCache(B64URL)).endFrom(s, i + 3);
          if (e - (i + 3) >= 8 && at(s, e, ".") && runOf(s, e + 1, B64URL, 8)) return true;
        }
        break;
      case 114 /* r */:
      case 115 /* s */:
        if (c === 115 && at(s, i + 1, "k-") && runOf(s, i + 3, B64URL, 16)) return true;
        if (
          at(s, i + 1, "k_") &&
          (at(s, i + 3, "live_") || at(s, i + 3, "test_")) &&
          runOf(s, i + 8, ALNUM, 16)
        )
          return true;
        break;
      case 103 /* g */:
        if (at(s, i + 1, "h") && oneOf(s, i + 2, "pousr") && at(s, i + 3, "_")) {
          if (runOf(s, i + 4, ALNUM, 30)) return true;
        } else if (at(s, i, "github_pat_") && runOf(s, i + 11, WORD, 22)) return true;
        break;
      case 120 /* x */:
        if (at(s, i, "xox") && oneOf(s, i + 3, "abposr") && at(s, i + 4, "-")) {
          if (runOf(s, i + 5, ALNUM_DASH, 10)) return true;
        }
        break;
      case 65 /* A */:
        if (at(s, i, "AKIA") || at(s, i, "ASIA")) {
          if (runOf(s, i + 4, UPPER_DIGIT, 16) && !is(s, i + 20, WORD)) return true;
        } else if (at(s, i, "AIza") && runOf(s, i + 4, B64URL, 35)) return true;
        break;
      case 110 /* n */:
        if (at(s, i, "npm_") && runOf(s, i + 4, ALNUM, 36)) return true;
        break;
    }
  }
  return false;
}

function oneOf(s: string, i: number, chars: string): boolean {
  steps++;
  return i < s.length && chars.includes(s[i]!);
}

/** Whether a string holds something shaped like a credential. */
export function looksLikeToken(s: string): boolean {
  if (s.length < MIN_TOKEN_LENGTH) return false;
  if (hasTokenShape(s)) return true;
  if (s.length < MIN_RUN) return false;
  // Runs of base64 characters, found in one pass; each is judged once.
  let start = 0;
  const n = s.length;
  steps += n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && (CLASS[c]! & RUN) !== 0) continue;
    if (i - start >= MIN_RUN && highEntropy(s.slice(start, i))) return true;
    start = i + 1;
  }
  if (n - start >= MIN_RUN && highEntropy(s.slice(start))) return true;
  return false;
}

/**
 * A random-looking run: hex with letters and digits (a digest, a key), or base64 whose
 * characters spread and alternate between classes as random data's do. Words, paths and
 * identifiers do not pass (long same-case stretches); UUIDs are too short between dashes.
 */
function highEntropy(body: string): boolean {
  let hex = true;
  let hexDigit = false;
  let hexLetter = false;
  let classes = 0;
  let switches = 0;
  let lower = 0;
  let lowerRuns = 0;
  let vowels = 0;
  let prev = -1;
  const seen = [false, false, false, false];
  for (let i = 0; i < body.length; i++) {
    steps++;
    const c = body.charCodeAt(i);
    const cls = c >= 48 && c <= 57 ? 0 : c >= 65 && c <= 90 ? 1 : c >= 97 && c <= 122 ? 2 : 3;
    if (cls === 0) hexDigit = true;
    else if ((c >= 65 && c <= 70) || (c >= 97 && c <= 102)) hexLetter = true;
    else hex = false;
    if (!seen[cls]) {
      seen[cls] = true;
      if (cls < 3) classes++;
    }
    if (prev !== -1 && cls !== prev) switches++;
    if (cls === 2) {
      lower++;
      if (prev !== 2) lowerRuns++;
      if (c === 97 || c === 101 || c === 105 || c === 111 || c === 117) vowels++;
    }
    prev = cls;
  }
  if (hex) return hexDigit && hexLetter && entropy(body) >= 3;
  // Words: long lower-case stretches (random base64's average 1.7 letters) with vowels in
  // them (a fifth of random letters, a third of English ones). A false positive costs an
  // inexact replay; a false negative, a secret on disk.
  if (lowerRuns > 0 && lower / lowerRuns > 3 && vowels / lower >= 0.25) return false;
  return classes >= 2 && switches / (body.length - 1) >= 0.3 && entropy(body) >= 4;
}

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    steps++;
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

const isLower = (c: number): boolean => c >= 97 && c <= 122;
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isLetter = (c: number): boolean => isLower(c) || isUpper(c);

/**
 * `DB_PASSWORD` -> DB, PASSWORD; `apiKey` -> api, Key; `APIKey2` -> API, Key, 2. The runs of
 * letters and digits, split between lower and upper case (`aB`), before the last capital of a
 * run that a lower-case letter follows (`APIKey`), and between a letter and a digit either way,
 * pairs taken left to right without overlapping (`a1b` -> a, 1b), as the global regex
 * replaces this follows did. Those only ever split between two letters or between a letter
 * and a digit, so the splits are found on the name itself, in one pass each.
 */
export function wordParts(name: string): string[] {
  const n = name.length;
  steps += 4 * n;
  const code = (i: number): number => name.charCodeAt(i); // NaN out of range: in no class
  const split = new Uint8Array(n + 1);
  for (let i = 1; i < n; i++) if (isLower(code(i - 1)) && isUpper(code(i))) split[i] = 1;
  for (let i = 0; i < n;) {
    if (!isUpper(code(i))) {
      i++;
      continue;
    }
    let e = i + 1;
    while (isUpper(code(e))) e++;
    if (e - i >= 2 && isLower(code(e))) split[e - 1] = 1;
    i = e;
  }
  for (let i = 0; i + 1 < n;) {
    const c = code(i);
    const d = code(i + 1);
    if ((isLetter(c) && isDigit(d)) || (isDigit(c) && isLetter(d))) {
      split[i + 1] = 1;
      i += 2;
    } else i++;
  }
  const parts: string[] = [];
  let start = -1;
  for (let i = 0; i <= n; i++) {
    const c = code(i);
    const inWord = isLetter(c) || isDigit(c);
    if (start >= 0 && (!inWord || split[i] === 1)) {
      parts.push(name.slice(start, i));
      start = -1;
    }
    if (inWord && start < 0) start = i;
  }
  return parts;
}

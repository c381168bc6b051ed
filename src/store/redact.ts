import { createHmac, randomBytes } from "node:crypto";
import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { StoreError } from "./errors.js";
import type { Redactor } from "./types.js";

// Secrets never sit on disk: before a call's arguments are stored, values that look secret are
// replaced by {"$redacted": "hmac-sha256:<hex>"}, a hash keyed with a random key kept beside
// the database. Equal secrets still hash equal (so replay can compare them), but the hash
// cannot be reversed or even checked against a guess without the key.

/**
 * Key names that mark their value as secret, tested against each word part of a key
 * (`DB_PASSWORD` -> DB, PASSWORD; `apiKey` -> api, Key; `secret_value` -> secret, value) and
 * against the whole key.
 */
export const DEFAULT_SECRET_NAMES =
  /^(?:value|secrets?|token|passwords?|passwd|pwd|passphrase|key|credentials?|api_?key|apikey|auth|authorization|private)$/i;

/**
 * Strings that look like credentials wherever they appear; a string containing one is
 * redacted whole (a partly redacted string would replay as if it were exact).
 */
const TOKEN_SHAPES = new RegExp(
  [
    // JWT / JWS / JWE: base64url JSON header, then at least one more dotted segment.
    String.raw`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`,
    // OpenAI, Anthropic and similar: sk-..., sk-proj-..., sk-ant-...
    String.raw`\bsk-[A-Za-z0-9_-]{16,}`,
    // Stripe live/test keys.
    String.raw`\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}`,
    // GitHub tokens.
    String.raw`\bgh[pousr]_[A-Za-z0-9]{30,}`,
    String.raw`\bgithub_pat_[A-Za-z0-9_]{22,}`,
    // Slack.
    String.raw`\bxox[abposr]-[A-Za-z0-9-]{10,}`,
    // AWS access key ids.
    String.raw`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`,
    // Google API keys.
    String.raw`\bAIza[0-9A-Za-z_-]{35}`,
    // npm.
    String.raw`\bnpm_[A-Za-z0-9]{36}`,
    // PEM private keys.
    String.raw`-----BEGIN [A-Z ]*PRIVATE KEY-----`,
  ].join("|"),
);

/** Cheap first look: none of TOKEN_SHAPES can match a string without one of these. */
const TOKEN_PREFIXES =
  /eyJ|sk-|[rs]k_|gh[pousr]_|github_pat_|xox[abposr]-|AKIA|ASIA|AIza|npm_|-----BEGIN /;

/** Characters of hex, base64 and base64url. */
const RUN_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
  RUN_CHAR[c.charCodeAt(0)] = 1;
/** Candidate runs for the entropy test are this long or longer. */
const MIN_RUN = 32;

export interface RedactorOptions {
  /** The key file, `<db>.key`: 32 random bytes as hex, created with mode 0600 if missing. */
  keyFile: string;
  /** Secret key names (see DEFAULT_SECRET_NAMES for how they are matched). */
  names?: RegExp;
  /** false (`--redact none`): redact() returns values unchanged. */
  enabled: boolean;
  /** false: never create the key file; hashValue() then throws store_key_missing. Default true. */
  createKey?: boolean;
}

export interface KeyedRedactor extends Redactor {
  /** The marker's hash of a value, `hmac-sha256:<hex>`, under this redactor's key. */
  hashValue(value: unknown): string;
}

export interface RedactionMarker {
  $redacted: string;
}

/** Build a redactor. Reads (or creates) the key file on first use, not before. */
export function createRedactor(opts: RedactorOptions): KeyedRedactor {
  const names = opts.names
    ? new RegExp(opts.names.source, opts.names.flags.replace(/[gy]/g, ""))
    : DEFAULT_SECRET_NAMES;
  let key: Buffer | null = null;
  const hash = (text: string): string => {
    key ??= loadKey(opts.keyFile, opts.createKey ?? true);
    return `hmac-sha256:${createHmac("sha256", key).update(text).digest("hex")}`;
  };
  const hashValue = (value: unknown): string =>
    hash(typeof value === "string" ? value : canonicalJson(value));
  const marker = (value: unknown): RedactionMarker => ({ $redacted: hashValue(value) });

  // Argument names repeat from call to call: remember the answers (a bounded number of them).
  const verdicts = new Map<string, boolean>();
  const isSecretName = (name: string): boolean => {
    let secret = verdicts.get(name);
    if (secret === undefined) {
      secret = names.test(name) || wordParts(name).some((part) => names.test(part));
      if (verdicts.size >= 4096) verdicts.clear();
      verdicts.set(name, secret);
    }
    return secret;
  };

  /** The value with secrets replaced; unchanged subtrees are returned as they are. */
  const walk = (value: unknown): unknown => {
    if (typeof value === "string") return looksLikeToken(value) ? marker(value) : value;
    if (value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) {
      let out: unknown[] | null = null;
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        const r = walk(v);
        if (r !== v) (out ??= value.slice())[i] = r;
      }
      return out ?? value;
    }
    if (isMarker(value)) return value;
    let out: Record<string, unknown> | null = null;
    for (const [k, v] of Object.entries(value)) {
      const r = isSecretName(k) && hidesSomething(v) ? (isMarker(v) ? v : marker(v)) : walk(v);
      if (r !== v) {
        out ??= { ...value };
        // defineProperty: a JSON key "__proto__" is data, not the prototype.
        Object.defineProperty(out, k, {
          value: r,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    return out ?? value;
  };

  return {
    redact: (value) => (opts.enabled ? walk(value) : value),
    hashValue,
  };
}

/** null and booleans under a secret name are kept: they hold no secret, and replay stays exact. */
function hidesSomething(value: unknown): boolean {
  return value !== null && value !== undefined && typeof value !== "boolean";
}

function isMarker(value: object): boolean {
  const keys = Object.keys(value);
  return (
    keys.length === 1 &&
    (keys[0] === "$redacted" || keys[0] === "$truncated") &&
    !Array.isArray(value)
  );
}

/** `DB_PASSWORD` -> DB, PASSWORD; `apiKey` -> api, Key; `APIKey2` -> API, Key, 2. */
export function wordParts(name: string): string[] {
  return name
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .replace(/([A-Za-z])([0-9])|([0-9])([A-Za-z])/g, "$1$3 $2$4")
    .split(/[^A-Za-z0-9]+/)
    .filter((p) => p.length > 0);
}

/** Whether a string holds something shaped like a credential. */
export function looksLikeToken(s: string): boolean {
  if (s.length < 16) return false;
  if (TOKEN_PREFIXES.test(s) && TOKEN_SHAPES.test(s)) return true;
  if (s.length < MIN_RUN) return false;
  // Runs of base64 characters, found in one pass (a regex would rescan every word).
  let start = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0;
    if (c < 128 && RUN_CHAR[c] === 1) continue;
    if (i - start >= MIN_RUN && highEntropy(s.slice(start, i))) return true;
    start = i + 1;
  }
  return false;
}

/**
 * A random-looking run: hex with letters and digits (a digest, a key), or base64 whose
 * characters spread and alternate between classes as random data's do. Words, paths and
 * identifiers do not pass (long same-case stretches); UUIDs are too short between dashes.
 */
function highEntropy(candidate: string): boolean {
  const body = candidate.replace(/=+$/, "");
  if (/^[0-9a-fA-F]+$/.test(body))
    return /[0-9]/.test(body) && /[a-fA-F]/.test(body) && entropy(body) >= 3;
  let classes = 0;
  let switches = 0;
  let lower = 0;
  let lowerRuns = 0;
  let vowels = 0;
  let prev = -1;
  const seen = [false, false, false, false];
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    const cls = c >= 48 && c <= 57 ? 0 : c >= 65 && c <= 90 ? 1 : c >= 97 && c <= 122 ? 2 : 3;
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
  // Words: long lower-case stretches (random base64's average 1.7 letters) with vowels in
  // them (a fifth of random letters, a third of English ones). A false positive costs an
  // inexact replay; a false negative, a secret on disk.
  if (lowerRuns > 0 && lower / lowerRuns > 3 && vowels / lower >= 0.25) return false;
  return classes >= 2 && switches / (body.length - 1) >= 0.3 && entropy(body) >= 4;
}

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** JSON text with object keys sorted, so equal values hash equal whatever their key order. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** Read the key, or create it (atomically, mode 0600) when missing and allowed. */
function loadKey(file: string, create: boolean): Buffer {
  for (;;) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        throw new StoreError(
          "store_io",
          file,
          `${file}: cannot read the redaction key: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      if (!create)
        throw new StoreError("store_key_missing", file, `${file}: the redaction key is missing`);
      createKeyFile(file);
      continue;
    }
    const hex = text.trim();
    if (!/^[0-9a-fA-F]{64}$/.test(hex))
      throw new StoreError(
        "store_key_invalid",
        file,
        `${file}: not a redaction key (expected 64 hex digits)`,
      );
    return Buffer.from(hex, "hex");
  }
}

/** Write the key to a private temporary file and link it into place: never half-written. */
function createKeyFile(file: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    writeFileSync(tmp, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
    try {
      linkSync(tmp, file);
    } catch (err) {
      // Someone else created it first: theirs is the key.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  } catch (err) {
    throw new StoreError(
      "store_io",
      file,
      `${file}: cannot create the redaction key: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Already gone.
    }
  }
}

import { createHmac, randomBytes } from "node:crypto";
import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { StoreError } from "./errors.js";
import { looksLikeToken, wordParts } from "./token-scan.js";
import type { Redactor } from "./types.js";

export { looksLikeToken, wordParts };

// Secrets never sit on disk: before a message or a call's arguments are stored, values that
// look secret are replaced by {"$redacted": "hmac-sha256:<hex>"}, a hash keyed with a random key
// kept beside the database. Equal secrets still hash equal (so replay can compare them), but
// the hash cannot be reversed or even checked against a guess without the key.

/**
 * Key names that mark their value as secret, tested against each word part of a key
 * (`DB_PASSWORD` -> DB, PASSWORD; `apiKey` -> api, Key; `secret_value` -> secret, value) and
 * against the whole key.
 */
export const DEFAULT_SECRET_NAMES =
  /^(?:value|secrets?|token|passwords?|passwd|pwd|passphrase|key|credentials?|api_?key|apikey|auth|authorization|private)$/i;

/**
 * How deep the redactor goes into a value (the transport allows 256 levels of nesting; this
 * bounds the stack whatever the caller passes). A subtree beyond it becomes TOO_DEEP.
 */
export const MAX_DEPTH = 1000;

/** What stands for a subtree nested deeper than MAX_DEPTH: opaque, like any marker. */
export const TOO_DEEP: RedactionMarker = Object.freeze({ $redacted: "too-deep" });

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
  /** false (`--redact none`): redact() changes nothing, so callers may skip walking. */
  readonly enabled: boolean;
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
  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value === "string") return looksLikeToken(value) ? marker(value) : value;
    if (value === null || typeof value !== "object") return value;
    if (depth >= MAX_DEPTH) return TOO_DEEP;
    if (Array.isArray(value)) {
      let out: unknown[] | null = null;
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        const r = walk(v, depth + 1);
        if (r !== v) (out ??= value.slice())[i] = r;
      }
      return out ?? value;
    }
    if (isMarker(value)) return value;
    let out: Record<string, unknown> | null = null;
    for (const [k, v] of Object.entries(value)) {
      let r: unknown;
      if (!isSecretName(k) || !hidesSomething(v)) r = walk(v, depth + 1);
      else if (typeof v === "object" && isMarker(v as object)) r = v;
      // Hashing reads the whole subtree: one too deep is not hashed but stands as TOO_DEEP.
      else r = nestedWithin(v, MAX_DEPTH - depth - 1) ? marker(v) : TOO_DEEP;
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
    enabled: opts.enabled,
    redact: (value) => (opts.enabled ? walk(value, 0) : value),
    hashValue,
  };
}

/** Whether value nests no more than `levels` objects or arrays deep (stops looking past it). */
function nestedWithin(value: unknown, levels: number): boolean {
  if (value === null || typeof value !== "object") return true;
  if (levels <= 0) return false;
  for (const v of Object.values(value)) if (!nestedWithin(v, levels - 1)) return false;
  return true;
}

/** null and booleans under a secret name are kept: they hold no secret, and replay stays exact. */
function hidesSomething(value: unknown): boolean {
  return value !== null && value !== undefined && typeof value !== "boolean";
}

const HASH = /^hmac-sha256:[0-9a-f]{64}$/;

/**
 * A marker this redactor (or the store, for cut values) wrote, left as it is. Only the exact
 * forms count: `{"$redacted": "ghp_..."}` from an agent is walked like any other object.
 */
export function isMarker(value: object): boolean {
  if (Array.isArray(value)) return false;
  const keys = Object.keys(value);
  if (keys.length !== 1) return false;
  const v = (value as Record<string, unknown>)[keys[0]!];
  if (keys[0] === "$truncated") return typeof v === "number";
  return (
    keys[0] === "$redacted" && typeof v === "string" && (v === TOO_DEEP.$redacted || HASH.test(v))
  );
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

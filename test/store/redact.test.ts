import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  createRedactor,
  looksLikeToken,
  MAX_DEPTH,
  TOO_DEEP,
  wordParts,
} from "../../src/store/redact.js";
import { StoreError } from "../../src/store/errors.js";
import { tempDirs } from "./helpers.js";

const tempDir = tempDirs();
const redactorIn = (dir = tempDir(), names?: RegExp) =>
  createRedactor({ keyFile: join(dir, "rec.sqlite.key"), enabled: true, ...(names && { names }) });

const HASH = /^hmac-sha256:[0-9a-f]{64}$/;
const isMarker = (v: unknown): boolean =>
  typeof v === "object" &&
  v !== null &&
  Object.keys(v).length === 1 &&
  HASH.test((v as { $redacted?: string }).$redacted ?? "");

describe("secret names", () => {
  it("redacts values whose key names look secret, as a word part, any case", () => {
    const r = redactorIn();
    const secretKeys = [
      "password",
      "DB_PASSWORD",
      "apiKey",
      "api_key",
      "APIKEY",
      "x-api-key",
      "secret_value",
      "clientSecret",
      "token",
      "access_token",
      "oauthToken",
      "Authorization",
      "auth",
      "credentials",
      "privateKey",
      "passwd",
      "key",
      "value",
    ];
    for (const k of secretKeys) {
      const out = r.redact({ [k]: "hunter2", app: "web" }) as Record<string, unknown>;
      expect(isMarker(out[k]), k).toBe(true);
      expect(out.app).toBe("web");
    }
    const kept = { app: "web", path: "/tmp/x", author: "ann", max_tokens: 100, keyboard: "us" };
    expect(r.redact(kept)).toBe(kept);
  });

  it("reaches into nested objects and arrays", () => {
    const r = redactorIn();
    const out = r.redact({
      env: [{ name: "A", value: "one" }],
      config: { db: { password: "pw", host: "h" } },
    }) as { env: [{ name: string; value: unknown }]; config: { db: Record<string, unknown> } };
    expect(out.env[0].name).toBe("A");
    expect(isMarker(out.env[0].value)).toBe(true);
    expect(isMarker(out.config.db.password)).toBe(true);
    expect(out.config.db.host).toBe("h");
  });

  it("hashes non-string values over their JSON text, whatever the key order; keeps null and booleans", () => {
    const r = redactorIn();
    const a = r.redact({ secret: { a: 1, b: [2, 3] }, token: 1234, auth: true, key: null });
    const b = r.redact({ secret: { b: [2, 3], a: 1 }, token: 1234, auth: true, key: null });
    expect(a).toEqual(b);
    const out = a as Record<string, unknown>;
    expect(isMarker(out.secret)).toBe(true);
    expect(isMarker(out.token)).toBe(true);
    expect(out.auth).toBe(true);
    expect(out.key).toBeNull();
  });

  it("takes a configured names pattern instead", () => {
    const r = redactorIn(tempDir(), /^(pin|ssn)$/gi);
    const out = r.redact({ PIN: "1234", ssn: "x", password: "kept" }) as Record<string, unknown>;
    expect(isMarker(out.PIN)).toBe(true);
    expect(isMarker(out.ssn)).toBe(true);
    expect(out.password).toBe("kept");
  });

  it("splits key names into word parts", () => {
    expect(wordParts("DB_PASSWORD")).toEqual(["DB", "PASSWORD"]);
    expect(wordParts("apiKey")).toEqual(["api", "Key"]);
    expect(wordParts("APIKey2")).toEqual(["API", "Key", "2"]);
    expect(wordParts("x-api.key")).toEqual(["x", "api", "key"]);
  });
});

describe("token shapes", () => {
  const tokens = [
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "sk-proj-4f9Qx2LmZp7RtY1vBn8KcW3e",
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
    "ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234",
    "github_pat_11AAAAAAA0aBcDeFgHiJkLmN_opqrstuvwxyz0123456789",
    "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp",
    "xoxp-1234567890-abcdef",
    "AKIAIOSFODNN7EXAMPLE",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA...",
    "3f786850e387550fdab836ed7e6dc881de23001b", // hex, 40
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", // sha-256 hex
    "q83vEjRGRk3mTL8sYpX2hN4uWb6Zc1Ad9oKfIgJtVe7", // base64-ish random
    "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1u", // base64
    "curl -H 'Authorization: Bearer ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234' https://x",
  ];
  const plain = [
    "hello world",
    "fleet_secrets_set",
    "/usr/local/lib/node_modules/typescript/bin/tsc",
    "/Users/JohnSmith/Projects/app2024/src/index.ts",
    "https://github.com/modelcontextprotocol/typescript-sdk/blob/main/README.md",
    "550e8400-e29b-41d4-a716-446655440000",
    "internationalization-and-localization-support-v2",
    "my-app-production-database-cluster-01-replica-02",
    "SELECT name, email FROM users WHERE created_at > '2024-01-01' ORDER BY id",
    "skip-this-one",
    "a".repeat(64),
  ];

  it.each(tokens)("recognises %s", (t) => expect(looksLikeToken(t)).toBe(true));
  it.each(plain)("leaves %s", (t) => expect(looksLikeToken(t)).toBe(false));

  it("redacts token-shaped strings anywhere: under plain names, in arrays, at the top", () => {
    const r = redactorIn();
    const [tok] = tokens;
    const out = r.redact({ headers: [tok, "text/plain"], note: tok, n: 3 }) as {
      headers: unknown[];
      note: unknown;
      n: number;
    };
    expect(isMarker(out.headers[0])).toBe(true);
    expect(out.headers[1]).toBe("text/plain");
    expect(isMarker(out.note)).toBe(true);
    expect(out.n).toBe(3);
    expect(isMarker(r.redact(tok))).toBe(true);
    expect(r.redact("plain")).toBe("plain");
  });
});

describe("keyed hashes", () => {
  it("keeps equal secrets equal and different ones different; never stores the secret", () => {
    const r = redactorIn();
    const a = r.redact({ password: "hunter2" });
    const b = r.redact({ different_password: "hunter2" }) as Record<string, unknown>;
    const c = r.redact({ password: "hunter3" });
    expect((a as Record<string, unknown>).password).toEqual(b.different_password);
    expect(a).not.toEqual(c);
    expect(JSON.stringify([a, b, c])).not.toContain("hunter");
    expect(a).toEqual({ password: { $redacted: r.hashValue("hunter2") } });
    expect(r.hashValue({ x: 1, y: 2 })).toBe(r.hashValue({ y: 2, x: 1 }));
  });

  it("creates the key file 0600 on first use and reuses it; another key, other hashes", () => {
    const dir = tempDir();
    const keyFile = join(dir, "rec.sqlite.key");
    const first = createRedactor({ keyFile, enabled: true });
    expect(existsSync(keyFile)).toBe(false);
    const h = first.hashValue("s3cret");
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, "utf8").trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(createRedactor({ keyFile, enabled: true }).hashValue("s3cret")).toBe(h);
    expect(redactorIn().hashValue("s3cret")).not.toBe(h);
  });

  it("does not modify its input, and redacting twice changes nothing more", () => {
    const r = redactorIn();
    const input = { password: "pw", list: ["ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234"], ok: 1 };
    const copy = structuredClone(input);
    const once = r.redact(input);
    expect(input).toEqual(copy);
    expect(r.redact(once)).toEqual(once);
  });

  it("disabled (--redact none): values pass unchanged and no key is made", () => {
    const dir = tempDir();
    const keyFile = join(dir, "k");
    const r = createRedactor({ keyFile, enabled: false });
    const v = { password: "pw", token: "ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234" };
    expect(r.redact(v)).toBe(v);
    expect(existsSync(keyFile)).toBe(false);
  });

  it("a missing key it may not create, or a key file holding something else: StoreError", () => {
    const dir = tempDir();
    const missing = createRedactor({ keyFile: join(dir, "k1"), enabled: true, createKey: false });
    expect(() => missing.hashValue("x")).toThrow(StoreError);
    expect(existsSync(join(dir, "k1"))).toBe(false);
    writeFileSync(join(dir, "k2"), "not a key\n");
    const bad = createRedactor({ keyFile: join(dir, "k2"), enabled: true });
    expect(() => bad.redact({ password: "x" })).toThrow(/not a redaction key/);
  });
});

/** `levels` arrays, one inside the other, around `inner`. */
function nested(levels: number, inner: unknown): unknown {
  let v = inner;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

describe("untrusted shapes", () => {
  it("a value nested far deeper than any message may be does not overflow the stack", () => {
    const r = redactorIn();
    const deep = nested(100_000, "ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234");
    const out = r.redact({ note: deep, password: deep, ok: nested(10, "x") }) as Record<
      string,
      unknown
    >;
    let v = out.note;
    for (let i = 0; i < MAX_DEPTH - 1; i++) v = (v as unknown[])[0];
    expect(v).toBe(TOO_DEEP);
    // Under a secret name the whole value would be hashed: too deep to hash, it is TOO_DEEP.
    expect(out.password).toBe(TOO_DEEP);
    expect(JSON.stringify(out)).not.toContain("ghp_");
    expect(JSON.stringify(out.ok)).toBe(JSON.stringify(nested(10, "x")));
  });

  it("only a well-formed marker passes unread: one an agent made up is walked", () => {
    const r = redactorIn();
    const tok = "ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234";
    const fake = { $redacted: tok };
    const out = r.redact({ a: fake, password: { $truncated: "pw" } }) as Record<string, unknown>;
    expect(out.a).toEqual({ $redacted: { $redacted: r.hashValue(tok) } });
    expect(isMarker(out.password)).toBe(true);
    const real = r.redact({ a: tok });
    expect(r.redact(real)).toBe(real);
  });

  it("says whether it is on", () => {
    expect(redactorIn().enabled).toBe(true);
    expect(createRedactor({ keyFile: join(tempDir(), "k"), enabled: false }).enabled).toBe(false);
  });
});

// `record --counters redis://...`: proxies with their own recordings share one count through
// the real Redis; with Redis unreachable, limited calls are refused and others go on.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseCountersUrl } from "../../src/cli/record-command.js";
import { deletePrefix, REDIS_URL, redisUp } from "./redis-available.js";
import { startRecord } from "./record-process.js";

const dir = mkdtempSync(join(tmpdir(), "policy-replay-redis-"));
const PREFIX = `test-policy-replay-record:${process.pid}`;
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (redisUp) await deletePrefix(PREFIX);
});

const policy = join(dir, "policy.json");
writeFileSync(
  policy,
  JSON.stringify({
    version: "1",
    default: "allow",
    tools: {
      limited: { limits: [{ counter: "secrets", window: "hour", max: 3, scope: "grant" }] },
    },
  }),
);

/** One `record` process: call each of `tools` one after another, and leave. */
async function proxy(
  db: string,
  url: string,
  tools: string[],
): Promise<{ codes: string[]; stderr: string }> {
  const p = await startRecord([
    "--policy",
    policy,
    "--db",
    db,
    "--identity",
    "agent-ops",
    "--counters",
    url,
    "--counters-prefix",
    PREFIX,
  ]);
  const codes: string[] = [];
  for (const [i, name] of tools.entries()) {
    const a = await p.request({
      id: i + 1,
      method: "tools/call",
      params: { name, arguments: {} },
    });
    codes.push(a.result?._meta?.["policy-replay/decision"]?.code ?? "answered");
  }
  const { code, stderr } = await p.close();
  expect(code).toBe(0);
  return { codes, stderr };
}

describe.skipIf(!redisUp)(`record --counters ${REDIS_URL}`, () => {
  it("three proxies, one recording each: a 3-an-hour grant limit allows 3 in all", async () => {
    const runs = [];
    for (let p = 0; p < 3; p++)
      runs.push(await proxy(join(dir, `p${p}.sqlite`), REDIS_URL, ["limited", "limited"]));
    const codes = runs.flatMap((r) => r.codes);
    expect(codes.filter((c) => c === "answered")).toHaveLength(3);
    expect(codes.filter((c) => c === "rate_limited")).toHaveLength(3);
    expect(runs.map((r) => r.stderr)).toEqual(["", "", ""]);
  });
});

describe("record --counters with Redis unreachable", () => {
  it("starts, refuses limited calls counters_unavailable, passes others on, and says so once", async () => {
    const r = await proxy(join(dir, "down.sqlite"), "redis://127.0.0.1:1", [
      "limited",
      "other",
      "limited",
    ]);
    expect(r.codes).toEqual(["counters_unavailable", "answered", "counters_unavailable"]);
    expect(
      r.stderr.match(/counters: Redis at redis:\/\/127\.0\.0\.1:1 does not answer/g),
    ).toHaveLength(1);
  });
});

describe("parseCountersUrl", () => {
  it("takes redis:// URLs with a database, and names them without a password", () => {
    expect(parseCountersUrl("redis://h:6379/2")).toEqual({
      url: "redis://h:6379/2",
      shown: "redis://h:6379/2",
    });
    expect(parseCountersUrl("redis://:secret@h:6379").shown).toBe("redis://h:6379");
    expect(parseCountersUrl("unix:///run/redis/redis.sock?db=2")).toEqual({
      url: "unix:///run/redis/redis.sock?db=2",
      shown: "unix:///run/redis/redis.sock?db=2",
    });
    for (const bad of [
      "http://h:1",
      "redis://h:1/x",
      "h:6379",
      "redis://h:1/0?x=1",
      "unix://host/run/redis.sock",
      "unix:///",
      "unix:///run/redis.sock?x=1",
    ])
      expect(() => parseCountersUrl(bad)).toThrow(/--counters: expected a Redis URL/);
  });
});

// Whether the real Redis the tests need answers (not a test file itself). On a developer's
// machine its tests are skipped with a visible reason; in CI they must run.
import { Redis } from "ioredis";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** Whether Redis answers a PING within a second. */
async function probe(): Promise<boolean> {
  const c = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
  });
  c.on("error", () => {});
  try {
    await c.connect();
    return (await c.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

export const redisUp = await probe();
if (!redisUp && process.env.CI === "true") {
  throw new Error(`Redis at ${REDIS_URL} does not answer, and CI needs these tests to run`);
}
if (!redisUp) console.warn(`Redis tests skipped: Redis at ${REDIS_URL} does not answer`);

/** Delete every key under `prefix:` (and only those). */
export async function deletePrefix(prefix: string): Promise<void> {
  const c = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await c.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      if (keys.length > 0) await c.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    c.disconnect();
  }
}

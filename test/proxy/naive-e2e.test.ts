// Through the real `record` command over stdio, in front of the naive server fixture (which runs
// every tools/call it receives): only decided, allowed calls ever run.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startRecord } from "./record-process.js";

const dir = mkdtempSync(join(tmpdir(), "policy-replay-naive-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("record in front of a naive server", () => {
  it("a notification-form call and an array-named call never reach it", async () => {
    const policy = join(dir, "policy.json");
    writeFileSync(
      policy,
      JSON.stringify({ version: "1", default: "allow", tools: { denied: { action: "deny" } } }),
    );
    const log = join(dir, "ran.jsonl");
    const p = await startRecord(["--policy", policy, "--db", join(dir, "rec.sqlite")], {
      NAIVE_SERVER_LOG: log,
    });
    p.send({ jsonrpc: "2.0", method: "tools/call", params: { name: "denied" } });
    const arrayNamed = await p.request({
      id: 1,
      method: "tools/call",
      params: { name: ["denied"] },
    });
    await p.request({ id: 2, method: "tools/call", params: { name: "denied" } });
    await p.request({ id: 3, method: "tools/call", params: { name: "safe" } });
    expect((await p.close()).code).toBe(0);
    const ran = existsSync(log)
      ? readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { name: string })
      : [];
    expect(ran.map((r) => r.name)).toEqual(["safe"]);
    expect(arrayNamed.error?.code).toBe(-32602);
  });
});

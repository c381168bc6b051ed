// A standing guard: random and mutated JSON-RPC frames (wrong types in every field,
// notifications in place of requests, batches, huge and deep values, invalid UTF-8) through the
// real stdio transport and relay, in front of the naive server that runs whatever it receives.
// Whatever arrives: the server never runs a call the policy did not allow, the proxy never
// ends, and every frame is recorded.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { createRedactor } from "../../src/store/redact.js";
import { naiveRig } from "./naive.js";

const dir = mkdtempSync(join(tmpdir(), "policy-replay-fuzz-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const redactor = createRedactor({ keyFile: join(dir, "k.key"), enabled: true });

const POLICY = {
  version: "1",
  default: "deny",
  hide: ["hidden_tool"],
  tools: {
    safe: { deny_if: [{ path: "args.mode", op: "eq", value: "danger" }] },
    limited: { limits: [{ counter: "l", window: "minute", max: 2, scope: "session" }] },
    approve_me: { action: "require_approval" },
    "s*": { action: "allow" },
  },
};

const NAMES = ["safe", "denied", "hidden_tool", "approve_me", "limited", "sx", "", "SAFE"];

const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(...NAMES),
  fc.constantFrom(...NAMES).map((n) => [n]),
  fc.constantFrom(...NAMES).map((n) => ({ name: n })),
);
const id = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.constant(null),
  fc.constant(undefined),
  fc.double(),
  fc.constant([1]),
  fc.constant({ a: 1 }),
);
const method = fc.oneof(
  { weight: 6, arbitrary: fc.constant("tools/call") },
  fc.constantFrom("tools/list", "ping", "initialize", "notifications/cancelled", "tools/Call"),
  fc.string({ maxLength: 12 }),
);
const params = fc.oneof(
  fc.record(
    {
      name: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...NAMES) }, anyValue),
      arguments: fc.oneof(
        fc.dictionary(fc.constantFrom("mode", "token", "x", "__proto__"), anyValue, { maxKeys: 3 }),
        anyValue,
      ),
    },
    { requiredKeys: [] },
  ),
  anyValue,
);

/** A message as a value, with any field missing or of any type. */
const message = fc
  .record(
    {
      jsonrpc: fc.oneof({ weight: 5, arbitrary: fc.constant("2.0") }, anyValue),
      id,
      method,
      params,
    },
    { requiredKeys: [] },
  )
  .map((m) => JSON.stringify(m));

/** Values too deep or too big for comfort, in place of the arguments. */
const hostile = fc.oneof(
  fc
    .integer({ min: 200, max: 20_000 })
    .map(
      (d) =>
        `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"safe","arguments":{"a":${"[".repeat(d)}${"]".repeat(d)}}}}`,
    ),
  fc
    .integer({ min: 1, max: 300_000 })
    .map(
      (n) =>
        `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"safe","arguments":{"t":"${"eyJ-".repeat(n >> 2)}"}}}`,
    ),
  fc.array(message, { minLength: 1, maxLength: 3 }).map((ms) => `[${ms.join(",")}]`),
);

/** A frame mutated at the byte level: cut, a byte changed, invalid UTF-8 spliced in. */
const mutated = fc
  .tuple(
    message,
    fc.nat(),
    fc.constantFrom("cut", "byte", "utf8"),
    fc.integer({ min: 0, max: 255 }),
  )
  .map(([text, at, how, byte]) => {
    const b = Buffer.from(text, "utf8");
    const i = at % (b.length + 1);
    if (how === "cut") return b.subarray(0, i);
    const bad =
      how === "utf8" ? Buffer.from([0xc3, 0x28, 0xff]) : Buffer.from([byte === 10 ? 32 : byte]);
    return Buffer.concat([b.subarray(0, i), bad, b.subarray(i + (how === "byte" ? 1 : 0))]);
  });

const frame = fc.oneof(
  { weight: 6, arbitrary: message },
  { weight: 3, arbitrary: mutated },
  { weight: 1, arbitrary: hostile },
);

describe("fuzz: hostile frames through the relay in front of a naive server", () => {
  it("never runs an undecided or denied call, never ends, records every frame", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 8 }), async (frames) => {
        const rig = await naiveRig(POLICY, { redactor });
        try {
          let lines = 0;
          for (const f of frames) {
            const bytes = typeof f === "string" ? Buffer.from(f, "utf8") : f;
            rig.write(Buffer.concat([bytes, Buffer.from("\n")]));
            if (bytes.toString("utf8").trim() !== "") lines++;
          }
          await rig.settle();
          // Every call the server ran was decided under its exact name and id, and allowed.
          for (const ran of rig.ran) {
            const row = rig.store.decisions.find((d) => d.jsonrpcId === JSON.stringify(ran.id));
            expect(row, `ran ${JSON.stringify(ran)} without a decision`).toBeDefined();
            expect(row!.tool).toBe(ran.name);
            expect(row!.decision.decision).toBe("allow");
          }
          expect(rig.ran.length).toBeLessThanOrEqual(
            rig.store.decisions.filter((d) => d.decision.decision === "allow").length,
          );
          expect(rig.ended()).toBe(false);
          const fromAgent = rig.store.messages.filter((m) => m.direction === "client_to_server");
          expect(fromAgent.length).toBe(lines);
        } finally {
          await rig.close();
        }
      }),
      { numRuns: 400, seed: 20261205, endOnFailure: true },
    );
  });
});

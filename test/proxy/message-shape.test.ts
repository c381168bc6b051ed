// The check of a line's JSON-RPC shape without the SDK's schema must give exactly what the
// schema gives (the same messages accepted, the same keys in the same order, the same values),
// since what it returns is what the proxy forwards and records.
import { JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { commonShape, jsonRpcMessage } from "../../src/proxy/message-shape.js";

/** Every own key at every level, in order, with the values: what "the same" means here. */
function layout(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(layout);
  if (typeof v !== "object" || v === null) return Object.is(v, -0) ? "-0" : v;
  return Object.getOwnPropertyNames(v).map((k) => [
    k,
    layout(Object.getOwnPropertyDescriptor(v, k)!.value),
  ]);
}

/** What the schema gives for `line`'s value, and what jsonRpcMessage gives, laid out. */
function both(line: string): { schema: unknown; ours: unknown } {
  const parsed = JSONRPCMessageSchema.safeParse(JSON.parse(line));
  return {
    schema: parsed.success ? layout(parsed.data) : null,
    ours: layout(jsonRpcMessage(JSON.parse(line))),
  };
}

const LINES = [
  // What a session sends most: taken without the schema, in any key order.
  `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`,
  `{"jsonrpc":"2.0","id":"a-1","method":"tools/list"}`,
  `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
  `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"x"}}`,
  `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Echo: hi"}]}}`,
  `{"jsonrpc":"2.0","id":7,"result":{}}`,
  `{"jsonrpc":"2.0","id":-0,"method":"x"}`,
  `{"jsonrpc":"2.0","id":9007199254740991,"method":"x"}`,
  // The SDK's own order (its peers send these): rebuilt in the schema's, as the schema does.
  `{"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}},"jsonrpc":"2.0","id":1}`,
  `{"result":{"content":[{"type":"text","text":"Echo: hi"}]},"jsonrpc":"2.0","id":1}`,
  `{"method":"notifications/initialized","jsonrpc":"2.0"}`,
  `{"id":1,"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo"}}`,
  `{"jsonrpc":"2.0","method":"x","id":1}`,
  // (JSON.parse keeps the last of duplicate keys, as the schema then sees it.)
  `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"denied","name":"safe"}}`,
  // What the schema rebuilds, drops or strips: left to it.
  `{"jsonrpc":"2.0","id":1,"method":"x","params":{"b":1,"_meta":{"z":1,"progressToken":2},"a":2}}`,
  `{"jsonrpc":"2.0","method":"x","params":{"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"a","x":1}}}}`,
  `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"__proto__":{"name":"denied"},"name":"safe","arguments":{"__proto__":{"x":1}}}}`,
  `{"jsonrpc":"2.0","id":1,"result":{"__proto__":{"t":"x"},"x":1}}`,
  `{"jsonrpc":"2.0","id":1,"result":{"_meta":{"progressToken":"p","q":1},"content":[]}}`,
  `{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"no","data":{"a":1},"extra":1}}`,
  `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse"}}`,
  `{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse"}}`,
  // What the schema turns away: turned away.
  `{"jsonrpc":"2.0","id":9007199254740993,"method":"x"}`,
  `{"jsonrpc":"2.0","id":1.5,"method":"x"}`,
  `{"jsonrpc":"2.0","id":null,"method":"x"}`,
  `{"jsonrpc":"2.0","id":true,"method":"x"}`,
  `{"jsonrpc":"2.0","id":1,"method":"x","params":[1,2]}`,
  `{"jsonrpc":"2.0","id":1,"method":"x","params":null}`,
  `{"jsonrpc":"2.0","id":1,"method":7}`,
  `{"jsonrpc":"2.0","id":1,"result":[]}`,
  `{"jsonrpc":"2.0","id":1,"result":null}`,
  `{"jsonrpc":"2.0","id":1,"method":"x","extra":1}`,
  `{"jsonrpc":"2.0","id":1,"result":{},"method":"x"}`,
  `{"jsonrpc":"2.0","id":1,"method":"x","result":{}}`,
  `{"jsonrpc":"1.0","id":1,"method":"x"}`,
  `{"id":1,"method":"x"}`,
  `{"jsonrpc":"2.0"}`,
  `{"jsonrpc":"2.0","id":1}`,
  `[{"jsonrpc":"2.0","id":1,"method":"x"}]`,
  `"jsonrpc"`,
  `null`,
  `42`,
];

describe("jsonRpcMessage", () => {
  it.each(LINES)("gives what the SDK's schema gives: %s", (line) => {
    const { schema, ours } = both(line);
    expect(ours).toEqual(schema);
  });

  it("takes the shapes a session sends most without the schema", () => {
    for (const line of LINES.slice(0, 14)) expect(commonShape(JSON.parse(line))).not.toBeNull();
    for (const line of LINES.slice(14)) expect(commonShape(JSON.parse(line))).toBeNull();
  });

  it("gives what the schema gives for messages of any keys, order and values", () => {
    const key = fc.constantFrom(
      "jsonrpc",
      "id",
      "method",
      "params",
      "result",
      "error",
      "_meta",
      "__proto__",
      "name",
      "x",
    );
    const leaf = fc.oneof(
      fc.constantFrom("2.0", "1.0", "tools/call", "", null, true, 0, -0, 1.5, 2 ** 53, -7),
      fc.string({ maxLength: 4 }),
      fc.integer(),
    );
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: "small" },
        leaf,
        fc.array(tie("v"), { maxLength: 3 }),
        fc.dictionary(key, tie("v"), { maxKeys: 4 }),
      ),
    })).v;
    // Messages near the common shapes, their keys in any order.
    const near = fc
      .record(
        {
          jsonrpc: fc.constantFrom("2.0", "2.0", "2.0", "1.0"),
          id: fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), leaf),
          method: fc.oneof(fc.constantFrom("tools/call", "ping"), leaf),
          params: fc.oneof(fc.dictionary(key, value, { maxKeys: 4 }), value),
          result: fc.oneof(fc.dictionary(key, value, { maxKeys: 4 }), value),
          error: fc.oneof(
            fc.record(
              { code: fc.integer(), message: fc.string(), data: value },
              { requiredKeys: [] },
            ),
            value,
          ),
          x: value,
        },
        { requiredKeys: [] },
      )
      .chain((m) => fc.shuffledSubarray(Object.entries(m), { minLength: 0 }))
      .map((entries) => JSON.stringify(Object.fromEntries(entries)));
    // And messages with just the common shapes' keys, in either order, any values.
    const id = fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), leaf);
    const level = fc.oneof(fc.dictionary(key, value, { maxKeys: 4 }), value);
    const ordered = fc
      .oneof(
        fc.record({ id, method: leaf, params: level }, { requiredKeys: ["method"] }),
        fc.record({ id, result: level }),
      )
      .chain((m) => fc.shuffledSubarray(Object.entries({ jsonrpc: "2.0", ...m }), { minLength: 2 }))
      .map((entries) => JSON.stringify(Object.fromEntries(entries)));
    let common = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          near,
          ordered,
          value.map((v) => JSON.stringify(v) ?? "null"),
        ),
        (line) => {
          const { schema, ours } = both(line);
          expect(ours).toEqual(schema);
          if (commonShape(JSON.parse(line)) !== null) common++;
        },
      ),
      { numRuns: 3000, seed: 20261208 },
    );
    // The generator reaches the shapes taken without the schema, not only the others.
    expect(common).toBeGreaterThan(100);
  });
});

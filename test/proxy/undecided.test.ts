// Nothing reaches the server that was not decided: tools/call in every malformed form, sent to
// a naive server that would run it, never arrives; the server gets exactly the decided call.
import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore } from "./memory-store.js";
import { line, naiveRig, type NaiveRig } from "./naive.js";

const POLICY = {
  version: "1",
  default: "allow",
  hide: ["hidden_tool"],
  tools: { denied: { action: "deny", reason: "no" }, "*": { action: "allow" } },
};

let rig: NaiveRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const call = (id: unknown, params: unknown): string =>
  line({ jsonrpc: "2.0", id, method: "tools/call", params });

describe("undecided tools/call never reaches the server", () => {
  it.each([
    ["default deny", { version: "1", default: "deny" }],
    ["default allow", POLICY],
  ])("a tools/call notification (no id) is dropped and recorded (%s)", async (_, policy) => {
    rig = await naiveRig(policy);
    rig.write(line({ jsonrpc: "2.0", method: "tools/call", params: { name: "safe" } }));
    await rig.settle();
    expect(rig.ran).toEqual([]);
    expect(rig.out).toEqual([]);
    expect(rig.store.decisions).toEqual([]);
    expect(rig.store.messages).toHaveLength(1);
    expect(rig.store.messages[0]!.message).toMatchObject({
      $malformed: { method: "tools/call" },
      reason: "tools/call sent as a notification",
    });
    expect(rig.logs.join("\n")).toMatch(/dropped, not forwarded/);
  });

  it.each([
    ["an array", ["denied"]],
    ["an array naming a hidden tool", ["hidden_tool"]],
    ["an object", { toString: "denied" }],
    ["a number", 7],
    ["null", null],
    ["missing", undefined],
  ])("params.name that is %s: -32602, recorded, not forwarded", async (_, name) => {
    rig = await naiveRig(POLICY);
    rig.write(call(1, name === undefined ? {} : { name }));
    await rig.settle();
    expect(rig.ran).toEqual([]);
    expect(rig.out).toEqual([
      { jsonrpc: "2.0", id: 1, error: { code: -32602, message: expect.stringMatching(/name/) } },
    ]);
    expect(rig.store.decisions).toEqual([]);
    expect(rig.store.messages[0]!.method).toBeNull();
  });

  it.each([
    ["params an array", ["denied"]],
    ["params a string", "denied"],
    ["params null", null],
    ["arguments an array", { name: "safe", arguments: [1] }],
    ["arguments a string", { name: "safe", arguments: "rm -rf /" }],
    ["arguments null", { name: "safe", arguments: null }],
  ])("%s: an error for its id, recorded, not forwarded", async (_, params) => {
    rig = await naiveRig(POLICY);
    rig.write(call("a", params));
    await rig.settle();
    expect(rig.ran).toEqual([]);
    expect(rig.out).toMatchObject([{ id: "a", error: {} }]);
    // -32600 where the transport already finds no JSON-RPC request, -32602 past it.
    expect([-32600, -32602]).toContain((rig.out[0] as { error: { code: number } }).error.code);
    expect(rig.store.decisions).toEqual([]);
    expect(rig.store.messages).toHaveLength(2); // the call, and the proxy's answer
  });

  it("a tools/call without params is a request whose params are missing: -32602", async () => {
    rig = await naiveRig(POLICY);
    rig.write(line({ jsonrpc: "2.0", id: 3, method: "tools/call" }));
    await rig.settle();
    expect(rig.ran).toEqual([]);
    expect(rig.out).toMatchObject([{ id: 3, error: { code: -32602 } }]);
  });

  it("refused even in observe mode, where every decided call is forwarded", async () => {
    rig = await naiveRig({ version: "1", default: "deny" }, { mode: "observe" });
    rig.write(call(1, { name: ["denied"] }));
    rig.write(line({ jsonrpc: "2.0", method: "tools/call", params: { name: "denied" } }));
    rig.write(call(2, { name: "denied" }));
    await rig.settle();
    expect(rig.ran).toEqual([{ name: "denied", arguments: null, id: 2 }]);
  });

  it("the server gets the decided values: duplicate keys and __proto__ cannot smuggle a name", async () => {
    rig = await naiveRig({ version: "1", default: "deny", tools: { safe: {} } });
    // JSON.parse keeps the last of two keys; the forwarded call is re-serialised from the
    // decided values, so the server cannot read the first one.
    rig.write(
      `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"denied","name":"safe"}}\n`,
    );
    rig.write(
      `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"__proto__":{"name":"denied"},"name":"safe","arguments":{"__proto__":{"x":1}}}}\n`,
    );
    rig.write(
      `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"__proto__":{"name":"safe"}}}\n`,
    );
    await rig.settle();
    const decided = rig.store.decisions.map((d) => [d.tool, d.decision.decision]);
    expect(rig.ran.map((r) => r.name)).toEqual(
      decided.filter(([, d]) => d === "allow").map(([t]) => t),
    );
    expect(rig.ran.every((r) => r.name === "safe")).toBe(true);
  });

  it("a well-formed call still goes through, with its arguments", async () => {
    rig = await naiveRig(POLICY);
    rig.write(call(1, { name: "safe", arguments: { a: 1 }, _meta: { progressToken: "p" } }));
    rig.write(call(2, { name: "denied" }));
    await rig.settle();
    expect(rig.ran).toEqual([{ name: "safe", arguments: { a: 1 }, id: 1 }]);
    expect(rig.out).toMatchObject([
      { id: 1, result: {} },
      { id: 2, result: { isError: true } },
    ]);
  });
});

/** A MemoryStore whose writes fail while `down` is set, as a locked or full file does. */
class FailingStore extends MemoryStore {
  down = false;
  private check(): void {
    if (this.down) throw new Error("database is locked");
  }
  override recordDecision(...a: Parameters<MemoryStore["recordDecision"]>): number {
    this.check();
    return super.recordDecision(...a);
  }
  override recordMessage(...a: Parameters<MemoryStore["recordMessage"]>): void {
    this.check();
    super.recordMessage(...a);
  }
  override recordOutcome(...a: Parameters<MemoryStore["recordOutcome"]>): void {
    this.check();
    super.recordOutcome(...a);
  }
}

describe("the audit log fails: the proxy fails closed and recovers", () => {
  it("a call whose decision cannot be written gets -32000 and is not forwarded; said once", async () => {
    const store = new FailingStore();
    rig = await naiveRig(POLICY, { store });
    store.down = true;
    rig.write(call(1, { name: "safe" }));
    rig.write(call(2, { name: "safe" }));
    rig.write(line({ jsonrpc: "2.0", id: 3, method: "ping" }));
    await rig.settle();
    expect(rig.ran).toEqual([]);
    expect(rig.out).toEqual([
      {
        jsonrpc: "2.0",
        id: 1,
        error: {
          code: -32000,
          message: expect.stringContaining("audit log unavailable: database is locked"),
        },
      },
      expect.objectContaining({ id: 2, error: expect.objectContaining({ code: -32000 }) }),
      { jsonrpc: "2.0", id: 3, result: {} },
    ]);
    expect(rig.logs.filter((l) => l.startsWith("audit log unavailable"))).toHaveLength(1);

    store.down = false;
    rig.write(call(4, { name: "safe" }));
    await rig.settle();
    expect(rig.ran).toEqual([{ name: "safe", arguments: null, id: 4 }]);
    expect(rig.logs.filter((l) => l.startsWith("audit log writable again"))).toHaveLength(1);
    expect(rig.ended()).toBe(false);
  });

  it("an answer whose outcome cannot be written still reaches the agent", async () => {
    const store = new FailingStore();
    rig = await naiveRig(POLICY, { store });
    const original = store.recordDecision.bind(store);
    store.recordDecision = (d) => {
      const id = original(d);
      store.down = true; // the disk fills right after the decision row
      return id;
    };
    rig.write(call(1, { name: "safe" }));
    await rig.settle();
    expect(rig.ran).toHaveLength(1);
    expect(rig.out).toMatchObject([{ id: 1, result: { content: [{ text: "ran safe" }] } }]);
  });
});

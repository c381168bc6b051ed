import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, describe, expect, it } from "vitest";
import { approvalPrompt, redactHead, redactMessage } from "../../src/proxy/redact-message.js";
import { createRedactor, MAX_DEPTH, TOO_DEEP } from "../../src/store/redact.js";

const dir = mkdtempSync(join(tmpdir(), "policy-replay-redact-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const r = createRedactor({ keyFile: join(dir, "rec.sqlite.key"), enabled: true });

const GHP = "ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234";
const marker = (v: unknown) => ({ $redacted: r.hashValue(v) });
const msg = (m: object) => m as JSONRPCMessage;
const redacted = (m: object): unknown => redactMessage(msg(m), r);
/** The member at `path` of a redacted message. */
const at = (v: unknown, ...path: (string | number)[]): unknown =>
  path.reduce((o, k) => (o as Record<string | number, unknown>)[k], v);

describe("redactMessage: every message body", () => {
  it("a tools/call: arguments by name and shape; its name, method, id and progress token kept", () => {
    const m = {
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: {
        name: "deploy",
        arguments: { app: "web", password: "hunter2", note: GHP },
        _meta: { progressToken: "tok-1" },
      },
    };
    const out = redacted(m);
    expect(out).toEqual({
      ...m,
      params: {
        ...m.params,
        arguments: { app: "web", password: marker("hunter2"), note: marker(GHP) },
      },
    });
    expect(at(out, "params", "arguments")).toEqual(r.redact(m.params.arguments));
    expect(m.params.arguments.password).toBe("hunter2"); // the input is left alone
  });

  it("a result whose text echoes a token: the text is redacted, with the call's hash", () => {
    const call = redacted({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "login", arguments: { user: "ann", pat: GHP } },
    });
    const answer = redacted({
      jsonrpc: "2.0",
      id: 1,
      result: {
        content: [
          { type: "text", text: GHP },
          { type: "text", text: `token ${GHP}` },
        ],
      },
    });
    expect(at(answer, "result", "content", 0, "text")).toEqual(
      at(call, "params", "arguments", "pat"),
    );
    expect(at(answer, "result", "content", 1, "text")).toEqual(marker(`token ${GHP}`));
    expect(JSON.stringify(answer)).not.toContain("ghp_");
  });

  it("an error, structured content and a server's own requests are read for tokens too", () => {
    const error = redacted({
      jsonrpc: "2.0",
      id: 2,
      error: { code: -32000, message: `bad credentials ${GHP}`, data: { echo: [GHP] } },
    });
    expect(at(error, "error", "code")).toBe(-32000);
    expect(at(error, "error", "message")).toEqual(marker(`bad credentials ${GHP}`));
    expect(at(error, "error", "data", "echo", 0)).toEqual(marker(GHP));
    const sampling = redacted({
      jsonrpc: "2.0",
      id: "s-1",
      method: "sampling/createMessage",
      params: { messages: [{ role: "user", content: { type: "text", text: `use ${GHP}` } }] },
    });
    expect(at(sampling, "params", "messages", 0, "content", "text")).toEqual(marker(`use ${GHP}`));
    const structured = redacted({
      jsonrpc: "2.0",
      id: 3,
      result: { content: [], structuredContent: { key: "k-1", secret: GHP } },
    });
    // Outside argument maps, names say nothing: "key" stays, the token-shaped value goes.
    expect(at(structured, "result", "structuredContent")).toEqual({
      key: "k-1",
      secret: marker(GHP),
    });
  });

  it("prompts/get arguments are argument maps: a password is redacted by its name", () => {
    const out = redacted({
      jsonrpc: "2.0",
      id: 4,
      method: "prompts/get",
      params: { name: "connect", arguments: { host: "db", password: "hunter2" } },
    });
    expect(at(out, "params")).toEqual({
      name: "connect",
      arguments: { host: "db", password: marker("hunter2") },
    });
  });

  it("a resources/read URI holding a token is redacted whole", () => {
    const uri = `https://api.example.com/repos?access_token=${GHP}`;
    const out = redacted({ jsonrpc: "2.0", id: 5, method: "resources/read", params: { uri } });
    expect(out).toEqual({
      jsonrpc: "2.0",
      id: 5,
      method: "resources/read",
      params: { uri: marker(uri) },
    });
  });

  it("an elicitation answer's content is an argument map; completion values go by their name", () => {
    const answer = redacted({
      jsonrpc: "2.0",
      id: 6,
      result: { action: "accept", content: { user: "ann", password: "hunter2", approve: true } },
    });
    expect(at(answer, "result", "content")).toEqual({
      user: "ann",
      password: marker("hunter2"),
      approve: true,
    });
    const completion = redacted({
      jsonrpc: "2.0",
      id: 8,
      method: "completion/complete",
      params: {
        ref: { type: "ref/prompt", name: "connect" },
        argument: { name: "password", value: "hun" },
        context: { arguments: { token: "abc", host: "db" } },
      },
    });
    expect(at(completion, "params", "argument")).toEqual({
      name: "password",
      value: marker("hun"),
    });
    expect(at(completion, "params", "context", "arguments")).toEqual({
      token: marker("abc"),
      host: "db",
    });
  });

  it("a tools/list answer with a `key` property in a schema is the same object, byte for byte", () => {
    const m = {
      jsonrpc: "2.0",
      id: 9,
      result: {
        tools: [
          {
            name: "fleet_secrets_set",
            description: "Set a secret value for an app",
            inputSchema: {
              type: "object",
              properties: {
                app: { type: "string" },
                key: { type: "string", description: "the secret's name" },
                value: { type: "string" },
                token: { type: "string", default: "none" },
              },
              required: ["app", "key", "value"],
            },
          },
        ],
        nextCursor: "page-2",
      },
    };
    const text = JSON.stringify(m);
    const out = redactMessage(msg(m), r);
    expect(out).toBe(m);
    expect(JSON.stringify(out)).toBe(text);
  });

  it("a tools/list answer keeps tool names even when they look like tokens", () => {
    const odd = "q83vEjRGRk3mTL8sYpX2hN4uWb6Zc1Ad9oKfIgJtVe7";
    const out = redacted({
      jsonrpc: "2.0",
      id: 10,
      result: { tools: [{ name: odd, description: `see ${GHP}`, inputSchema: {} }] },
    });
    expect(at(out, "result", "tools", 0, "name")).toBe(odd);
    expect(at(out, "result", "tools", 0, "description")).toEqual(marker(`see ${GHP}`));
  });

  it("a message with nothing to hide comes back as itself; a disabled redactor walks nothing", () => {
    const m = msg({
      jsonrpc: "2.0",
      id: 11,
      method: "tools/call",
      params: { name: "echo", arguments: { message: "hello", n: 3, flags: [true, null] } },
    });
    expect(redactMessage(m, r)).toBe(m);
    const off = createRedactor({ keyFile: join(dir, "off.key"), enabled: false });
    const secret = msg({ jsonrpc: "2.0", id: 12, result: { text: GHP } });
    expect(redactMessage(secret, off)).toBe(secret);
  });

  it("a member named __proto__ is data, not a prototype", () => {
    const m = JSON.parse(
      `{"jsonrpc":"2.0","id":1,"result":{"__proto__":{"t":"${GHP}"},"x":1}}`,
    ) as JSONRPCMessage;
    const out = redactMessage(m, r) as unknown as { result: Record<string, unknown> };
    expect(Object.getPrototypeOf(out.result)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out.result, "__proto__")?.value).toEqual({
      t: marker(GHP),
    });
  });

  it("a value nested 100,000 levels deep ends in TOO_DEEP, without overflowing the stack", () => {
    let deep: unknown = GHP;
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const out = redacted({ jsonrpc: "2.0", id: 13, result: { deep } });
    let v: unknown = at(out, "result", "deep");
    let levels = 0;
    while (v !== TOO_DEEP) {
      v = (v as { a: unknown }).a;
      levels++;
    }
    expect(levels).toBeLessThan(MAX_DEPTH);
    expect(JSON.stringify(out)).not.toContain("ghp_");
    const call = redacted({
      jsonrpc: "2.0",
      id: 14,
      method: "tools/call",
      params: { name: "x", arguments: { deep, password: deep } },
    });
    expect(at(call, "params", "arguments", "password")).toBe(TOO_DEEP);
    expect(JSON.stringify(call)).not.toContain("ghp_");
  });
});

describe("approvalPrompt", () => {
  it("shows redacted arguments, by the start of their hash; recording it changes nothing", () => {
    const args = { app: "web", password: "hunter2", note: GHP };
    const text = approvalPrompt("deploy", "needs a human", args, r);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("ghp_");
    const short = (v: string) => `‹redacted ${r.hashValue(v).slice("hmac-sha256:".length, 20)}›`;
    expect(text).toBe(
      `Allow the agent to call deploy? (needs a human)\n` +
        JSON.stringify({ app: "web", password: short("hunter2"), note: short(GHP) }),
    );
    expect(approvalPrompt("echo", null, undefined, r)).toBe("Allow the agent to call echo?\n{}");
    const request = msg({
      jsonrpc: "2.0",
      id: "policy-replay/approval/1",
      method: "elicitation/create",
      params: {
        message: text,
        requestedSchema: {
          type: "object",
          properties: { approve: { type: "boolean", title: "Approve this call?" } },
          required: ["approve"],
        },
      },
    });
    expect(redactMessage(request, r)).toBe(request);
  });
});

describe("redactHead", () => {
  it("masks secret-named values and token shapes in a line cut short", () => {
    const head = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"password":"hunter2","api_key":12345,"note":"cut off her`;
    expect(redactHead(head, r)).toBe(
      `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"password":"$redacted","api_key":"$redacted","note":"cut off her`,
    );
    expect(redactHead(`{"password":"hunt`, r)).toBe(`{"password":"$redacted"`);
    expect(redactHead(`not json ${GHP}`, r)).toEqual(marker(`not json ${GHP}`));
  });

  it("reads strings whole: a quote inside a string does not start a key", () => {
    expect(redactHead(`{"a":"x \\"password\\": y","b":1}`, r)).toBe(
      `{"a":"x \\"password\\": y","b":1}`,
    );
  });

  // A pattern restarted at every quote is quadratic here: far past the test timeout.
  it("is linear: a megabyte of escaped quotes or unfinished pairs", () => {
    expect(typeof redactHead(`"${'\\"'.repeat(1 << 19)}`, r)).toBe("string");
    expect(typeof redactHead(`"a"  `.repeat(1 << 18), r)).toBe("string");
  });
});

// Over Streamable HTTP, in front of the naive server fixture: a tools/call POSTed as a
// notification (answered 202 by the transport) or with an array for a name never runs.
import { MemoryCounters } from "../../src/proxy/counters.js";
import { afterEach, describe, expect, it } from "vitest";
import type { Ran } from "../../fixtures/servers/naive-server.mjs";
import { compile } from "../../src/engine/index.js";
import { parsePolicyText } from "../../src/policy/load.js";
import { serveHttp, type HttpProxy } from "../../src/proxy/http.js";
import { MemoryStore } from "./memory-store.js";
import { naiveUpstream } from "./naive.js";

let proxy: HttpProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

async function startNaive(store = new MemoryStore()): Promise<{ ran: Ran[]; url: string }> {
  const compiled = compile(
    parsePolicyText(
      JSON.stringify({ version: "1", default: "allow", tools: { denied: { action: "deny" } } }),
    ).policy,
  );
  const ran: Ran[] = [];
  proxy = await serveHttp({
    port: 0,
    upstream: () => {
      const { proxyEnd, serverEnd } = naiveUpstream(ran);
      void serverEnd.start();
      return proxyEnd;
    },
    compiled,
    policyHash: "h",
    counters: new MemoryCounters(compiled),
    mode: "enforce",
    store,
    redactor: { redact: (v) => v },
    approvalTimeoutMs: 1_000,
    log: () => {},
  });
  return { ran, url: proxy.url };
}

function poster(url: string) {
  let session = "";
  const post = async (body: object): Promise<{ status: number; text: string }> => {
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...(session ? { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" } : {}),
      },
      body: JSON.stringify(body),
    });
    session ||= res.headers.get("mcp-session-id") ?? "";
    return { status: res.status, text: await res.text() };
  };
  return { post, session: () => session };
}

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 0,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "t", version: "1" },
  },
};

describe("HTTP in front of a naive server", () => {
  it("a notification-form call and an array-named call never reach it", async () => {
    const { ran, url } = await startNaive();
    const { post, session } = poster(url);
    await post(INITIALIZE);
    expect(session()).not.toBe("");
    await post({ jsonrpc: "2.0", method: "notifications/initialized" });
    const note = await post({ jsonrpc: "2.0", method: "tools/call", params: { name: "denied" } });
    expect(note.status).toBe(202);
    const arrayNamed = await post({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: ["denied"] },
    });
    expect(arrayNamed.text).toContain("-32602");
    const safe = await post({
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "safe" },
    });
    expect(safe.text).toContain("ran safe");
    expect(ran.map((r) => r.name)).toEqual(["safe"]);
  });

  it("a session the store cannot record does not start: 503 with -32000, and nothing runs", async () => {
    const store = new MemoryStore();
    store.failWith("store_busy");
    const { ran, url } = await startNaive(store);
    const { post, session } = poster(url);
    const init = await post(INITIALIZE);
    expect(init.status).toBe(503);
    expect(init.text).toContain("audit log unavailable");
    expect(session()).toBe("");
    expect(ran).toEqual([]);
  });
});

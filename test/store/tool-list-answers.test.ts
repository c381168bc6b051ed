import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openStore, openStoreReadOnly } from "../../src/store/sqlite.js";
import { listAnswer, listRequest, message, session, tempDirs } from "./helpers.js";

const tempDir = tempDirs();

describe("toolListAnswers", () => {
  it("pairs each tools/list request with the server's first answer of the same id in its session", () => {
    const file = join(tempDir(), "rec.sqlite");
    const store = openStore(file, { checkpointWorker: false });
    store.startSession(session("s1"));
    store.startSession(session("s2"));
    for (const m of [
      listRequest(1, 1),
      // The server's own request may reuse the id: it has a method, so it is no answer.
      message(2, {
        direction: "server_to_client",
        method: "sampling/createMessage",
        jsonrpcId: "1",
        message: { jsonrpc: "2.0", id: 1, method: "sampling/createMessage" },
      }),
      // The proxy answering in the agent's place is not the server listing its tools.
      listAnswer(3, 1, ["from-proxy"], { direction: "proxy_to_client" }),
      listAnswer(4, 1, ["a", "b"]),
      listAnswer(5, 1, ["duplicate"]),
      // A tools/call answer is not a tools/list answer.
      message(6, { jsonrpcId: "2" }),
      listAnswer(7, 2, ["not-a-list"]),
      // The id reused by a later request: its own answer.
      listRequest(8, 1),
      listAnswer(9, 1, ["c"]),
      // Never answered.
      listRequest(10, 3),
      // Another session with the same id.
      listRequest(1, 1, { session: "s2" }),
      listAnswer(2, 1, ["z"], { session: "s2" }),
    ])
      store.recordMessage(m);
    store.close();

    const reader = openStoreReadOnly(file);
    const got = [...reader.toolListAnswers()].map((m) => [
      m.session,
      m.seq,
      (m.message as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name),
    ]);
    reader.close();
    expect(got).toEqual([
      ["s1", 4, ["a", "b"]],
      ["s1", 9, ["c"]],
      ["s2", 2, ["z"]],
    ]);
  });
});

describe("toolListings", () => {
  it("gives each answer's session, identity, policy and tool names; a malformed one reads as null", () => {
    const file = join(tempDir(), "rec.sqlite");
    const store = openStore(file, { checkpointWorker: false });
    store.startSession(session("s1"));
    store.startSession({ ...session("s2"), identity: "ci-bot", policyHash: "h2" });
    for (const m of [
      listRequest(1, 1),
      listAnswer(2, 1, ["a", "b"]),
      // Entries without a string name are no tools of the list.
      listRequest(3, 2),
      message(4, {
        direction: "server_to_client",
        method: null,
        jsonrpcId: "2",
        message: {
          jsonrpc: "2.0",
          id: 2,
          result: { tools: [{ name: 7 }, null, "c", { name: "d" }] },
        },
      }),
      // An error answer, and a result without a tools array.
      listRequest(5, 3),
      message(6, {
        direction: "server_to_client",
        method: null,
        jsonrpcId: "3",
        message: { jsonrpc: "2.0", id: 3, error: { code: -32603, message: "down" } },
      }),
      listRequest(1, 1, { session: "s2" }),
      listAnswer(2, 1, ["z"], { session: "s2" }),
      listRequest(3, 2, { session: "s2" }),
      listAnswer(4, 2, ["bytes"], { session: "s2" }),
    ])
      store.recordMessage(m);
    store.close();
    // Bytes that are not JSON at all, as a hostile or damaged file may hold.
    const db = new Database(file);
    db.prepare("UPDATE messages SET body = ? WHERE session = 's2' AND seq = 4").run("{not json");
    db.close();

    const reader = openStoreReadOnly(file);
    const got = [...reader.toolListings()].map((l) => [
      l.session,
      l.identity,
      l.policyHash,
      l.seq,
      l.tools,
    ]);
    expect(reader.sessionPolicies()).toEqual(["h1", "h2"]);
    reader.close();
    expect(got).toEqual([
      ["s1", "agent-a", "h1", 2, ["a", "b"]],
      ["s1", "agent-a", "h1", 4, ["d"]],
      ["s1", "agent-a", "h1", 6, null],
      ["s2", "ci-bot", "h2", 2, ["z"]],
      ["s2", "ci-bot", "h2", 4, null],
    ]);
  });
});

import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore, openStoreReadOnly } from "../../src/store/sqlite.js";
import type { MessageRecord } from "../../src/store/types.js";
import { message, session, tempDirs } from "./helpers.js";

const tempDir = tempDirs();

const list = (seq: number, id: number, over: Partial<MessageRecord> = {}): MessageRecord =>
  message(seq, {
    method: "tools/list",
    jsonrpcId: String(id),
    message: { jsonrpc: "2.0", id, method: "tools/list" },
    ...over,
  });
const answer = (seq: number, id: number, tools: string[], over: Partial<MessageRecord> = {}) =>
  message(seq, {
    direction: "server_to_client",
    method: null,
    jsonrpcId: String(id),
    message: { jsonrpc: "2.0", id, result: { tools: tools.map((name) => ({ name })) } },
    ...over,
  });

describe("toolListAnswers", () => {
  it("pairs each tools/list request with the server's first answer of the same id in its session", () => {
    const file = join(tempDir(), "rec.sqlite");
    const store = openStore(file, { checkpointWorker: false });
    store.startSession(session("s1"));
    store.startSession(session("s2"));
    for (const m of [
      list(1, 1),
      // The server's own request may reuse the id: it has a method, so it is no answer.
      message(2, {
        direction: "server_to_client",
        method: "sampling/createMessage",
        jsonrpcId: "1",
        message: { jsonrpc: "2.0", id: 1, method: "sampling/createMessage" },
      }),
      // The proxy answering in the agent's place is not the server listing its tools.
      answer(3, 1, ["from-proxy"], { direction: "proxy_to_client" }),
      answer(4, 1, ["a", "b"]),
      answer(5, 1, ["duplicate"]),
      // A tools/call answer is not a tools/list answer.
      message(6, { jsonrpcId: "2" }),
      answer(7, 2, ["not-a-list"]),
      // The id reused by a later request: its own answer.
      list(8, 1),
      answer(9, 1, ["c"]),
      // Never answered.
      list(10, 3),
      // Another session with the same id.
      list(1, 1, { session: "s2" }),
      answer(2, 1, ["z"], { session: "s2" }),
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

import { describe, expect, it } from "vitest";
import type { WriterRequest } from "../../src/store/protocol.js";
import { endIdleThreads, idleThreads, startThread, warmThreads } from "../../src/store/threads.js";

const exited = (w: { once(e: "exit", f: () => void): unknown }) =>
  new Promise<void>((resolve) => w.once("exit", () => resolve()));

describe("store threads started ahead of their work", () => {
  it("startThread hands out a warm thread first, then new ones", async () => {
    warmThreads("writer");
    expect(idleThreads()).toBe(1);
    const first = startThread("writer");
    expect(idleThreads()).toBe(0);
    const second = startThread("writer");
    expect(first).not.toBe(second);
    // Each waits for its work; a thread told to close ends.
    const ends = [exited(first), exited(second)];
    for (const w of [first, second]) {
      const start: WriterRequest = { type: "start", files: [], held: 1 };
      const close: WriterRequest = { type: "close" };
      w.postMessage(start);
      w.postMessage(close);
    }
    await Promise.all(ends);
  });

  it("endIdleThreads ends the threads nobody took", async () => {
    warmThreads("reader", 2);
    warmThreads("writer");
    expect(idleThreads()).toBe(3);
    await endIdleThreads();
    expect(idleThreads()).toBe(0);
  });
});

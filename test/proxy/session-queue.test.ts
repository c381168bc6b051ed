// A session's messages go on in arrival order, each once its own lookup has answered; lookups
// start in arrival order, as messages arrive, up to a bound.
import { describe, expect, it } from "vitest";
import { type Looked, SessionQueue } from "../../src/proxy/session-queue.js";

/** Lookups that answer when the test says so, by name. */
function lookups() {
  const out = new Map<string, { resolve: (v: string) => void; reject: (e: unknown) => void }>();
  const asked: string[] = [];
  const ask = (name: string) => (): Promise<string> => {
    asked.push(name);
    return new Promise((resolve, reject) => out.set(name, { resolve, reject }));
  };
  return { out, asked, ask };
}

function queue(maxOut?: number) {
  const went: string[] = [];
  const errors: unknown[] = [];
  const q = new SessionQueue<string, string>(
    (item, looked: Looked<string>) => {
      if (item === "throws") throw new Error("boom");
      went.push(
        "failed" in looked
          ? `${item}:failed`
          : looked.looked === null
            ? item
            : `${item}:${looked.looked}`,
      );
    },
    (err) => errors.push(err),
    maxOut,
  );
  return { q, went, errors };
}

/** Let settled promises' callbacks run. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("SessionQueue", () => {
  it("hands a message on at once when nothing is before it", () => {
    const { q, went } = queue();
    q.add("a");
    q.add("b", null);
    expect(went).toEqual(["a", "b"]);
    expect(q.size).toBe(0);
  });

  it("starts every lookup as it arrives and hands on in arrival order, whatever answers first", async () => {
    const { q, went } = queue();
    const l = lookups();
    q.add("c1", l.ask("c1"));
    q.add("note");
    q.add("c2", l.ask("c2"));
    q.add("free", () => null);
    q.add("c3", l.ask("c3"));
    expect(l.asked).toEqual(["c1", "c2", "c3"]);
    expect(q.lookupsOut).toBe(3);
    l.out.get("c3")!.resolve("x");
    l.out.get("c2")!.resolve("y");
    await turn();
    expect(went).toEqual([]);
    l.out.get("c1")!.resolve("z");
    await turn();
    expect(went).toEqual(["c1:z", "note", "c2:y", "free", "c3:x"]);
    expect(q.size).toBe(0);
  });

  it("takes a lookup started already, in its turn", async () => {
    const { q, went } = queue();
    let resolve!: (v: string) => void;
    expect(q.canAsk).toBe(true);
    q.add("c1", new Promise<string>((r) => (resolve = r)));
    q.add("after");
    resolve("ok");
    await turn();
    expect(went).toEqual(["c1:ok", "after"]);
  });

  it("keeps at most maxOut lookups out, and starts the rest in order as they answer", async () => {
    const { q, went } = queue(2);
    const l = lookups();
    for (const name of ["c1", "c2", "c3", "c4"]) q.add(name, l.ask(name));
    expect(l.asked).toEqual(["c1", "c2"]);
    expect(q.canAsk).toBe(false);
    l.out.get("c2")!.resolve("b");
    await turn();
    expect(l.asked).toEqual(["c1", "c2", "c3"]);
    l.out.get("c1")!.resolve("a");
    await turn();
    expect(l.asked).toEqual(["c1", "c2", "c3", "c4"]);
    expect(went).toEqual(["c1:a", "c2:b"]);
    l.out.get("c4")!.resolve("d");
    l.out.get("c3")!.resolve("c");
    await turn();
    expect(went).toEqual(["c1:a", "c2:b", "c3:c", "c4:d"]);
    expect(q.canAsk).toBe(true);
  });

  it("hands on a failed lookup as failed, in its turn, and goes on", async () => {
    const { q, went } = queue();
    const l = lookups();
    q.add("c1", l.ask("c1"));
    q.add("c2", () => {
      throw new Error("at once");
    });
    q.add("c3", l.ask("c3"));
    l.out.get("c3")!.resolve("ok");
    l.out.get("c1")!.reject(new Error("lost"));
    await turn();
    expect(went).toEqual(["c1:failed", "c2:failed", "c3:ok"]);
  });

  it("goes on past a message whose handling throws, and says so", async () => {
    const { q, went, errors } = queue();
    const l = lookups();
    q.add("c1", l.ask("c1"));
    q.add("throws");
    q.add("after");
    l.out.get("c1")!.resolve("ok");
    await turn();
    expect(went).toEqual(["c1:ok", "after"]);
    expect(errors).toHaveLength(1);
  });

  it("queues a message added while another is handed on behind it", () => {
    const went: string[] = [];
    const q: SessionQueue<string, string> = new SessionQueue(
      (item) => {
        if (item === "first") q.add("nested");
        went.push(item);
      },
      () => {},
    );
    q.add("first");
    expect(went).toEqual(["first", "nested"]);
  });

  it("says when it is idle: every message added so far handed on", async () => {
    const { q } = queue();
    const l = lookups();
    await q.idle();
    q.add("c1", l.ask("c1"));
    q.add("note");
    let idle = false;
    void q.idle().then(() => (idle = true));
    await turn();
    expect(idle).toBe(false);
    l.out.get("c1")!.resolve("ok");
    await turn();
    expect(idle).toBe(true);
  });

  it("does not keep what it handed on, over a long session", async () => {
    const { q, went } = queue();
    const l = lookups();
    q.add("c0", l.ask("c0"));
    for (let i = 1; i <= 5000; i++) q.add(`m${i}`);
    l.out.get("c0")!.resolve("ok");
    await turn();
    expect(went).toHaveLength(5001);
    // Another long run behind a lookup, so the array is compacted rather than emptied.
    for (let round = 0; round < 3; round++) {
      const name = `k${round}`;
      q.add(name, l.ask(name));
      for (let i = 0; i < 3000; i++) q.add(`n${round}-${i}`);
      l.out.get(name)!.resolve("ok");
      q.add(`tail${round}`, l.ask(`tail${round}`));
      await turn();
      l.out.get(`tail${round}`)!.resolve("ok");
      await turn();
    }
    expect(went).toHaveLength(5001 + 3 * 3002);
    expect(q.size).toBe(0);
  });
});

// The real `policy-replay record` over stdio, in front of the naive server fixture, driven
// with raw JSON-RPC lines: for tests of what the whole command does.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";

const root = join(import.meta.dirname, "../..");
export const bin = join(root, "bin/policy-replay.js");
export const naiveServer = join(root, "fixtures/servers/naive-server.mjs");

export interface Answer {
  id: number;
  result?: { isError?: boolean; content?: unknown; _meta?: Record<string, { code: string }> };
  error?: { code: number; message: string };
}

export interface RecordProcess {
  /** Send a request and resolve with the answer to its id. */
  request(m: { id: number } & Record<string, unknown>): Promise<Answer>;
  /** Send a line without waiting for anything. */
  send(m: object): void;
  /** Every answer so far, in order. */
  answers: Answer[];
  /** End the agent's side and wait for the process to exit. */
  close(): Promise<{ code: number | null; stderr: string }>;
}

/**
 * Start `record ARGS -- node naive-server.mjs` and initialize the session. `env` is added to
 * the process's environment (NAIVE_SERVER_LOG names where the server logs what it ran).
 */
export async function startRecord(
  args: string[],
  env: Record<string, string> = {},
): Promise<RecordProcess> {
  const child = spawn(
    process.execPath,
    [bin, "record", ...args, "--", process.execPath, naiveServer],
    { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const answers: Answer[] = [];
  const waiting = new Map<number, (a: Answer) => void>();
  let rest = "";
  child.stdout.on("data", (d: Buffer) => {
    const lines = (rest + d.toString()).split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) {
      if (!l.trim()) continue;
      const a = JSON.parse(l) as Answer;
      answers.push(a);
      waiting.get(a.id)?.(a);
      waiting.delete(a.id);
    }
  });
  const send = (m: object): void => void child.stdin.write(JSON.stringify(m) + "\n");
  const request = (m: { id: number } & Record<string, unknown>): Promise<Answer> => {
    const answered = new Promise<Answer>((resolve) => waiting.set(m.id, resolve));
    send({ jsonrpc: "2.0", ...m });
    return answered;
  };
  await request({
    id: 0,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "test-agent", version: "1" },
    },
  });
  send({ jsonrpc: "2.0", method: "notifications/initialized" });
  return {
    request,
    send,
    answers,
    close: async () => {
      child.stdin.end();
      const [code] = (await once(child, "exit")) as [number | null];
      return { code, stderr };
    },
  };
}

/** `n` calls of `tool`, all sent at once; resolves with their answers in id order. */
export function callMany(p: RecordProcess, tool: string, n: number, from = 1): Promise<Answer[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      p.request({ id: from + i, method: "tools/call", params: { name: tool, arguments: {} } }),
    ),
  );
}

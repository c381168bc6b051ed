import { Worker } from "node:worker_threads";
import { workerUrl } from "./worker-url.js";

// The store's threads: readers (read.worker.ts), run writers (run.worker.ts) and importers
// (import.worker.ts). A thread takes
// about 0.1 s from its start to its first page (Node's bootstrap, loading better-sqlite3),
// while the main thread of a replay spends longer loading the CLI's modules and the policy. So
// a command that will read recordings starts its threads first (warmThreads), and each thread
// gets its work as its first message, whenever that is ready.

const WORKERS = {
  reader: "read.worker",
  writer: "run.worker",
  importer: "import.worker",
} as const;

export type ThreadKind = keyof typeof WORKERS;

const idle: Record<ThreadKind, Worker[]> = { reader: [], writer: [], importer: [] };

/** Start `count` threads of `kind` now, for startThread() to hand out later. */
export function warmThreads(kind: ThreadKind, count = 1): void {
  for (let i = 0; i < count; i++) idle[kind].push(spawn(kind));
}

/**
 * A started thread of `kind`, waiting for its work as its first message: one from warmThreads
 * if there is one, else a new one. Unref'd: whoever gives it work decides what to wait for.
 */
export function startThread(kind: ThreadKind): Worker {
  return idle[kind].shift() ?? spawn(kind);
}

/** How many threads warmThreads started are still waiting to be taken. */
export function idleThreads(): number {
  return idle.reader.length + idle.writer.length + idle.importer.length;
}

/** End the threads warmThreads started that nobody took (a command that failed early). */
export async function endIdleThreads(): Promise<void> {
  const left = [...idle.reader.splice(0), ...idle.writer.splice(0), ...idle.importer.splice(0)];
  await Promise.all(left.map((w) => w.terminate()));
}

function spawn(kind: ThreadKind): Worker {
  const worker = new Worker(workerUrl(WORKERS[kind]), {
    stdout: true,
    stderr: true,
  });
  // A thread that dies is noticed by its taker (a signal, its exit); this only keeps Node from
  // throwing.
  worker.on("error", () => {});
  // One that dies waiting is never handed out.
  worker.once("exit", () => {
    const list = idle[kind];
    const at = list.indexOf(worker);
    if (at >= 0) list.splice(at, 1);
  });
  worker.unref();
  return worker;
}

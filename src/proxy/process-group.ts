// A spawned server runs in a process group of its own (POSIX), so that stopping it reaches
// whatever it started as well (npx, then a shell, then node...), and so that the proxy can
// kill the whole group if it exits without stopping it.

/** Whether servers get a process group of their own: not on Windows, which has none to signal. */
export const OWN_PROCESS_GROUP = process.platform !== "win32";

/**
 * Send `signal` (0: only look) to every process of the group led by `pgid`. False when none is
 * left, or none that is ours to signal.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

const running = new Set<number>();
let hooked = false;

/**
 * Kill the group outright if the proxy exits while it may still run (process.exit, an uncaught
 * error): "exit" handlers run synchronously, so SIGKILL is all there is time for.
 */
export function killGroupOnExit(pgid: number): void {
  running.add(pgid);
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const group of running) signalGroup(group, "SIGKILL");
  });
}

/** The group is gone (or killed): nothing to do for it on exit. */
export function forgetGroup(pgid: number): void {
  running.delete(pgid);
}

import type { Timer, Timers } from "../../src/proxy/timers.js";

/** Timers that fire only when the test says so, for timeouts independent of machine speed. */
export class ManualTimers implements Timers {
  private readonly live = new Set<{ fire: () => void }>();
  refreshes = 0;

  start(_ms: number, fire: () => void): Timer {
    const entry = { fire };
    this.live.add(entry);
    return {
      refresh: () => void this.refreshes++,
      cancel: () => void this.live.delete(entry),
    };
  }

  /** How many timers are running. */
  running(): number {
    return this.live.size;
  }

  /** Fire every running timer, as if its time had passed. */
  fireAll(): void {
    const due = [...this.live];
    this.live.clear();
    for (const t of due) t.fire();
  }
}

/** Resolve once `ready()` holds, checking as events are handled (no fixed sleep). */
export async function until(ready: () => boolean, what = "condition"): Promise<void> {
  for (let i = 0; i < 6_000; i++) {
    if (ready()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

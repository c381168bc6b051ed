/** A running timeout: started again from now by refresh(), or cancelled. */
export interface Timer {
  refresh(): void;
  cancel(): void;
}

/**
 * Where the relay's timeouts come from: real timers live, a hand-driven wheel in tests, so a
 * test of a timeout never depends on the machine's speed.
 */
export interface Timers {
  start(ms: number, fire: () => void): Timer;
}

/** Node's timers, unref'd: a pending timeout never keeps the process alive by itself. */
export const realTimers: Timers = {
  start(ms, fire) {
    const t = setTimeout(fire, ms);
    t.unref();
    return { refresh: () => void t.refresh(), cancel: () => clearTimeout(t) };
  },
};

import type { Browser } from "../store/browse.js";
import { SessionCounts } from "./counts.js";
import { type AppState, current, initialState, type Size } from "./state.js";

// The opening screen, read before React and Ink draw anything: its queries and the first
// sessions' counts run while Yoga's WebAssembly compiles on another thread, and the first
// frame shows the counts instead of "…".

/**
 * Calls counted before the first frame, at most: about 10 ms on a quiet machine. Beyond it
 * (the newest sessions are huge) the rest is counted after the first frame.
 */
const PRIME_CALLS = 20_000;

export interface Opening {
  state: AppState;
  counts: SessionCounts;
}

/**
 * The state the UI opens in, with the counts of the sessions it shows; null when the
 * recording cannot be read (the UI reads it again, and shows why).
 */
export function openingScreen(browser: Browser, size: Size): Opening | null {
  let state: AppState;
  try {
    state = initialState({ browser }, size);
  } catch {
    return null;
  }
  const counts = new SessionCounts(browser);
  const screen = current(state);
  try {
    if (screen.kind === "sessions")
      counts.prime(
        screen.list.rows.map((r) => r.id),
        PRIME_CALLS,
      );
  } catch {
    // Counted later, and the failing read shown then.
  }
  return { state, counts };
}

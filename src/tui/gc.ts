import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

// Every frame Ink lays out and re-styles the whole screen, some megabytes of short-lived
// objects a frame, and V8 grows the heap lazily: scrolling for a few seconds took the process
// from ~100 MB to ~190 MB resident while the live heap stayed under 20 MB. V8's heap limits
// cannot be changed once the process runs, so the UI asks for a full collection itself when
// the keys pause (and now and then during a long run of keys), where it costs no key a wait.

/** Keys after which a collection runs even without a pause. */
const EVERY = 50;
/** A pause this long (ms) after a key counts as idle. */
const IDLE_MS = 80;

export interface Collector {
  /** Tell the collector a key was handled. */
  key(): void;
  stop(): void;
}

/** A collector that runs a full GC in pauses between keys; a no-op where gc is unavailable. */
export function idleCollector(): Collector {
  let gc: (() => void) | null = null;
  try {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  } catch {
    gc = null;
  }
  let keys = 0;
  let timer: NodeJS.Timeout | null = null;
  const collect = (): void => {
    timer = null;
    keys = 0;
    gc?.();
  };
  return {
    key() {
      if (gc === null) return;
      keys++;
      if (timer !== null) clearTimeout(timer);
      // setImmediate: after the frame for this key has been written.
      if (keys >= EVERY) setImmediate(collect);
      else {
        timer = setTimeout(collect, IDLE_MS);
        timer.unref();
      }
    },
    stop() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

// Every frame Ink lays out and re-styles the whole screen (a grapheme segmenter and an object
// per character): megabytes of short-lived objects a frame. V8 answers a high allocation rate
// by growing the young generation (up to 3 x 16 MB) and the old one lazily: scrolling for a
// few seconds took the process from ~100 MB to ~190 MB resident while the live heap stayed
// under 20 MB. Heap limits cannot be set once the process runs, but two things can: the young
// generation is kept from growing (its growth factor is read at each resize), and the UI asks
// for a full collection itself when the keys pause, and now and then during a long run of keys,
// right after a frame is out, where it makes no key wait.

/** Keys after which a collection runs even without a pause. */
const EVERY = 10;
/** A pause this long (ms) after a key counts as idle. */
const IDLE_MS = 80;
/** How long after the UI starts (ms) the collector sets itself up. */
const START_MS = 50;

export interface Collector {
  /** Tell the collector a key was handled. */
  key(): void;
  stop(): void;
}

/**
 * Keep the young generation small and return a collector that runs a full GC in pauses
 * between keys (a no-op where V8 does not allow it). Both start a moment after the call, once
 * the first frame is out: held small from the start, the young generation cost the first render
 * ~20 ms of collections (in a profile), and the context that lends us `gc` takes ~6 ms to make.
 */
export function idleCollector(): Collector {
  let gc: (() => void) | null = null;
  const start = setTimeout(() => {
    try {
      setFlagsFromString("--semi-space-growth-factor=1");
      setFlagsFromString("--expose-gc");
      gc = runInNewContext("gc") as () => void;
    } catch {
      gc = null;
    }
  }, START_MS);
  start.unref();
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
      clearTimeout(start);
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

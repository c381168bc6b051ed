// Peak rates, counted the way the engine counts a sliding limit: a call at time t meets the
// calls consumed at times in (t - W, t]. If no window of the allowed calls holds more than
// `peak` of them, a limit of max >= peak never refuses one: each call finds at most peak - 1
// before it. So a limit of ceil(peak x headroom), headroom >= 1, lets every one through.

export const WINDOWS = [
  { name: "minute", ms: 60_000 },
  { name: "hour", ms: 3_600_000 },
  { name: "day", ms: 86_400_000 },
] as const;
export type WindowName = (typeof WINDOWS)[number]["name"];

/**
 * The windows worth a limit for calls spanning `first` to `last`: the minute always, the hour
 * and the day once the calls cover one (a peak over less than a window says nothing of it).
 */
export function windowsFor(first: number | null, last: number | null): WindowName[] {
  const span = first === null || last === null ? 0 : last - first;
  return WINDOWS.filter((w) => w.name === "minute" || span >= w.ms).map((w) => w.name);
}

/** "a minute", "an hour", "a day". */
export function perWindow(name: WindowName): string {
  return name === "hour" ? "an hour" : `a ${name}`;
}

export function windowMs(name: WindowName): number {
  return WINDOWS.find((w) => w.name === name)!.ms;
}

/**
 * The most calls in any window (t - W, t] that ends at a call at or after `from`; `times`
 * sorted ascending. Calls before `from` are counted in the windows but end none of them (they
 * warm a replay's counters and are not themselves replayed).
 */
export function peak(times: readonly number[], windowMsValue: number, from = -Infinity): number {
  let best = 0;
  let lo = 0;
  for (let i = 0; i < times.length; i++) {
    const t = times[i]!;
    // Only the last of several calls at one time closes the window that holds them all.
    if (i + 1 < times.length && times[i + 1] === t) continue;
    if (t < from) continue;
    while (times[lo]! <= t - windowMsValue) lo++;
    best = Math.max(best, i - lo + 1);
  }
  return best;
}

/** A headroom factor as an exact fraction, so that 10 x 1.1 is 11, not 12 after rounding up. */
export interface Headroom {
  text: string;
  num: number;
  den: number;
}

/** Parse `--headroom`: a number from 1 to 1000, at most 3 decimals; null when it is not one. */
export function parseHeadroom(text: string): Headroom | null {
  const m = /^(\d{1,4})(?:\.(\d{1,3}))?$/.exec(text.trim());
  if (!m) return null;
  const den = 10 ** (m[2]?.length ?? 0);
  const num = Number(m[1]) * den + Number(m[2] ?? 0);
  if (num < den || num > 1000 * den) return null;
  return { text: text.trim(), num, den };
}

/** ceil(peak x headroom), exactly. */
export function limitFor(peakValue: number, h: Headroom): number {
  return Math.ceil((peakValue * h.num) / h.den);
}

import { count } from "../numbers.js";
import { SingleBar } from "cli-progress";
import type { Io } from "./io.js";

/**
 * What a replay loop reports as it goes: calls done so far, and the total when the source knows
 * it (null when it does not, as with a stream). Loops call it every PROGRESS_EVERY calls, so it
 * must be cheap when nothing is shown.
 */
export type OnProgress = (done: number, total: number | null) => void;

/** How often (in calls) a replay loop calls OnProgress: often enough to redraw, rarely enough to cost nothing. */
export const PROGRESS_EVERY = 4096;

/** A progress display: update() as work is done; stop() clears it and must always be called. */
export interface Progress {
  update: OnProgress;
  stop(): void;
}

export interface ProgressOptions {
  /** Show nothing until this many ms have passed: quick replays never flash a bar. */
  delayMs?: number;
  /** False when something else draws on the same terminal (a report streamed to stdout). */
  allowed?: boolean;
}

const NONE: Progress = { update: () => {}, stop: () => {} };

/** Whether `CI` is set to anything but an explicit no. */
function inCi(env: Record<string, string | undefined>): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== "" && ci !== "0" && ci !== "false";
}

/**
 * A progress bar on stderr for long replays: shown only when stderr is a terminal and CI is not
 * set, only after `delayMs` (500 by default), and cleared by stop(). The replay loop is
 * synchronous, so the bar is redrawn from update() (cli-progress's synchronous update), never
 * from a timer.
 */
export function startProgress(io: Io, opts: ProgressOptions = {}): Progress {
  if (opts.allowed === false || io.stderr.isTTY !== true || inCi(io.env)) return NONE;
  const now = io.now ?? (() => performance.now());
  const delay = opts.delayMs ?? 500;
  const started = now();
  let bar: SingleBar | null = null;
  let knownTotal: number | null = null;
  let stopped = false;
  return {
    update(done, total) {
      knownTotal = total;
      if (stopped) return;
      if (bar === null) {
        if (now() - started < delay) return;
        bar = new SingleBar({
          // cli-progress only needs write(), isTTY and columns; io.stderr is a TerminalSink.
          stream: io.stderr as unknown as NodeJS.WritableStream,
          format: (_options, params) => formatProgress(params.value, knownTotal, now() - started),
          // Keep the terminal's state alone: a Ctrl-C during the synchronous loop kills the
          // process without running any cleanup, so a hidden cursor or disabled line wrapping
          // would outlive it.
          hideCursor: false,
          linewrap: true,
          clearOnComplete: true,
          fps: 10,
        });
        bar.start(total ?? 0, done);
        return;
      }
      if (total !== null && total !== bar.getTotal()) bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      stopped = true;
      bar?.stop();
      bar = null;
    },
  };
}

const n = count;
const WIDTH = 30;

/**
 * One line of progress: `[=========-----] 45% 450,000 / 1,000,000 calls, 1.2 s left` with a
 * total, `450,000 calls replayed (160,000/s)` without one.
 */
export function formatProgress(done: number, total: number | null, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? Math.round((done / elapsedMs) * 1000) : 0;
  if (total === null || total <= 0) {
    return `replaying: ${n(done)} calls (${n(rate)}/s)`;
  }
  const f = Math.min(1, done / total);
  const filled = Math.round(f * WIDTH);
  const left = rate > 0 ? Math.max(0, (total - done) / rate) : null;
  return (
    `replaying [${"=".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${Math.floor(f * 100)}% ` +
    `${n(done)} / ${n(total)} calls${left === null ? "" : `, ${left.toFixed(1)} s left`}`
  );
}

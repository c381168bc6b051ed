// Backpressure between the proxy's two sides: when one peer stops reading what the proxy
// writes to it, the proxy stops reading from the other peer until it catches up, so what it
// holds stays bounded instead of growing with whatever the other side keeps sending.
import type { Readable, Writable } from "node:stream";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";

/** Bytes waiting to be written to a peer beyond which the other peer is no longer read. */
export const WRITE_HIGH_WATER_BYTES = 1024 * 1024;
/**
 * Bytes waiting for a peer beyond which it is taken as gone. Reached only when the other side
 * cannot be paused (an HTTP upstream) or the proxy's own answers pile up (denials to an agent
 * that sends but never reads); above the largest message plus the high-water mark.
 */
export const MAX_HELD_BYTES = 32 * 1024 * 1024;

/** What a transport here offers beyond Transport to take part in backpressure. */
export interface FlowControl {
  /** Stop reading from this peer (until resumeReading); what is already read still arrives. */
  pauseReading(): void;
  resumeReading(): void;
  /** Set by linkBackpressure: called with true when writes to this peer back up, false when
   * they have drained. */
  onbackpressure?: (blocked: boolean) => void;
}

/** A peer that has left more than MAX_HELD_BYTES unread. */
export class PeerNotReadingError extends Error {
  readonly code = "peer_not_reading";
  constructor(
    readonly peer: string,
    readonly held: number,
  ) {
    super(
      `${peer} has left ${held} bytes unread (the limit is ${MAX_HELD_BYTES}); giving up on it`,
    );
    this.name = "PeerNotReadingError";
  }
}

/**
 * Make each side's backed-up writes pause reading from the other side. Only the other side:
 * pausing a peer's own reading because its writes back up could deadlock a peer that writes
 * before it reads. Transports without FlowControl are left as they are.
 */
export function linkBackpressure(client: Transport, server: Transport): void {
  const c = client as Transport & Partial<FlowControl>;
  const s = server as Transport & Partial<FlowControl>;
  c.onbackpressure = (blocked) => (blocked ? s.pauseReading?.() : s.resumeReading?.());
  s.onbackpressure = (blocked) => (blocked ? c.pauseReading?.() : c.resumeReading?.());
}

/**
 * Writes to one peer's stream, telling `onchange` when what waits there passes the high-water
 * mark (true) and when the stream has drained (false), and `onoverflow` past MAX_HELD_BYTES.
 * What is written in one turn of the event loop goes to the stream as one write at its end
 * (each pipe write costs a system call and wakes the peer), or sooner near the high-water
 * mark. Each write's promise settles when the stream has taken it (at the end of the turn, or
 * on drain).
 */
export class WriteGate {
  private blocked = false;
  private waiting: (() => void)[] = [];
  /** What was written this turn, not yet given to the stream. */
  private pending = "";
  /** Settles when `pending` has been taken; null while nothing is pending. */
  private taken: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(
    private readonly out: Writable,
    private readonly onchange: (blocked: boolean) => void,
    private readonly onoverflow: (held: number) => void,
    private readonly highWater = WRITE_HIGH_WATER_BYTES,
    private readonly maxHeld = MAX_HELD_BYTES,
  ) {}

  /** Whether writes here are backed up past the high-water mark. */
  get isBlocked(): boolean {
    return this.blocked;
  }

  write(text: string): Promise<void> {
    this.pending += text;
    if (this.taken === null) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.taken = { promise, resolve };
      queueMicrotask(this.flush);
    }
    const promise = this.taken.promise;
    // Near the high-water mark it goes now, so that backpressure is told at once as before.
    if (this.pending.length + this.out.writableLength >= this.highWater) this.flush();
    return promise;
  }

  /** Give the stream what was written this turn, now (before ending it, say). */
  readonly flush = (): void => {
    const taken = this.taken;
    if (taken === null) return;
    const text = this.pending;
    this.pending = "";
    this.taken = null;
    if (this.out.write(text)) return taken.resolve();
    const held = this.out.writableLength;
    if (held > this.maxHeld) this.onoverflow(held);
    if (!this.blocked && held >= this.highWater) {
      this.blocked = true;
      this.onchange(true);
    }
    if (this.waiting.push(taken.resolve) === 1) {
      this.out.once("drain", this.release);
      this.out.once("close", this.release);
    }
  };

  private readonly release = (): void => {
    this.out.off("drain", this.release).off("close", this.release);
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
    if (this.blocked) {
      this.blocked = false;
      this.onchange(false);
    }
  };
}

/** Pauses and resumes one readable stream, once each however often asked. */
export class ReadGate {
  private paused = false;

  constructor(private readonly source: () => Readable | null | undefined) {}

  get isPaused(): boolean {
    return this.paused;
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.source()?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.source()?.resume();
  }
}

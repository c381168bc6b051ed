/** Where a report goes: anything with a synchronous-looking write (a stream, a test buffer). */
export interface Sink {
  write(chunk: string): unknown;
}

/** Batches many small writes into large ones; reports write one line per call. */
export class BufferedSink implements Sink {
  private parts: string[] = [];
  private size = 0;
  constructor(
    private readonly out: Sink,
    private readonly limit = 1 << 16,
  ) {}

  write(chunk: string): void {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size >= this.limit) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    this.out.write(this.parts.join(""));
    this.parts = [];
    this.size = 0;
  }
}

/** A sink that takes bytes too, as Node's streams do: the JSON report writes UTF-8 chunks. */
export interface ByteSink {
  write(chunk: string | Uint8Array): unknown;
}

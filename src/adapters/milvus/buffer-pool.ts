/**
 * Large buffers for one call at a time, reused: a fresh 16 MB buffer per page costs its page faults
 * and, being external memory, pushes V8 towards a full garbage collection per page. Holds at most
 * `keep` free buffers (one per request in flight is enough); a buffer is taken for the whole call.
 *
 * A buffer must be given back only when nothing refers to its memory any more (no view, no socket
 * write): the next `take` hands it to someone else. When in doubt, do not give it back: the
 * garbage collector frees it instead.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  constructor(private readonly keep = 4) {}

  take(length: number): Buffer {
    const i = this.free.findIndex((b) => b.length >= length);
    if (i >= 0) return this.free.splice(i, 1)[0]!;
    // Pages differ a little in size: some headroom lets the next one fit.
    return Buffer.allocUnsafeSlow(Math.ceil(length * 1.125));
  }

  give(b: Buffer): void {
    this.free.push(b);
    if (this.free.length > this.keep) {
      this.free.sort((x, y) => y.length - x.length);
      this.free.length = this.keep;
    }
  }
}

/**
 * Large buffers for one call at a time, reused: a fresh 16 MB buffer per page costs its page faults
 * and, being external memory, pushes V8 towards a full garbage collection per page. Holds at most
 * `keep` free buffers (one per request in flight is enough); a buffer is taken for the whole call.
 *
 * A buffer must be given back only when nothing refers to its memory any more (no view, no socket
 * write): the next `take` hands it to someone else. When in doubt, do not give it back: the
 * garbage collector frees it instead.
 *
 * Buffers over `maxBytes` are not kept: one unusually large reply (up to the 512 MiB message
 * limit) would otherwise stay in memory for the rest of the process.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  constructor(
    private readonly keep = 4,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  take(length: number): Buffer {
    // The smallest free buffer that fits, so that a small message does not take a page's buffer.
    let best = -1;
    for (const [i, b] of this.free.entries())
      if (b.length >= length && (best < 0 || b.length < this.free[best]!.length)) best = i;
    if (best >= 0) return this.free.splice(best, 1)[0]!;
    if (length > this.maxBytes) return Buffer.allocUnsafeSlow(length);
    // Pages differ a little in size: some headroom lets the next one fit.
    return Buffer.allocUnsafeSlow(Math.min(this.maxBytes, Math.ceil(length * 1.125)));
  }

  give(b: Buffer): void {
    if (b.length > this.maxBytes) return;
    this.free.push(b);
    if (this.free.length > this.keep) {
      this.free.sort((x, y) => y.length - x.length);
      this.free.length = this.keep;
    }
  }
}

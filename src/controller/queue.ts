/**
 * A small work queue: keys (namespace/name), one handler run per key at a time, delayed re-adds,
 * and per-key exponential back-off on errors (1 s doubling, capped).
 */
export type Handler = (key: string) => Promise<number | undefined>;

export class WorkQueue {
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly running = new Set<string>();
  private readonly again = new Set<string>();
  private readonly failures = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly handler: Handler,
    private readonly onError: (key: string, err: unknown, retryMs: number) => void,
    readonly baseDelayMs = 1000,
    readonly maxDelayMs = 60_000,
  ) {}

  /** Schedules the key after delayMs; an earlier schedule of the same key wins. */
  add(key: string, delayMs = 0): void {
    if (this.stopped) return;
    const at = Date.now() + delayMs;
    const prev = this.timers.get(key);
    if (prev && prev.at <= at) return;
    if (prev) clearTimeout(prev.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      void this.run(key);
    }, delayMs);
    timer.unref?.();
    this.timers.set(key, { at, timer });
  }

  backoff(key: string): number {
    const n = this.failures.get(key) ?? 0;
    return Math.min(this.baseDelayMs * 2 ** n, this.maxDelayMs);
  }

  private async run(key: string): Promise<void> {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    this.running.add(key);
    try {
      const next = await this.handler(key);
      this.failures.delete(key);
      if (next !== undefined) this.add(key, next);
    } catch (err) {
      const delay = this.backoff(key);
      this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      this.onError(key, err, delay);
      this.add(key, delay);
    } finally {
      this.running.delete(key);
      if (this.again.delete(key)) this.add(key, 0);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
  }

  /** Keys scheduled and not yet running (the queue depth metric). */
  get depth(): number {
    return this.timers.size;
  }

  get idle(): boolean {
    return this.running.size === 0;
  }
}

import type { Logger } from '../util/logger.js';

export interface RetryOptions {
  /** Give up once this much time has passed since the first failure. */
  forMs: number;
  /** A different limit for some errors (a dead server need not be waited for as long as a quota). */
  forMsFor?: (err: unknown) => number | undefined;
  retryIf: (err: unknown) => boolean;
  log: Logger;
  what: string;
  signal?: AbortSignal;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Runs `fn`, retrying errors that `retryIf` accepts with capped exponential back-off and jitter.
 * Rate limiting that never clears fails loudly with the last error, never silently.
 */
export async function retrying<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  const started = Date.now();
  let delay = o.initialDelayMs ?? 500;
  let attempt = 0;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      attempt++;
      if (!o.retryIf(err)) throw err;
      const elapsed = Date.now() - started;
      if (elapsed > (o.forMsFor?.(err) ?? o.forMs)) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new Error(
          `${o.what} kept failing for ${Math.round(elapsed / 1000)} s (${attempt} attempts): ${msg}. ` +
            'The server is rate-limiting or out of quota: raise its limits or run the migration when it is less busy; re-running resumes where this stopped.',
        );
      }
      o.log.warn(
        { attempt, delayMs: delay, err: err instanceof Error ? err.message : String(err) },
        `${o.what}: retrying`,
      );
      await sleep(delay * (0.75 + Math.random() * 0.5), o.signal);
      delay = Math.min(delay * 2, o.maxDelayMs ?? 30_000);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

import type { MilvusClient } from '../adapters/milvus/client.js';
import {
  isNetworkFailure,
  isNotLoaded,
  isRateLimited,
  isTransient,
  kindOf,
} from '../adapters/milvus/errors.js';
import type { Logger } from '../util/logger.js';

/**
 * How long a failing server is waited for. A restart of a Milvus standalone takes 10-30 s, a
 * rolling restart of a proxy behind a load balancer less: a minute covers both. A server that stays
 * away longer is down, and the run stops with a message that says where instead of waiting on a
 * closed port for as long as a quota may take to clear. (MILVUS_MIGRATE_SERVER_GONE_MS changes it:
 * tests shorten it.)
 */
export const SERVER_GONE_MS = Number(process.env.MILVUS_MIGRATE_SERVER_GONE_MS) || 60_000;
/** Network failures are tried at least this often, however long one attempt took (deadlines). */
const MIN_NETWORK_ATTEMPTS = 3;

export interface RetryOptions {
  /** Give up on rate limiting and quotas once this much time has passed since the first failure. */
  forMs: number;
  /** Give up on a down or unreachable server after this long (default SERVER_GONE_MS). */
  goneForMs?: number;
  /** Which errors are retried at all (default isTransient: rate limits, quotas, network failures). */
  retryIf?: (err: unknown) => boolean;
  log: Logger;
  what: string;
  signal?: AbortSignal;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Runs `fn`, retrying errors that `retryIf` accepts with capped exponential back-off and jitter.
 * Each kind of failure has its own budget (see RetryOptions); when it runs out the run fails loudly
 * with a message for that kind, never silently.
 */
export async function retrying<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  const started = Date.now();
  const retryIf = o.retryIf ?? isTransient;
  let delay = o.initialDelayMs ?? 500;
  let attempt = 0;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      attempt++;
      if (!retryIf(err)) throw err;
      const elapsed = Date.now() - started;
      // A collection no longer loaded is waited for as long as a restarting server: a restarted
      // Milvus loads it again by itself; one that does not (milvus-lite) needs the user.
      const network = isNetworkFailure(err) || isNotLoaded(err);
      const budget = network ? (o.goneForMs ?? SERVER_GONE_MS) : o.forMs;
      if (elapsed > budget && (!network || attempt >= MIN_NETWORK_ATTEMPTS)) {
        throw new RetriesExhausted(o.what, elapsed, attempt, err);
      }
      o.log.warn(
        {
          attempt,
          delayMs: delay,
          kind: kindOf(err),
          err: err instanceof Error ? err.message : String(err),
        },
        `${o.what}: retrying`,
      );
      await sleep(delay * (0.75 + Math.random() * 0.5), o.signal);
      delay = Math.min(delay * 2, o.maxDelayMs ?? 30_000);
    }
  }
}

/** A call failed for longer than its kind of failure is waited for; `cause` is the last error. */
export class RetriesExhausted extends Error {
  override name = 'RetriesExhausted';
  constructor(
    what: string,
    readonly elapsedMs: number,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    const s = Math.round(elapsedMs / 1000);
    const advice = isRateLimited(cause)
      ? 'The server is rate-limiting or out of quota: raise its limits or run the migration when it is less busy; re-running resumes where this stopped.'
      : isNotLoaded(cause)
        ? 'The collection is no longer loaded on that server (released, or the server restarted and did not load it again): load it there (load_collection) and run the migration again; it resumes where this stopped and writes no key twice.'
        : isNetworkFailure(cause)
          ? 'The server stayed unreachable or kept dropping the call: check that it runs (restarts, crashes, out of memory) and the network between; re-running resumes where this stopped and writes no key twice.'
          : 're-running resumes where this stopped.';
    super(`${what} kept failing for ${s} s (${attempts} attempts): ${msg}. ${advice}`);
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

/** How long rate limits and quotas are waited for on reads outside the copy (as in the copy). */
const READ_RETRY_FOR_MS = 10 * 60_000;

/** A client's query and count(*), each retried like the copy's reads (see retrying). */
export function retryingReads(
  c: Pick<MilvusClient, 'query' | 'count'>,
  what: string,
  log: Logger,
  signal?: AbortSignal,
): Pick<MilvusClient, 'query' | 'count'> {
  const o = { forMs: READ_RETRY_FOR_MS, log, signal };
  return {
    query: (req) => retrying(() => c.query(req), { ...o, what: `query on ${what}` }),
    count: (...args) => retrying(() => c.count(...args), { ...o, what: `count(*) on ${what}` }),
  };
}

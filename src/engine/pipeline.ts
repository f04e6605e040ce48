/**
 * A bounded pipeline: pulls items from an async source while earlier items are still being
 * worked on, so reading the next page overlaps writing the previous ones. Memory stays bounded:
 * at most `concurrency` items are in work and one more is being read.
 */
export interface PipelineOptions {
  /** Items worked on at once. */
  concurrency: number;
  signal?: AbortSignal;
}

export async function pipeline<T>(
  source: AsyncIterable<T>,
  work: (item: T) => Promise<void>,
  opts: PipelineOptions,
): Promise<void> {
  const it = source[Symbol.asyncIterator]();
  const inflight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
  };
  let next: Promise<IteratorResult<T>> | undefined = it.next();
  try {
    while (!failure) {
      const r: IteratorResult<T> = await next!;
      next = undefined;
      if (r.done) break;
      opts.signal?.throwIfAborted();
      // Start reading the following item now: it is fetched while this one is worked on.
      next = it.next();
      const p: Promise<void> = work(r.value).then(
        () => {
          inflight.delete(p);
        },
        (err) => {
          inflight.delete(p);
          fail(err);
        },
      );
      inflight.add(p);
      while (inflight.size >= opts.concurrency && !failure) await Promise.race(inflight);
    }
  } catch (err) {
    fail(err);
  }
  // Never leave work running behind a failure, nor a read whose rejection nobody hears.
  if (next) {
    next.catch(() => undefined);
    if (failure) await it.return?.(undefined).catch(() => undefined);
  }
  await Promise.all(inflight);
  if (failure) throw failure.error;
}

import { describe, expect, it } from 'vitest';
import { isRateLimited, MilvusError } from '../../src/adapters/milvus/errors.js';
import { retrying } from '../../src/engine/retry.js';
import { logger } from '../../src/util/logger.js';

const rateLimited = () => new MilvusError('rate limit exceeded', 'Insert', 'rate-limited', { milvusCode: 8 });
const log = logger.child({ test: 'retry' });
log.level = 'silent';

describe('retrying', () => {
  it('retries rate limiting until it clears', async () => {
    let calls = 0;
    const v = await retrying(
      async () => {
        if (++calls < 3) throw rateLimited();
        return 'ok';
      },
      { forMs: 5_000, retryIf: isRateLimited, log, what: 'insert', initialDelayMs: 5 },
    );
    expect(v).toBe('ok');
    expect(calls).toBe(3);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    await expect(
      retrying(
        async () => {
          calls++;
          throw new MilvusError('schema mismatch', 'Insert', 'server-error', { milvusCode: 1100 });
        },
        { forMs: 5_000, retryIf: isRateLimited, log, what: 'insert', initialDelayMs: 5 },
      ),
    ).rejects.toThrow('schema mismatch');
    expect(calls).toBe(1);
  });

  it('fails loudly, saying what to do, when the limit never clears', async () => {
    await expect(
      retrying(
        async () => {
          throw rateLimited();
        },
        { forMs: 50, retryIf: isRateLimited, log, what: 'insert into t', initialDelayMs: 5, maxDelayMs: 10 },
      ),
    ).rejects.toThrow(/insert into t kept failing .*rate limit exceeded.*re-running resumes/);
  });
});

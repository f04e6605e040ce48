import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/adapters/milvus/buffer-pool.js';

describe('BufferPool', () => {
  it('hands a given-back buffer out again, the smallest that fits', () => {
    const pool = new BufferPool(4, 1000);
    const big = pool.take(800);
    const small = pool.take(100);
    expect(big.length).toBeGreaterThanOrEqual(800);
    expect(small.length).toBeGreaterThanOrEqual(100);
    pool.give(big);
    pool.give(small);
    // The small one for a small message, though the big one (given back first) fits too.
    expect(pool.take(50)).toBe(small);
    expect(pool.take(700)).toBe(big);
  });

  it('keeps at most `keep` buffers and none over its size limit', () => {
    const pool = new BufferPool(2, 1000);
    const huge = pool.take(5000);
    expect(huge.length).toBe(5000); // no headroom above the limit
    pool.give(huge);
    expect(pool.take(5000)).not.toBe(huge);
    const bufs = [pool.take(10), pool.take(20), pool.take(30)];
    for (const b of bufs) pool.give(b);
    const again = [pool.take(1), pool.take(1), pool.take(1)];
    expect(again.filter((b) => bufs.includes(b))).toHaveLength(2);
  });
});

import { describe, expect, it } from 'vitest';
import { duplicatedAt } from '../../src/engine/duplicates.js';

/** count(i, j) over rows whose keys are given by their copies per key index. */
function counter(copies: number[]) {
  let calls = 0;
  const count = async (i: number, j: number) => {
    calls++;
    return copies.slice(i, j).reduce((a, b) => a + b, 0);
  };
  return { count, calls: () => calls, total: copies.reduce((a, b) => a + b, 0) };
}

describe('duplicatedAt: keys counted more than once, found by halving', () => {
  const cases: { name: string; copies: number[]; want: number[] }[] = [
    { name: 'no duplicate: no count at all', copies: [1, 1, 1, 1], want: [] },
    { name: 'one key, twice', copies: [2], want: [0] },
    { name: 'the first key', copies: [3, 1, 1, 1, 1], want: [0] },
    { name: 'the last key', copies: [1, 1, 1, 1, 2], want: [4] },
    { name: 'neighbours', copies: [1, 2, 2, 1], want: [1, 2] },
    { name: 'every key', copies: [2, 2, 2], want: [0, 1, 2] },
    { name: 'spread', copies: [1, 1, 2, 1, 1, 1, 1, 5, 1, 1, 1], want: [2, 7] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const k = counter(c.copies);
      expect(await duplicatedAt(c.copies.length, k.total, k.count)).toEqual(c.want);
      if (!c.want.length) expect(k.calls()).toBe(0);
    });
  }

  it('costs about 2·log2(n) counts for one duplicate among 4096 keys', async () => {
    const copies = Array.from({ length: 4096 }, (_v, i) => (i === 1234 ? 2 : 1));
    const k = counter(copies);
    expect(await duplicatedAt(copies.length, k.total, k.count)).toEqual([1234]);
    expect(k.calls()).toBeLessThanOrEqual(2 * 12);
  });
});

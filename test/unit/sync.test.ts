import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/adapters/milvus/proto.js';
import type { CollectionModel } from '../../src/engine/schema.js';
import { changedWatermark, syncProblem } from '../../src/engine/sync.js';

/** count(*) of `field >= x` over these values, as a server answers it; counts the calls. */
function counter(values: bigint[]) {
  const calls: string[] = [];
  return {
    calls,
    count: async (_c: string, expr = '') => {
      calls.push(expr);
      const x = BigInt(/>= (-?\d+)$/.exec(expr)![1]!);
      return values.filter((v) => v >= x).length;
    },
  };
}

describe('changedWatermark()', () => {
  it('finds the largest value by bisection on count(*), in about 64 counts', async () => {
    for (const values of [[5n], [1_700_000_000_123n, 3n, -9n], [-(2n ** 62n)], [2n ** 63n - 2n]]) {
      const c = counter(values);
      const max = [...values].sort((a, b) => (a < b ? -1 : 1)).at(-1)!;
      expect(await changedWatermark(c, 'coll', 'updated_at')).toBe(max.toString());
      expect(c.calls.length).toBeLessThanOrEqual(66);
    }
    expect(await changedWatermark(counter([2n ** 63n - 1n]), 'coll', 'updated_at')).toBe(
      (2n ** 63n - 1n).toString(),
    );
  });

  it('no stamped row: none; the row holding the last watermark deleted: the watermark stays', async () => {
    expect(await changedWatermark(counter([]), 'coll', 'updated_at')).toBeUndefined();
    expect(await changedWatermark(counter([3n]), 'coll', 'updated_at', undefined, '10')).toBe('10');
    // From the last watermark up: a larger value is found, a smaller one never lowers it.
    expect(await changedWatermark(counter([3n, 12n]), 'coll', 'updated_at', undefined, '10')).toBe('12');
  });
});

describe('syncProblem()', () => {
  const model = (fields: { name: string; type: keyof typeof DataType; primary?: boolean }[]) =>
    ({
      schema: {
        fields: fields.map((f) => ({
          name: f.name,
          data_type: DataType[f.type],
          is_primary_key: !!f.primary,
        })),
      },
    }) as unknown as CollectionModel;
  const m = model([
    { name: 'id', type: 'Int64', primary: true },
    { name: 'updated_at', type: 'Int64' },
    { name: 'score', type: 'Double' },
  ]);

  it('refuses keys the target regenerates, and a changed field that is missing or not an integer', () => {
    expect(syncProblem(m, true, undefined)).toMatch(/autoID and the target generates new keys/);
    expect(syncProblem(m, false, 'nope')).toMatch(/"nope" is not a field/);
    expect(syncProblem(m, false, 'score')).toMatch(/not an integer field/);
    expect(syncProblem(m, false, 'updated_at')).toBeUndefined();
    expect(syncProblem(m, false, undefined)).toBeUndefined();
  });
});

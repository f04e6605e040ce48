import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/adapters/milvus/proto.js';
import type { FieldData, FieldSchema, QueryRequestInput } from '../../src/adapters/milvus/types.js';
import { decodedFetch, RangeReader } from '../../src/engine/range-reader.js';

/**
 * A stand-in for a Milvus server over int64 keys (test double: it answers only the filters the
 * reader writes). With `segment`, pk-only queries stop at the end of the segment holding the first
 * match (segments are runs of that many keys), as Milvus 2.3.5 does with reduce_stop_for_best: at
 * a segment's last key the sample is that one key.
 */
function fakeServer(keys: bigint[], opts: { segment?: number } = {}) {
  const sorted = keys.slice().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const test = (expr: string, k: bigint): boolean => {
    const e = expr.trim();
    if (e.startsWith('(')) {
      let depth = 0;
      for (let i = 0; i < e.length; i++) {
        if (e[i] === '(') depth++;
        if (e[i] === ')' && --depth === 0) {
          const inner = test(e.slice(1, i), k);
          const rest = e.slice(i + 1).trim();
          if (!rest) return inner;
          if (rest.startsWith('and ')) return inner && test(rest.slice(4), k);
          throw new Error(`fake: cannot parse ${e}`);
        }
      }
    }
    if (e.includes(' or ')) return e.split(' or ').some((p) => test(p, k));
    if (e.includes(' and ')) return e.split(' and ').every((p) => test(p, k));
    const m = /^id (>=|<|!=|==) (-?\d+)$/.exec(e);
    if (!m) throw new Error(`fake: cannot parse ${e}`);
    const v = BigInt(m[2]!);
    return m[1] === '>=' ? k >= v : m[1] === '<' ? k < v : m[1] === '!=' ? k !== v : k === v;
  };
  let calls = 0;
  const matching = (expr: string) => sorted.filter((k) => !expr || test(expr, k));
  const column = (ks: bigint[], name: string): FieldData => ({
    type: DataType.Int64!,
    field_name: name,
    field_id: '100',
    is_dynamic: false,
    valid_data: [],
    scalars: { long_data: { data: ks.map(String) } },
  });
  return {
    calls: () => calls,
    count: async (_c: string, expr = '') => {
      calls++;
      return matching(expr).length;
    },
    query: async (req: QueryRequestInput) => {
      calls++;
      const limit = Number(req.params?.limit ?? 16384);
      // Milvus returns one row per key: duplicates fold.
      const distinct = [...new Set(matching(req.expr))];
      const pkOnly = req.output_fields.length === 1;
      let n = limit;
      if (pkOnly && opts.segment && distinct.length) {
        const first = sorted.indexOf(distinct[0]!);
        const segmentEnd =
          sorted[Math.min(sorted.length, (Math.floor(first / opts.segment) + 1) * opts.segment) - 1]!;
        n = Math.min(limit, distinct.filter((k) => k <= segmentEnd).length);
      }
      const ks = distinct.slice(0, n);
      const cols = [column(ks, 'id')];
      if (!pkOnly) cols.push({ ...column(ks, 'payload'), field_id: '101' });
      return {
        status: {},
        fields_data: cols,
        collection_name: 'c',
        output_fields: req.output_fields,
      } as never;
    },
  };
}

const PK = { name: 'id', data_type: DataType.Int64!, is_primary_key: true } as FieldSchema;

async function readAll(server: ReturnType<typeof fakeServer>, pageBytes: number) {
  const reader = new RangeReader(
    server as never,
    decodedFetch(server as never, PK),
    'c',
    PK,
    ['id', 'payload'],
    [],
    {
      pageBytes,
      estimatedRowBytes: 20,
    },
  );
  const seen: bigint[] = [];
  let folded = 0;
  for await (const page of reader.pages()) {
    seen.push(...(page.keys as bigint[]));
    folded += page.folded;
  }
  return { seen, folded };
}

describe('RangeReader', () => {
  it('reads every key once when samples come back short (one key at a segment end)', async () => {
    // 30 000 keys in segments of 4999: samples come back with one key at 4998, 9997 … and a
    // range read whole would be capped at 16 384 rows.
    const keys = Array.from({ length: 30_000 }, (_v, i) => BigInt(i * 2));
    const { seen, folded } = await readAll(fakeServer(keys, { segment: 4999 }), 20 * 6000);
    expect(folded).toBe(0);
    expect(seen.slice().sort((a, b) => (a < b ? -1 : 1))).toEqual(keys);
  });

  it('folds only true duplicates', async () => {
    const keys = [...Array.from({ length: 3000 }, (_v, i) => BigInt(i)), 7n, 7n, 2999n];
    const { seen, folded } = await readAll(fakeServer(keys), 20 * 400);
    expect(folded).toBe(3);
    expect(new Set(seen).size).toBe(3000);
    expect(seen).toHaveLength(3000);
  });

  it('reads a range of one key with more rows than a query may return as one folded page', async () => {
    const keys = Array.from({ length: 20_000 }, () => 5n);
    const { seen, folded } = await readAll(fakeServer(keys), 20 * 400);
    expect(seen).toEqual([5n]);
    expect(folded).toBe(19_999);
  });
});

describe('RangeReader with wholeWindowPages (sync key-only reads)', () => {
  const keyPages = async (server: ReturnType<typeof fakeServer>, wholeWindowPages: boolean) => {
    const reader = new RangeReader(server as never, decodedFetch(server as never, PK), 'c', PK, ['id'], [], {
      pageBytes: 256 * 1024,
      estimatedRowBytes: 16,
      wholeWindowPages,
    });
    const sizes: number[] = [];
    const seen: bigint[] = [];
    for await (const page of reader.pages()) {
      sizes.push(page.keys.length);
      seen.push(...(page.keys as bigint[]));
    }
    return { sizes, seen, calls: server.calls() };
  };

  it('reads every key once in pages of a whole query window, with about half the calls', async () => {
    const keys = Array.from({ length: 100_000 }, (_v, i) => BigInt(i * 3 - 7));
    const half = await keyPages(fakeServer(keys), false);
    const whole = await keyPages(fakeServer(keys), true);
    for (const r of [half, whole]) expect(r.seen).toEqual(keys);
    expect(Math.max(...half.sizes)).toBeLessThan(10_000);
    expect(Math.max(...whole.sizes)).toBe(16383);
    expect(whole.calls).toBeLessThan(half.calls * 0.6);
  });
});

import { describe, expect, it } from 'vitest';
import { DataType, decode, encode } from '../../src/adapters/milvus/proto.js';
import type { FieldData } from '../../src/adapters/milvus/types.js';
import {
  decodeColumn,
  encodeInsert,
  parseColumn,
  parseMutationResult,
  parseQueryResults,
} from '../../src/adapters/milvus/wire.js';
import { compareKeys, INT64_MIN, type Key, type KeyRange } from '../../src/engine/keys.js';
import { pipeline } from '../../src/engine/pipeline.js';
import { splitBalanced } from '../../src/engine/shards.js';

const base = { field_id: '101', is_dynamic: false, valid_data: [] as boolean[] };
const columns: FieldData[] = [
  {
    ...base,
    type: DataType.Int64!,
    field_name: 'id',
    scalars: { long_data: { data: ['-9223372036854775807', '7', '9223372036854775806'] } },
  },
  {
    ...base,
    type: DataType.FloatVector!,
    field_name: 'v',
    vectors: { dim: '2', float_vector: { data: [1.5, -0, Number.NaN, 4e-45, 5, 6] } },
  },
  {
    ...base,
    type: DataType.VarChar!,
    field_name: 's',
    valid_data: [true, false, true],
    scalars: { string_data: { data: ['a"\\', '', 'ü\n'] } },
  },
  {
    ...base,
    type: DataType.JSON!,
    field_name: '$meta',
    is_dynamic: true,
    scalars: { json_data: { data: [Buffer.from('{"a":1}'), Buffer.from('{}'), Buffer.from('[]')] } },
  },
];

describe('wire passthrough', () => {
  it('parses a QueryResults reply into columns that decode to what was sent', () => {
    const reply = encode('QueryResults', {
      status: { code: 0, reason: '' },
      fields_data: columns,
      collection_name: 'c',
      output_fields: ['id', 'v', 's', '$meta'],
    });
    const parsed = parseQueryResults(reply);
    expect(parsed.status?.code ?? 0).toBe(0);
    expect(parsed.bytes).toBe(reply.length);
    expect(parsed.columns.map((c) => [c.name, c.type, c.hasNulls])).toEqual([
      ['id', DataType.Int64, false],
      ['v', DataType.FloatVector, false],
      ['s', DataType.VarChar, true],
      ['$meta', DataType.JSON, false],
    ]);
    const roundTrip = parsed.columns.map(decodeColumn);
    const direct = decode<{ fields_data: FieldData[] }>('QueryResults', reply).fields_data;
    expect(roundTrip).toEqual(direct);
  });

  it('builds an InsertRequest byte-equal in content to one encoded from objects', () => {
    const raw = parseQueryResults(encode('QueryResults', { fields_data: columns })).columns;
    const header = { db_name: 'db', collection_name: 'c', partition_name: 'p', num_rows: 3 };
    const spliced = Buffer.concat(
      encodeInsert(
        header,
        raw.map((c) => c.bytes),
      ),
    );
    const viaObjects = encode('InsertRequest', { ...header, fields_data: columns });
    expect(decode('InsertRequest', spliced)).toEqual(decode('InsertRequest', viaObjects));
    // Float bits survive: NaN, -0 and a denormal are not normalized on the way.
    const v = decode<{ fields_data: FieldData[] }>('InsertRequest', spliced).fields_data[1]!;
    const bits = Buffer.from(new Float32Array(v.vectors!.float_vector!.data).buffer);
    expect(bits).toEqual(Buffer.from(new Float32Array([1.5, -0, Number.NaN, 4e-45, 5, 6]).buffer));
  });

  it('sees nulls in unpacked valid_data too', () => {
    const packed = parseColumn(encode('schema.FieldData', columns[2]!));
    expect(packed.hasNulls).toBe(true);
    // field 7, varint wire type, one entry per row: true, false
    const unpacked = Buffer.concat([
      encode('schema.FieldData', { ...columns[2]!, valid_data: [] }),
      Buffer.from([0x38, 1, 0x38, 0]),
    ]);
    expect(parseColumn(unpacked).hasNulls).toBe(true);
  });

  it('reads status and insert count of a MutationResult without decoding the keys', () => {
    const buf = encode('MutationResult', {
      status: { code: 65535, reason: 'quota exceeded' },
      IDs: { int_id: { data: ['1', '2', '3'] } },
      insert_cnt: '3',
    });
    const r = parseMutationResult(buf);
    expect(r.insertCount).toBe(3);
    expect(r.status?.reason).toBe('quota exceeded');
  });
});

describe('pipeline', () => {
  async function* numbers(n: number, log: string[]) {
    for (let i = 0; i < n; i++) {
      log.push(`read ${i}`);
      await new Promise((r) => setTimeout(r, 2));
      yield i;
    }
  }

  it('overlaps reading with work and keeps at most `concurrency` items in work', async () => {
    const log: string[] = [];
    let active = 0;
    let peak = 0;
    const done: number[] = [];
    await pipeline(
      numbers(10, log),
      async (i) => {
        active++;
        peak = Math.max(peak, active);
        log.push(`work ${i}`);
        await new Promise((r) => setTimeout(r, 10));
        done.push(i);
        active--;
      },
      { concurrency: 2 },
    );
    expect(done.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(peak).toBe(2);
    // The next item is read before the previous one's work has finished.
    expect(log.indexOf('read 1')).toBeLessThan(log.indexOf('work 1'));
  });

  it('stops on the first failure, waits for work in flight, and rethrows it', async () => {
    const finished: number[] = [];
    const p = pipeline(
      numbers(100, []),
      async (i) => {
        await new Promise((r) => setTimeout(r, 5));
        if (i === 3) throw new Error('insert failed');
        finished.push(i);
      },
      { concurrency: 2 },
    );
    await expect(p).rejects.toThrow('insert failed');
    expect(finished.length).toBeLessThan(10);
  });
});

/** count(*) over a sorted key list, as a server answers `pk >= lo and pk < hi`. */
function counter(keys: Key[]) {
  const sorted = keys.slice().sort(compareKeys);
  let calls = 0;
  const count = async (r: KeyRange) => {
    calls++;
    return sorted.filter(
      (k) =>
        (r.lo === undefined || compareKeys(k, r.lo) >= 0) && (r.hi === undefined || compareKeys(k, r.hi) < 0),
    ).length;
  };
  return { count, calls: () => calls };
}

function covered(keys: Key[], ranges: KeyRange[]) {
  const c = counter(keys);
  return Promise.all(ranges.map((r) => c.count(r)));
}

/** The ranges hold every key once, each within `maxOff` keys of `ideal`. */
async function expectBalanced(keys: Key[], ranges: KeyRange[], ideal: number, maxOff: number) {
  const counts = await covered(keys, ranges);
  expect(counts.reduce((a, b) => a + b, 0)).toBe(keys.length);
  for (const n of counts) expect(Math.abs(n - ideal)).toBeLessThanOrEqual(maxOff);
}

describe('splitBalanced', () => {
  it('splits dense int64 keys into shards of equal counts that cover every key once', async () => {
    const keys = Array.from({ length: 100_000 }, (_v, i) => BigInt(i * 3 - 50_000));
    const c = counter(keys);
    const ranges = await splitBalanced({
      count: c.count,
      pkType: DataType.Int64!,
      total: keys.length,
      shards: 4,
    });
    expect(ranges).toHaveLength(4);
    expect(ranges[0]!.lo).toBeUndefined();
    expect(ranges[3]!.hi).toBeUndefined();
    await expectBalanced(keys, ranges, 25_000, 1250);
    expect(c.calls()).toBeLessThan(200);
  });

  it('balances skewed int64 keys at both ends of the range', async () => {
    const keys = [
      ...Array.from({ length: 5000 }, (_v, i) => -(2n ** 62n) + BigInt(i)),
      ...Array.from({ length: 5000 }, (_v, i) => 2n ** 62n + BigInt(i) * 1_000_000n),
    ];
    const ranges = await splitBalanced({
      count: counter(keys).count,
      pkType: DataType.Int64!,
      total: 10_000,
      shards: 2,
    });
    await expectBalanced(keys, ranges, 5000, 250);
  });

  it('splits VarChar keys, non-ASCII ones included, without losing any', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 20_000; i++) keys.push(`user-${(i * 7919) % 100_000}`.padEnd(12, 'x'));
    for (let i = 0; i < 2_000; i++) keys.push(`ü${i}`, `\u0001${i}`, `${i}`);
    const ranges = await splitBalanced({
      count: counter(keys).count,
      pkType: DataType.VarChar!,
      total: keys.length,
      shards: 3,
    });
    await expectBalanced(keys, ranges, keys.length / 3, keys.length / 3 / 10);
  });

  it('finds the bounds of auto-id keys from a key of the collection in a few probes', async () => {
    // Auto-ids sit together some 2^58 from zero: a search from the middle of the domain took 57
    // probes for 4 shards, each a count(*) that every sharded copy waited for before it began.
    const keys = Array.from({ length: 200_000 }, (_v, i) => 446_000_000_000_000_000n + BigInt(i) * 7n);
    for (const start of [keys[0], keys[123_457]]) {
      const c = counter(keys);
      const ranges = await splitBalanced({
        count: c.count,
        pkType: DataType.Int64!,
        total: keys.length,
        shards: 4,
        start,
      });
      await expectBalanced(keys, ranges, 50_000, 2500);
      expect(c.calls()).toBeLessThanOrEqual(20);
    }
  });

  it('covers every key once whatever key it starts from, a non-ASCII one included', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 20_000; i++) keys.push(`doc-${(i * 7919) % 100_000}`);
    for (let i = 0; i < 1_000; i++) keys.push(`é${i}`, `\u0001${i}`);
    for (const start of ['doc-0', 'é17', '\u00017', '~~~ not a key']) {
      const ranges = await splitBalanced({
        count: counter(keys).count,
        pkType: DataType.VarChar!,
        total: keys.length,
        shards: 4,
        start,
      });
      await expectBalanced(keys, ranges, keys.length / 4, keys.length / 4 / 10);
    }
  });

  it('starts from the key -2^63 without asking for a bound below the domain', async () => {
    const keys = [INT64_MIN, ...Array.from({ length: 9_999 }, (_v, i) => BigInt(i))];
    const c = counter(keys);
    const asked: KeyRange[] = [];
    const count = (r: KeyRange) => {
      asked.push(r);
      return c.count(r);
    };
    const ranges = await splitBalanced({
      count,
      pkType: DataType.Int64!,
      total: keys.length,
      shards: 2,
      start: INT64_MIN,
    });
    expect((await covered(keys, ranges)).reduce((a, b) => a + b, 0)).toBe(keys.length);
    for (const r of asked) expect(r.hi).not.toBe(INT64_MIN);
  });

  it('keeps one shard when there are fewer rows than shards', async () => {
    expect(
      await splitBalanced({ count: counter([1n]).count, pkType: DataType.Int64!, total: 1, shards: 4 }),
    ).toEqual([{}]);
  });
});

import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/adapters/milvus/proto.js';
import type { FieldData } from '../../src/adapters/milvus/types.js';
import { columnCells, float32Bits, float64Bits, isoMicros, sparseCanonical } from '../../src/engine/cells.js';
import {
  columnLength,
  compressNullable,
  estimateBytes,
  primaryKeys,
  selectRows,
} from '../../src/engine/columns.js';
import { KeySampler } from '../../src/engine/verify.js';

const base = { field_id: '0', is_dynamic: false, valid_data: [] as boolean[] };
const page: FieldData[] = [
  {
    ...base,
    type: DataType.Int64!,
    field_name: 'id',
    scalars: { long_data: { data: ['-9223372036854775808', '7', '9223372036854775807'] } },
  },
  {
    ...base,
    type: DataType.FloatVector!,
    field_name: 'v',
    vectors: { dim: '2', float_vector: { data: [1, 2, 3, 4, 5, 6] } },
  },
  {
    ...base,
    type: DataType.Float16Vector!,
    field_name: 'h',
    vectors: { dim: '2', float16_vector: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) },
  },
  {
    ...base,
    type: DataType.VarChar!,
    field_name: 's',
    valid_data: [true, false, true],
    scalars: { string_data: { data: ['a', '', 'c'] } },
  },
];

describe('columns', () => {
  it('counts rows and reads exact int64 keys', () => {
    expect(page.map(columnLength)).toEqual([3, 3, 3, 3]);
    expect(primaryKeys(page, 'id')).toEqual([-(2n ** 63n), 7n, 2n ** 63n - 1n]);
  });

  it('selects rows across scalar, float and byte vectors', () => {
    const sel = selectRows(page, [2, 0]);
    expect(sel[0]!.scalars!.long_data!.data).toEqual(['9223372036854775807', '-9223372036854775808']);
    expect(sel[1]!.vectors!.float_vector!.data).toEqual([5, 6, 1, 2]);
    expect([...(sel[2]!.vectors!.float16_vector as Buffer)]).toEqual([9, 10, 11, 12, 1, 2, 3, 4]);
    expect(sel[3]!.valid_data).toEqual([true, true]);
  });

  it('keeps values of nullable columns only where valid, as Insert expects', () => {
    const c = compressNullable(page[3]!);
    expect(c.scalars!.string_data!.data).toEqual(['a', 'c']);
    expect(c.valid_data).toEqual([true, false, true]);
  });

  it('estimates wire bytes', () => {
    expect(estimateBytes(page)).toBeGreaterThanOrEqual(3 * 8 + 6 * 4 + 12);
  });
});

describe('cells', () => {
  it('compares floats by bits, so -0 and 0 differ and NaN equals itself', () => {
    expect(float32Bits(-0)).not.toBe(float32Bits(0));
    expect(float32Bits(Number.NaN)).toBe(float32Bits(Number.NaN));
    // Any NaN payload is NaN (Milvus 2.3.5 changes stored payloads itself: corpus findings F3/F4).
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(0xffffffffffffffffn);
    expect(float64Bits(b.readDoubleBE(0))).toBe(float64Bits(Number.NaN));
    expect(float64Bits(-0)).not.toBe(float64Bits(0));
  });

  it('renders nulls as null and JSON by value', () => {
    expect(columnCells(page[3]!)).toEqual(['"a"', 'null', '"c"']);
    const j: FieldData = {
      ...base,
      type: DataType.JSON!,
      field_name: 'j',
      scalars: { json_data: { data: [Buffer.from('{"b":1,"a":[1,{"y":2,"x":1}]}')] } },
    };
    const k: FieldData = {
      ...j,
      scalars: { json_data: { data: [Buffer.from('{"a":[1,{"x":1,"y":2}],"b":1}')] } },
    };
    expect(columnCells(j)).toEqual(columnCells(k));
  });

  it('compares sparse vectors as maps', () => {
    const a = Buffer.alloc(16);
    a.writeUInt32LE(9, 0);
    a.writeFloatLE(0.5, 4);
    a.writeUInt32LE(2, 8);
    a.writeFloatLE(1.5, 12);
    const b = Buffer.concat([a.subarray(8), a.subarray(0, 8)]);
    expect(sparseCanonical(a)).toBe(sparseCanonical(b));
  });
});

describe('KeySampler', () => {
  it('keeps a bounded sample spread over everything seen', () => {
    const s = new KeySampler(100);
    const all = Array.from({ length: 100_000 }, (_v, i) => BigInt(i));
    for (let i = 0; i < all.length; i += 1000) s.add(all.slice(i, i + 1000));
    const sample = s.sample();
    expect(sample.length).toBeGreaterThanOrEqual(100);
    expect(sample.length).toBeLessThan(200);
    expect(Number(sample[sample.length - 1])).toBeGreaterThan(90_000);
  });
});

describe('Geometry and Timestamptz columns, in whichever slot the server answers', () => {
  const geo = (scalars: FieldData['scalars'], valid: boolean[] = []): FieldData => ({
    ...base,
    type: DataType.Geometry!,
    field_name: 'g',
    valid_data: valid,
    scalars,
  });
  const ts = (scalars: FieldData['scalars']): FieldData => ({
    ...base,
    type: DataType.Timestamptz!,
    field_name: 't',
    scalars,
  });

  it('WKT text and WKB bytes: rows picked, counted and compared in their own slot', () => {
    const wkt = geo({ geometry_wkt_data: { data: ['POINT (1 2)', 'POLYGON ((0 0, 1 0, 1 1, 0 0))', ''] } }, [
      true,
      true,
      false,
    ]);
    expect(columnLength(wkt)).toBe(3);
    const [picked] = selectRows([wkt], [1]);
    expect(picked!.scalars?.geometry_wkt_data?.data).toEqual(['POLYGON ((0 0, 1 0, 1 1, 0 0))']);
    expect(columnCells(wkt)).toEqual(['wkt:"POINT (1 2)"', 'wkt:"POLYGON ((0 0, 1 0, 1 1, 0 0))"', 'null']);
    // Insert takes only the valid values of a nullable column, in the same slot.
    expect(compressNullable(wkt).scalars?.geometry_wkt_data?.data).toEqual([
      'POINT (1 2)',
      'POLYGON ((0 0, 1 0, 1 1, 0 0))',
    ]);
    const wkb = geo({ geometry_data: { data: [Buffer.from('0101000000', 'hex')] } });
    expect(columnLength(wkb)).toBe(1);
    expect(columnCells(wkb)).toEqual(['wkb:0101000000']);
    expect(estimateBytes([wkt])).toBeGreaterThan(40);
  });

  it('an instant compares equal as microseconds or as ISO 8601 text with any offset; text without an offset compares as text', () => {
    const us = ts({ timestamptz_data: { data: ['1700000000123456', '-1', '0'] } });
    const iso = ts({
      string_data: {
        data: ['2023-11-15T06:13:20.123456+08:00', '1969-12-31T23:59:59.999999Z', '1970-01-01T00:00:00Z'],
      },
    });
    expect(columnCells(us)).toEqual(['us:1700000000123456', 'us:-1', 'us:0']);
    // 06:13:20 at +08:00 is 22:13:20 UTC the day before: 1700000000.123456 s.
    expect(columnCells(iso)).toEqual(columnCells(us));
    expect(selectRows([iso], [2])[0]!.scalars?.string_data?.data).toEqual(['1970-01-01T00:00:00Z']);
    expect(isoMicros('2023-11-15T06:13:20')).toBeUndefined();
    expect(isoMicros('0001-01-01T00:00:00Z')).toBe(-62135596800000000n);
    expect(isoMicros('9999-12-31T23:59:59.999999Z')).toBe(253402300799999999n);
    expect(isoMicros('2024-13-01T00:00:00Z')).toBeUndefined();
    expect(isoMicros('2024-01-01T00:00:00.1234567Z')).toBeUndefined();
    expect(isoMicros('2024-01-01T00:00:00.123456000Z')).toBe(1704067200123456n);
  });
});

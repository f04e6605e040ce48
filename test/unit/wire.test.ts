import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/adapters/milvus/proto.js';
import { encodeColumn, int64Values, parseColumn } from '../../src/adapters/milvus/wire.js';

const EDGES = [
  0n,
  1n,
  127n,
  128n,
  2n ** 28n - 1n,
  2n ** 28n,
  2n ** 31n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 35n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 62n + 12345n,
  2n ** 63n - 1n,
  -1n,
  -(2n ** 31n),
  -(2n ** 53n) - 3n,
  -(2n ** 63n),
];

function int64Column(values: bigint[]) {
  return encodeColumn({
    type: DataType.Int64,
    field_name: 'pk',
    field_id: '100',
    is_dynamic: false,
    valid_data: [],
    scalars: { long_data: { data: values.map(String) } },
  } as never);
}

describe('int64Values: the primary keys of a page read from its bytes', () => {
  it('reads every edge of int64 exactly, as protobufjs does', () => {
    expect(int64Values(int64Column(EDGES))).toEqual(EDGES);
    const random = Array.from({ length: 2000 }, (_v, i) =>
      BigInt.asIntN(64, BigInt(i) * 0x9e3779b97f4a7c15n),
    );
    expect(int64Values(int64Column(random))).toEqual(random);
  });

  it('reads unpacked values too (any encoder may send them), and an empty column as none', () => {
    // FieldData{type=5 (1), field_name="pk" (2), scalars (3){long_data (3){data (1): unpacked varints}}}
    const longArray = protobuf.Writer.create();
    for (const v of [5n, -7n, 2n ** 40n]) longArray.uint32((1 << 3) | 0).int64(v.toString());
    const longs = longArray.finish();
    const scalar = protobuf.Writer.create()
      .uint32((3 << 3) | 2)
      .bytes(longs)
      .finish();
    const fd = protobuf.Writer.create()
      .uint32((1 << 3) | 0)
      .int32(DataType.Int64!)
      .uint32((2 << 3) | 2)
      .string('pk')
      .uint32((3 << 3) | 2)
      .bytes(scalar)
      .finish();
    expect(int64Values(parseColumn(Buffer.from(fd)))).toEqual([5n, -7n, 2n ** 40n]);
    expect(int64Values(int64Column([]))).toEqual([]);
  });

  it('says undefined for a column without long data', () => {
    const strings = encodeColumn({
      type: DataType.VarChar,
      field_name: 'pk',
      field_id: '100',
      is_dynamic: false,
      valid_data: [],
      scalars: { string_data: { data: ['a'] } },
    } as never);
    expect(int64Values(strings)).toBeUndefined();
  });
});

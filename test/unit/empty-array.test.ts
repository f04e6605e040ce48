/**
 * Milvus 2.3.5 answers an empty array as an element with no typed data, and the same server dies
 * (nil pointer in its Insert validation) when that element is written back as it came. Found by
 * issue 12's reproduction: the smallest case is one row with `[]` in an Int64 or VarChar array.
 */
import { describe, expect, it } from 'vitest';
import { DataType, decode, encode } from '../../src/adapters/milvus/proto.js';
import type { FieldData } from '../../src/adapters/milvus/types.js';
import { decodeColumn, encodeColumn, parseColumn } from '../../src/adapters/milvus/wire.js';
import { insertable, typeEmptyArrayElements } from '../../src/engine/columns.js';

const base = { field_id: '101', is_dynamic: false, valid_data: [] as boolean[] };

function arrayColumn(elementType: number, data: FieldData['scalars'][]): FieldData {
  return {
    ...base,
    type: DataType.Array!,
    field_name: 'a',
    scalars: { array_data: { element_type: elementType, data: data as never } },
  };
}

describe('empty array elements', () => {
  it('are found in the bytes of a column as Milvus 2.3.5 sends them (an empty ScalarField)', () => {
    // The exact shape seen in a 2.3.5 query reply: [{long_data:[0]}, {}, {}, {long_data:[3]}].
    const fromServer = arrayColumn(DataType.Int64!, [
      { long_data: { data: ['0'] } },
      {},
      {},
      { long_data: { data: ['3'] } },
    ]);
    const col = parseColumn(encode('schema.FieldData', fromServer));
    expect(col.untypedElements).toBe(true);
    const typed = parseColumn(encode('schema.FieldData', typeEmptyArrayElements(decodeColumn(col))));
    expect(typed.untypedElements).toBe(false);
  });

  it('get the holder of their element type, so the insert request carries a typed empty array', () => {
    const cases: [number, string][] = [
      [DataType.Bool!, 'bool_data'],
      [DataType.Int8!, 'int_data'],
      [DataType.Int16!, 'int_data'],
      [DataType.Int32!, 'int_data'],
      [DataType.Int64!, 'long_data'],
      [DataType.Float!, 'float_data'],
      [DataType.Double!, 'double_data'],
      [DataType.VarChar!, 'string_data'],
    ];
    for (const [et, key] of cases) {
      const col = encodeColumn(insertable(arrayColumn(et, [{}])));
      const back = decode<FieldData>('schema.FieldData', col.bytes);
      const el = back.scalars!.array_data!.data[0]!;
      // Present (the oneof is set) and empty: what pymilvus sends for [].
      expect(el[key], `element type ${et}`).toEqual({ data: [] });
      expect(col.untypedElements).toBe(false);
    }
  });

  it('leave non-empty elements and every other column untouched (byte passthrough kept)', () => {
    const full = arrayColumn(DataType.VarChar!, [{ string_data: { data: ['é', ''] } }]);
    const bytes = encode('schema.FieldData', full);
    expect(parseColumn(bytes).untypedElements).toBe(false);
    expect(typeEmptyArrayElements(full)).toBe(full);
    const scalar: FieldData = {
      ...base,
      type: DataType.Int64!,
      field_name: 'n',
      scalars: { long_data: { data: [] } },
    };
    expect(parseColumn(encode('schema.FieldData', scalar)).untypedElements).toBe(false);
  });

  it('a null row of a nullable array stays null (valid_data), an empty one becomes typed', () => {
    const col: FieldData = {
      ...arrayColumn(DataType.Int64!, [{}, {}, { long_data: { data: ['1'] } }]),
      valid_data: [false, true, true],
    };
    const out = insertable(col);
    expect(out.valid_data).toEqual([false, true, true]);
    // Insert wants values only where valid: the null row's element is gone, the empty one typed.
    expect(out.scalars!.array_data!.data).toEqual([
      { long_data: { data: [] } },
      { long_data: { data: ['1'] } },
    ]);
  });
});

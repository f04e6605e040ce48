/**
 * The corpus differ's value comparison must see what the engine could get wrong: a -0.0 turned
 * into 0.0, a float32 rounded, a big JSON integer rounded through a double, a null turned into a
 * default, an empty array. (The differ itself is exercised on real servers by corpus.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson, columnCells, keyLiteral } from '../support/differ.js';

const floats = (data: number[], valid: boolean[] = []) => ({
  field_name: 'f',
  type: 'Float',
  valid_data: valid,
  scalars: { data: 'float_data', float_data: { data } },
});

describe('differ canonical values', () => {
  it('compares float32 by bits: -0.0 is not 0.0, subnormals are exact', () => {
    const [neg, pos, sub, max] = columnCells(
      floats([-0, 0, 1.401298464324817e-45, 3.4028234663852886e38]),
      4,
    );
    expect(neg).not.toBe(pos);
    expect(sub).toBe('f32:00000001');
    expect(max).toBe('f32:7f7fffff');
  });

  it('keeps nulls apart from values, dense or compact', () => {
    expect(columnCells(floats([0, 1], [false, true]), 2)).toEqual(['null', 'f32:3f800000']);
    expect(columnCells(floats([1], [false, true]), 2)).toEqual(['null', 'f32:3f800000']);
  });

  it('reads an array element without data (2.3.5 encoding of []) as an empty array', () => {
    const fd = {
      field_name: 'a',
      type: 'Array',
      valid_data: [],
      scalars: {
        data: 'array_data',
        array_data: {
          data: [{ data: undefined }, { data: 'long_data', long_data: { data: ['9223372036854775807'] } }],
        },
      },
    };
    expect(columnCells(fd, 2)).toEqual(['[]', '[i9223372036854775807]']);
  });

  it('compares JSON semantically but losslessly', () => {
    expect(canonicalJson('{"b":1,"a":[1.0,{}]}')).toBe(canonicalJson('{ "a" : [1, {}], "b" : 1 }'));
    expect(canonicalJson('{"x":9223372036854775807}')).not.toBe(canonicalJson('{"x":9223372036854775808}'));
    expect(canonicalJson('-0.0')).not.toBe(canonicalJson('0'));
    expect(canonicalJson('"\\u00e9"')).toBe(canonicalJson('"é"'));
  });

  it('compares sparse vectors as index → bits maps, whatever the order', () => {
    const row = (pairs: [number, number][]) => {
      const b = Buffer.alloc(pairs.length * 8);
      pairs.forEach(([i, v], k) => {
        b.writeUInt32LE(i, k * 8);
        b.writeFloatLE(v, k * 8 + 4);
      });
      return b;
    };
    const fd = (pairs: [number, number][]) => ({
      field_name: 's',
      type: 'SparseFloatVector',
      valid_data: [],
      vectors: { dim: '0', data: 'sparse_float_vector', sparse_float_vector: { contents: [row(pairs)] } },
    });
    expect(
      columnCells(
        fd([
          [3, 0.5],
          [1, 2],
        ]),
        1,
      ),
    ).toEqual(
      columnCells(
        fd([
          [1, 2],
          [3, 0.5],
        ]),
        1,
      ),
    );
    expect(columnCells(fd([[1, 2]]), 1)).not.toEqual(columnCells(fd([[1, 2.0000002]]), 1));
  });

  it('writes VarChar key literals with only the escapes both parsers know', () => {
    expect(keyLiteral('VarChar', 'a"b\\c\nd\fe')).toBe('"a\\"b\\\\c\\nd\fe"');
    expect(keyLiteral('Int64', '-9223372036854775807')).toBe('-9223372036854775807');
  });
});

import { describe, expect, it } from 'vitest';
import {
  compareKeys,
  INT64_MIN,
  keyFromJson,
  keyToJson,
  rangeExpr,
  sortKeys,
  stringLiteral,
} from '../../src/engine/keys.js';

describe('key expressions', () => {
  it('escapes quotes, backslashes, newlines and keeps unicode', () => {
    expect(stringLiteral(`a"b'c\\d\ne`)).toBe('"a\\"b\'c\\\\d\\ne"');
    expect(stringLiteral('é😀')).toBe('"é😀"');
  });

  it('uses only the escapes milvus-lite reads: other control characters stay raw (corpus finding F1)', () => {
    // milvus-lite 3.2.2 refused \f, \b and \uXXXX ("unknown escape sequence"); both it and Milvus
    // 2.3.5 select each of these keys exactly with raw control characters (checked on the servers).
    expect(stringLiteral('a\fb')).toBe('"a\fb"');
    expect(stringLiteral('\b\u0002\u0000\u001f')).toBe('"\b\u0002\u0000\u001f"');
    expect(stringLiteral('c\rd\te')).toBe('"c\\rd\\te"');
    expect(stringLiteral('\\u0041')).toBe('"\\\\u0041"');
  });

  it('never emits the unparseable int64 minimum', () => {
    expect(rangeExpr('id', { lo: INT64_MIN, hi: 5n })).toBe('id < 5');
    expect(rangeExpr('id', {})).toBe('');
    expect(rangeExpr('id', { lo: -3n })).toBe('id >= -3');
    expect(rangeExpr('pk', { lo: 'a"', hi: 'b' })).toBe('pk >= "a\\"" and pk < "b"');
  });

  it('orders VarChar keys by UTF-8 bytes like Milvus, int64 numerically', () => {
    // U+FFFF sorts before U+1F600 in UTF-8 (and in code points) but after it in UTF-16 units.
    expect(compareKeys('\uffff', '😀')).toBeLessThan(0);
    expect(sortKeys([3n, -(2n ** 63n), 2n ** 63n - 1n, 0n])).toEqual([-(2n ** 63n), 0n, 3n, 2n ** 63n - 1n]);
  });

  it('round-trips keys through JSON-safe text', () => {
    for (const k of [5n, -(2n ** 63n), 'x:y', '']) expect(keyFromJson(keyToJson(k))).toEqual(k);
  });
});

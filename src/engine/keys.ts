import { DataType } from '../adapters/milvus/proto.js';

/**
 * Primary keys and the filter expressions built from them. Keys are int64 (as bigint: JavaScript
 * numbers lose precision past 2^53) or VarChar strings. Every literal is escaped: a key with a quote,
 * a backslash or a newline must select exactly itself.
 */

export type Key = bigint | string;
export type KeyKind = 'int64' | 'varchar';

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

/** A half-open key range [lo, hi); undefined bounds are unbounded. */
export interface KeyRange {
  lo?: Key;
  hi?: Key;
}

const LITERAL_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * A Milvus string literal, escaped with only the escapes every server reads: \" \\ \n \r \t.
 * milvus-lite's tokenizer refuses any other escape (\f, \b, \uXXXX: "unknown escape sequence"),
 * and Milvus takes every other character raw, control characters included; non-ASCII text passes
 * through as UTF-8.
 */
export function stringLiteral(s: string): string {
  return `"${s.replace(/["\\\n\r\t]/g, (c) => LITERAL_ESCAPES[c]!)}"`;
}

/** Milvus 2.3 cannot parse the literal -9223372036854775808: callers never emit it (see rangeExpr). */
export function keyLiteral(k: Key): string {
  return typeof k === 'bigint' ? k.toString() : stringLiteral(k);
}

/** The filter selecting a key range; '' selects everything. */
export function rangeExpr(pk: string, r: KeyRange): string {
  const parts: string[] = [];
  if (r.lo !== undefined && !(typeof r.lo === 'bigint' && r.lo === INT64_MIN)) {
    parts.push(`${pk} >= ${keyLiteral(r.lo)}`);
  }
  if (r.hi !== undefined) parts.push(`${pk} < ${keyLiteral(r.hi)}`);
  return parts.join(' and ');
}

/**
 * A filter that matches every row. Needed wherever partitions are named: milvus-lite ignores
 * partition_names for count(*) with an empty filter, and an empty filter also requires a limit.
 */
export function matchAllExpr(pk: { name: string; data_type: number }): string {
  const n = pk.name;
  return pk.data_type === DataType.Int64
    ? `${n} >= ${INT64_MIN + 1n} or ${n} < ${INT64_MIN + 1n}`
    : `${n} >= ""`;
}

/** The filter selecting exactly these keys (-2^63, which 2.3 cannot parse, by comparison). */
export function inExpr(pk: string, keys: Key[]): string {
  const hasMin = keys.some((k) => k === INT64_MIN);
  const rest = hasMin ? keys.filter((k) => k !== INT64_MIN) : keys;
  const list = `${pk} in [${rest.map(keyLiteral).join(',')}]`;
  return hasMin ? `(${list} or ${pk} < ${INT64_MIN + 1n})` : list;
}

export function compareKeys(a: Key, b: Key): number {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  // Milvus orders VarChar by UTF-8 bytes, which is code point order, not UTF-16 order.
  return compareUtf8(String(a), String(b));
}

export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function sortKeys(keys: Key[]): Key[] {
  return keys.slice().sort(compareKeys);
}

export function keyToJson(k: Key | undefined): string | undefined {
  if (k === undefined) return undefined;
  return typeof k === 'bigint' ? `i:${k}` : `s:${k}`;
}

export function keyFromJson(s: string | undefined): Key | undefined {
  if (s === undefined) return undefined;
  return s.startsWith('i:') ? BigInt(s.slice(2)) : s.slice(2);
}

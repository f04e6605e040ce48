/**
 * Source rows that share a primary key, and reads that stay exact around them.
 *
 * Milvus returns one row per key but count(*) counts every copy; where the two disagree, halving
 * the keys with count(*) finds the keys stored more than once. That matters beyond the counts:
 * Milvus 2.3.5 (seen in the generated corpus, finding F6) answers a multi-row query whose result
 * folded a duplicated key with the Array columns shifted against the keys (every other column
 * stays aligned; whether it happens depends on the order segment results arrive in, so about one
 * read in five). A reply that holds a single row, or no duplicated key, was never seen misaligned.
 * So wherever Array values are read from rows that fold duplicates, those keys are read alone.
 */
import type { MilvusClient } from '../adapters/milvus/client.js';
import { DataType } from '../adapters/milvus/proto.js';
import type { FieldSchema, QueryResults } from '../adapters/milvus/types.js';
import { pageRows } from './columns.js';
import { inExpr, type Key, type KeyRange, sortKeys } from './keys.js';

/**
 * Indexes of the keys (sorted, distinct) counted more than once, found by halving: `count(i, j)`
 * is count(*) of the rows whose keys are keys[i..j), `total` that of all of them. About 2·d·log2(n)
 * counts for d duplicated keys, none when there is no duplicate.
 */
export async function duplicatedAt(
  n: number,
  total: number,
  count: (i: number, j: number) => Promise<number>,
): Promise<number[]> {
  const out: number[] = [];
  const walk = async (i: number, j: number, c: number): Promise<void> => {
    if (c <= j - i) return;
    if (j - i === 1) {
      out.push(i);
      return;
    }
    const mid = (i + j) >>> 1;
    const left = await count(i, mid);
    await walk(i, mid, left);
    await walk(mid, j, c - left);
  };
  await walk(0, n, total);
  return out;
}

/**
 * duplicatedAt over the keys of a key range (sorted, distinct, every key of the range): a slice of
 * them is counted as the sub-range from its first key to the next slice's first key, so the
 * expression stays two bounds however many keys there are.
 */
export function duplicatedInRange(
  count: (r: KeyRange) => Promise<number>,
  r: KeyRange,
  keys: Key[],
  total: number,
): Promise<number[]> {
  return duplicatedAt(keys.length, total, (i, j) =>
    count({ lo: i === 0 ? r.lo : keys[i], hi: j === keys.length ? r.hi : keys[j] }),
  );
}

/** Whether any of these fields is an Array field: the columns a folded duplicate can misalign. */
export function readsArrays(fields: FieldSchema[], names: string[]): boolean {
  const wanted = new Set(names);
  return fields.some((f) => f.data_type === DataType.Array && wanted.has(f.name));
}

export interface KeyQuery {
  collection_name: string;
  pk: string;
  output_fields: string[];
  partition_names?: string[];
  guaranteeTs?: bigint;
  /** The output holds Array fields: rows of duplicated keys are then read one key per query. */
  arrays: boolean;
}

/**
 * The rows of these keys, as one or more query replies in each of which every value belongs to its
 * row's key (see the module comment): one reply when no key is duplicated or no Array field is
 * read; otherwise one for the other keys and one per duplicated key.
 */
export async function queryKeys(
  c: Pick<MilvusClient, 'query' | 'count'>,
  q: KeyQuery,
  keys: Key[],
): Promise<QueryResults[]> {
  const read = (ks: Key[]) =>
    c.query({
      collection_name: q.collection_name,
      expr: inExpr(q.pk, ks),
      output_fields: q.output_fields,
      partition_names: q.partition_names ?? [],
      params: { limit: ks.length },
      guaranteeTs: q.guaranteeTs,
    });
  const count = (ks: Key[]) =>
    c.count(q.collection_name, inExpr(q.pk, ks), q.partition_names ?? [], q.guaranteeTs);
  const first = await read(keys);
  const rows = pageRows(first.fields_data);
  if (!q.arrays || rows <= 1) return [first];
  const sorted = sortKeys([...new Set(keys)]);
  const total = await count(sorted);
  if (total <= rows) return [first];
  const at = await duplicatedAt(sorted.length, total, (i, j) => count(sorted.slice(i, j)));
  if (!at.length) return [first];
  const dup = new Set(at);
  const rest = sorted.filter((_k, i) => !dup.has(i));
  const replies: QueryResults[] = rest.length ? [await read(rest)] : [];
  for (const i of at) replies.push(await read([sorted[i]!]));
  return replies;
}

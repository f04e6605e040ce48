/** Collections with data that breaks naive copy code, seeded on a real source server. */
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import { type CollectionDef, createCollection, indexAndLoad, insertRows, type Row } from './rows.js';

/** Deterministic pseudo-random numbers, so failures reproduce. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function vector(r: () => number, dim: number): number[] {
  return Array.from({ length: dim }, () => Math.fround(r() * 2 - 1));
}

const NASTY = [
  "quote's",
  'dq"uote',
  'back\\slash',
  'both\\"\'',
  'new\nline',
  'tab\tx',
  'ünïcödé',
  '中文键',
  '😀 emoji',
  '\\\\"',
  "' or 1==1 or '",
  'a'.repeat(200),
];

export const VARCHAR_TRICKY: CollectionDef = {
  name: 'varchar_tricky',
  description: 'VarChar keys with quotes, backslashes and unicode',
  fields: [
    { name: 'pk', type: 'VarChar', primary: true, maxLength: 256, description: 'the key' },
    { name: 'vec', type: 'FloatVector', dim: 16, description: 'embedding' },
    { name: 'flag', type: 'Bool' },
    { name: 'i8', type: 'Int8' },
    { name: 'i32', type: 'Int32' },
    { name: 'f', type: 'Float' },
    { name: 'd', type: 'Double' },
    { name: 'doc', type: 'JSON' },
    { name: 'tags', type: 'Array', elementType: 'VarChar', maxCapacity: 8, maxLength: 32 },
    { name: 'nums', type: 'Array', elementType: 'Int64', maxCapacity: 4 },
  ],
  dynamic: true,
  shards: 2,
  consistency: 0,
  properties: { 'collection.ttl.seconds': '0' },
};

export async function seedVarcharTricky(c: MilvusClient, count = 3000): Promise<{ deleted: string[] }> {
  const def = VARCHAR_TRICKY;
  await createCollection(c, def);
  await c.createPartition(def.name, 'p_one');
  await c.createPartition(def.name, 'p_empty');
  const r = rng(1);
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    const pk =
      i < NASTY.length
        ? NASTY[i]!
        : i % 5 === 0
          ? `${NASTY[i % NASTY.length]!.slice(0, 20)}-${i}`
          : `k${String(i).padStart(6, '0')}`;
    const row: Row = {
      pk,
      vec: vector(r, 16),
      flag: i % 2 === 0,
      i8: (i % 255) - 127,
      i32: i * 7919 - 1_000_000,
      f: i === 1 ? -0 : Math.fround(r() * 1e6),
      d: i === 2 ? Number.MIN_VALUE : r() * 1e300,
      doc: { i, nested: { deep: { list: [1, 'two', { three: 3 }], s: `v"${i}\\` } }, u: 'é' },
      tags: [`t${i % 3}`, 'x"y'],
      nums: [BigInt(i) * 3n - 9007199254740993n, 9223372036854775806n],
    };
    if (i % 4 === 0) row[`dyn_${i % 3}`] = { k: i };
    if (i % 4 === 1) row.extra = `s${i}`;
    rows.push(row);
  }
  const half = Math.floor(count * 0.7);
  await insertRows(c, def, rows.slice(0, half));
  await insertRows(c, def, rows.slice(half), 'p_one');
  await c.createIndex(def.name, 'doc', '', []).catch(() => undefined);
  await indexAndLoad(
    c,
    def.name,
    'vec',
    { index_type: 'HNSW', metric_type: 'COSINE', params: '{"M":8,"efConstruction":64}' },
    'vec_hnsw',
  );
  await c.createAlias(def.name, 'varchar_alias');
  // Deleted rows must not be copied.
  const deleted = ['k000100', 'k000101', NASTY[3]!];
  await c.call('Delete', {
    db_name: c.database,
    collection_name: def.name,
    expr: `pk in [${deleted.map((k) => JSON.stringify(k)).join(',')}]`,
  });
  return { deleted };
}

export const INT64_EXTREME: CollectionDef = {
  name: 'int64_extreme',
  description: '',
  fields: [
    { name: 'id', type: 'Int64', primary: true },
    { name: 'bv', type: 'BinaryVector', dim: 64 },
    { name: 'label', type: 'VarChar', maxLength: 64 },
  ],
  dynamic: false,
  consistency: 2,
};

export const EXTREME_KEYS = [
  2n ** 63n - 2n,
  -(2n ** 63n),
  0n,
  -(2n ** 63n) + 1n,
  2n ** 53n + 1n,
  -1n,
  1n,
  -(2n ** 53n) - 1n,
  2n ** 62n,
];

/** Int64 keys at the extremes inserted out of order, some duplicated, plus the unreadable 2^63-1. */
export async function seedInt64Extreme(
  c: MilvusClient,
  count = 2000,
): Promise<{ duplicates: number; unreadable: number }> {
  const def = INT64_EXTREME;
  await createCollection(c, def);
  const r = rng(2);
  const keys = [...EXTREME_KEYS];
  for (let i = 0; keys.length < count; i++)
    keys.push(BigInt(Math.floor((r() - 0.5) * 2 ** 52)) * 2047n + BigInt(i));
  keys.sort(() => r() - 0.5);
  const row = (id: bigint, label: string): Row => ({
    id,
    bv: Buffer.from(Array.from({ length: 8 }, () => Math.floor(r() * 256))),
    label,
  });
  await insertRows(
    c,
    def,
    keys.map((k) => row(k, `first ${k}`)),
  );
  // Duplicate keys: Milvus accepts them; count(*) counts both copies, queries return one.
  const dups = keys.slice(10, 15);
  await insertRows(
    c,
    def,
    dups.map((k) => row(k, `second ${k}`)),
  );
  await insertRows(c, def, [row(2n ** 63n - 1n, 'max key')]);
  await indexAndLoad(c, def.name, 'bv', { index_type: 'BIN_FLAT', metric_type: 'HAMMING', params: '{}' });
  return { duplicates: dups.length, unreadable: 1 };
}

export const PARTITION_KEY: CollectionDef = {
  name: 'partition_key_auto',
  description: 'partition key and autoID',
  fields: [
    { name: 'id', type: 'Int64', primary: true, autoID: true },
    { name: 'tenant', type: 'VarChar', maxLength: 32, partitionKey: true },
    { name: 'vec', type: 'FloatVector', dim: 8 },
  ],
  numPartitions: 8,
};

export async function seedPartitionKey(c: MilvusClient, count = 1500): Promise<void> {
  await createCollection(c, PARTITION_KEY);
  const r = rng(3);
  await insertRows(
    c,
    PARTITION_KEY,
    Array.from({ length: count }, (_v, i) => ({ tenant: `tenant-${i % 13}`, vec: vector(r, 8) })),
  );
  await indexAndLoad(
    c,
    PARTITION_KEY.name,
    'vec',
    { index_type: 'IVF_FLAT', metric_type: 'L2', params: '{"nlist":16}' },
    'ivf',
  );
}

export const EMPTY: CollectionDef = {
  name: 'empty_coll',
  fields: [
    { name: 'id', type: 'Int64', primary: true },
    { name: 'vec', type: 'FloatVector', dim: 4 },
  ],
};

export async function seedEmpty(c: MilvusClient): Promise<void> {
  await createCollection(c, EMPTY);
  await indexAndLoad(c, EMPTY.name, 'vec');
}

/** Rows of about 64 KB each: pages and insert requests must be split under the 64 MB cap. */
export const BIG_ROWS: CollectionDef = {
  name: 'big_rows',
  fields: [
    { name: 'id', type: 'Int64', primary: true },
    { name: 'vec', type: 'FloatVector', dim: 8192 },
    { name: 'text', type: 'VarChar', maxLength: 65535 },
  ],
};

export async function seedBigRows(c: MilvusClient, count = 1200): Promise<void> {
  await createCollection(c, BIG_ROWS);
  const r = rng(4);
  for (let i = 0; i < count; i += 200) {
    const rows = Array.from({ length: Math.min(200, count - i) }, (_v, j) => ({
      id: BigInt(i + j),
      vec: vector(r, 8192),
      text: String.fromCharCode(65 + ((i + j) % 26)).repeat(30_000 + ((i + j) % 1000)),
    }));
    await insertRows(c, BIG_ROWS, rows);
  }
  await indexAndLoad(c, BIG_ROWS.name, 'vec', { index_type: 'FLAT', metric_type: 'IP', params: '{}' });
}

/** milvus-lite can hold what Milvus 2.3 cannot: nullable, defaults, BM25, sparse, several vectors. */
export const LITE_RICH: CollectionDef = {
  name: 'lite_rich',
  description: 'nullable, defaults, BM25, sparse, several vector fields',
  fields: [
    { name: 'id', type: 'Int64', primary: true },
    { name: 'text', type: 'VarChar', maxLength: 1000, typeParams: { enable_analyzer: 'true' } },
    { name: 'sparse', type: 'SparseFloatVector' },
    { name: 'dense', type: 'FloatVector', dim: 8 },
    { name: 'dense2', type: 'FloatVector', dim: 4 },
    { name: 'user_sparse', type: 'SparseFloatVector' },
    { name: 'maybe', type: 'Int32', nullable: true },
    { name: 'note', type: 'VarChar', maxLength: 50, nullable: true, defaultValue: { string_data: 'n/a' } },
    { name: 'score', type: 'Double', defaultValue: { double_data: 1.5 } },
    { name: 'meta', type: 'JSON', nullable: true },
  ],
  dynamic: true,
  functions: [
    { name: 'bm25', type: 1, input_field_names: ['text'], output_field_names: ['sparse'], params: [] },
  ],
};

export async function seedLiteRich(c: MilvusClient, count = 800): Promise<void> {
  const def = LITE_RICH;
  await createCollection(c, def);
  await c.createPartition(def.name, 'recent');
  const r = rng(9);
  const rows = Array.from({ length: count }, (_v, i) => ({
    id: BigInt(i * 3 - 700) * (i % 2 ? -1n : 1n) * 1_000_003n,
    text: `hello world ${i} quick brown fox ${i % 7 === 0 ? 'migration' : ''}`,
    dense: vector(r, 8),
    dense2: vector(r, 4),
    user_sparse: { [i % 50]: 0.5, 1000: Math.fround(r()) },
    maybe: i % 3 === 0 ? null : i,
    note: i % 4 === 0 ? null : `n${i}`,
    score: i * 0.25,
    meta: i % 5 === 0 ? null : { i, nested: { a: [i, 'x'] } },
    [`k${i % 2}`]: i,
  }));
  const writable = { ...def, fields: def.fields.filter((f) => f.name !== 'sparse') };
  await insertRows(c, writable, rows.slice(0, count / 2));
  await insertRows(c, writable, rows.slice(count / 2), 'recent');
  await c.createIndex(def.name, 'sparse', 'bm25_idx', [
    { key: 'index_type', value: 'SPARSE_INVERTED_INDEX' },
    { key: 'metric_type', value: 'BM25' },
  ]);
  await c.createIndex(def.name, 'user_sparse', 'us_idx', [
    { key: 'index_type', value: 'SPARSE_INVERTED_INDEX' },
    { key: 'metric_type', value: 'IP' },
  ]);
  await c.createIndex(def.name, 'dense2', 'd2', [
    { key: 'index_type', value: 'FLAT' },
    { key: 'metric_type', value: 'L2' },
  ]);
  await indexAndLoad(
    c,
    def.name,
    'dense',
    { index_type: 'HNSW', metric_type: 'COSINE', params: '{"M":8,"efConstruction":32}' },
    'dense_idx',
  );
  await c.createAlias(def.name, 'lite_rich_alias');
}

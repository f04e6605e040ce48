/**
 * Test-only helpers to build collections and rows on real servers through the project's own
 * Milvus adapter (seeding writes to a test source; the product itself never writes to a source).
 */
import { MilvusClient } from '../../src/adapters/milvus/client.js';
import { DataType, encode } from '../../src/adapters/milvus/proto.js';
import type { FieldData, FieldSchema, FunctionSchema, KeyValue } from '../../src/adapters/milvus/types.js';

export type Row = Record<string, unknown>;

export interface FieldDef {
  name: string;
  type: keyof typeof DataType;
  primary?: boolean;
  autoID?: boolean;
  dim?: number;
  maxLength?: number;
  elementType?: keyof typeof DataType;
  maxCapacity?: number;
  partitionKey?: boolean;
  clusteringKey?: boolean;
  nullable?: boolean;
  defaultValue?: Record<string, unknown>;
  description?: string;
  typeParams?: Record<string, string>;
}

export interface CollectionDef {
  name: string;
  description?: string;
  fields: FieldDef[];
  dynamic?: boolean;
  shards?: number;
  consistency?: number;
  properties?: Record<string, string>;
  numPartitions?: number;
  functions?: Partial<FunctionSchema>[];
}

export function admin(
  endpoint: string,
  opts: { database?: string; username?: string; password?: string } = {},
): MilvusClient {
  return new MilvusClient({
    side: 'test',
    endpoint,
    database: opts.database ?? 'default',
    credentials: opts.username ? { username: opts.username, password: opts.password } : undefined,
  });
}

export function fieldSchema(f: FieldDef): Partial<FieldSchema> {
  const tp: KeyValue[] = [];
  if (f.dim !== undefined) tp.push({ key: 'dim', value: String(f.dim) });
  if (f.maxLength !== undefined) tp.push({ key: 'max_length', value: String(f.maxLength) });
  if (f.maxCapacity !== undefined) tp.push({ key: 'max_capacity', value: String(f.maxCapacity) });
  for (const [key, value] of Object.entries(f.typeParams ?? {})) tp.push({ key, value });
  return {
    name: f.name,
    data_type: DataType[f.type]!,
    is_primary_key: Boolean(f.primary),
    autoID: Boolean(f.autoID),
    type_params: tp,
    element_type: f.elementType ? DataType[f.elementType]! : 0,
    is_partition_key: Boolean(f.partitionKey),
    is_clustering_key: Boolean(f.clusteringKey),
    nullable: Boolean(f.nullable),
    description: f.description ?? '',
    ...(f.defaultValue ? { default_value: f.defaultValue } : {}),
  };
}

export async function createCollection(c: MilvusClient, def: CollectionDef): Promise<void> {
  const schema = {
    name: def.name,
    description: def.description ?? '',
    fields: def.fields.map(fieldSchema),
    enable_dynamic_field: Boolean(def.dynamic),
    functions: def.functions ?? [],
  };
  await c.createCollection({
    collection_name: def.name,
    schema: encode('schema.CollectionSchema', schema),
    shards_num: def.shards ?? 1,
    consistency_level: def.consistency ?? 2,
    properties: Object.entries(def.properties ?? {}).map(([key, value]) => ({ key, value })),
    ...(def.numPartitions ? { num_partitions: def.numPartitions } : {}),
  });
}

/** Column-wise FieldData from row objects, as an SDK would build it. */
export function columns(def: CollectionDef, rows: Row[]): FieldData[] {
  const out: FieldData[] = [];
  for (const f of def.fields) {
    if (f.autoID) continue;
    const t = DataType[f.type]!;
    const vals = rows.map((r) => r[f.name]);
    const valid = f.nullable ? vals.map((v) => v !== null && v !== undefined) : [];
    const present = f.nullable ? vals.filter((v) => v !== null && v !== undefined) : vals;
    const fd: FieldData = {
      type: t,
      field_name: f.name,
      field_id: '0',
      is_dynamic: false,
      valid_data: valid,
    };
    switch (f.type) {
      case 'Bool':
        fd.scalars = { bool_data: { data: present as boolean[] } };
        break;
      case 'Int8':
      case 'Int16':
      case 'Int32':
        fd.scalars = { int_data: { data: present as number[] } };
        break;
      case 'Int64':
        fd.scalars = { long_data: { data: present.map((v) => String(v)) } };
        break;
      case 'Float':
        fd.scalars = { float_data: { data: present as number[] } };
        break;
      case 'Double':
        fd.scalars = { double_data: { data: present as number[] } };
        break;
      case 'VarChar':
        fd.scalars = { string_data: { data: present as string[] } };
        break;
      case 'JSON':
        fd.scalars = { json_data: { data: present.map((v) => Buffer.from(JSON.stringify(v))) } };
        break;
      case 'Geometry':
        // WKT text, as the SDKs send it.
        fd.scalars = { geometry_wkt_data: { data: present as string[] } };
        break;
      case 'Timestamptz':
        // ISO 8601 text with an offset, as pymilvus sends it.
        fd.scalars = { string_data: { data: present as string[] } };
        break;
      case 'Array': {
        const et = DataType[f.elementType!]!;
        const key = {
          1: 'bool_data',
          2: 'int_data',
          3: 'int_data',
          4: 'int_data',
          5: 'long_data',
          10: 'float_data',
          11: 'double_data',
          21: 'string_data',
        }[et]!;
        fd.scalars = {
          array_data: {
            element_type: et,
            data: (present as unknown[][]).map((a) => ({ [key]: { data: et === 5 ? a.map(String) : a } })),
          },
        };
        break;
      }
      case 'FloatVector':
        fd.vectors = { dim: String(f.dim), float_vector: { data: (present as number[][]).flat() } };
        break;
      case 'BinaryVector':
        fd.vectors = { dim: String(f.dim), binary_vector: Buffer.concat(present as Buffer[]) };
        break;
      case 'Float16Vector':
        fd.vectors = { dim: String(f.dim), float16_vector: Buffer.concat(present as Buffer[]) };
        break;
      case 'SparseFloatVector':
        fd.vectors = {
          dim: '0',
          sparse_float_vector: { dim: '0', contents: (present as Record<number, number>[]).map(sparseBytes) },
        };
        break;
      default:
        throw new Error(`test helper cannot build ${f.type}`);
    }
    out.push(fd);
  }
  if (def.dynamic) {
    const known = new Set(def.fields.map((f) => f.name));
    const meta = rows.map((r) =>
      Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => !known.has(k))))),
    );
    out.push({
      type: DataType.JSON!,
      field_name: '$meta',
      field_id: '0',
      is_dynamic: true,
      valid_data: [],
      scalars: { json_data: { data: meta } },
    });
  }
  return out;
}

export function sparseBytes(m: Record<number, number>): Buffer {
  const entries = Object.entries(m)
    .map(([k, v]) => [Number(k), v] as const)
    .sort((a, b) => a[0] - b[0]);
  const b = Buffer.alloc(entries.length * 8);
  entries.forEach(([i, v], j) => {
    b.writeUInt32LE(i, j * 8);
    b.writeFloatLE(v, j * 8 + 4);
  });
  return b;
}

export async function insertRows(
  c: MilvusClient,
  def: CollectionDef,
  rows: Row[],
  partition?: string,
): Promise<void> {
  for (let i = 0; i < rows.length; i += 2000) {
    const chunk = rows.slice(i, i + 2000);
    await c.insert({
      collection_name: def.name,
      fields_data: columns(def, chunk),
      num_rows: chunk.length,
      ...(partition ? { partition_name: partition } : {}),
    });
  }
}

const FLAT_L2: Record<string, string> = { index_type: 'FLAT', metric_type: 'L2', params: '{}' };

export async function indexAndLoad(
  c: MilvusClient,
  name: string,
  field: string,
  params: Record<string, string> = FLAT_L2,
  indexName = '',
): Promise<void> {
  await c.createIndex(
    name,
    field,
    indexName,
    Object.entries(params).map(([key, value]) => ({ key, value })),
  );
  await loadAndWait(c, name);
}

/**
 * An index on `field` unless the collection has one (a FLAT L2 one by default), then waits until
 * it covers every flushed row: a search or a timing right after it sees all of them.
 */
export async function indexCovering(
  c: MilvusClient,
  name: string,
  field: string,
  opts: { params?: Record<string, string>; indexName?: string; timeoutMs?: number } = {},
): Promise<void> {
  if (!(await c.describeIndexes(name)).length)
    await c.createIndex(
      name,
      field,
      opts.indexName ?? '',
      Object.entries(opts.params ?? FLAT_L2).map(([key, value]) => ({ key, value })),
    );
  await waitUntil(`the index of ${name} covering every row`, opts.timeoutMs ?? 120_000, async () => {
    const [d] = await c.describeIndexes(name);
    return d !== undefined && d.state === 3 && d.indexed_rows === d.total_rows;
  });
}

/** Loads the collection and waits until it is loaded. */
export async function loadAndWait(c: MilvusClient, name: string, timeoutMs = 120_000): Promise<void> {
  await c.loadCollection(name);
  await waitUntil(`collection ${name} loaded`, timeoutMs, async () => (await c.getLoadState(name)) === 3);
}

async function waitUntil(what: string, ms: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not done after ${ms / 1000} s`);
}

/**
 * Independent checks for tests: rows are read back through the official Node SDK (not through the
 * engine's own reader) and schemas are compared element by element from DescribeCollection.
 */
import { MilvusClient as SdkClient } from '@zilliz/milvus2-sdk-node';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';

export interface SdkTarget {
  endpoint: string;
  username?: string;
  password?: string;
  database?: string;
}

export function sdk(t: SdkTarget): SdkClient {
  return new SdkClient({
    address: t.endpoint,
    username: t.username,
    password: t.password,
    database: t.database,
    logLevel: 'error',
  });
}

/** Every row of a collection (≤ 16384 rows), keyed by primary key, as the SDK decodes it. */
export async function sdkRows(
  t: SdkTarget,
  collection: string,
  pk: string,
  opts: { exclude?: string[]; partition?: string; intKey?: boolean } = {},
): Promise<Map<string, unknown>> {
  const c = sdk(t);
  const lit = (k: unknown) => (opts.intKey ? String(k) : JSON.stringify(k));
  try {
    const partition_names = opts.partition ? [opts.partition] : undefined;
    const keysRes = await c.query({
      collection_name: collection,
      filter: '',
      output_fields: [pk],
      limit: 16384,
      partition_names,
      consistency_level: 'Strong' as never,
    });
    if (keysRes.status.error_code !== 'Success') throw new Error(`sdk query: ${keysRes.status.reason}`);
    const keys = keysRes.data.map((r) => r[pk]);
    const out = new Map<string, unknown>();
    for (let i = 0; i < keys.length; i += 64) {
      const chunk = keys.slice(i, i + 64);
      // Milvus 2.3 cannot parse the literal -2^63: select that key with a comparison instead.
      const min = chunk.filter((k) => String(k) === '-9223372036854775808');
      const rest = chunk.filter((k) => String(k) !== '-9223372036854775808');
      const filter = [
        rest.length ? `${pk} in [${rest.map(lit).join(',')}]` : '',
        min.length ? `${pk} < -9223372036854775807` : '',
      ]
        .filter(Boolean)
        .join(' or ');
      const res = await c.query({
        collection_name: collection,
        filter,
        output_fields: ['*'],
        limit: 16384,
        partition_names,
        consistency_level: 'Strong' as never,
      });
      if (res.status.error_code !== 'Success') throw new Error(`sdk query: ${res.status.reason}`);
      for (const row of res.data) {
        const r = { ...row } as Record<string, unknown>;
        for (const f of opts.exclude ?? []) delete r[f];
        out.set(String(r[pk]), r);
      }
    }
    return out;
  } finally {
    await c.closeConnection();
  }
}

/** DescribeCollection with everything server-assigned removed: what must be equal on both sides. */
export async function schemaOf(c: MilvusClient, collection: string): Promise<Record<string, unknown>> {
  const d = await c.describeCollection(collection);
  const fields = d.schema.fields
    .filter((f) => !['RowID', 'Timestamp'].includes(f.name) && !f.is_dynamic)
    .map(({ fieldID: _id, state: _s, ...f }) => f);
  const functions = (d.schema.functions ?? []).map(
    ({ id: _i, input_field_ids: _a, output_field_ids: _b, ...f }) => f,
  );
  const indexes = (await c.describeIndexes(collection))
    .map((i) => ({
      name: i.index_name,
      field: i.field_name,
      params: [...i.params].sort((a, b) => a.key.localeCompare(b.key)),
    }))
    .sort((a, b) => a.field.localeCompare(b.field));
  return {
    description: d.schema.description,
    enable_dynamic_field: d.schema.enable_dynamic_field,
    fields,
    functions,
    schemaProperties: d.schema.properties,
    properties: [...d.properties].sort((a, b) => a.key.localeCompare(b.key)),
    shards: d.shards_num,
    consistency: d.consistency_level,
    numPartitions: fields.some((f) => f.is_partition_key) ? d.num_partitions : undefined,
    partitions: (await c.showPartitions(collection)).sort(),
    indexes,
    loaded: await c.getLoadState(collection),
  };
}

/** Whether `alias` resolves to `collection` on a server. */
export async function aliasTarget(c: MilvusClient, alias: string): Promise<string | undefined> {
  try {
    const d = await c.describeCollection(alias);
    // Describing an alias echoes the alias as collection_name; the schema carries the real name.
    return d.schema.name || d.collection_name;
  } catch {
    return undefined;
  }
}

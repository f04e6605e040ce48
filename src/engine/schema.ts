/**
 * Pure schema logic: what a source collection uses, whether a target can hold it, the exact create
 * request for the target, and what a target did not keep. No I/O here, so all of it is unit-tested.
 */
import {
  CONSISTENCY_NAMES,
  DATA_TYPE_NAMES,
  DataType,
  encode,
  FUNCTION_TYPE_NAMES,
} from '../adapters/milvus/proto.js';
import type {
  CollectionSchema,
  DescribeCollectionResponse,
  FieldSchema,
  FunctionSchema,
  IndexDescription,
  KeyValue,
} from '../adapters/milvus/types.js';
import { diffIndexes } from './indexes.js';
import { withoutLoadTopology } from './load-topology.js';
import { atLeast, levelAtLeast, type ServerVersion } from './versions.js';

/** Everything about a collection that the target must receive. */
export interface CollectionModel {
  name: string;
  description: string;
  schema: CollectionSchema;
  shardsNum: number;
  consistencyLevel: number;
  properties: KeyValue[];
  numPartitions: number;
  partitions: string[];
  indexes: IndexDescription[];
  aliases: string[];
}

export function userFields(schema: CollectionSchema): FieldSchema[] {
  // System fields (RowID = 0, Timestamp = 1) and the dynamic field's carrier are not user schema.
  return schema.fields.filter(
    (f) =>
      !f.is_dynamic &&
      !(Number(f.fieldID) < 100 && Number(f.fieldID) > -1 && ['RowID', 'Timestamp'].includes(f.name)),
  );
}

export function primaryField(schema: CollectionSchema): FieldSchema {
  const pk = schema.fields.find((f) => f.is_primary_key);
  if (!pk) throw new Error(`collection ${schema.name} has no primary key field`);
  return pk;
}

export function partitionKeyField(schema: CollectionSchema): FieldSchema | undefined {
  return schema.fields.find((f) => f.is_partition_key);
}

export function isVectorType(t: number): boolean {
  return t >= 100 && t < 200;
}

/** Fields whose values the target computes itself (BM25 outputs): never read, never written. */
export function functionOutputFields(schema: CollectionSchema): Set<string> {
  const out = new Set<string>();
  for (const f of schema.functions ?? []) for (const n of f.output_field_names) out.add(n);
  for (const f of schema.fields) if (f.is_function_output) out.add(f.name);
  return out;
}

export function modelFrom(
  d: DescribeCollectionResponse,
  partitions: string[],
  indexes: IndexDescription[],
  listedAliases: string[] = [],
): CollectionModel {
  return {
    name: d.collection_name || d.schema.name,
    description: d.schema.description,
    schema: d.schema,
    shardsNum: d.shards_num,
    consistencyLevel: d.consistency_level,
    properties: d.properties ?? [],
    numPartitions: Number(d.num_partitions ?? 0),
    partitions,
    indexes,
    // DescribeCollection lists aliases on Milvus; milvus-lite only answers ListAliases.
    aliases: [...new Set([...(d.aliases ?? []), ...listedAliases])].sort(),
  };
}

export interface Feature {
  name: string;
  /** Lowest Milvus version that keeps it; undefined = every supported version. */
  since?: string;
  /** Servers known to refuse it although their level would allow it. */
  notOnLite?: boolean;
  /** milvus-lite versions (its own line) that keep it although their Milvus level is below `since`. */
  liteSince?: string;
}

/**
 * Types milvus-lite keeps ahead of its Milvus level, from the version the tests ran them on
 * (test/integration/fidelity.test.ts): Geometry as WKT text, Timestamptz as UTC microseconds.
 */
export const LITE_TYPE_SINCE: Record<number, string> = {
  [DataType.Geometry!]: '3.2.2',
  [DataType.Timestamptz!]: '3.2.2',
};

export const TYPE_SINCE: Record<number, string> = {
  [DataType.Float16Vector!]: '2.4.0',
  [DataType.BFloat16Vector!]: '2.4.0',
  [DataType.SparseFloatVector!]: '2.4.0',
  [DataType.Int8Vector!]: '2.6.0',
  [DataType.Geometry!]: '2.6.4',
  [DataType.Timestamptz!]: '2.6.6',
  [DataType.ArrayOfStruct!]: '2.6.4',
  [DataType.Array!]: '2.3.0',
};

export const FUNCTION_SINCE: Record<number, string> = {
  1: '2.5.0',
  2: '2.6.0',
  3: '2.6.0',
  4: '2.6.0',
  5: '2.6.0',
};

/** Lowest target version that keeps each schema element (the reference lists them). */
export const ELEMENT_SINCE = {
  nullable: '2.5.0',
  defaultValue: '2.5.0',
  clusteringKey: '2.4.0',
  analyzer: '2.5.0',
  severalVectors: '2.4.0',
  schemaProperties: '2.4.0',
} as const;

/** Every schema element that not every target version keeps. */
export function usedFeatures(m: CollectionModel): Feature[] {
  const out: Feature[] = [];
  const fields = userFields(m.schema);
  for (const f of fields) {
    const t = DATA_TYPE_NAMES[f.data_type] ?? String(f.data_type);
    const since = TYPE_SINCE[f.data_type];
    if (!DATA_TYPE_NAMES[f.data_type] || f.data_type === DataType.None) {
      out.push({ name: `field ${f.name}: unknown data type ${f.data_type}`, since: '99.0.0' });
    } else if (since) {
      out.push({
        name: `field ${f.name}: ${t}`,
        since,
        notOnLite:
          f.data_type === DataType.BinaryVector ||
          f.data_type === DataType.Float16Vector ||
          f.data_type === DataType.BFloat16Vector,
        ...(LITE_TYPE_SINCE[f.data_type] ? { liteSince: LITE_TYPE_SINCE[f.data_type] } : {}),
      });
    } else if (f.data_type === DataType.BinaryVector) {
      out.push({ name: `field ${f.name}: BinaryVector`, notOnLite: true });
    }
    if (f.nullable) out.push({ name: `field ${f.name}: nullable`, since: ELEMENT_SINCE.nullable });
    if (f.default_value)
      out.push({ name: `field ${f.name}: default value`, since: ELEMENT_SINCE.defaultValue });
    if (f.is_clustering_key)
      out.push({ name: `field ${f.name}: clustering key`, since: ELEMENT_SINCE.clusteringKey });
    if (f.type_params.some((p) => /analyzer|enable_match/.test(p.key)))
      out.push({ name: `field ${f.name}: analyzer settings`, since: ELEMENT_SINCE.analyzer });
  }
  if (fields.filter((f) => isVectorType(f.data_type)).length > 1) {
    out.push({ name: 'several vector fields', since: ELEMENT_SINCE.severalVectors });
  }
  for (const fn of m.schema.functions ?? []) {
    out.push({
      name: `function ${fn.name} (${FUNCTION_TYPE_NAMES[fn.type] ?? fn.type})`,
      since: FUNCTION_SINCE[fn.type] ?? '99.0.0',
    });
  }
  if ((m.schema.properties ?? []).length)
    out.push({ name: 'schema properties', since: ELEMENT_SINCE.schemaProperties });
  return out;
}

/** Features the target server cannot hold: a non-empty list means refuse, never copy lossily. */
export function unsupportedFeatures(features: Feature[], target: ServerVersion): string[] {
  const keptByLite = (f: Feature) =>
    f.liteSince !== undefined &&
    target.liteLevel !== undefined &&
    levelAtLeast(target.liteLevel, f.liteSince);
  return features
    .filter(
      (f) =>
        !keptByLite(f) &&
        ((f.since && !atLeast(target, f.since)) || (f.notOnLite && target.kind === 'milvus-lite')),
    )
    .map((f) =>
      f.since
        ? `${f.name} (needs Milvus ${f.since} or newer${f.liteSince ? ` or milvus-lite ${f.liteSince}` : ''})`
        : `${f.name} (not supported by ${target.raw})`,
    );
}

/** The schema the target is created with: ids cleared (the server assigns them), names kept. */
export function targetSchema(
  m: CollectionModel,
  targetName: string,
  description: string | undefined,
): CollectionSchema {
  const fields = userFields(m.schema).map((f) => ({ ...f, fieldID: '0', state: 0 }));
  const functions: FunctionSchema[] = (m.schema.functions ?? []).map((fn) => ({
    ...fn,
    id: '0',
    input_field_ids: [],
    output_field_ids: [],
  }));
  return {
    ...m.schema,
    name: targetName,
    description: description ?? m.schema.description,
    fields,
    functions,
    dbName: '',
  };
}

export interface CreateRequest {
  collection_name: string;
  schema: Buffer;
  shards_num: number;
  consistency_level: number;
  properties: KeyValue[];
  num_partitions?: string;
}

export function createRequest(m: CollectionModel, schema: CollectionSchema): CreateRequest {
  const req: CreateRequest = {
    collection_name: schema.name,
    schema: encode('schema.CollectionSchema', schema),
    shards_num: m.shardsNum,
    consistency_level: m.consistencyLevel,
    // Never the source's replicas or resource groups (load-topology.ts).
    properties: withoutLoadTopology(m.properties),
  };
  if (partitionKeyField(m.schema) && m.numPartitions > 0) req.num_partitions = String(m.numPartitions);
  return req;
}

/** Partitions to create by name: none with a partition key (the server makes them), never _default. */
export function partitionsToCreate(m: CollectionModel): string[] {
  if (partitionKeyField(m.schema)) return [];
  return m.partitions.filter((p) => p !== '_default');
}

// ---- comparing what the target kept --------------------------------------------------------------

function kvMap(kvs: KeyValue[] | undefined): Map<string, string> {
  return new Map((kvs ?? []).map((kv) => [kv.key, kv.value]));
}

function describeValue(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    typeof x === 'bigint' ? x.toString() : Buffer.isBuffer(x) ? x.toString('base64') : x,
  );
}

/** JSON-valued parameters ("params": {"nlist": 64}) compare by value, not by spacing. */
function sameValue(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

function diffKv(
  what: string,
  want: KeyValue[] | undefined,
  got: KeyValue[] | undefined,
  out: string[],
): void {
  const w = kvMap(want);
  const g = kvMap(got);
  for (const [k, v] of w) {
    if (!g.has(k)) out.push(`${what} ${k}=${v} was not kept`);
    else if (!sameValue(g.get(k)!, v)) out.push(`${what} ${k} is ${g.get(k)} instead of ${v}`);
  }
}

const FIELD_FLAGS: (keyof FieldSchema)[] = [
  'is_primary_key',
  'autoID',
  'is_partition_key',
  'is_clustering_key',
  'nullable',
  'is_function_output',
];

/**
 * Every difference between what was asked for and what the target describes back. Each entry is a
 * sentence for the status' warnings: nothing a target silently drops goes unreported.
 */
export function diffModels(want: CollectionModel, got: CollectionModel): string[] {
  const out: string[] = [];
  if (want.description !== got.description)
    out.push(
      `description "${got.description}" instead of "${want.description}" (the target did not keep it)`,
    );
  if (want.schema.enable_dynamic_field !== got.schema.enable_dynamic_field)
    out.push(
      `dynamic field is ${got.schema.enable_dynamic_field ? 'on' : 'off'} instead of ${want.schema.enable_dynamic_field ? 'on' : 'off'}`,
    );
  if (want.consistencyLevel !== got.consistencyLevel)
    out.push(
      `consistency level ${CONSISTENCY_NAMES[got.consistencyLevel]} instead of ${CONSISTENCY_NAMES[want.consistencyLevel]}`,
    );
  // 0: the source did not say (embedded Milvus Lite); the target chose its default.
  if (want.shardsNum && want.shardsNum !== got.shardsNum)
    out.push(`shard count ${got.shardsNum} instead of ${want.shardsNum}`);
  if (partitionKeyField(want.schema) && want.numPartitions !== got.numPartitions)
    out.push(`num_partitions ${got.numPartitions} instead of ${want.numPartitions}`);
  diffKv('property', withoutLoadTopology(want.properties), got.properties, out);
  diffKv('schema property', want.schema.properties, got.schema.properties, out);

  const gotFields = new Map(userFields(got.schema).map((f) => [f.name, f]));
  for (const wf of userFields(want.schema)) {
    const gf = gotFields.get(wf.name);
    if (!gf) {
      out.push(`field ${wf.name} is missing`);
      continue;
    }
    if (wf.data_type !== gf.data_type)
      out.push(
        `field ${wf.name} has type ${DATA_TYPE_NAMES[gf.data_type]} instead of ${DATA_TYPE_NAMES[wf.data_type]}`,
      );
    if (wf.data_type === DataType.Array && wf.element_type !== gf.element_type)
      out.push(
        `field ${wf.name} has element type ${DATA_TYPE_NAMES[gf.element_type]} instead of ${DATA_TYPE_NAMES[wf.element_type]}`,
      );
    for (const flag of FIELD_FLAGS) {
      if (Boolean(wf[flag]) !== Boolean(gf[flag]))
        out.push(`field ${wf.name}: ${String(flag)} is ${Boolean(gf[flag])} instead of ${Boolean(wf[flag])}`);
    }
    if (wf.description !== gf.description)
      out.push(`field ${wf.name}: description "${gf.description}" instead of "${wf.description}"`);
    if (describeValue(wf.default_value ?? null) !== describeValue(gf.default_value ?? null))
      out.push(
        `field ${wf.name}: default value ${describeValue(gf.default_value)} instead of ${describeValue(wf.default_value)}`,
      );
    diffKv(`field ${wf.name}: type parameter`, wf.type_params, gf.type_params, out);
    gotFields.delete(wf.name);
  }
  for (const extra of gotFields.keys()) out.push(`field ${extra} exists on the target but not on the source`);

  const gotFns = new Map((got.schema.functions ?? []).map((f) => [f.name, f]));
  for (const wf of want.schema.functions ?? []) {
    const gf = gotFns.get(wf.name);
    if (!gf) out.push(`function ${wf.name} is missing`);
    else {
      if (wf.type !== gf.type) out.push(`function ${wf.name} has type ${gf.type} instead of ${wf.type}`);
      if (
        wf.input_field_names.join() !== gf.input_field_names.join() ||
        wf.output_field_names.join() !== gf.output_field_names.join()
      )
        out.push(`function ${wf.name} has other input/output fields`);
      diffKv(`function ${wf.name}: parameter`, wf.params, gf.params, out);
    }
  }

  const gotParts = new Set(got.partitions);
  if (!partitionKeyField(want.schema))
    for (const p of want.partitions) if (!gotParts.has(p)) out.push(`partition ${p} is missing`);

  diffIndexes(want.indexes, got.indexes, diffKv, out);

  const gotAliases = new Set(got.aliases);
  const missingAliases = want.aliases.filter((a) => !gotAliases.has(a));
  if (missingAliases.length)
    out.push(
      `aliases ${missingAliases.join(', ')} are not listed by the target's DescribeCollection (created; some servers do not list them)`,
    );
  return out;
}

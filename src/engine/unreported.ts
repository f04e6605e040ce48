/**
 * What a source leaves out that a target requires. milvus-lite (3.2.2) describes an HNSW index
 * without M/efConstruction, an IVF index without nlist and a VarChar array without its element
 * max_length; Milvus refuses to create any of these without them. The plan fills each such gap with
 * a stated value (shown by `plan` and kept as a warning in the status) or refuses the collection,
 * so nothing fails after the rows were copied. Pure: no I/O.
 */
import { DATA_TYPE_NAMES, DataType } from '../adapters/milvus/proto.js';
import type { FieldSchema, IndexDescription, KeyValue } from '../adapters/milvus/types.js';
import { type CollectionModel, isVectorType, userFields } from './schema.js';
import type { ServerVersion } from './versions.js';

/**
 * Build parameters Milvus requires per index type, with the values filled in when a source does
 * not report them: Milvus's own documented defaults (knowhere: HNSW M=30, efConstruction=360;
 * IVF nlist=128, which is also what milvus-lite builds with whatever it is given).
 */
export const INDEX_BUILD_DEFAULTS: Record<string, Record<string, string>> = {
  HNSW: { M: '30', efConstruction: '360' },
  IVF_FLAT: { nlist: '128' },
  IVF_SQ8: { nlist: '128' },
  SCANN: { nlist: '128' },
  BIN_IVF_FLAT: { nlist: '128' },
  GPU_IVF_FLAT: { nlist: '128' },
};

/** Required parameters that depend on the data and cannot be filled safely. */
const INDEX_UNFILLABLE: Record<string, string[]> = { IVF_PQ: ['nlist', 'm'], GPU_IVF_PQ: ['nlist', 'm'] };

/** The largest max_length Milvus accepts: every value a source holds fits. */
export const FILLED_MAX_LENGTH = '65535';
/** The largest max_capacity Milvus accepts. */
export const FILLED_MAX_CAPACITY = '4096';

export interface Completed {
  model: CollectionModel;
  /** One sentence per value filled in, for the plan and the status' warnings. */
  filled: string[];
  problems: string[];
}

function paramsOf(idx: IndexDescription): Map<string, string> {
  const out = new Map<string, string>();
  for (const kv of idx.params) {
    if (kv.key === 'params') {
      // Some servers nest the build parameters as one JSON object.
      try {
        for (const [k, v] of Object.entries(JSON.parse(kv.value) as Record<string, unknown>))
          out.set(k, String(v));
      } catch {
        // not JSON: kept as the plain key below
      }
    }
    out.set(kv.key, kv.value);
  }
  return out;
}

function completeIndex(idx: IndexDescription, filled: string[], problems: string[]): IndexDescription {
  const p = paramsOf(idx);
  const type = (p.get('index_type') ?? '').toUpperCase();
  const missing = (INDEX_UNFILLABLE[type] ?? []).filter((k) => !p.has(k));
  if (missing.length) {
    problems.push(
      `the source reports index "${idx.index_name}" (${type}) on field ${idx.field_name} without ${missing.join(', ')}, which the target requires and which depend on the data: create that index on the source with explicit parameters, or leave the collection out`,
    );
    return idx;
  }
  const add: KeyValue[] = [];
  for (const [k, v] of Object.entries(INDEX_BUILD_DEFAULTS[type] ?? {})) {
    if (p.has(k)) continue;
    add.push({ key: k, value: v });
    filled.push(
      `index "${idx.index_name}" (${type}) on field ${idx.field_name}: the source does not report ${k}, created with ${k}=${v} (Milvus's default)`,
    );
  }
  return add.length ? { ...idx, params: [...idx.params, ...add] } : idx;
}

function withParam(f: FieldSchema, key: string, value: string): FieldSchema {
  return { ...f, type_params: [...f.type_params, { key, value }] };
}

function completeField(f: FieldSchema, filled: string[]): FieldSchema {
  const has = (k: string) => f.type_params.some((kv) => kv.key === k);
  let out = f;
  const varcharLike = f.data_type === DataType.VarChar;
  const varcharArray = f.data_type === DataType.Array && f.element_type === DataType.VarChar;
  if ((varcharLike || varcharArray) && !has('max_length')) {
    out = withParam(out, 'max_length', FILLED_MAX_LENGTH);
    filled.push(
      `field ${f.name}: the source does not report the max_length of its ${varcharArray ? 'VarChar elements' : 'values'}, created with max_length=${FILLED_MAX_LENGTH} (the largest Milvus accepts, so every value fits)`,
    );
  }
  if (f.data_type === DataType.Array && !has('max_capacity')) {
    out = withParam(out, 'max_capacity', FILLED_MAX_CAPACITY);
    filled.push(
      `field ${f.name}: the source does not report max_capacity, created with max_capacity=${FILLED_MAX_CAPACITY} (the largest Milvus accepts)`,
    );
  }
  return out;
}

/**
 * The model completed with what the target requires and the source left out. milvus-lite targets
 * take every gap as it is (and keep no build parameters at all), so only other targets get filled
 * values.
 */
export function completeForTarget(model: CollectionModel, target: ServerVersion): Completed {
  const filled: string[] = [];
  const problems: string[] = [];
  if (target.kind === 'milvus-lite') return { model, filled, problems };
  const fields = model.schema.fields.map((f) => completeField(f, filled));
  const indexes = model.indexes.map((i) => completeIndex(i, filled, problems));
  return { model: { ...model, schema: { ...model.schema, fields }, indexes }, filled, problems };
}

/** Scalar element types an Array field may hold that the copy and its verification handle. */
const COPYABLE_ELEMENTS = new Set<number>(
  ['Bool', 'Int8', 'Int16', 'Int32', 'Int64', 'Float', 'Double', 'VarChar', 'String'].map(
    (n) => DataType[n]!,
  ),
);
const COPYABLE_TYPES = new Set<number>(
  [
    'Bool',
    'Int8',
    'Int16',
    'Int32',
    'Int64',
    'Float',
    'Double',
    'String',
    'VarChar',
    'JSON',
    'Array',
    'BinaryVector',
    'FloatVector',
    'Float16Vector',
    'BFloat16Vector',
    'SparseFloatVector',
    'Int8Vector',
    'Geometry',
    'Timestamptz',
  ].map((n) => DataType[n]!),
);

const UNPROVEN_NOTE = (what: string, since: string) =>
  ` (${what} needs Milvus ${since} or newer, and no Milvus server the tests run here holds it: the round trip of its values from query to insert and their comparison are unproven, so it is refused rather than copied untested)`;

/**
 * Schema elements the planner would otherwise admit but the engine cannot copy and verify bit for
 * bit yet: refused in the plan, so a run never fails after the copy because a value cannot be read
 * or compared.
 */
export function uncopyable(model: CollectionModel): string[] {
  const out: string[] = [];
  for (const f of userFields(model.schema)) {
    const t = DATA_TYPE_NAMES[f.data_type] ?? String(f.data_type);
    if (!COPYABLE_TYPES.has(f.data_type))
      out.push(`field ${f.name}: values of type ${t} cannot be copied and verified by this version yet`);
    else if (f.data_type === DataType.Array && !COPYABLE_ELEMENTS.has(f.element_type))
      out.push(
        `field ${f.name}: arrays of ${DATA_TYPE_NAMES[f.element_type] ?? f.element_type} cannot be copied and verified by this version yet`,
      );
    else if (f.nullable && isVectorType(f.data_type))
      out.push(`field ${f.name}: nullable vectors cannot be copied and verified by this version yet`);
  }
  const structs = (model.schema as { struct_array_fields?: { name?: string }[] }).struct_array_fields ?? [];
  if (structs.length)
    out.push(
      `${structs.length} array-of-struct field(s) (${structs.map((x) => x.name ?? '?').join(', ')}) cannot be copied and verified by this version yet${UNPROVEN_NOTE('Array of Struct', '2.6.4')}`,
    );
  return out;
}

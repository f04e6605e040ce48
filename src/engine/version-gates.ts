/**
 * Every version-gated element in one table, from the constants the plan checks with (so the
 * reference, generated from this, cannot drift from what is enforced), with where the tests ran it.
 */
import { DATA_TYPE_NAMES, DataType, FUNCTION_TYPE_NAMES } from '../adapters/milvus/proto.js';
import { INVERTED_SINCE, JSON_PATH_INDEX_SINCE } from './indexes.js';
import { PRIVILEGE_GROUPS_SINCE } from './roles.js';
import { ELEMENT_SINCE, FUNCTION_SINCE, LITE_TYPE_SINCE, TYPE_SINCE } from './schema.js';
import { SOURCE_FLOOR } from './versions.js';

export interface VersionGate {
  element: string;
  /** Lowest target Milvus version the plan admits. */
  target: string;
  /** What happens on a milvus-lite 3.x target. */
  lite: string;
  /** Where the tests ran it (servers installable here: Milvus 2.3.5, milvus-lite 3.2.2, embedded Milvus Lite 2.5.1). */
  tested: string;
}

const T = { m235: 'Milvus 2.3.5', lite: 'milvus-lite 3.2.2', emb: 'embedded Milvus Lite 2.5.1 (source)' };

export function versionGates(): VersionGate[] {
  const type = (n: string) =>
    TYPE_SINCE[Object.entries(DATA_TYPE_NAMES).find(([, v]) => v === n)![0] as unknown as number]!;
  const fn = (n: string) =>
    FUNCTION_SINCE[Object.entries(FUNCTION_TYPE_NAMES).find(([, v]) => v === n)![0] as unknown as number]!;
  return [
    {
      element: `any source`,
      target: `source ${SOURCE_FLOOR}`,
      lite: 'read as a source',
      tested: `${T.m235}, ${T.lite}, ${T.emb}; 2.2.16 refused`,
    },
    { element: 'Array fields', target: type('Array'), lite: 'kept', tested: `${T.m235}, ${T.lite}` },
    {
      element: 'Float16Vector, BFloat16Vector',
      target: type('Float16Vector'),
      lite: 'refused (lite lacks them)',
      tested: 'plan refusal only',
    },
    { element: 'SparseFloatVector', target: type('SparseFloatVector'), lite: 'kept', tested: T.lite },
    {
      element: 'Int8Vector',
      target: type('Int8Vector'),
      lite: 'refused by version',
      tested: 'plan refusal only',
    },
    { element: 'several vector fields', target: ELEMENT_SINCE.severalVectors, lite: 'kept', tested: T.lite },
    {
      element: 'clustering key',
      target: ELEMENT_SINCE.clusteringKey,
      lite: 'refused by version',
      tested: 'plan refusal only',
    },
    {
      element: 'schema properties',
      target: ELEMENT_SINCE.schemaProperties,
      lite: 'refused by version',
      tested: 'plan refusal only',
    },
    {
      element: 'nullable fields, default values',
      target: ELEMENT_SINCE.nullable,
      lite: 'kept',
      tested: T.lite,
    },
    { element: 'analyzer settings', target: ELEMENT_SINCE.analyzer, lite: 'kept', tested: T.lite },
    {
      element: 'BM25 function (output recomputed by the target)',
      target: fn('BM25'),
      lite: 'kept',
      tested: T.lite,
    },
    {
      element: 'TextEmbedding, Rerank, MinHash functions (outputs recomputed: a plan and status warning)',
      target: fn('TextEmbedding'),
      lite: 'refused by version',
      tested: 'plan warning (wire-level unit test)',
    },
    {
      element: 'scalar INVERTED index',
      target: INVERTED_SINCE,
      lite: 'kept (the only scalar index lite builds)',
      tested: `${T.lite}; refused for ${T.m235}`,
    },
    {
      element: 'Trie / STL_SORT scalar index',
      target: SOURCE_FLOOR,
      lite: 'refused (lite builds only INVERTED)',
      tested: `${T.m235}; refused for ${T.lite}`,
    },
    {
      element: 'JSON path indexes (several per JSON field)',
      target: JSON_PATH_INDEX_SINCE,
      lite: 'refused (no index on JSON)',
      tested:
        'wire-level unit test; refused for Milvus 2.3.5 and milvus-lite 3.2.2 (both refuse an index on JSON, tried)',
    },
    {
      element: 'several indexes on one non-JSON field',
      target: 'never (Milvus keeps one per field)',
      lite: 'refused',
      tested: `${T.emb} source refused for ${T.m235} and ${T.lite}`,
    },
    {
      element: 'Geometry (WKT text as the server answers it)',
      target: `${type('Geometry')}, milvus-lite ${LITE_TYPE_SINCE[DataType.Geometry!]}`,
      lite: 'kept',
      tested: `${T.lite} → ${T.lite} (points, polygons, nulls, a resumed run), compared by the differ; ${T.m235} refused`,
    },
    {
      element: 'Timestamptz (UTC microseconds; ISO 8601 text with an offset compared as its instant)',
      target: `${type('Timestamptz')}, milvus-lite ${LITE_TYPE_SINCE[DataType.Timestamptz!]}`,
      lite: 'kept',
      tested: `${T.lite} → ${T.lite} (years 1 and 9999, before 1970, microseconds, offsets), compared by the differ; ${T.m235} refused (it accepts the schema and then fails on insert and query, tried)`,
    },
    {
      element: 'privilege groups (spec.rbac.roles)',
      target: `${PRIVILEGE_GROUPS_SINCE} (source and target; otherwise not created, said in the plan)`,
      lite: 'no RBAC on milvus-lite',
      tested: 'wire-level unit test from the protobuf definitions (no server here has them)',
    },
    {
      element: 'Array of Struct',
      target: `${type('ArrayOfStruct')} (refused: unproven)`,
      lite: 'refused',
      tested: 'plan refusal only',
    },
  ];
}

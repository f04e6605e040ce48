/**
 * The decoded shapes of the Milvus wire messages this project reads and writes (toObject with
 * int64 as decimal strings, enums as numbers, bytes as Buffers, defaults filled in). Only the
 * fields we use are typed; the objects carry every field the proto defines.
 */
import type { MilvusStatus } from './errors.js';

export interface KeyValue {
  key: string;
  value: string;
}

export interface ValueField {
  bool_data?: boolean;
  int_data?: number;
  long_data?: string;
  float_data?: number;
  double_data?: number;
  string_data?: string;
  bytes_data?: Buffer;
  timestamptz_data?: string;
}

export interface FieldSchema {
  fieldID: string;
  name: string;
  is_primary_key: boolean;
  description: string;
  data_type: number;
  type_params: KeyValue[];
  index_params: KeyValue[];
  autoID: boolean;
  state: number;
  element_type: number;
  default_value: ValueField | null;
  is_dynamic: boolean;
  is_partition_key: boolean;
  is_clustering_key: boolean;
  nullable: boolean;
  is_function_output: boolean;
  [k: string]: unknown;
}

export interface FunctionSchema {
  name: string;
  id: string;
  description: string;
  type: number;
  input_field_names: string[];
  input_field_ids: string[];
  output_field_names: string[];
  output_field_ids: string[];
  params: KeyValue[];
}

export interface CollectionSchema {
  name: string;
  description: string;
  autoID: boolean;
  fields: FieldSchema[];
  enable_dynamic_field: boolean;
  properties: KeyValue[];
  functions: FunctionSchema[];
  struct_array_fields: unknown[];
  [k: string]: unknown;
}

export interface DescribeCollectionResponse {
  status: MilvusStatus;
  schema: CollectionSchema;
  collectionID: string;
  shards_num: number;
  aliases: string[];
  consistency_level: number;
  collection_name: string;
  properties: KeyValue[];
  db_name: string;
  num_partitions: string;
}

export interface GetVersionResponse {
  status: MilvusStatus;
  version: string;
}
export interface ListDatabasesResponse {
  status: MilvusStatus;
  db_names: string[];
}
export interface ShowCollectionsResponse {
  status: MilvusStatus;
  collection_names: string[];
}
export interface ShowPartitionsResponse {
  status: MilvusStatus;
  partition_names: string[];
}
export interface IndexDescription {
  index_name: string;
  field_name: string;
  params: KeyValue[];
  state: number;
  indexed_rows: string;
  total_rows: string;
}
export interface DescribeIndexResponse {
  status: MilvusStatus;
  index_descriptions: IndexDescription[];
}
export interface GetLoadStateResponse {
  status: MilvusStatus;
  state: number;
}

export interface ScalarField {
  bool_data?: { data: boolean[] } | null;
  int_data?: { data: number[] } | null;
  long_data?: { data: string[] } | null;
  float_data?: { data: number[] } | null;
  double_data?: { data: number[] } | null;
  string_data?: { data: string[] } | null;
  bytes_data?: { data: Buffer[] } | null;
  array_data?: { data: ScalarField[]; element_type: number } | null;
  json_data?: { data: Buffer[] } | null;
  /** Geometry as WKT text (what servers answer and take). */
  geometry_wkt_data?: { data: string[] } | null;
  /** Geometry as WKB bytes (the storage form). */
  geometry_data?: { data: Buffer[] } | null;
  /** Timestamptz as UTC microseconds (servers may answer ISO 8601 text in string_data instead). */
  timestamptz_data?: { data: string[] } | null;
  [k: string]: unknown;
}

export interface VectorField {
  dim: string;
  float_vector?: { data: number[] } | null;
  binary_vector?: Buffer | null;
  float16_vector?: Buffer | null;
  bfloat16_vector?: Buffer | null;
  sparse_float_vector?: { contents: Buffer[]; dim: string } | null;
  int8_vector?: Buffer | null;
  [k: string]: unknown;
}

export interface FieldData {
  type: number;
  field_name: string;
  scalars?: ScalarField | null;
  vectors?: VectorField | null;
  field_id: string;
  is_dynamic: boolean;
  valid_data: boolean[];
  [k: string]: unknown;
}

export interface QueryResults {
  status: MilvusStatus;
  fields_data: FieldData[];
  collection_name: string;
  output_fields: string[];
}

export interface QueryRequestInput {
  collection_name: string;
  expr: string;
  output_fields: string[];
  partition_names?: string[];
  params?: Record<string, string | number | boolean>;
  /** Hybrid timestamp the read must see (Customized consistency); Strong when absent. */
  guaranteeTs?: bigint;
}

/** A Milvus hybrid timestamp: physical milliseconds shifted left by 18 logical bits. */
export function hybridTimestamp(ms: number): bigint {
  return BigInt(ms) << 18n;
}

export interface MutationResult {
  status: MilvusStatus;
  insert_cnt: string;
  IDs: { int_id?: { data: string[] } | null; str_id?: { data: string[] } | null } | null;
}

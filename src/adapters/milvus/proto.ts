/**
 * The Milvus protobuf definitions, taken from the official Node SDK's bundled descriptor (the newest
 * milvus-proto, which every older server reads: unknown fields are ignored, field numbers are
 * stable). Working on the wire types directly is what keeps schemas exact: a described schema is
 * re-encoded for CreateCollection without going through a lossy SDK model.
 */
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const descriptor = (
  require('@zilliz/milvus2-sdk-node/dist/milvus/proto-json/milvus.js') as { default: protobuf.INamespace }
).default;

export const root = protobuf.Root.fromJSON(descriptor);

export const SERVICE = 'milvus.proto.milvus.MilvusService';

export function type(name: string): protobuf.Type {
  return root.lookupType(name.includes('.') ? `milvus.proto.${name}` : `milvus.proto.milvus.${name}`);
}

export function enumValues(name: string): Record<string, number> {
  return root.lookupEnum(`milvus.proto.${name}`).values;
}

/** Plain objects with int64 as decimal strings (exact), enums as numbers, bytes as Buffers. */
export const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: true,
};

export function decode<T>(typeName: string, buf: Uint8Array): T {
  const t = type(typeName);
  return t.toObject(t.decode(buf), TO_OBJECT) as T;
}

export function encode(typeName: string, obj: object): Buffer {
  const t = type(typeName);
  return Buffer.from(t.encode(t.fromObject(obj)).finish());
}

export const DataType = enumValues('schema.DataType');
export const DATA_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(DataType).map(([k, v]) => [v, k]),
);
export const FunctionType = enumValues('schema.FunctionType');
export const FUNCTION_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(FunctionType).map(([k, v]) => [v, k]),
);
export const ConsistencyLevel = enumValues('common.ConsistencyLevel');
export const CONSISTENCY_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ConsistencyLevel).map(([k, v]) => [v, k]),
);
export const LoadState = enumValues('common.LoadState');
export const ErrorCode = enumValues('common.ErrorCode');

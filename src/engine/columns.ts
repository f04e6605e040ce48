/**
 * Column operations on Milvus FieldData (a page of rows, column by column, as the wire has it):
 * row counts, primary keys, picking rows, and the one transformation inserts need (values of
 * nullable fields only where valid). Rows are never turned into JavaScript objects.
 */
import { DataType } from '../adapters/milvus/proto.js';
import type { FieldData, ScalarField } from '../adapters/milvus/types.js';
import type { Key } from './keys.js';

const SCALAR_ARRAY: Record<number, keyof ScalarField> = {
  [DataType.Bool!]: 'bool_data',
  [DataType.Int8!]: 'int_data',
  [DataType.Int16!]: 'int_data',
  [DataType.Int32!]: 'int_data',
  [DataType.Int64!]: 'long_data',
  [DataType.Float!]: 'float_data',
  [DataType.Double!]: 'double_data',
  [DataType.String!]: 'string_data',
  [DataType.VarChar!]: 'string_data',
  [DataType.Text!]: 'string_data',
  [DataType.Array!]: 'array_data',
  [DataType.JSON!]: 'json_data',
};

/** Bytes per row of fixed-width vector types stored as one Buffer, by dim. */
const BYTE_VECTORS: Record<number, { key: string; bytesPerRow: (dim: number) => number }> = {
  [DataType.BinaryVector!]: { key: 'binary_vector', bytesPerRow: (d) => d / 8 },
  [DataType.Float16Vector!]: { key: 'float16_vector', bytesPerRow: (d) => d * 2 },
  [DataType.BFloat16Vector!]: { key: 'bfloat16_vector', bytesPerRow: (d) => d * 2 },
  [DataType.Int8Vector!]: { key: 'int8_vector', bytesPerRow: (d) => d },
};

/**
 * Types whose values a server may answer in either of two slots (milvus-lite 3.x: Geometry as
 * WKT, Timestamptz as ISO 8601 text; Milvus 2.6 may use the WKB or microsecond slots): the slot
 * that holds the values is the one used, and Insert gets them in the same slot.
 */
const EITHER_SLOT: Record<number, (keyof ScalarField)[]> = {
  [DataType.Geometry!]: ['geometry_wkt_data', 'geometry_data'],
  [DataType.Timestamptz!]: ['timestamptz_data', 'string_data'],
};

/** The ScalarField slot that holds a column's values. */
export function scalarKey(fd: FieldData): keyof ScalarField | undefined {
  const either = EITHER_SLOT[fd.type];
  if (either) return either.find((k) => fd.scalars?.[k] != null) ?? either[0];
  return SCALAR_ARRAY[fd.type];
}

function scalarValues(fd: FieldData): unknown[] | undefined {
  const key = scalarKey(fd);
  if (!key || !fd.scalars) return undefined;
  const holder = fd.scalars[key] as { data: unknown[] } | null | undefined;
  return holder?.data;
}

/** Rows in a column (values are present at every row in query results, nullable or not). */
export function columnLength(fd: FieldData): number {
  if (fd.valid_data.length > 0) return fd.valid_data.length;
  const s = scalarValues(fd);
  if (s) return s.length;
  const v = fd.vectors;
  if (!v) return 0;
  const dim = Number(v.dim);
  if (fd.type === DataType.FloatVector) return dim ? (v.float_vector?.data.length ?? 0) / dim : 0;
  if (fd.type === DataType.SparseFloatVector) return v.sparse_float_vector?.contents.length ?? 0;
  const bv = BYTE_VECTORS[fd.type];
  if (bv) {
    const buf = v[bv.key] as Buffer | null | undefined;
    return buf && dim ? buf.length / bv.bytesPerRow(dim) : 0;
  }
  throw new Error(`unsupported data type ${fd.type} in field ${fd.field_name}`);
}

export function pageRows(page: FieldData[]): number {
  return page.length ? columnLength(page[0]!) : 0;
}

export function primaryKeys(page: FieldData[], pkName: string): Key[] {
  const fd = page.find((f) => f.field_name === pkName);
  if (!fd) throw new Error(`query result has no primary key column ${pkName}`);
  if (fd.type === DataType.Int64) return (fd.scalars?.long_data?.data ?? []).map((s) => BigInt(s));
  return fd.scalars?.string_data?.data ?? [];
}

/** Returns a copy of a column with only the rows at `idx` (ascending or not). */
export function selectColumn(fd: FieldData, idx: number[]): FieldData {
  const out: FieldData = { ...fd, valid_data: fd.valid_data.length ? idx.map((i) => fd.valid_data[i]!) : [] };
  const key = scalarKey(fd);
  if (key && fd.scalars) {
    const holder = fd.scalars[key] as { data: unknown[] } & Record<string, unknown>;
    out.scalars = { ...fd.scalars, [key]: { ...holder, data: idx.map((i) => holder.data[i]) } };
    return out;
  }
  const v = fd.vectors;
  if (!v) return out;
  const dim = Number(v.dim);
  if (fd.type === DataType.FloatVector) {
    const src = v.float_vector?.data ?? [];
    const data = new Array<number>(idx.length * dim);
    idx.forEach((i, j) => {
      for (let d = 0; d < dim; d++) data[j * dim + d] = src[i * dim + d]!;
    });
    out.vectors = { ...v, float_vector: { data } };
  } else if (fd.type === DataType.SparseFloatVector) {
    const sp = v.sparse_float_vector!;
    out.vectors = { ...v, sparse_float_vector: { ...sp, contents: idx.map((i) => sp.contents[i]!) } };
  } else {
    const bv = BYTE_VECTORS[fd.type];
    if (!bv) throw new Error(`unsupported data type ${fd.type} in field ${fd.field_name}`);
    const w = bv.bytesPerRow(dim);
    const src = v[bv.key] as Buffer;
    out.vectors = { ...v, [bv.key]: Buffer.concat(idx.map((i) => src.subarray(i * w, (i + 1) * w))) };
  }
  return out;
}

export function selectRows(page: FieldData[], idx: number[]): FieldData[] {
  return page.map((fd) => selectColumn(fd, idx));
}

/**
 * Query results carry a value at every row of a nullable column plus valid_data; Insert wants
 * values only where valid_data is true. Columns without valid_data pass unchanged.
 */
export function compressNullable(fd: FieldData): FieldData {
  if (!fd.valid_data.length || fd.valid_data.every(Boolean)) return fd;
  const values = scalarValues(fd);
  if (!values) {
    // Nullable vectors (Milvus 2.6+) already arrive compressed.
    return fd;
  }
  if (values.length !== fd.valid_data.length) return fd; // already compressed by the server
  const keep: number[] = [];
  fd.valid_data.forEach((ok, i) => {
    if (ok) keep.push(i);
  });
  const sel = selectColumn({ ...fd, valid_data: [] }, keep);
  return { ...sel, valid_data: fd.valid_data };
}

/**
 * Milvus 2.3 answers an empty array as an element with no typed data (an empty ScalarField), and
 * its own Insert validation then dereferences that missing data: the server dies. Every server
 * accepts an empty array given as typed empty data (what the SDKs send), so such elements get the
 * holder their element type names.
 */
export function typeEmptyArrayElements(fd: FieldData): FieldData {
  const array = fd.scalars?.array_data;
  if (fd.type !== DataType.Array || !array) return fd;
  const key = SCALAR_ARRAY[array.element_type];
  if (!key || key === 'array_data') return fd;
  const untyped = (e: ScalarField) => !Object.keys(SCALAR_HOLDERS).some((k) => e[k] != null);
  if (!array.data.some(untyped)) return fd;
  const data = array.data.map((e) => (untyped(e) ? { [key]: { data: [] } } : e));
  return { ...fd, scalars: { ...fd.scalars, array_data: { ...array, data } } };
}

const SCALAR_HOLDERS: Record<string, true> = Object.fromEntries(
  [...Object.values(SCALAR_ARRAY), 'bytes_data', 'geometry_data', 'timestamptz_data'].map((k) => [k, true]),
);

/** A column as Insert takes it: nullable values compressed, empty array elements typed. */
export function insertable(fd: FieldData): FieldData {
  return typeEmptyArrayElements(compressNullable(fd));
}

/** Wire-size estimate of a page, for batching under the 64 MB request cap. */
export function estimateBytes(page: FieldData[]): number {
  let total = 0;
  for (const fd of page) {
    const rows = columnLength(fd);
    const s = scalarValues(fd);
    if (s) {
      const key = scalarKey(fd);
      if (key === 'string_data' || key === 'geometry_wkt_data') {
        for (const x of s as string[]) total += Buffer.byteLength(x) + 3;
      } else if (key === 'json_data' || key === 'geometry_data') {
        for (const x of s as Buffer[]) total += x.length + 3;
      } else if (fd.type === DataType.Array) {
        for (const x of s as ScalarField[]) total += JSON.stringify(x).length;
      } else {
        total += rows * 9;
      }
      continue;
    }
    const v = fd.vectors;
    if (!v) continue;
    if (fd.type === DataType.FloatVector) total += (v.float_vector?.data.length ?? 0) * 4;
    else if (fd.type === DataType.SparseFloatVector)
      for (const c of v.sparse_float_vector?.contents ?? []) total += c.length + 3;
    else {
      const bv = BYTE_VECTORS[fd.type];
      if (bv) total += (v[bv.key] as Buffer | undefined)?.length ?? 0;
    }
  }
  return total;
}

/**
 * Canonical text of one cell of a query result, for comparing rows across servers bit for bit:
 * floats by their IEEE-754 bits, JSON by its parsed value with sorted keys, sparse vectors as
 * sorted (index, value-bits) pairs, nulls as null whatever value the server padded them with.
 */
import { DataType } from '../adapters/milvus/proto.js';
import type { FieldData, ScalarField } from '../adapters/milvus/types.js';
import { scalarKey } from './columns.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/*
 * NaN compares as NaN, whatever its payload: Milvus 2.3.5 itself changes the payload of a stored
 * NaN (a row written as 0xffffffffffffffff reads back as 0x7ff8000000000000 once its segment is
 * sealed, on some rows, seen by the corpus), so the copy, which passes the bytes it reads, cannot
 * promise payloads the source does not keep. Every other value, -0.0 and subnormals included, is
 * compared by its bits.
 */
export function float32Bits(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  f32[0] = x;
  return u32[0]!.toString(16);
}

export function float64Bits(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  f64[0] = x;
  return u64[0]!.toString(16);
}

export function canonicalJson(buf: Buffer | string): string {
  const text = typeof buf === 'string' ? buf : buf.toString('utf8');
  try {
    return stableStringify(JSON.parse(text));
  } catch {
    return `raw:${text}`;
  }
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function scalarArrayCell(s: ScalarField, elementType: number): string {
  switch (elementType) {
    case DataType.Float:
      return (s.float_data?.data ?? []).map(float32Bits).join(',');
    case DataType.Double:
      return (s.double_data?.data ?? []).map(float64Bits).join(',');
    case DataType.Int64:
      return (s.long_data?.data ?? []).join(',');
    case DataType.Bool:
      return (s.bool_data?.data ?? []).join(',');
    case DataType.VarChar:
    case DataType.String:
      return JSON.stringify(s.string_data?.data ?? []);
    default:
      return (s.int_data?.data ?? []).join(',');
  }
}

const ISO = /^([+-]?\d{4,6})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * An ISO 8601 instant with an offset as microseconds since the epoch, exactly (BigInt: dates far
 * from 1970 stay exact); undefined for text without an offset (its instant depends on a timezone
 * setting) or with digits below the microsecond, which then compares as text.
 */
export function isoMicros(text: string): bigint | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac = '', off] = m;
  if (frac.length > 6 && /[1-9]/.test(frac.slice(6))) return undefined;
  if (+mo! < 1 || +mo! > 12 || +d! < 1 || +d! > 31 || +h! > 23 || +mi! > 59 || +sec! > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(sec), 0);
  const ms = date.getTime();
  if (Number.isNaN(ms)) return undefined;
  let offsetMin = 0;
  if (off !== 'Z') {
    const digits = off!.replace(':', '');
    offsetMin = (digits[0] === '-' ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
  }
  return (BigInt(ms) - BigInt(offsetMin) * 60_000n) * 1000n + BigInt(frac.slice(0, 6).padEnd(6, '0'));
}

export function sparseCanonical(b: Buffer): string {
  const pairs: [number, string][] = [];
  for (let o = 0; o + 8 <= b.length; o += 8)
    pairs.push([b.readUInt32LE(o), b.readUInt32LE(o + 4).toString(16)]);
  pairs.sort((a, c) => a[0] - c[0]);
  return pairs.map(([i, v]) => `${i}:${v}`).join(',');
}

/** Canonical strings of every cell of a column, one per row. */
export function columnCells(fd: FieldData): string[] {
  const raw = rawCells(fd);
  if (!fd.valid_data.length) return raw;
  return fd.valid_data.map((ok, i) => (ok ? (raw[i] ?? '?') : 'null'));
}

function rawCells(fd: FieldData): string[] {
  const s = fd.scalars;
  const v = fd.vectors;
  switch (fd.type) {
    case DataType.Bool:
      return (s?.bool_data?.data ?? []).map(String);
    case DataType.Int8:
    case DataType.Int16:
    case DataType.Int32:
      return (s?.int_data?.data ?? []).map(String);
    case DataType.Int64:
      return (s?.long_data?.data ?? []).map(String);
    case DataType.Float:
      return (s?.float_data?.data ?? []).map(float32Bits);
    case DataType.Double:
      return (s?.double_data?.data ?? []).map(float64Bits);
    case DataType.VarChar:
    case DataType.String:
    case DataType.Text:
      return (s?.string_data?.data ?? []).map((x) => JSON.stringify(x));
    case DataType.JSON:
      return (s?.json_data?.data ?? []).map(canonicalJson);
    // Both in the slot the server answered with (columns.ts scalarKey picks it for every use).
    case DataType.Geometry:
      return scalarKey(fd) === 'geometry_data'
        ? (s?.geometry_data?.data ?? []).map((b) => `wkb:${Buffer.from(b).toString('hex')}`)
        : (s?.geometry_wkt_data?.data ?? []).map((x) => `wkt:${JSON.stringify(x)}`);
    case DataType.Timestamptz:
      // One instant, whichever form the server answered in: microseconds since the epoch.
      return scalarKey(fd) === 'timestamptz_data'
        ? (s?.timestamptz_data?.data ?? []).map((x) => `us:${BigInt(x)}`)
        : (s?.string_data?.data ?? []).map((x) => {
            const us = isoMicros(x);
            return us === undefined ? `raw:${JSON.stringify(x)}` : `us:${us}`;
          });
    case DataType.Array: {
      const et = s?.array_data?.element_type ?? 0;
      return (s?.array_data?.data ?? []).map((x) => scalarArrayCell(x, et));
    }
    case DataType.FloatVector: {
      const dim = Number(v?.dim ?? 0);
      const data = v?.float_vector?.data ?? [];
      const out: string[] = [];
      for (let r = 0; dim && r * dim < data.length; r++)
        out.push(
          data
            .slice(r * dim, (r + 1) * dim)
            .map(float32Bits)
            .join(','),
        );
      return out;
    }
    case DataType.SparseFloatVector:
      return (v?.sparse_float_vector?.contents ?? []).map(sparseCanonical);
    case DataType.BinaryVector:
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
    case DataType.Int8Vector: {
      const key = { 100: 'binary_vector', 102: 'float16_vector', 103: 'bfloat16_vector', 105: 'int8_vector' }[
        fd.type
      ]!;
      const buf = (v?.[key] as Buffer | undefined) ?? Buffer.alloc(0);
      const dim = Number(v?.dim ?? 0);
      const w = fd.type === DataType.BinaryVector ? dim / 8 : fd.type === DataType.Int8Vector ? dim : dim * 2;
      const out: string[] = [];
      for (let o = 0; w && o < buf.length; o += w) out.push(buf.subarray(o, o + w).toString('hex'));
      return out;
    }
    default:
      throw new Error(`cannot compare values of data type ${fd.type} (field ${fd.field_name})`);
  }
}

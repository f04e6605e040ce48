/**
 * Byte-level handling of the two messages a copy moves in bulk: `QueryResults` (read) and
 * `InsertRequest` (write). Both carry `repeated schema.FieldData`, the same protobuf type, so a
 * column read from the source can be written to the target as the bytes it arrived in. Decoding
 * every float of a 768-d vector into a JavaScript number and encoding it again is what made the
 * copy CPU-bound; here only the few header fields of each column are parsed.
 */
import protobuf from 'protobufjs';
import type { MilvusStatus } from './errors.js';
import { decode, encode } from './proto.js';
import type { FieldData } from './types.js';

const { Reader, Writer } = protobuf;

/** One column of a page, as its encoded `schema.FieldData` message. */
export interface RawColumn {
  name: string;
  type: number;
  /** The whole encoded FieldData (a view into the reply; never mutated). */
  bytes: Buffer;
  /** valid_data marks at least one null: Insert wants such a column's values compressed. */
  hasNulls: boolean;
  /**
   * An Array column with a row whose element holds no typed data at all (Milvus 2.3 encodes an
   * empty array so in query replies; its own Insert validation dereferences the missing data and
   * the server dies). Such a column is normalised before it is written (see normalize.ts).
   */
  untypedElements: boolean;
}

export interface RawQueryReply {
  status?: MilvusStatus;
  columns: RawColumn[];
  /** Size of the reply on the wire. */
  bytes: number;
  /**
   * Lets the reply's memory be reused for a later reply (see grpc-replies.ts). Call it only when
   * nothing refers to `columns` any more; without the call the memory is garbage-collected.
   */
  release?: () => void;
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

/** Parses a QueryResults message, keeping every FieldData as bytes. */
export function parseQueryResults(buf: Buffer): RawQueryReply {
  const r = Reader.create(buf);
  const out: RawQueryReply = { columns: [], bytes: buf.length };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === WIRE_LEN) {
      out.status = decode<MilvusStatus>('common.Status', lengthDelimited(r, buf));
    } else if (field === 2 && (tag & 7) === WIRE_LEN) {
      out.columns.push(parseColumn(lengthDelimited(r, buf)));
    } else {
      r.skipType(tag & 7);
    }
  }
  return out;
}

/** Reads a column's name, type and whether it holds nulls, skipping its values. */
export function parseColumn(bytes: Buffer): RawColumn {
  const r = Reader.create(bytes);
  const col: RawColumn = { name: '', type: 0, bytes, hasNulls: false, untypedElements: false };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const wire = tag & 7;
    switch (tag >>> 3) {
      case 1:
        col.type = r.int32();
        break;
      case 2:
        col.name = r.string();
        break;
      case 3:
        if (wire === WIRE_LEN) col.untypedElements = hasUntypedArrayElement(lengthDelimited(r, bytes));
        else r.skipType(wire);
        break;
      case 7:
        // repeated bool valid_data: packed (one byte per row) or, from some encoders, unpacked.
        if (wire === WIRE_LEN) {
          if (lengthDelimited(r, bytes).includes(0)) col.hasNulls = true;
        } else if (wire === WIRE_VARINT && !r.bool()) col.hasNulls = true;
        break;
      default:
        r.skipType(wire);
    }
  }
  return col;
}

const SCALAR_ARRAY_DATA = 8; // ScalarField.array_data
const ARRAY_ELEMENT = 1; // ArrayArray.data

/** Whether a ScalarField's array_data holds an element encoded as an empty message. */
function hasUntypedArrayElement(scalar: Buffer): boolean {
  const r = Reader.create(scalar);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 !== SCALAR_ARRAY_DATA || (tag & 7) !== WIRE_LEN) {
      r.skipType(tag & 7);
      continue;
    }
    const array = lengthDelimited(r, scalar);
    const a = Reader.create(array);
    while (a.pos < a.len) {
      const t = a.uint32();
      if (t >>> 3 === ARRAY_ELEMENT && (t & 7) === WIRE_LEN) {
        const len = a.uint32();
        if (len === 0) return true;
        a.skip(len);
      } else a.skipType(t & 7);
    }
  }
  return false;
}

function lengthDelimited(r: protobuf.Reader, buf: Buffer): Buffer {
  const len = r.uint32();
  const start = r.pos;
  r.skip(len);
  return buf.subarray(start, start + len);
}

const FIELD_DATA_SCALARS = 3; // FieldData.scalars
const SCALAR_LONG_DATA = 3; // ScalarField.long_data
const LONG_ARRAY_DATA = 1; // LongArray.data
const TWO_32 = 2 ** 32;

/**
 * The values of an Int64 column as bigints, read straight from its bytes: the copy decodes only the
 * primary key of each page, and protobufjs would make a Long and a decimal string of every key
 * first. Undefined when the column holds no long_data (the caller decodes it the slow way).
 */
export function int64Values(col: RawColumn): bigint[] | undefined {
  const scalars = subMessage(col.bytes, FIELD_DATA_SCALARS);
  const longs = scalars && subMessage(scalars, SCALAR_LONG_DATA);
  if (!longs) return undefined;
  const out: bigint[] = [];
  const r = Reader.create(longs);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 !== LONG_ARRAY_DATA) {
      r.skipType(tag & 7);
      continue;
    }
    if ((tag & 7) === WIRE_LEN) {
      const end = r.uint32() + r.pos;
      while (r.pos < end) out.push(varint64(r));
    } else out.push(varint64(r));
  }
  return out;
}

/** The first length-delimited field `field` of a message, as a view; undefined when absent. */
function subMessage(buf: Buffer, field: number): Buffer | undefined {
  const r = Reader.create(buf);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === field && (tag & 7) === WIRE_LEN) return lengthDelimited(r, buf);
    r.skipType(tag & 7);
  }
  return undefined;
}

/** One int64 varint: a number's worth of bits at once, BigInt only for the high word. */
function varint64(r: protobuf.Reader): bigint {
  const buf = r.buf;
  let lo = 0;
  let hi = 0;
  let i = 0;
  let b: number;
  // The low 28 bits, then 4 more bits of lo and 3 of hi, then the rest of hi.
  for (; i < 4; i++) {
    b = buf[r.pos++]!;
    lo = (lo | ((b & 127) << (i * 7))) >>> 0;
    if (b < 128) return BigInt(lo);
  }
  b = buf[r.pos++]!;
  lo = (lo | ((b & 127) << 28)) >>> 0;
  hi = (b & 127) >> 4;
  if (b >= 128) {
    for (i = 0; i < 5; i++) {
      if (r.pos >= r.len) throw new Error('truncated int64 varint');
      b = buf[r.pos++]!;
      hi = (hi | ((b & 127) << (i * 7 + 3))) >>> 0;
      if (b < 128) break;
    }
    if (b >= 128) throw new Error('int64 varint longer than 10 bytes');
  }
  if (hi < 0x200000) return BigInt(hi * TWO_32 + lo);
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
}

export function decodeColumn(col: RawColumn): FieldData {
  return decode<FieldData>('schema.FieldData', col.bytes);
}

export function encodeColumn(fd: FieldData): RawColumn {
  return parseColumn(encode('schema.FieldData', fd));
}

export interface InsertHeader {
  db_name: string;
  collection_name: string;
  partition_name?: string;
  num_rows: number;
}

const FIELDS_DATA_TAG = (5 << 3) | WIRE_LEN; // InsertRequest.fields_data

/**
 * An InsertRequest from a header and pre-encoded columns. Protobuf parsers merge fields in any
 * order, so the header is encoded normally and the columns are appended as they are. The request
 * is a list of parts (header, then tag + length and the bytes of each column): the column bytes are
 * never copied in user space, the transport writes them as views of the query reply.
 */
export function encodeInsert(header: InsertHeader, columns: Buffer[]): Buffer[] {
  const parts: Buffer[] = [encode('InsertRequest', header)];
  for (const c of columns) {
    parts.push(Buffer.from(Writer.create().uint32(FIELDS_DATA_TAG).uint32(c.length).finish()), c);
  }
  return parts;
}

export interface RawMutationResult {
  status?: MilvusStatus;
  insertCount: number;
}

/** Reads status and insert count of a MutationResult, skipping the echo of every inserted key. */
export function parseMutationResult(buf: Buffer): RawMutationResult {
  const r = Reader.create(buf);
  const out: RawMutationResult = { insertCount: 0 };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === WIRE_LEN) {
      out.status = decode<MilvusStatus>('common.Status', lengthDelimited(r, buf));
    } else if (field === 6 && (tag & 7) === WIRE_VARINT) {
      out.insertCount = Number(r.int64().toString());
    } else {
      r.skipType(tag & 7);
    }
  }
  return out;
}

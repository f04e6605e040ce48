/**
 * The bench's data and the few protobuf bytes it writes and reads by hand.
 *
 * The bench collection: `pk` Int64 (primary, 0 … rows-1), `vec` FloatVector(dim), `tag` VarChar(64).
 * Every row is a pure function of its index, so the seeder and the write ceiling build the same
 * rows in different processes without sharing anything.
 *
 * InsertRequest bytes are written directly (packed floats are the Float32Array's own bytes), which
 * is the leanest writer there is; selfCheck() decodes a sample with the project's protobuf
 * descriptors to prove the layout. Query replies are not decoded: rowsInQueryReply() walks the
 * top-level fields, checks the status and counts the packed primary keys.
 */
import { DataType, decode } from '../src/adapters/milvus/proto.js';

export const PK = 'pk';
export const VEC = 'vec';
export const TAG = 'tag';
export const TAG_MAX = 64;

/** The VarChar value of row i: 12 to 60 ASCII characters. */
export function tagOf(i: number): string {
  const h = mix(i ^ 0x5bd1e995);
  const len = 12 + (h % 49);
  const head = `row-${i}-`;
  return (head + h.toString(36).repeat(8)).slice(0, Math.max(len, head.length));
}

/** Bytes of the source rows' column data: 8 (int64) + 4·dim (float32) + UTF-8 length of the tag. */
export function payloadBytes(rows: number, dim: number): number {
  let total = 0;
  for (let i = 0; i < rows; i++) total += 8 + 4 * dim + Buffer.byteLength(tagOf(i));
  return total;
}

function mix(x: number): number {
  let h = (x + 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Floats of rows [start, start+n), uniform in [-1, 1), xorshift32 seeded per row. */
export function vectors(start: number, n: number, dim: number): Float32Array {
  const out = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) {
    let s = mix(start + r) || 1;
    const base = r * dim;
    for (let j = 0; j < dim; j++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[base + j] = (s >>> 0) / 2 ** 31 - 1;
    }
  }
  return out;
}

// ---- a minimal protobuf writer ------------------------------------------------------------------

class Writer {
  private parts: Buffer[] = [];
  length = 0;

  raw(b: Buffer): this {
    this.parts.push(b);
    this.length += b.length;
    return this;
  }

  varint(v: number): this {
    return this.raw(varint(v));
  }

  /** Field header (tag) for wire type 0 (varint) or 2 (length-delimited). */
  tag(field: number, wire: 0 | 2): this {
    return this.varint((field << 3) | wire);
  }

  bytesField(field: number, b: Buffer): this {
    return this.tag(field, 2).varint(b.length).raw(b);
  }

  stringField(field: number, s: string): this {
    return this.bytesField(field, Buffer.from(s, 'utf8'));
  }

  varintField(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

function varint(v: number): Buffer {
  const out: number[] = [];
  let x = v;
  while (x >= 0x80) {
    out.push((x % 0x80) | 0x80);
    x = Math.floor(x / 0x80);
  }
  out.push(x);
  return Buffer.from(out);
}

/** One InsertRequest holding rows [start, start+n) of the bench collection, as wire bytes. */
export function insertRequestBytes(collection: string, start: number, n: number, dim: number): Buffer {
  const pks = new Writer();
  for (let i = start; i < start + n; i++) pks.varint(i);
  const pkField = new Writer()
    .varintField(1, DataType.Int64!)
    .stringField(2, PK)
    .bytesField(3, new Writer().bytesField(3, new Writer().bytesField(1, pks.finish()).finish()).finish());

  const f = vectors(start, n, dim);
  const floats = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  const vecField = new Writer()
    .varintField(1, DataType.FloatVector!)
    .stringField(2, VEC)
    .bytesField(
      4,
      new Writer().varintField(1, dim).bytesField(2, new Writer().bytesField(1, floats).finish()).finish(),
    );

  const strings = new Writer();
  for (let i = start; i < start + n; i++) strings.stringField(1, tagOf(i));
  const tagField = new Writer()
    .varintField(1, DataType.VarChar!)
    .stringField(2, TAG)
    .bytesField(3, new Writer().bytesField(6, strings.finish()).finish());

  return new Writer()
    .stringField(3, collection)
    .bytesField(5, pkField.finish())
    .bytesField(5, vecField.finish())
    .bytesField(5, tagField.finish())
    .varintField(7, n)
    .finish();
}

// ---- a minimal protobuf reader ------------------------------------------------------------------

interface Field {
  no: number;
  wire: number;
  /** varint value (wire 0) */
  value: number;
  /** payload (wire 2) */
  start: number;
  end: number;
}

function* fields(b: Buffer, from = 0, to = b.length): Generator<Field> {
  let p = from;
  const readVarint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      const byte = b[p++]!;
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) return result;
      mul *= 128;
    }
  };
  while (p < to) {
    const key = readVarint();
    const no = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) yield { no, wire, value: readVarint(), start: 0, end: 0 };
    else if (wire === 2) {
      const len = readVarint();
      yield { no, wire, value: 0, start: p, end: p + len };
      p += len;
    } else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else throw new Error(`unexpected protobuf wire type ${wire}`);
  }
}

/** Throws if a common.Status (bytes [start, end)) is not success. */
function checkStatus(b: Buffer, start: number, end: number, what: string): void {
  let errorCode = 0;
  let code = 0;
  let reason = '';
  for (const f of fields(b, start, end)) {
    if (f.no === 1 && f.wire === 0) errorCode = f.value;
    else if (f.no === 3 && f.wire === 0) code = f.value;
    else if (f.no === 2 && f.wire === 2) reason = b.toString('utf8', f.start, f.end);
  }
  if (errorCode !== 0 || code !== 0) throw new Error(`${what} failed: code ${errorCode}/${code} ${reason}`);
}

/** Rows of a QueryResults reply (counted in the Int64 primary-key column), after checking its status. */
export function rowsInQueryReply(b: Buffer): number {
  let rows = -1;
  for (const f of fields(b)) {
    if (f.no === 1 && f.wire === 2) checkStatus(b, f.start, f.end, 'Query');
    if (f.no !== 2 || f.wire !== 2) continue;
    for (const g of fields(b, f.start, f.end)) {
      if (g.no !== 3 || g.wire !== 2) continue; // scalars
      for (const s of fields(b, g.start, g.end)) {
        if (s.no !== 3 || s.wire !== 2) continue; // long_data
        for (const l of fields(b, s.start, s.end)) {
          if (l.no !== 1 || l.wire !== 2) continue; // packed int64
          let n = 0;
          for (let i = l.start; i < l.end; i++) if (b[i]! < 0x80) n++;
          rows = n;
        }
      }
    }
  }
  if (rows < 0) throw new Error('Query reply has no Int64 column');
  return rows;
}

/** insert_cnt of a MutationResult reply, after checking its status. */
export function insertCount(b: Buffer): number {
  let n = 0;
  for (const f of fields(b)) {
    if (f.no === 1 && f.wire === 2) checkStatus(b, f.start, f.end, 'Insert');
    if (f.no === 6 && f.wire === 0) n = f.value;
  }
  return n;
}

/** Decodes a small hand-encoded request with the real descriptors: the layout must match. */
export function selfCheck(): void {
  const dim = 4;
  const b = insertRequestBytes('c', 7, 3, dim);
  const r = decode<{
    collection_name: string;
    num_rows: number;
    fields_data: {
      field_name: string;
      type: number;
      scalars?: { long_data?: { data: string[] }; string_data?: { data: string[] } };
      vectors?: { dim: string; float_vector?: { data: number[] } };
    }[];
  }>('InsertRequest', b);
  const [pk, vec, tag] = r.fields_data;
  const want = Array.from(vectors(7, 3, dim));
  const ok =
    r.collection_name === 'c' &&
    r.num_rows === 3 &&
    pk?.field_name === PK &&
    pk.type === DataType.Int64 &&
    pk.scalars?.long_data?.data.join() === '7,8,9' &&
    vec?.type === DataType.FloatVector &&
    vec?.vectors?.dim === String(dim) &&
    vec?.vectors?.float_vector?.data.join() === want.join() &&
    tag?.type === DataType.VarChar &&
    tag?.scalars?.string_data?.data.join() === [tagOf(7), tagOf(8), tagOf(9)].join();
  if (!ok) throw new Error(`hand-encoded InsertRequest does not decode as expected: ${JSON.stringify(r)}`);
}

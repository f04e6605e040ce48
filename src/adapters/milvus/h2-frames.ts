/**
 * HTTP/2 framing (RFC 9113) for the unary gRPC transport in h2-transport.ts: a frame reader that
 * takes socket reads of any size, and writers for the few frames a client sends. The reader hands
 * DATA payloads on as views of the read it is in, piece by piece, instead of one event per frame:
 * Milvus (grpc-go) sends a 16 MB reply as ~1,000 DATA frames of 16 KB, and a stream event per
 * frame is what made node:http2 and grpc-js cost 40-80 ms of CPU per reply.
 */

export const FRAME_HEADER = 9;

export enum FrameType {
  DATA = 0,
  HEADERS = 1,
  PRIORITY = 2,
  RST_STREAM = 3,
  SETTINGS = 4,
  PUSH_PROMISE = 5,
  PING = 6,
  GOAWAY = 7,
  WINDOW_UPDATE = 8,
  CONTINUATION = 9,
}

/** Frame flags; END_STREAM and ACK share a bit, on different frame types. */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export enum Setting {
  HEADER_TABLE_SIZE = 1,
  ENABLE_PUSH = 2,
  MAX_CONCURRENT_STREAMS = 3,
  INITIAL_WINDOW_SIZE = 4,
  MAX_FRAME_SIZE = 5,
  MAX_HEADER_LIST_SIZE = 6,
}

export enum H2Error {
  NO_ERROR = 0,
  PROTOCOL_ERROR = 1,
  INTERNAL_ERROR = 2,
  FLOW_CONTROL_ERROR = 3,
  SETTINGS_TIMEOUT = 4,
  STREAM_CLOSED = 5,
  FRAME_SIZE_ERROR = 6,
  REFUSED_STREAM = 7,
  CANCEL = 8,
  COMPRESSION_ERROR = 9,
  CONNECT_ERROR = 10,
  ENHANCE_YOUR_CALM = 11,
  INADEQUATE_SECURITY = 12,
  HTTP_1_1_REQUIRED = 13,
}

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** A violation of HTTP/2 by the peer: the connection cannot go on. */
export class ConnectionError extends Error {
  override name = 'ConnectionError';
  constructor(
    message: string,
    readonly h2Code: H2Error = H2Error.PROTOCOL_ERROR,
  ) {
    super(message);
  }
}

export interface FrameHandler {
  /** Any frame but DATA, whole. `payload` may be a view of the socket read: use it before returning. */
  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void;
  /** A DATA frame starts; `length` counts padding too (it is what flow control counts). */
  onDataStart(streamId: number, flags: number, length: number): void;
  /** A piece of a DATA frame's payload, padding removed: a view valid until this call returns. */
  onData(streamId: number, bytes: Buffer): void;
  /** The DATA frame ended (after its padding). */
  onDataEnd(streamId: number, flags: number): void;
}

enum State {
  HEADER,
  PAD_LENGTH,
  DATA,
  PADDING,
  BODY,
}

/**
 * Splits a byte stream into frames. Reads may end anywhere, also inside a frame header. Frames other
 * than DATA are small; one split across reads is copied together, one inside a read is passed as a
 * view.
 */
export class FrameReader {
  private state = State.HEADER;
  private readonly header = Buffer.alloc(FRAME_HEADER);
  private headerFill = 0;
  private type = 0;
  private flags = 0;
  private streamId = 0;
  private length = 0;
  /** Bytes of the current frame's payload (or padding) still to come. */
  private remaining = 0;
  private padLength = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;

  constructor(
    private readonly handler: FrameHandler,
    /** SETTINGS_MAX_FRAME_SIZE we announced: longer frames are a FRAME_SIZE_ERROR. */
    private readonly maxFrameSize: number,
  ) {}

  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      switch (this.state) {
        case State.HEADER: {
          if (this.headerFill === 0 && end - pos >= FRAME_HEADER) {
            this.readHeader(chunk, pos);
            pos += FRAME_HEADER;
          } else {
            const n = Math.min(FRAME_HEADER - this.headerFill, end - pos);
            chunk.copy(this.header, this.headerFill, pos, pos + n);
            this.headerFill += n;
            pos += n;
            if (this.headerFill < FRAME_HEADER) break;
            this.headerFill = 0;
            this.readHeader(this.header, 0);
          }
          this.startFrame();
          break;
        }
        case State.PAD_LENGTH: {
          this.padLength = chunk[pos++]!;
          if (this.padLength > this.length - 1) {
            throw new ConnectionError('DATA frame padding exceeds its length');
          }
          this.remaining = this.length - 1 - this.padLength;
          this.state = State.DATA;
          this.afterDataBytes();
          break;
        }
        case State.DATA: {
          const n = Math.min(this.remaining, end - pos);
          this.handler.onData(this.streamId, chunk.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          this.afterDataBytes();
          break;
        }
        case State.PADDING: {
          const n = Math.min(this.remaining, end - pos);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endData();
          break;
        }
        case State.BODY: {
          if (this.bodyFill === 0 && end - pos >= this.length) {
            const payload = chunk.subarray(pos, pos + this.length);
            pos += this.length;
            this.state = State.HEADER;
            this.handler.onFrame(this.type, this.flags, this.streamId, payload);
          } else {
            this.body ??= Buffer.allocUnsafe(this.length);
            const n = Math.min(this.length - this.bodyFill, end - pos);
            chunk.copy(this.body, this.bodyFill, pos, pos + n);
            this.bodyFill += n;
            pos += n;
            if (this.bodyFill === this.length) {
              const payload = this.body;
              this.body = undefined;
              this.bodyFill = 0;
              this.state = State.HEADER;
              this.handler.onFrame(this.type, this.flags, this.streamId, payload);
            }
          }
          break;
        }
      }
    }
  }

  private readHeader(b: Buffer, at: number): void {
    this.length = (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
    this.type = b[at + 3]!;
    this.flags = b[at + 4]!;
    this.streamId = b.readUInt32BE(at + 5) & 0x7fffffff;
  }

  private startFrame(): void {
    if (this.length > this.maxFrameSize) {
      throw new ConnectionError(
        `frame of ${this.length} bytes exceeds the announced maximum ${this.maxFrameSize}`,
        H2Error.FRAME_SIZE_ERROR,
      );
    }
    if (this.type === FrameType.DATA) {
      this.handler.onDataStart(this.streamId, this.flags, this.length);
      if (this.flags & Flag.PADDED) {
        if (this.length === 0) throw new ConnectionError('padded DATA frame without a pad length');
        this.state = State.PAD_LENGTH;
      } else {
        this.padLength = 0;
        this.remaining = this.length;
        this.state = State.DATA;
        this.afterDataBytes();
      }
    } else if (this.length === 0) {
      this.state = State.HEADER;
      this.handler.onFrame(this.type, this.flags, this.streamId, EMPTY);
    } else {
      this.state = State.BODY;
    }
  }

  private afterDataBytes(): void {
    if (this.remaining > 0) return;
    if (this.padLength > 0) {
      this.remaining = this.padLength;
      this.padLength = 0;
      this.state = State.PADDING;
    } else {
      this.endData();
    }
  }

  private endData(): void {
    this.state = State.HEADER;
    this.handler.onDataEnd(this.streamId, this.flags);
  }
}

const EMPTY = Buffer.alloc(0);

export function frameHeader(
  length: number,
  type: number,
  flags: number,
  streamId: number,
  into = Buffer.allocUnsafe(FRAME_HEADER),
  at = 0,
): Buffer {
  into[at] = (length >>> 16) & 0xff;
  into[at + 1] = (length >>> 8) & 0xff;
  into[at + 2] = length & 0xff;
  into[at + 3] = type;
  into[at + 4] = flags;
  into.writeUInt32BE(streamId & 0x7fffffff, at + 5);
  return into;
}

export function frame(type: number, flags: number, streamId: number, payload: Buffer = EMPTY): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  frameHeader(payload.length, type, flags, streamId, b);
  payload.copy(b, FRAME_HEADER);
  return b;
}

export function settingsFrame(settings: [Setting, number][]): Buffer {
  const p = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    p.writeUInt16BE(id, 6 * i);
    p.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, p);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const p = Buffer.allocUnsafe(4);
  p.writeUInt32BE(increment & 0x7fffffff);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, p);
}

export function rstStreamFrame(streamId: number, code: H2Error): Buffer {
  const p = Buffer.allocUnsafe(4);
  p.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, p);
}

export function goAwayFrame(lastStreamId: number, code: H2Error): Buffer {
  const p = Buffer.allocUnsafe(8);
  p.writeUInt32BE(lastStreamId & 0x7fffffff);
  p.writeUInt32BE(code, 4);
  return frame(FrameType.GOAWAY, 0, 0, p);
}

/** Bytes of a message held as parts. */
export function partsLength(parts: readonly Buffer[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/**
 * DATA frames carrying `parts` (concatenated) as a list of buffers for one writev: a 9-byte header
 * per frame and views of the parts, so the payload is never copied.
 */
export function dataFrames(
  streamId: number,
  parts: Buffer[],
  maxFrameSize: number,
  endStream: boolean,
): Buffer[] {
  const total = partsLength(parts);
  const count = Math.max(1, Math.ceil(total / maxFrameSize));
  const headers = Buffer.allocUnsafe(FRAME_HEADER * count);
  const out: Buffer[] = [];
  let part = 0;
  let offset = 0;
  let left = total;
  for (let i = 0; i < count; i++) {
    const len = Math.min(maxFrameSize, left);
    left -= len;
    const last = i === count - 1;
    out.push(
      frameHeader(
        len,
        FrameType.DATA,
        last && endStream ? Flag.END_STREAM : 0,
        streamId,
        headers,
        FRAME_HEADER * i,
      ).subarray(FRAME_HEADER * i, FRAME_HEADER * (i + 1)),
    );
    let need = len;
    while (need > 0) {
      const p = parts[part]!;
      const n = Math.min(need, p.length - offset);
      out.push(p.subarray(offset, offset + n));
      need -= n;
      offset += n;
      if (offset === p.length) {
        part++;
        offset = 0;
      }
    }
  }
  return out;
}

// ---- HPACK encoding (RFC 7541) ------------------------------------------------------------------
// Requests carry a handful of short headers, so they are sent as literals without Huffman coding
// and without touching the dynamic table (which leaves the server's decoder state alone); names
// that the static table has are sent as its index. Decoding the server's headers needs the whole of
// HPACK and is left to the hpack.js library (see h2-transport.ts).

/** An HPACK integer with an N-bit prefix, the high bits of the first byte set to `first`. */
export function hpackInt(value: number, prefixBits: number, first: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function hpackString(s: string, out: number[]): void {
  const bytes = Buffer.from(s, 'latin1');
  hpackInt(bytes.length, 7, 0, out);
  for (const b of bytes) out.push(b);
}

/** Static-table indices (RFC 7541 Appendix A) of the names and name/value pairs requests use. */
const STATIC_PAIR: Record<string, number> = {
  ':method POST': 3,
  ':scheme http': 6,
  ':scheme https': 7,
};
const STATIC_NAME: Record<string, number> = {
  ':authority': 1,
  ':path': 4,
  'content-type': 31,
  'user-agent': 58,
};

/**
 * A header block. `sensitive` names are sent "never indexed" (RFC 7541 6.2.3), so that no proxy on
 * the way stores them in a table.
 */
export function encodeHeaders(headers: [string, string][], sensitive: ReadonlySet<string>): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    const pair = STATIC_PAIR[`${name} ${value}`];
    if (pair !== undefined) {
      hpackInt(pair, 7, 0x80, out);
      continue;
    }
    // Literal without indexing (0000xxxx) or never indexed (0001xxxx), 4-bit name index prefix.
    const first = sensitive.has(name) ? 0x10 : 0x00;
    const nameIndex = STATIC_NAME[name];
    if (nameIndex !== undefined) {
      hpackInt(nameIndex, 4, first, out);
    } else {
      out.push(first);
      hpackString(name, out);
    }
    hpackString(value, out);
  }
  return Buffer.from(out);
}

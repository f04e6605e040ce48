/**
 * The HTTP/2 frame reader and writers of the bulk transport (src/adapters/milvus/h2-frames.ts):
 * frames split anywhere across socket reads, padding, flow-control lengths, DATA frames built from
 * views, and request header blocks that a real HPACK decoder (hpack.js) reads back.
 */
import hpack from 'hpack.js';
import { describe, expect, it } from 'vitest';
import {
  ConnectionError,
  dataFrames,
  encodeHeaders,
  Flag,
  FrameReader,
  FrameType,
  frame,
  frameHeader,
  H2Error,
  hpackInt,
  Setting,
  settingsFrame,
} from '../../src/adapters/milvus/h2-frames.js';

type Event =
  | { kind: 'frame'; type: number; flags: number; stream: number; payload: string }
  | { kind: 'dataStart'; stream: number; flags: number; length: number }
  | { kind: 'data'; stream: number; bytes: string }
  | { kind: 'dataEnd'; stream: number; flags: number };

/** Reads `chunks` and returns what the handler saw, with consecutive DATA pieces merged. */
function read(chunks: Buffer[], maxFrame = 1 << 20): Event[] {
  const events: Event[] = [];
  const reader = new FrameReader(
    {
      onFrame: (type, flags, stream, payload) =>
        events.push({ kind: 'frame', type, flags, stream, payload: payload.toString('hex') }),
      onDataStart: (stream, flags, length) => events.push({ kind: 'dataStart', stream, flags, length }),
      onData: (stream, bytes) => {
        const last = events.at(-1);
        if (last?.kind === 'data' && last.stream === stream) last.bytes += bytes.toString('hex');
        else events.push({ kind: 'data', stream, bytes: bytes.toString('hex') });
      },
      onDataEnd: (stream, flags) => events.push({ kind: 'dataEnd', stream, flags }),
    },
    maxFrame,
  );
  for (const c of chunks) reader.push(c);
  return events;
}

function padded(type: number, flags: number, stream: number, body: Buffer, pad: number): Buffer {
  return frame(
    type,
    flags | Flag.PADDED,
    stream,
    Buffer.concat([Buffer.from([pad]), body, Buffer.alloc(pad, 0xee)]),
  );
}

function splitEvery(buf: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  let i = 0;
  while (pos < buf.length) {
    const n = sizes[i++ % sizes.length]!;
    out.push(buf.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

const payload = Buffer.from(Array.from({ length: 5000 }, (_v, i) => i % 251));
const stream = Buffer.concat([
  settingsFrame([
    [Setting.INITIAL_WINDOW_SIZE, 1 << 20],
    [Setting.MAX_FRAME_SIZE, 16_384],
  ]),
  frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from('abc')),
  frame(FrameType.DATA, 0, 1, payload.subarray(0, 3000)),
  padded(FrameType.DATA, 0, 1, payload.subarray(3000), 17),
  padded(FrameType.DATA, Flag.END_STREAM, 3, Buffer.alloc(0), 0),
  frame(FrameType.PING, 0, 0, Buffer.alloc(8, 7)),
  frame(FrameType.DATA, Flag.END_STREAM, 5, Buffer.alloc(0)),
  frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 1, 0])),
]);

describe('FrameReader', () => {
  const whole = read([stream]);

  it('reports frames, DATA payload without padding and DATA lengths with it', () => {
    expect(whole.map((e) => e.kind)).toEqual([
      'frame',
      'frame',
      'dataStart',
      'data',
      'dataEnd',
      'dataStart',
      'data',
      'dataEnd',
      'dataStart',
      'dataEnd',
      'frame',
      'dataStart',
      'dataEnd',
      'frame',
    ]);
    const data = whole.filter((e) => e.kind === 'data').map((e) => e.bytes);
    expect(data.join('')).toBe(payload.toString('hex'));
    const starts = whole.filter((e) => e.kind === 'dataStart').map((e) => e.length);
    // Flow control counts the pad-length byte and the padding too.
    expect(starts).toEqual([3000, 2000 + 1 + 17, 1, 0]);
    expect(whole[1]).toMatchObject({ type: FrameType.HEADERS, stream: 1, payload: '616263' });
  });

  it('gives the same result however the bytes are split across reads', () => {
    for (const sizes of [[1], [2], [7], [9], [10], [4095, 3], [16_384], [5, 13, 1, 9000]]) {
      const merged = read(splitEvery(stream, sizes));
      expect(merged, `split ${sizes.join(',')}`).toEqual(whole);
    }
  });

  it('hands DATA on as views of the read, without copying', () => {
    const chunk = frame(FrameType.DATA, 0, 1, payload);
    let view: Buffer | undefined;
    new FrameReader(
      {
        onFrame: () => undefined,
        onDataStart: () => undefined,
        onData: (_s, b) => {
          view = b;
        },
        onDataEnd: () => undefined,
      },
      1 << 20,
    ).push(chunk);
    expect(view?.buffer).toBe(chunk.buffer);
  });

  it('refuses frames over the announced maximum and padding longer than the frame', () => {
    const big = frame(FrameType.DATA, 0, 1, Buffer.alloc(20_000));
    expect(() => read([big], 16_384)).toThrow(ConnectionError);
    try {
      read([big], 16_384);
    } catch (err) {
      expect((err as ConnectionError).h2Code).toBe(H2Error.FRAME_SIZE_ERROR);
    }
    const badPad = frame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([10, 1, 2]));
    expect(() => read([badPad])).toThrow(/padding/);
  });
});

describe('frame writers', () => {
  it('builds DATA frames of at most the peer frame size from views of the parts', () => {
    // Buffer.alloc: not from the shared pool that small frame headers come from too.
    const a = Buffer.alloc(10);
    const b = Buffer.alloc(25);
    a.forEach((_v, i) => {
      a[i] = i;
    });
    b.forEach((_v, i) => {
      b[i] = 100 + i;
    });
    const out = dataFrames(3, [a, b], 8, true);
    // 35 bytes in frames of 8: 5 frames, each a header and one or two views.
    const events = read([Buffer.concat(out)]);
    const lengths = events.filter((e) => e.kind === 'dataStart').map((e) => e.length);
    expect(lengths).toEqual([8, 8, 8, 8, 3]);
    const ends = events.filter((e) => e.kind === 'dataEnd').map((e) => e.flags & Flag.END_STREAM);
    expect(ends).toEqual([0, 0, 0, 0, Flag.END_STREAM]);
    expect(
      events
        .filter((e) => e.kind === 'data')
        .map((e) => e.bytes)
        .join(''),
    ).toBe(Buffer.concat([a, b]).toString('hex'));
    const views = out.filter((x) => x.buffer === a.buffer || x.buffer === b.buffer);
    expect(views.reduce((n, v) => n + v.length, 0)).toBe(35);
  });

  it('writes frame headers as RFC 9113 lays them out', () => {
    expect(frameHeader(0x123456, FrameType.HEADERS, 0x25, 0x7fffffff).toString('hex')).toBe(
      '12345601257fffffff',
    );
  });
});

describe('HPACK request headers', () => {
  it('encodes integers with a prefix as RFC 7541 C.1 does', () => {
    const out: number[] = [];
    hpackInt(1337, 5, 0, out);
    expect(out).toEqual([31, 154, 10]);
    const small: number[] = [];
    hpackInt(10, 5, 0xe0, small);
    expect(small).toEqual([0xea]);
  });

  it('is read back by a full HPACK decoder, with the token never indexed', () => {
    const headers: [string, string][] = [
      [':path', '/milvus.proto.milvus.MilvusService/Query'],
      [':method', 'POST'],
      [':scheme', 'https'],
      [':authority', 'milvus.example:19530'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ['authorization', Buffer.from('x'.repeat(300)).toString('base64')],
      ['dbname', 'default'],
      ['grpc-timeout', '120000m'],
    ];
    const block = encodeHeaders(headers, new Set(['authorization']));
    const d = hpack.decompressor.create({ table: { maxSize: 4096 } });
    d.write(block);
    d.execute();
    const got: [string, string, boolean][] = [];
    for (let f = d.read(); f; f = d.read()) got.push([f.name, f.value, f.neverIndex]);
    expect(got.map(([n, v]) => [n, v])).toEqual(headers);
    expect(got.filter((g) => g[2]).map((g) => g[0])).toEqual(['authorization']);
  });
});

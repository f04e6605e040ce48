/**
 * Large replies received into pooled memory (src/adapters/milvus/grpc-replies.ts): grpc-js's own
 * stream decoder, wrapped, must hand on exactly the messages grpc-js would, however the bytes are
 * cut into chunks; and memory goes back to the pool only when released, once.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POOLED_MIN, pooledReplies, releaserOf } from '../../src/adapters/milvus/grpc-replies.js';
import { type BytesServer, startBytesServer } from '../support/bytes-server.js';

const require = createRequire(import.meta.url);
const { StreamDecoder } = require('@grpc/grpc-js/build/src/stream-decoder.js') as {
  StreamDecoder: new (max: number) => { write(data: Buffer): Buffer[] };
};

function framed(message: Buffer, compressed = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** A deterministic generator of cut points, so that a failure can be replayed. */
function cuts(total: number, seed: number): number[] {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const out: number[] = [];
  for (let at = 0; at < total; ) {
    // Mostly HTTP/2-sized chunks, sometimes a few bytes (a header cut in two), sometimes large.
    const r = next();
    const len = r < 0.2 ? 1 + Math.floor(next() * 6) : r < 0.9 ? 1 + Math.floor(next() * 16384) : 200_000;
    out.push(Math.min(total, at + len));
    at += len;
  }
  return out;
}

describe('the wrapped stream decoder', () => {
  it('is active for the locked grpc-js version (a new version must be checked against it)', () => {
    expect(pooledReplies).toBe(true);
  });

  it('hands on exactly the framed messages, however the stream is cut (60 cuttings)', () => {
    const messages = [
      randomBytes(POOLED_MIN + 12_345),
      randomBytes(10),
      Buffer.alloc(0),
      randomBytes(POOLED_MIN),
      randomBytes(POOLED_MIN - 1),
      randomBytes(3 * POOLED_MIN + 7),
    ];
    const stream = Buffer.concat(messages.map((m) => framed(m)));
    for (let seed = 1; seed <= 60; seed++) {
      const d = new StreamDecoder(-1);
      const got: Buffer[] = [];
      let from = 0;
      for (const to of cuts(stream.length, seed)) {
        for (const m of d.write(stream.subarray(from, to))) got.push(Buffer.from(m));
        from = to;
      }
      expect(got.length, `seed ${seed}`).toBe(messages.length);
      for (const [i, m] of got.entries())
        expect(m.equals(framed(messages[i]!)), `seed ${seed} message ${i}`).toBe(true);
    }
  });

  it('leaves compressed messages and messages over the limit to grpc-js', () => {
    const big = randomBytes(POOLED_MIN + 1);
    const d = new StreamDecoder(-1);
    const out = d.write(framed(big, 1));
    expect(out).toHaveLength(1);
    expect(out[0]!.equals(framed(big, 1))).toBe(true);
    const limited = new StreamDecoder(POOLED_MIN);
    expect(() => limited.write(framed(big))).toThrow(/larger than max/);
  });

  it('reuses a reply memory only after it was released, and only once', () => {
    const d = new StreamDecoder(-1);
    const a = d.write(framed(randomBytes(POOLED_MIN)))[0]!;
    const b = d.write(framed(randomBytes(POOLED_MIN)))[0]!;
    // Neither released: two replies, two memories.
    expect(a.buffer).not.toBe(b.buffer);
    const releaseA = releaserOf(a.subarray(5));
    releaseA();
    releaseA(); // a second release of the same reply: nothing
    const c = d.write(framed(randomBytes(POOLED_MIN)))[0]!;
    const e = d.write(framed(randomBytes(POOLED_MIN)))[0]!;
    expect(c.buffer).toBe(a.buffer);
    expect(e.buffer).not.toBe(a.buffer);
    // A small reply is grpc-js's own buffer: releasing it changes nothing.
    releaserOf(d.write(framed(randomBytes(100)))[0]!)();
    // A late release of `a` after its memory was lent to `c` leaves `c` alone.
    releaseA();
    const f = d.write(framed(randomBytes(POOLED_MIN)))[0]!;
    expect(f.buffer).not.toBe(c.buffer);
  });
});

describe('through a real grpc-js connection', () => {
  const blobs = new Map<number, Buffer>();
  let server: BytesServer;

  beforeAll(async () => {
    // Answers with the blob whose number the request carries.
    server = await startBytesServer(
      '/replies.test.Blob/Get',
      (request) => blobs.get(request.readUInt32BE(0))!,
    );
    for (let i = 0; i < 6; i++) blobs.set(i, randomBytes(POOLED_MIN * (1 + (i % 3)) + i));
  });
  afterAll(() => server.stop());

  it('concurrent large replies arrive intact, released memory serving later ones', async () => {
    const client = new grpc.Client(server.address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
    });
    const get = (i: number) => {
      const req = Buffer.alloc(4);
      req.writeUInt32BE(i);
      return server.call(client, req);
    };
    try {
      for (let round = 0; round < 4; round++) {
        const got = await Promise.all([0, 1, 2, 3, 4, 5].map(get));
        for (const [i, b] of got.entries())
          expect(b.equals(blobs.get(i)!), `round ${round} blob ${i}`).toBe(true);
        // Released only after they were compared: the next round may receive into their memory.
        for (const b of got) releaserOf(b)();
      }
    } finally {
      client.close();
    }
  });
});

/**
 * The insert's framing in place (src/adapters/milvus/grpc-frame.ts), against a real grpc-js server
 * on a local port: the server must read exactly the bytes we meant, framed in place only where
 * that is safe (uncompressed calls), and grpc-js's own framing everywhere else.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { framedLength, frameInPlace, withFrameRoom } from '../../src/adapters/milvus/grpc-frame.js';
import { type BytesServer, startBytesServer } from '../support/bytes-server.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest();
let server: BytesServer;

// Answers with the SHA-256 of what it read: the client compares it with what it meant to send.
beforeAll(async () => {
  server = await startBytesServer('/frame.test.Echo/Digest', sha);
});
afterAll(() => server.stop());

const digestOf = (client: grpc.Client, message: Buffer) => server.call(client, message);

describe('framing the insert in place', () => {
  it('is active for the locked grpc-js version (a new version must be checked against it)', () => {
    expect(frameInPlace).toBe(true);
  });

  it('an uncompressed call sends the message from its own memory, header written in front', async () => {
    const client = new grpc.Client(server.address, grpc.credentials.createInsecure());
    try {
      for (const length of [0, 1, 70_000, 3_000_000]) {
        const scratch = Buffer.alloc(framedLength(length) + 100, 0xaa);
        const message = withFrameRoom(scratch, length);
        randomBytes(length).copy(message);
        expect(await digestOf(client, message)).toEqual(sha(message));
        // The header is in the scratch: grpc-js did not copy the message into a buffer of its own.
        expect(scratch[0]).toBe(0);
        expect(scratch.readUInt32BE(1)).toBe(length);
        expect(scratch[framedLength(length)]).toBe(0xaa);
      }
    } finally {
      client.close();
    }
  });

  it('any other message, and a compressed call, go through grpc-js framing unchanged', async () => {
    const plain = new grpc.Client(server.address, grpc.credentials.createInsecure());
    const gzip = new grpc.Client(server.address, grpc.credentials.createInsecure(), {
      'grpc.default_compression_algorithm': 2,
    });
    try {
      const ordinary = randomBytes(50_000);
      expect(await digestOf(plain, ordinary)).toEqual(sha(ordinary));
      const scratch = Buffer.alloc(framedLength(50_000), 0xaa);
      const message = withFrameRoom(scratch, 50_000);
      randomBytes(50_000).copy(message);
      expect(await digestOf(gzip, message)).toEqual(sha(message));
      expect(scratch.subarray(0, 5)).toEqual(Buffer.alloc(5, 0xaa));
    } finally {
      plain.close();
      gzip.close();
    }
  });

  it('a message over the channel limit is refused as before, not sent', async () => {
    const small = new grpc.Client(server.address, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 1000,
    });
    try {
      const message = withFrameRoom(Buffer.alloc(framedLength(2000)), 2000);
      await expect(digestOf(small, message)).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    } finally {
      small.close();
    }
  });

  it('refuses a scratch without room for the header', () => {
    expect(() => withFrameRoom(Buffer.alloc(10), 8)).toThrow(RangeError);
  });
});

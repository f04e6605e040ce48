/**
 * The bulk HTTP/2 transport (src/adapters/milvus/h2-transport.ts) against a node:http2 server that
 * plays a gRPC server, and that can do what Milvus seldom does on demand: pad every frame, split
 * trailers into CONTINUATION frames, reset a stream, go away, drop the connection mid-reply, or fall
 * silent. The same transport against real Milvus servers: test/integration/h2-transport.test.ts.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallError, H2Transport, type H2TransportOptions } from '../../src/adapters/milvus/h2-transport.js';

const { constants } = http2;

let server: http2.Http2Server;
let port = 0;
let sessions = 0;
/** rst codes of streams the client reset, by path. */
const resets: Record<string, number> = {};
const metadataSeen: Record<string, string>[] = [];
const sockets = new Set<net.Socket>();

function grpcMessage(body: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

beforeAll(async () => {
  server = http2.createServer({
    // Pads every HEADERS and DATA frame as far as it can: the reader must strip it all.
    paddingStrategy: constants.PADDING_STRATEGY_MAX,
    maxSessionMemory: 1000,
  });
  server.on('session', () => {
    sessions++;
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    metadataSeen.push({
      dbname: String(headers.dbname),
      authorization: String(headers.authorization),
      timeout: String(headers['grpc-timeout']),
    });
    stream.on('error', () => undefined);
    stream.on('close', () => {
      if (stream.rstCode !== constants.NGHTTP2_NO_ERROR) resets[path] = stream.rstCode;
    });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const req = Buffer.concat(chunks);
      const body = req.subarray(5, 5 + req.readUInt32BE(1));
      const ok = { ':status': 200, 'content-type': 'application/grpc' };
      switch (path) {
        case '/echo':
        case '/big': {
          const reply = path === '/echo' ? body : pattern(Number(body.toString()), 3);
          stream.respond(ok, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(grpcMessage(reply));
          break;
        }
        case '/denied':
          stream.respond(
            { ...ok, 'grpc-status': '16', 'grpc-message': 'bad%20password %E2%9C%93' },
            { endStream: true },
          );
          break;
        case '/big-trailers':
          // A 40 KB trailer does not fit one 16 KB frame: HEADERS plus CONTINUATION frames.
          stream.respond(ok, { waitForTrailers: true });
          stream.on('wantTrailers', () =>
            stream.sendTrailers({ 'grpc-status': '0', 'x-big': 'y'.repeat(40_000) }),
          );
          stream.end(grpcMessage(body));
          break;
        case '/refuse':
          stream.close(constants.NGHTTP2_REFUSED_STREAM);
          break;
        case '/drop':
          // Half a reply, then the connection is gone: what a killed server looks like.
          stream.respond(ok);
          stream.write(grpcMessage(pattern(1_000_000, 1)).subarray(0, 300_000), () => {
            for (const s of sockets) s.destroy();
          });
          break;
        case '/goaway':
          // Answered, but the connection is not to be used for more calls.
          stream.respond(ok, { waitForTrailers: true });
          stream.on('wantTrailers', () => {
            stream.sendTrailers({ 'grpc-status': '0' });
            stream.session?.goaway(constants.NGHTTP2_NO_ERROR, stream.id ?? 0);
          });
          stream.end(grpcMessage(body));
          break;
        case '/hang':
          break;
        default:
          stream.respond({ ...ok, 'grpc-status': '12' }, { endStream: true });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  // node:http2 keeps the server side of a connection it sent GOAWAY on open after the client left.
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

function transport(over: Partial<H2TransportOptions> = {}): H2Transport {
  return new H2Transport({
    host: '127.0.0.1',
    port,
    authority: `127.0.0.1:${port}`,
    metadata: [
      ['authorization', 'c2VjcmV0'],
      ['dbname', 'db1'],
    ],
    maxMessage: 512 * 1024 * 1024,
    side: 'test',
    ...over,
  });
}

async function failure(p: Promise<unknown>): Promise<CallError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CallError);
    return err as CallError;
  }
  throw new Error('the call succeeded');
}

describe('H2Transport', () => {
  it('sends a request larger than the server window and gets it back, with metadata', async () => {
    const t = transport();
    const req = pattern(20_000_000, 9);
    const reply = await t.unary('/echo', req, 30_000);
    expect(reply.equals(req)).toBe(true);
    expect(metadataSeen.at(-1)).toEqual({ dbname: 'db1', authorization: 'c2VjcmV0', timeout: '30000m' });
    t.close();
  });

  it('receives replies larger than its receive windows', async () => {
    // 40 MB through the default 32 MB stream window, then through a 100 KB one (many updates).
    for (const over of [{}, { streamWindow: 100_000, connectionWindow: 200_000, readBufferSize: 0 }]) {
      const t = transport(over);
      const reply = await t.unary('/big', Buffer.from('40000000'), 60_000);
      expect(reply.length).toBe(40_000_000);
      expect(reply.equals(pattern(40_000_000, 3))).toBe(true);
      t.close();
    }
  });

  it('multiplexes many concurrent calls on one connection', async () => {
    const t = transport();
    const before = sessions;
    const reqs = Array.from({ length: 40 }, (_v, i) => pattern(10_000 + i * 50_000, i));
    const replies = await Promise.all(reqs.map((r) => t.unary('/echo', r, 30_000)));
    replies.forEach((r, i) => {
      expect(r.equals(reqs[i]!)).toBe(true);
    });
    expect(sessions - before).toBe(1);
    t.close();
  });

  it('reads grpc-status and grpc-message of a trailers-only reply', async () => {
    const t = transport();
    const err = await failure(t.unary('/denied', Buffer.from('x'), 10_000));
    expect(err.code).toBe(16);
    expect(err.details).toBe('bad password ✓');
    t.close();
  });

  it('decodes trailers split into CONTINUATION frames, and the dynamic table stays in step', async () => {
    const t = transport();
    for (let i = 0; i < 3; i++) {
      expect((await t.unary('/big-trailers', Buffer.from(`m${i}`), 10_000)).toString()).toBe(`m${i}`);
      expect((await t.unary('/echo', Buffer.from(`e${i}`), 10_000)).toString()).toBe(`e${i}`);
    }
    t.close();
  });

  it('fails a call past its deadline with DEADLINE_EXCEEDED and resets its stream', async () => {
    const t = transport();
    const started = Date.now();
    const err = await failure(t.unary('/hang', Buffer.from('x'), 300));
    expect(err.code).toBe(4);
    expect(Date.now() - started).toBeLessThan(2_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(resets['/hang']).toBe(constants.NGHTTP2_CANCEL);
    // The connection is still good for the next call.
    expect((await t.unary('/echo', Buffer.from('after'), 10_000)).toString()).toBe('after');
    t.close();
  });

  it('fails UNAVAILABLE when the connection drops mid-reply, and reconnects for the next call', async () => {
    const t = transport();
    const before = sessions;
    const err = await failure(t.unary('/drop', Buffer.from('x'), 10_000));
    expect(err.code).toBe(14);
    expect((await t.unary('/echo', Buffer.from('again'), 10_000)).toString()).toBe('again');
    expect(sessions - before).toBe(2);
    t.close();
  });

  it('maps a refused stream to UNAVAILABLE', async () => {
    const t = transport();
    expect((await failure(t.unary('/refuse', Buffer.from('x'), 10_000))).code).toBe(14);
    t.close();
  });

  it('finishes the call in flight at GOAWAY and opens a new connection for the next', async () => {
    const t = transport();
    const before = sessions;
    expect((await t.unary('/goaway', Buffer.from('one'), 10_000)).toString()).toBe('one');
    await new Promise((r) => setTimeout(r, 50));
    expect((await t.unary('/echo', Buffer.from('two'), 10_000)).toString()).toBe('two');
    expect(sessions - before).toBe(2);
    t.close();
  });

  it('refuses messages over the size limit either way', async () => {
    const t = transport({ maxMessage: 1000 });
    expect((await failure(t.unary('/echo', Buffer.alloc(1001), 10_000))).code).toBe(8);
    const err = await failure(t.unary('/big', Buffer.from('5000'), 10_000));
    expect(err.code).toBe(8);
    expect(err.details).toMatch(/larger than max \(5000 vs\. 1000\)/);
    t.close();
  });

  it('fails UNAVAILABLE when nothing listens', async () => {
    const free = net.createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const freePort = (free.address() as net.AddressInfo).port;
    await new Promise((r) => free.close(r));
    const t = transport({ port: freePort });
    const err = await failure(t.unary('/echo', Buffer.from('x'), 10_000));
    expect(err.code).toBe(14);
    expect(err.details).toMatch(/ECONNREFUSED/);
    t.close();
  });

  it('drops a connection that no longer answers keepalive pings, before the deadline', async () => {
    // A proxy that can fall silent in both directions, like a peer behind a dead network path.
    let frozen = false;
    const proxy = net.createServer((client) => {
      const up = net.connect(port, '127.0.0.1');
      client.on('data', (b) => {
        if (!frozen) up.write(b);
      });
      up.on('data', (b) => {
        if (!frozen) client.write(b);
      });
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const t = transport({
      port: (proxy.address() as net.AddressInfo).port,
      keepaliveMs: 200,
      keepaliveTimeoutMs: 300,
    });
    expect((await t.unary('/echo', Buffer.from('x'), 10_000)).toString()).toBe('x');
    frozen = true;
    const started = Date.now();
    const err = await failure(t.unary('/hang', Buffer.from('x'), 10_000));
    expect(err.code).toBe(14);
    expect(err.details).toMatch(/keepalive/);
    expect(Date.now() - started).toBeLessThan(3_000);
    t.close();
    proxy.close();
  });

  it('refuses calls after close()', async () => {
    const t = transport();
    expect((await t.unary('/echo', Buffer.from('x'), 10_000)).toString()).toBe('x');
    t.close();
    expect((await failure(t.unary('/echo', Buffer.from('x'), 10_000))).code).toBe(14);
  });
});

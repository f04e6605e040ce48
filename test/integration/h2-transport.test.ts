/**
 * The copy's bulk path (MilvusClient.queryRaw and insertEncoded) over the own HTTP/2 transport
 * (src/adapters/milvus/h2-transport.ts) against real Milvus 2.3.5 servers: plain, with
 * authentication, with mutual TLS, and one killed mid-call. Every result is compared with what the
 * same call gives through grpc-js (MILVUS_MIGRATE_TRANSPORT=grpc-js), the path it replaces.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectOptions, MilvusClient } from '../../src/adapters/milvus/client.js';
import { isTransient, MilvusError } from '../../src/adapters/milvus/errors.js';
import type { QueryRequestInput } from '../../src/adapters/milvus/types.js';
import { encodeColumn, type RawQueryReply } from '../../src/adapters/milvus/wire.js';
import { reasonOf } from '../../src/engine/engine.js';
import { rng, vector } from '../support/fixtures.js';
import { type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import { type CollectionDef, columns, createCollection, indexAndLoad } from '../support/rows.js';

const DIM = 768;
/** 12,000 rows of 768 floats: one Query reply of ~37 MB, more than the 32 MB stream window. */
const ROWS = 12_000;
const DEF: CollectionDef = {
  name: 'h2_rows',
  fields: [
    { name: 'id', type: 'Int64', primary: true },
    { name: 'vec', type: 'FloatVector', dim: DIM },
    { name: 'tag', type: 'VarChar', maxLength: 64 },
  ],
};

let plain: MilvusTestServer;
let auth: MilvusTestServer;
let mtls: MilvusTestServer;
let victim: MilvusTestServer;

/** A MilvusClient on the given transport ('h2', the default, or 'grpc-js'). */
function client(
  transport: 'h2' | 'grpc-js',
  endpoint: string,
  over: Partial<ConnectOptions> = {},
): MilvusClient {
  const before = process.env.MILVUS_MIGRATE_TRANSPORT;
  process.env.MILVUS_MIGRATE_TRANSPORT = transport;
  try {
    return new MilvusClient({ side: 'source', endpoint, database: 'default', ...over });
  } finally {
    if (before === undefined) delete process.env.MILVUS_MIGRATE_TRANSPORT;
    else process.env.MILVUS_MIGRATE_TRANSPORT = before;
  }
}

function rootOf(server: MilvusTestServer): Partial<ConnectOptions> {
  const tls = server.tls;
  return {
    endpoint: tls ? `https://${server.endpoint}` : server.endpoint,
    credentials: {
      ...(server.credentials ?? {}),
      ...(tls
        ? {
            caPem: Buffer.from(tls.caPem),
            certPem: Buffer.from(tls.clientCertPem!),
            keyPem: Buffer.from(tls.clientKeyPem!),
          }
        : {}),
    },
    ...(tls ? { tls: { serverName: 'localhost' } } : {}),
  };
}

/** Creates, fills (through insertEncoded on the h2 transport) and loads the test collection. */
async function seed(server: MilvusTestServer, rows = ROWS): Promise<void> {
  const o = rootOf(server);
  const c = client('h2', o.endpoint!, o);
  try {
    await createCollection(c, DEF);
    const r = rng(7);
    for (let i = 0; i < rows; i += 6000) {
      const n = Math.min(6000, rows - i);
      const batch = Array.from({ length: n }, (_v, j) => ({
        id: BigInt(i + j),
        vec: vector(r, DIM),
        tag: `t${(i + j) % 97}`,
      }));
      const cols = columns(DEF, batch).map((fd) => encodeColumn(fd).bytes);
      const res = await c.insertEncoded(
        c.encodeInsert({ collection_name: DEF.name, num_rows: n, columns: cols }),
      );
      expect(res.insertCount).toBe(n);
    }
    await indexAndLoad(c, DEF.name, 'vec');
  } finally {
    c.close();
  }
}

function page(from: number, to: number): QueryRequestInput {
  return {
    collection_name: DEF.name,
    expr: `id >= ${from} && id < ${to}`,
    output_fields: ['id', 'vec', 'tag'],
    partition_names: [],
    params: { limit: Math.min(16_384, to - from) },
  };
}

/** Column bytes of a reply, by name (the server's row order within a reply is not fixed). */
function summary(r: RawQueryReply): Record<string, number> {
  return Object.fromEntries(r.columns.map((c) => [c.name, c.bytes.length]));
}

async function failure(p: Promise<unknown>): Promise<MilvusError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(MilvusError);
    return err as MilvusError;
  }
  throw new Error('the call succeeded');
}

beforeAll(async () => {
  [plain, auth, mtls, victim] = await Promise.all([
    startMilvus({ kind: 'milvus-2.3.5', name: 'h2-plain' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'h2-auth', auth: true }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'h2-mtls', auth: true, tls: 'mutual' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'h2-victim' }),
  ]);
  await Promise.all([seed(plain), seed(auth, 2000), seed(mtls, 2000), seed(victim)]);
}, 300_000);

afterAll(async () => {
  await Promise.all([plain?.stop(), auth?.stop(), mtls?.stop(), victim?.stop()]);
});

describe('queryRaw and insertEncoded over the HTTP/2 transport', () => {
  it('reads a reply larger than the flow-control window, the same as grpc-js', async () => {
    const h2 = client('h2', plain.endpoint);
    const gj = client('grpc-js', plain.endpoint);
    try {
      const [a, b] = [await h2.queryRaw(page(0, ROWS)), await gj.queryRaw(page(0, ROWS))];
      expect(a.bytes).toBeGreaterThan(32 * 1024 * 1024);
      expect(a.status?.code ?? 0).toBe(0);
      expect(summary(a)).toEqual(summary(b));
      expect(a.bytes).toBe(b.bytes);
      // The reply goes to the target as it came: a 37 MB InsertRequest through the same transport.
      const copy = client('h2', plain.endpoint, { side: 'target' });
      try {
        await createCollection(copy, { ...DEF, name: 'h2_copy' });
        const res = await copy.insertEncoded(
          copy.encodeInsert({
            collection_name: 'h2_copy',
            num_rows: ROWS,
            columns: a.columns.map((c) => c.bytes),
          }),
        );
        expect(res.insertCount).toBe(ROWS);
      } finally {
        copy.close();
      }
    } finally {
      h2.close();
      gj.close();
    }
  });

  it('multiplexes many concurrent calls on one connection', async () => {
    const h2 = client('h2', plain.endpoint);
    const gj = client('grpc-js', plain.endpoint);
    try {
      const ranges = Array.from({ length: 24 }, (_v, i) => page(i * 500, i * 500 + 500));
      const got = await Promise.all(ranges.map((r) => h2.queryRaw(r)));
      for (const [i, r] of ranges.entries()) {
        expect(summary(got[i]!)).toEqual(summary(await gj.queryRaw(r)));
      }
    } finally {
      h2.close();
      gj.close();
    }
  });

  it('fails a call past its deadline with a transient error', async () => {
    const h2 = client('h2', plain.endpoint, { timeoutMs: 5 });
    try {
      const err = await failure(h2.queryRaw(page(0, ROWS)));
      expect(err.grpcCode).toBe(4);
      expect(isTransient(err)).toBe(true);
      expect(err.message).toMatch(/did not answer Query in time/);
    } finally {
      h2.close();
    }
  });

  it('fails transient when the connection is lost mid-call, and reconnects for the next call', async () => {
    // A proxy whose connections are cut while the reply streams, as a restarting server would.
    const cut = new Set<net.Socket>();
    const proxy = net.createServer((down) => {
      const up = net.connect(plain.port, '127.0.0.1');
      down.pipe(up).pipe(down);
      for (const s of [down, up]) {
        cut.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          cut.delete(s);
          down.destroy();
          up.destroy();
        });
      }
      up.on('data', () => {
        // Cut once the reply is well under way.
        if (up.bytesRead > 4_000_000 && !proxyDone) {
          proxyDone = true;
          for (const s of cut) s.destroy();
        }
      });
    });
    let proxyDone = false;
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const h2 = client('h2', `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`);
    try {
      const err = await failure(h2.queryRaw(page(0, ROWS)));
      expect(err.grpcCode).toBe(14);
      expect(isTransient(err)).toBe(true);
      const again = await h2.queryRaw(page(0, 1000));
      expect(summary(again).id).toBeGreaterThan(0);
    } finally {
      h2.close();
      proxy.close();
    }
  });

  it('fails transient when the server is killed mid-call, and again (not hanging) after', async () => {
    const h2 = client('h2', victim.endpoint, { timeoutMs: 60_000 });
    try {
      await h2.queryRaw(page(0, 10)); // connected
      const call = failure(h2.queryRaw(page(0, ROWS)));
      await new Promise((r) => setTimeout(r, 30));
      process.kill(-victim.pgid, 'SIGKILL');
      const err = await call;
      expect(err.grpcCode).toBe(14);
      expect(isTransient(err)).toBe(true);
      const started = Date.now();
      const next = await failure(h2.queryRaw(page(0, 10)));
      // Refused, or reset while the dying server still accepts: unavailable either way.
      expect(next.grpcCode).toBe(14);
      expect(isTransient(next)).toBe(true);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      h2.close();
    }
  });
});

describe('credentials and TLS on the HTTP/2 transport', () => {
  it('sends the credentials and database, and refuses a wrong password as grpc-js does', async () => {
    const good = client('h2', auth.endpoint, rootOf(auth));
    try {
      expect(summary(await good.queryRaw(page(0, 100))).id).toBeGreaterThan(0);
    } finally {
      good.close();
    }
    const wrong = { credentials: { username: 'root', password: 'not-the-password' } };
    const h2 = client('h2', auth.endpoint, wrong);
    const gj = client('grpc-js', auth.endpoint, wrong);
    try {
      const [a, b] = [await failure(h2.queryRaw(page(0, 10))), await failure(gj.queryRaw(page(0, 10)))];
      expect(a.grpcCode).toBe(16);
      expect(a.message).toBe(b.message);
      expect(reasonOf(a)).toBe(reasonOf(b));
      expect(reasonOf(a)).toBe('AuthenticationFailed');
      expect(a.message).not.toContain('not-the-password');
      // Insert goes the same way.
      const ins = await failure(
        h2.insertEncoded(h2.encodeInsert({ collection_name: DEF.name, num_rows: 0, columns: [] })),
      );
      expect(ins.message).toBe(b.message.replace('Query', 'Insert'));
    } finally {
      h2.close();
      gj.close();
    }
  });

  it('reads and writes through mutual TLS with a custom CA and a server name override', async () => {
    const o = rootOf(mtls);
    const h2 = client('h2', o.endpoint!, o);
    const gj = client('grpc-js', o.endpoint!, o);
    try {
      const [a, b] = [await h2.queryRaw(page(0, 2000)), await gj.queryRaw(page(0, 2000))];
      expect(summary(a)).toEqual(summary(b));
      const res = await h2.insertEncoded(
        h2.encodeInsert({
          collection_name: DEF.name,
          num_rows: 2000,
          columns: a.columns.map((c) => c.bytes),
        }),
      );
      expect(res.insertCount).toBe(2000);
    } finally {
      h2.close();
      gj.close();
    }
  });

  it('says what is wrong with TLS: no client certificate, wrong server name, plain endpoint', async () => {
    const o = rootOf(mtls);
    const noCert = {
      ...o,
      credentials: { ...o.credentials, certPem: undefined, keyPem: undefined },
    };
    const wrongName = { ...o, tls: { serverName: 'not-the-server.example' } };
    const plainEndpoint = { ...o, endpoint: mtls.endpoint, credentials: mtls.credentials };
    for (const [what, over] of [
      ['no client certificate', noCert],
      ['wrong server name', wrongName],
      ['plain endpoint', plainEndpoint],
    ] as const) {
      const h2 = client('h2', over.endpoint!, over);
      const gj = client('grpc-js', over.endpoint!, over);
      try {
        const [a, b] = [await failure(h2.queryRaw(page(0, 10))), await failure(gj.queryRaw(page(0, 10)))];
        expect(a.grpcCode, what).toBe(14);
        expect(reasonOf(a), what).toBe(reasonOf(b));
        // The same advice as grpc-js gives; the details in parentheses come from different stacks.
        expect(a.message.replace(/\(.*\)/, '()'), what).toBe(b.message.replace(/\(.*\)/, '()'));
      } finally {
        h2.close();
        gj.close();
      }
    }
  });
});

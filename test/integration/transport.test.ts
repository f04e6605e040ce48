/**
 * The copy's bulk path (MilvusClient.queryRaw and insertEncoded: replies and requests as bytes,
 * through grpc-js with our own serializers) against real Milvus 2.3.5 servers: plain, with
 * authentication, with mutual TLS, and one killed mid-call. Raw replies are compared with what the
 * decoding Query of the same client returns.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectOptions, MilvusClient } from '../../src/adapters/milvus/client.js';
import { isTransient, MilvusError } from '../../src/adapters/milvus/errors.js';
import type { QueryRequestInput } from '../../src/adapters/milvus/types.js';
import { decodeColumn, encodeColumn, type RawQueryReply } from '../../src/adapters/milvus/wire.js';
import { reasonOf } from '../../src/util/errors.js';
import { rng, vector } from '../support/fixtures.js';
import { type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import { type CollectionDef, columns, createCollection, indexAndLoad } from '../support/rows.js';

const DIM = 768;
/** 12,000 rows of 768 floats: one Query reply of ~37 MB, more than the 32 MB stream window. */
const ROWS = 12_000;
const DEF: CollectionDef = {
  name: 'bulk_rows',
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

function client(endpoint: string, over: Partial<ConnectOptions> = {}): MilvusClient {
  return new MilvusClient({ side: 'source', endpoint, database: 'default', ...over });
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

/** Creates, fills (through insertEncoded) and loads the test collection. */
async function seed(server: MilvusTestServer, rows = ROWS): Promise<void> {
  const o = rootOf(server);
  const c = client(o.endpoint!, o);
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
    startMilvus({ kind: 'milvus-2.3.5', name: 'bulk-plain' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'bulk-auth', auth: true }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'bulk-mtls', auth: true, tls: 'mutual' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'bulk-victim' }),
  ]);
  await Promise.all([seed(plain), seed(auth, 2000), seed(mtls, 2000), seed(victim)]);
}, 300_000);

afterAll(async () => {
  await Promise.all([plain?.stop(), auth?.stop(), mtls?.stop(), victim?.stop()]);
});

/** Rows of a raw reply (its key column decoded) and of the decoding Query, as sorted key lists. */
async function sameAsDecoded(c: MilvusClient, raw: RawQueryReply, req: QueryRequestInput): Promise<void> {
  const id = raw.columns.find((x) => x.name === 'id')!;
  const rawKeys = decodeColumn(id).scalars!.long_data!.data.map(String).sort();
  const decoded = await c.query(req);
  const keys = decoded.fields_data
    .find((f) => f.field_name === 'id')!
    .scalars!.long_data!.data.map(String)
    .sort();
  expect(rawKeys).toEqual(keys);
  const vec = decoded.fields_data.find((f) => f.field_name === 'vec')!;
  expect(vec.vectors!.float_vector!.data.length).toBe(keys.length * DIM);
}

describe('queryRaw and insertEncoded (bytes through grpc-js)', () => {
  it('reads a reply larger than the flow-control window and writes it on as it came', async () => {
    const c = client(plain.endpoint);
    try {
      const a = await c.queryRaw(page(0, ROWS));
      expect(a.bytes).toBeGreaterThan(32 * 1024 * 1024);
      expect(a.status?.code ?? 0).toBe(0);
      await sameAsDecoded(c, a, page(0, ROWS));
      // The reply goes to the target as it came: a 37 MB InsertRequest.
      const copy = client(plain.endpoint, { side: 'target' });
      try {
        await createCollection(copy, { ...DEF, name: 'bulk_copy' });
        const res = await copy.insertEncoded(
          copy.encodeInsert({
            collection_name: 'bulk_copy',
            num_rows: ROWS,
            columns: a.columns.map((x) => x.bytes),
          }),
        );
        expect(res.insertCount).toBe(ROWS);
        await indexAndLoad(copy, 'bulk_copy', 'vec');
        const back = await copy.queryRaw({ ...page(0, ROWS), collection_name: 'bulk_copy' });
        expect(summary(back)).toEqual(summary(a));
      } finally {
        copy.close();
      }
    } finally {
      c.close();
    }
  });

  it('multiplexes many concurrent calls on one connection', async () => {
    const c = client(plain.endpoint);
    try {
      const ranges = Array.from({ length: 24 }, (_v, i) => page(i * 500, i * 500 + 500));
      const got = await Promise.all(ranges.map((r) => c.queryRaw(r)));
      for (const [i, r] of ranges.entries()) await sameAsDecoded(c, got[i]!, r);
    } finally {
      c.close();
    }
  });

  it('fails a call past its deadline with a transient error', async () => {
    const c = client(plain.endpoint, { timeoutMs: 5 });
    try {
      const err = await failure(c.queryRaw(page(0, ROWS)));
      expect(err.grpcCode).toBe(4);
      expect(err.kind).toBe('deadline');
      expect(isTransient(err)).toBe(true);
      expect(err.message).toMatch(/did not answer Query in time/);
    } finally {
      c.close();
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
    const c = client(`127.0.0.1:${(proxy.address() as net.AddressInfo).port}`);
    try {
      const err = await failure(c.queryRaw(page(0, ROWS)));
      expect(err.grpcCode).toBe(14);
      expect(err.kind).toBe('dropped-after-send');
      expect(err.ambiguous).toBe(true);
      expect(isTransient(err)).toBe(true);
      const again = await c.queryRaw(page(0, 1000));
      expect(summary(again).id).toBeGreaterThan(0);
    } finally {
      c.close();
      proxy.close();
    }
  });

  it('fails transient when the server is killed mid-call, and again (not hanging) after', async () => {
    const c = client(victim.endpoint, { timeoutMs: 60_000 });
    try {
      await c.queryRaw(page(0, 10)); // connected
      const call = failure(c.queryRaw(page(0, ROWS)));
      await new Promise((r) => setTimeout(r, 30));
      process.kill(-victim.pgid, 'SIGKILL');
      const err = await call;
      expect(err.grpcCode).toBe(14);
      expect(isTransient(err)).toBe(true);
      // Refused, or reset while the dying server still accepts: unavailable either way, and an
      // answer rather than a hang (the call's deadline is a minute).
      const next = await failure(c.queryRaw(page(0, 10)));
      expect(next.grpcCode).toBe(14);
      expect(isTransient(next)).toBe(true);
    } finally {
      c.close();
    }
  });
});

describe('credentials and TLS on the bulk path', () => {
  it('sends the credentials and database, and says a wrong password is refused', async () => {
    const good = client(auth.endpoint, rootOf(auth));
    try {
      expect(summary(await good.queryRaw(page(0, 100))).id).toBeGreaterThan(0);
    } finally {
      good.close();
    }
    const wrong = { credentials: { username: 'root', password: 'not-the-password' } };
    const c = client(auth.endpoint, wrong);
    try {
      const a = await failure(c.queryRaw(page(0, 10)));
      expect(a.grpcCode).toBe(16);
      expect(a.kind).toBe('auth');
      expect(reasonOf(a)).toBe('AuthenticationFailed');
      expect(a.message).toMatch(/refused the credentials of user "root"/);
      expect(a.message).not.toContain('not-the-password');
      // Insert goes the same way.
      const ins = await failure(
        c.insertEncoded(c.encodeInsert({ collection_name: DEF.name, num_rows: 0, columns: [] })),
      );
      expect(ins.message).toBe(a.message);
      expect(ins.method).toBe('Insert');
    } finally {
      c.close();
    }
  });

  it('reads and writes through mutual TLS with a custom CA and a server name override', async () => {
    const o = rootOf(mtls);
    const c = client(o.endpoint!, o);
    try {
      const a = await c.queryRaw(page(0, 2000));
      await sameAsDecoded(c, a, page(0, 2000));
      const res = await c.insertEncoded(
        c.encodeInsert({
          collection_name: DEF.name,
          num_rows: 2000,
          columns: a.columns.map((x) => x.bytes),
        }),
      );
      expect(res.insertCount).toBe(2000);
    } finally {
      c.close();
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
    for (const [what, over, kind, advice] of [
      [
        'no client certificate',
        noCert,
        'tls',
        /^TLS with the source .* failed \(.*bad certificate.*\): check https:\/\//,
      ],
      [
        'wrong server name',
        wrongName,
        'tls',
        /^TLS with the source .* failed \(.*not-the-server\.example.*\)/,
      ],
      [
        'plain endpoint',
        plainEndpoint,
        'connect',
        /did not complete a plain gRPC connection .*: if the server uses TLS write the endpoint as https:\/\//,
      ],
    ] as const) {
      const c = client(over.endpoint!, over);
      try {
        const a = await failure(c.queryRaw(page(0, 10)));
        expect(a.grpcCode, what).toBe(14);
        // Nothing was sent: a retry may send it again as it is.
        expect(a.kind, what).toBe(kind);
        expect(a.ambiguous, what).toBe(false);
        expect(reasonOf(a), what).toBe('Unreachable');
        expect(a.message, what).toMatch(advice);
      } finally {
        c.close();
      }
    }
  });
});

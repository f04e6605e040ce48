/**
 * Smoke test of the real Milvus test servers (test/support/milvus-server.ts) and of the Node SDK
 * against them: an authenticated 2.3.5 (source) and a plain 2.3.5 (target) running side by side,
 * a 2.2.16 and milvus-lite. Afterwards no server process and no port may remain.
 */

import fs from 'node:fs';
import net from 'node:net';
import { ConsistencyLevelEnum, DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFor, createReadOnlyUser, createUser } from '../support/milvus-admin.js';
import type { MilvusTestServer, StartMilvusOptions } from '../support/milvus-server.js';
import { startMilvus } from '../support/milvus-server.js';

type Role = 'source' | 'target' | 'old' | 'lite' | 'tls';
const SPECS: Record<Role, StartMilvusOptions> = {
  source: { kind: 'milvus-2.3.5', auth: true, name: 'smoke-source' },
  target: { kind: 'milvus-2.3.5', name: 'smoke-target' },
  old: { kind: 'milvus-2.2.16', name: 'smoke-2.2.16' },
  lite: { kind: 'milvus-lite', name: 'smoke-lite' },
  tls: { kind: 'milvus-2.3.5', auth: true, tls: 'mutual', name: 'smoke-tls' },
};
const EXPECTED_VERSION: Record<Role, RegExp> = {
  source: /^v2\.3\.5(\D|$)/,
  target: /^v2\.3\.5(\D|$)/,
  old: /^v2\.2\.16(\D|$)/,
  lite: /^milvus_lite-3\.2\.2$/,
  tls: /^v2\.3\.5(\D|$)/,
};

const servers: Partial<Record<Role, MilvusTestServer>> = {};
const clients: MilvusClient[] = [];

function server(role: Role): MilvusTestServer {
  const s = servers[role];
  if (!s) throw new Error(`${role} server did not start`);
  return s;
}

function client(role: Role, opts?: Parameters<typeof clientFor>[1]): MilvusClient {
  const c = clientFor(server(role), opts);
  clients.push(c);
  return c;
}

async function portIsClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(true));
  });
}

const ROWS = 500;
const rows = Array.from({ length: ROWS }, (_, i) => ({
  id: i + 1,
  vec: Array.from({ length: 8 }, (_, j) => (i % 97) * 0.01 + j * 0.1),
  title: `title-${i + 1}`,
}));

/** create collection, insert, index, load, query by filter, count(*): the same on every server. */
async function roundTrip(c: MilvusClient, collection: string): Promise<void> {
  const created = await c.createCollection({
    collection_name: collection,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
      { name: 'vec', data_type: DataType.FloatVector, dim: 8 },
      { name: 'title', data_type: DataType.VarChar, max_length: 64 },
    ],
  });
  expect(created.error_code).toBe('Success');
  const inserted = await c.insert({ collection_name: collection, data: rows });
  expect(inserted.status.error_code).toBe('Success');
  expect(Number(inserted.insert_cnt)).toBe(ROWS);
  const indexed = await c.createIndex({
    collection_name: collection,
    field_name: 'vec',
    index_type: 'IVF_FLAT',
    metric_type: 'L2',
    params: { nlist: 16 },
  });
  expect(indexed.error_code).toBe('Success');
  const loaded = await c.loadCollectionSync({ collection_name: collection });
  expect(loaded.error_code).toBe('Success');

  const q = await c.query({
    collection_name: collection,
    filter: 'id >= 100 and id < 110',
    output_fields: ['id', 'title'],
    consistency_level: ConsistencyLevelEnum.Strong,
  });
  expect(q.status.error_code).toBe('Success');
  const got = q.data.map((r) => ({ id: r.id, title: r.title })).sort((a, b) => Number(a.id) - Number(b.id));
  // int64 values come back as strings
  expect(got).toEqual(
    Array.from({ length: 10 }, (_, i) => ({ id: String(100 + i), title: `title-${100 + i}` })),
  );

  const counted = await c.query({
    collection_name: collection,
    filter: '',
    output_fields: ['count(*)'],
    consistency_level: ConsistencyLevelEnum.Strong,
  });
  expect(counted.status.error_code).toBe('Success');
  expect(Number(counted.data[0]?.['count(*)'])).toBe(ROWS);
}

beforeAll(async () => {
  const roles = Object.keys(SPECS) as Role[];
  const t0 = Date.now();
  const results = await Promise.allSettled(roles.map((r) => startMilvus(SPECS[r])));
  const failures: string[] = [];
  results.forEach((res, i) => {
    const role = roles[i]!;
    if (res.status === 'fulfilled') servers[role] = res.value;
    else failures.push(`${role}: ${(res.reason as Error).message}`);
  });
  if (failures.length) {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
    throw new Error(`servers did not start:\n${failures.join('\n')}`);
  }
  process.stdout.write(`[milvus smoke] ${roles.length} servers started together in ${Date.now() - t0} ms\n`);
}, 240_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.closeConnection()));
  await Promise.all(Object.values(servers).map((s) => s.stop()));
}, 60_000);

describe('Milvus test servers', () => {
  it.each(Object.keys(SPECS) as Role[])('%s answers GetVersion with its real version', async (role) => {
    const s = server(role);
    const res = await client(role).getVersion();
    const rssMb = Math.round(s.rssBytes() / 2 ** 20);
    process.stdout.write(
      `[milvus smoke] ${role.padEnd(6)} ${s.kind.padEnd(13)} ${s.endpoint.padEnd(16)} version=${res.version} ` +
        `start=${s.startMs}ms rss=${rssMb}MiB\n`,
    );
    expect(res.version).toMatch(EXPECTED_VERSION[role]);
    expect(s.version).toBe(res.version);
  });

  it('runs two 2.3.5 servers side by side on their own ports', () => {
    const a = server('source').ports;
    const b = server('target').ports;
    const all = [...Object.values(a), ...Object.values(b)];
    expect(new Set(all).size).toBe(all.length);
  });

  it.each(['source', 'target', 'lite'] as Role[])(
    '%s: create, insert, index, load, query by filter, count(*)',
    async (role) => {
      await roundTrip(client(role), `smoke_${role}`);
    },
    120_000,
  );

  it('keeps the source and the target apart', async () => {
    const has = await client('target').hasCollection({ collection_name: 'smoke_source' });
    expect(has.value).toBe(false);
  });

  it('refuses a wrong password on the authenticated source', async () => {
    const bad = new MilvusClient({
      address: server('source').endpoint,
      username: 'root',
      password: 'not-the-password',
      logLevel: 'error',
    });
    clients.push(bad);
    bad.connectPromise.catch(() => {}); // the failed Connect is asserted below, through a real call
    await expect(bad.showCollections()).rejects.toThrow(/UNAUTHENTICATED|auth check failure/i);
  });

  it('refuses a client without credentials on the authenticated source', async () => {
    const anon = new MilvusClient({ address: server('source').endpoint, logLevel: 'error' });
    clients.push(anon);
    anon.connectPromise.catch(() => {});
    await expect(anon.showCollections()).rejects.toThrow(/UNAUTHENTICATED|auth/i);
  });

  it('lets a second user log in', async () => {
    const user = await createUser(server('source'), { user: 'second_user', password: 'second-pass-1' });
    const c = client('source', { username: user.username, password: user.password });
    const res = await c.showCollections();
    expect(res.status.error_code).toBe('Success');
    expect((await c.getVersion()).version).toMatch(EXPECTED_VERSION.source);
  });

  it('gives a read-only user reads but no writes', async () => {
    const user = await createReadOnlyUser(server('source'), { user: 'reader', password: 'reader-pass-1' });
    const c = client('source', { username: user.username, password: user.password });
    const names = (await c.showCollections()).data.map((d) => d.name);
    expect(names).toContain('smoke_source');
    const described = await c.describeCollection({ collection_name: 'smoke_source' });
    expect(described.status.error_code).toBe('Success');
    const counted = await c.query({
      collection_name: 'smoke_source',
      filter: '',
      output_fields: ['count(*)'],
    });
    expect(Number(counted.data[0]?.['count(*)'])).toBe(ROWS);
    await expect(c.insert({ collection_name: 'smoke_source', data: rows.slice(0, 1) })).rejects.toThrow(
      /PERMISSION_DENIED|permission deny/i,
    );
    await expect(
      c.createCollection({
        collection_name: 'reader_made',
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'vec', data_type: DataType.FloatVector, dim: 8 },
        ],
      }),
    ).rejects.toThrow(/PERMISSION_DENIED|permission deny/i);
  });

  it('speaks mutual TLS: the CA and a client certificate are needed', async () => {
    const s = server('tls');
    expect(s.tls?.caPem).toMatch(/BEGIN CERTIFICATE/);
    // With the CA and the client certificate (the SDK uses @grpc/grpc-js credentials.createSsl).
    const ok = client('tls');
    expect((await ok.getVersion()).version).toMatch(EXPECTED_VERSION.tls);
    expect((await ok.showCollections()).status.error_code).toBe('Success');
    // Without a client certificate the handshake fails.
    const noCert = client('tls', { clientCert: false, config: { maxRetries: 0 } });
    noCert.connectPromise.catch(() => {});
    await expect(noCert.getVersion()).rejects.toThrow(/UNAVAILABLE|certificate/i);
    // Plain text to the TLS port gets nowhere.
    const plain = new MilvusClient({
      address: s.endpoint,
      username: 'root',
      password: 'Milvus',
      logLevel: 'error',
      timeout: 3000,
      maxRetries: 0,
    });
    clients.push(plain);
    plain.connectPromise.catch(() => {});
    await expect(plain.getVersion()).rejects.toThrow();
  }, 60_000);

  it('stops every server: no process, no port, no data left', async () => {
    await Promise.allSettled(clients.splice(0).map((c) => c.closeConnection()));
    const list = Object.values(servers);
    const ports = list.flatMap((s) => Object.values(s.ports));
    await Promise.all(list.map((s) => s.stop()));
    for (const s of list) {
      expect(s.pids(), `${s.name} processes`).toEqual([]);
      expect(fs.existsSync(s.dataDir), `${s.name} data dir`).toBe(false);
    }
    const open = [];
    for (const p of ports) if (!(await portIsClosed(p))) open.push(p);
    expect(open, 'ports still accepting connections').toEqual([]);
  }, 60_000);
});

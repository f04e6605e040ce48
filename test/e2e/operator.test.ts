/**
 * The operator end to end on a real Kubernetes cluster (whatever KUBECONFIG points at): the
 * controller runs here as a child process (`node dist/cli/main.js controller`, watching one fresh
 * namespace), the copy Jobs run the project's image in the cluster and reach two real Milvus
 * servers on this machine (source with authentication). Skipped without KUBECONFIG (or with
 * MM_SKIP_CLUSTER). Environment as in test/e2e/cluster.test.ts (KUBECTL, MM_IMAGE, MM_HOST_IP).
 *
 * The controller hands MILVUS_MIGRATE_PAGE_BYTES and MILVUS_MIGRATE_PAGE_DELAY_MS to its copy pods:
 * small, paced pages here make a copy of KILL_ROWS rows take long enough to kill pods, the
 * controller, or delete the object mid-run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import { CRD_FILE, CRD_NAME } from '../../src/api/crd.js';
import type { MigrationStatus } from '../../src/api/migration.js';
import { ensureBuilt, FILL_IN } from '../support/cli.js';
import { sdkRows } from '../support/compare.js';
import { diffCollection } from '../support/differ.js';
import {
  INT64_EXTREME,
  PARTITION_KEY,
  rng,
  seedInt64Extreme,
  seedPartitionKey,
  vector,
} from '../support/fixtures.js';
import { kstatus } from '../support/gitops.js';
import {
  crdInstalled,
  createTestNamespace,
  kc,
  kubectl,
  migrationJson,
  otherE2eNamespaces,
  secretJson,
  sleep,
} from '../support/kube.js';
import { type MilvusTestServer, REPO_ROOT, startMilvus } from '../support/milvus-server.js';
import {
  admin,
  type CollectionDef,
  columns,
  createCollection,
  indexAndLoad,
  insertRows,
} from '../support/rows.js';
import { startToxiproxy } from '../support/toxiproxy.js';

const enabled = Boolean(process.env.KUBECONFIG) && !process.env.MM_SKIP_CLUSTER;
if (!enabled) console.log('test/e2e/operator.test.ts: skipped — set KUBECONFIG to run it');

const IMAGE = process.env.MM_IMAGE ?? 'milvus-migrate:dev';
const HOST_IP = process.env.MM_HOST_IP ?? '10.88.0.1';
const NS = `mm-op-${randomBytes(4).toString('hex')}`;
const migration = (name: string, spec: Record<string, unknown>) => migrationJson(NS, name, spec);
const secret = (name: string, data: Record<string, string>) => secretJson(NS, name, data);
const WRONG_PASSWORD = `wrong-${randomBytes(6).toString('hex')}`;
const ROWS = 400;
/** A collection with explicit int64 keys (autoID keys would be regenerated): "exactly once" is checkable. */
const KILLABLE: CollectionDef = {
  name: 'killable',
  fields: [
    { name: 'id', type: 'Int64', primary: true },
    { name: 'tag', type: 'VarChar', maxLength: 64 },
    { name: 'vec', type: 'FloatVector', dim: 32 },
  ],
};
const KILL_ROWS = Number(process.env.MM_E2E_KILL_ROWS ?? 2000);
const PAGE_BYTES = process.env.MM_E2E_PAGE_BYTES ?? '4000';
// A copy fills a fresh target at full speed (no index, not loaded): a pause after each page keeps
// it under way long enough to interrupt.
const PAGE_DELAY_MS = process.env.MM_E2E_PAGE_DELAY_MS ?? '250';
const CONTROLLER_NS = 'milvus-migrate';
const LEASE = 'milvus-migrate-controller';
const RERUN = 'migration.milvus.io/rerun';
// The deletion time box (120 s in a real install). Above the time a copy pod takes to go on a
// loaded CI machine: a foreground Job deletion once took 21 s there, after 1.4 s in the run before,
// and a box of 20 s then gave up before DropIncomplete could drop (the worker itself exits within
// 0.1 s of SIGTERM, measured locally).
const CLEANUP_TIMEOUT_S = 45;

const kn = (args: string[], input?: string, timeoutMs?: number) => kc(['-n', NS, ...args], input, timeoutMs);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

interface Obj {
  metadata: { generation: number; finalizers?: string[] };
  status?: MigrationStatus;
}

async function getMigration(name: string): Promise<Obj> {
  return JSON.parse(await kn(['get', 'milvusmigration', name, '-o', 'json'])) as Obj;
}

let controller: ChildProcess | undefined;
let controllerLog = '';

/** Polls until the phase is one of `phases`; fails with the controller's and the Job's logs. */
async function waitForPhase(
  name: string,
  phases: string[],
  timeoutMs: number,
  also: (o: Obj) => boolean = () => true,
): Promise<Obj> {
  const t0 = Date.now();
  let last: Obj | undefined;
  const seen: string[] = [];
  for (;;) {
    last = await getMigration(name);
    const p = `${last.status?.phase ?? '-'} ${last.status?.progress ?? ''}`;
    if (seen[seen.length - 1] !== p) seen.push(p);
    if (last.status?.phase && phases.includes(last.status.phase) && also(last)) {
      console.log(`[e2e] ${name}: ${seen.join(' → ')} in ${(Date.now() - t0) / 1000} s`);
      // No case here loses acknowledged writes: a fill-in pass would hide a copy defect.
      const filled = (last.status.collections ?? [])
        .flatMap((c) => c.warnings ?? [])
        .filter((w) => FILL_IN.test(w));
      if (filled.length) throw new Error(`${name}: the copy came up short: ${filled.join('; ')}`);
      return last;
    }
    if (Date.now() - t0 > timeoutMs) {
      const job = await kubectl(['-n', NS, 'describe', 'job', `${name}-copy`]);
      const logs = await kubectl(['-n', NS, 'logs', `job/${name}-copy`, '--tail=40']);
      throw new Error(
        `${name} did not reach ${phases.join('/')} in ${timeoutMs / 1000} s (phases: ${seen.join(' → ')})\n` +
          `status: ${JSON.stringify(last.status, null, 2)}\n--- job\n${job.stdout}${job.stderr}\n--- pod log\n${logs.stdout}${logs.stderr}\n` +
          `--- controller\n${controllerLog.slice(-6000)}`,
      );
    }
    await sleep(2000);
  }
}

/**
 * Rows written to a target collection so far. A fresh target is only indexed and loaded after the
 * copy, so count(*) cannot see them: flush, then read the collection's statistics.
 */
async function targetRows(targetName: string): Promise<number> {
  try {
    if (!(await dstAdmin!.showCollections()).includes(targetName)) return 0;
    await dstAdmin!.call('Flush', { db_name: 'default', collection_names: [targetName] });
    const r = await dstAdmin!.call<{ stats: { key: string; value: string }[] }>('GetCollectionStatistics', {
      db_name: 'default',
      collection_name: targetName,
    });
    return Number(r.stats.find((kv) => kv.key === 'row_count')?.value ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Waits until the copy is under way — rows on the target, not all — for a kill or a delete. Read on
 * the target itself: the status lags by up to ~7 s (pod report + patch interval), and the resume
 * after a kill costs time per page of the whole collection, so the copy is kept short.
 */
async function waitUntilMidCopy(name: string, targetName: string, timeoutMs = 120_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const n = await targetRows(targetName);
    if (n >= KILL_ROWS || (n === 0 && (await getMigration(name)).status?.phase === 'Succeeded'))
      throw new Error(
        `${name} finished before it could be interrupted: make the copy slower (MM_E2E_PAGE_BYTES, MM_E2E_PAGE_DELAY_MS, MM_E2E_KILL_ROWS)`,
      );
    if (n > 0) {
      console.log(`[e2e] ${name}: ${n}/${KILL_ROWS} rows on the target after ${(Date.now() - t0) / 1000} s`);
      return n;
    }
    if (Date.now() - t0 > timeoutMs)
      throw new Error(
        `${name}: no rows on the target after ${timeoutMs / 1000} s: ${JSON.stringify((await getMigration(name)).status)}\n${controllerLog.slice(-4000)}`,
      );
    await sleep(200);
  }
}

/** Every source row exactly once on the target: count(*) and the rows by key, field by field. */
async function expectExactlyOnce(targetName: string): Promise<void> {
  expect(await dstAdmin!.count(targetName)).toBe(KILL_ROWS);
  const [s, t] = await Promise.all([
    sdkRows({ endpoint: src!.endpoint, username: 'root', password: 'Milvus' }, KILLABLE.name, 'id', {
      intKey: true,
    }),
    sdkRows({ endpoint: dst!.endpoint }, targetName, 'id', { intKey: true }),
  ]);
  expect(s.size).toBe(KILL_ROWS);
  expect(t.size).toBe(KILL_ROWS);
  for (const [k, row] of s) expect(t.get(k), `row ${k}`).toEqual(row);
}

async function seedKillable(c: MilvusClient): Promise<void> {
  await createCollection(c, KILLABLE);
  const r = rng(11);
  await insertRows(
    c,
    KILLABLE,
    Array.from({ length: KILL_ROWS }, (_v, i) => ({ id: i * 7 - 5000, tag: `tag-${i}`, vec: vector(r, 32) })),
  );
  await indexAndLoad(c, KILLABLE.name, 'vec');
}

async function lease(namespace: string): Promise<{ holderIdentity?: string; leaseTransitions?: number }> {
  const l = JSON.parse(await kc(['-n', namespace, 'get', 'lease', LEASE, '-o', 'json'])) as {
    spec: { holderIdentity?: string; leaseTransitions?: number };
  };
  return l.spec;
}

async function waitGone(args: string[], timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while ((await kubectl(['-n', NS, 'get', ...args, '-o', 'name'])).code === 0) {
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`${args.join(' ')} still there after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
  return (Date.now() - t0) / 1000;
}

/**
 * A TCP relay to the target on all interfaces (copy pods reach it at HOST_IP): closing it makes the
 * target unreachable mid-run without stopping the shared test server.
 */
async function relayTo(port: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

const srcSpec = () => ({ endpoint: `${HOST_IP}:${src!.port}`, secretRef: { name: 'src-milvus' } });
const dstSpec = () => ({ endpoint: `${HOST_IP}:${dst!.port}` });

async function waitForOtherE2e(): Promise<void> {
  const t0 = Date.now();
  for (let others = await otherE2eNamespaces(NS); others.length; others = await otherE2eNamespaces(NS)) {
    if (Date.now() - t0 > 600_000) throw new Error(`other e2e namespaces still there: ${others.join(' ')}`);
    if (Date.now() - t0 < 2500)
      console.log(`[e2e] waiting for other e2e tests to finish: ${others.join(' ')}`);
    await sleep(2000);
  }
}

let crdWasInstalled = false;
let nsCreated = false;
let src: MilvusTestServer | undefined;
let dst: MilvusTestServer | undefined;
let dstAdmin: MilvusClient | undefined;
let healthPort = 0;
let metricsPort = 0;
interface DeployObject {
  kind: string;
  metadata: { name: string };
  spec?: {
    template?: { spec?: { containers: { env?: { name: string; value?: string }[]; image: string }[] } };
  };
}
let deployed: DeployObject[] = [];

(enabled ? describe : describe.skip)('the operator on a real cluster', () => {
  beforeAll(async () => {
    ensureBuilt();
    await waitForOtherE2e();
    crdWasInstalled = await crdInstalled(CRD_NAME);
    await kc(['apply', '-f', path.join(REPO_ROOT, CRD_FILE)]);
    await kc(['wait', '--for', 'condition=established', '--timeout=60s', `crd/${CRD_NAME}`]);
    await createTestNamespace(NS);
    nsCreated = true;
    [src, dst] = await Promise.all([
      startMilvus({ kind: 'milvus-2.3.5', auth: true, name: 'op-src' }),
      startMilvus({ kind: 'milvus-2.3.5', name: 'op-dst' }),
    ]);
    const srcAdmin = admin(src.endpoint, { username: 'root', password: 'Milvus' });
    await seedPartitionKey(srcAdmin, ROWS);
    await seedKillable(srcAdmin);
    srcAdmin.close();
    dstAdmin = admin(dst.endpoint);

    healthPort = await freePort();
    metricsPort = await freePort();
    controller = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'controller'], {
      env: {
        ...process.env,
        MM_IMAGE: IMAGE,
        WATCH_NAMESPACE: NS,
        // Out of the cluster: the Lease goes to the test namespace (removed with it).
        POD_NAMESPACE: NS,
        MM_HEALTH_PORT: String(healthPort),
        MM_METRICS_PORT: String(metricsPort),
        MILVUS_MIGRATE_PAGE_BYTES: PAGE_BYTES,
        MILVUS_MIGRATE_PAGE_DELAY_MS: PAGE_DELAY_MS,
        // Short, so that the unreachable-target deletion case takes seconds, not minutes.
        MM_CLEANUP_TIMEOUT_SECONDS: String(CLEANUP_TIMEOUT_S),
        LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    controller.stdout!.on('data', (d) => (controllerLog += d));
    controller.stderr!.on('data', (d) => (controllerLog += d));
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 60 || controller.exitCode !== null) throw new Error(`controller not ready:\n${controllerLog}`);
      await sleep(500);
    }
    console.log(
      `[e2e] controller ready (health port ${healthPort}); namespace ${NS}; source ${HOST_IP}:${src.port} (auth), target ${HOST_IP}:${dst.port}`,
    );
  }, 300_000);

  afterAll(async () => {
    // Our finalizer needs a running controller: delete the migrations while one still runs, and
    // strip the finalizer of any left (a failed test) so that the namespace can go.
    if (nsCreated) {
      await kubectl(
        ['-n', NS, 'delete', 'mmig', '--all', '--wait=true', '--timeout=90s'],
        undefined,
        100_000,
      );
      const left = await kubectl(['-n', NS, 'get', 'mmig', '-o', 'name']);
      for (const n of left.stdout.split('\n').filter(Boolean)) {
        console.log(`[e2e] ${n} still there after delete: removing its finalizer by hand`);
        await kubectl(['-n', NS, 'patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
      }
    }
    if (controller && controller.exitCode === null) {
      const exited = new Promise((r) => controller!.once('exit', r));
      controller.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      console.log(`[e2e] controller stopped on SIGTERM with exit code ${controller.exitCode}`);
    }
    if (deployed.length)
      await kubectl(
        ['delete', '--wait=true', '--timeout=120s', '--ignore-not-found', '-f', '-'],
        JSON.stringify({ apiVersion: 'v1', kind: 'List', items: deployed }),
        150_000,
      );
    if (nsCreated)
      await kubectl(['delete', 'namespace', NS, '--wait=true', '--timeout=120s'], undefined, 150_000);
    if (!crdWasInstalled)
      await kubectl(['delete', 'crd', CRD_NAME, '--ignore-not-found', '--wait=true', '--timeout=60s']);
    dstAdmin?.close();
    await Promise.all([src?.stop(), dst?.stop()]);
  }, 900_000);

  it('answers /healthz and /readyz; holds the Lease in its own namespace, naming itself', async () => {
    expect((await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
    let l = await lease(NS).catch(() => ({}) as { holderIdentity?: string });
    for (let i = 0; !l.holderIdentity && i < 20; i++) {
      await sleep(500);
      l = await lease(NS).catch(() => ({}));
    }
    expect(l.holderIdentity).toBe(`${process.env.HOSTNAME || os.hostname()}_${controller!.pid}`);
  });

  it('migrates a collection through a copy Job: Succeeded, Ready, counts equal', async () => {
    await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
    await kn(
      ['apply', '-f', '-'],
      migration('books', {
        source: { endpoint: `${HOST_IP}:${src!.port}`, secretRef: { name: 'src-milvus' } },
        target: { endpoint: `${HOST_IP}:${dst!.port}` },
        collections: [{ name: PARTITION_KEY.name }],
      }),
    );
    const obj = await waitForPhase('books', ['Succeeded', 'Failed'], 240_000);
    expect(obj.status?.phase, JSON.stringify(obj.status, null, 2)).toBe('Succeeded');
    const c = obj.status!.collections![0]!;
    const targetCount = await dstAdmin!.count(PARTITION_KEY.name);
    expect(targetCount).toBe(ROWS);
    expect(c.targetEntities).toBe(targetCount);
    expect(c.sourceEntities).toBe(ROWS);
    expect(obj.status?.observedGeneration).toBe(obj.metadata.generation);
    expect(obj.status).toMatchObject({ progress: '100%', rows: `${ROWS}/${ROWS}`, collectionsDone: '1/1' });

    const wait = await kn(['wait', '--for=condition=Ready', 'milvusmigration/books', '--timeout=30s']);
    expect(wait).toContain('condition met');
    const table = await kn(['get', 'milvusmigrations']);
    expect(table.split('\n')[1]?.trim().split(/\s+/).slice(0, 2)).toEqual(['books', 'Succeeded']);
    const wide = await kn(['get', 'milvusmigrations', '-o', 'wide']);
    const describe = await kn(['describe', 'milvusmigration', 'books']);
    console.log(
      `[e2e] kubectl get milvusmigrations -o wide\n${wide}\n[e2e] kubectl describe milvusmigration books\n${describe}`,
    );
    expect(describe).toMatch(/JobCreated/);
    expect(describe).toMatch(/Succeeded/);
    // The source password goes to a plain host:port: warned of, not refused.
    expect(obj.status?.conditions?.find((c) => c.type === 'TransportSecure')).toMatchObject({
      status: 'False',
      reason: 'CredentialsWithoutTLS',
    });
    expect(describe).toMatch(/CredentialsWithoutTLS/);
    // Ownership is recorded in status (only the controller writes it), not in an annotation.
    expect((obj.status as { ownedTargets?: string[] }).ownedTargets).toEqual([PARTITION_KEY.name]);
    expect(obj.metadata.finalizers).toContain('migration.milvus.io/cleanup');
  }, 300_000);

  it('collection patterns: "*" with exclude is expanded once by the controller and kept; createDatabase makes the target database', async () => {
    await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
    await kn(
      ['apply', '-f', '-'],
      migration('patterns', {
        source: { endpoint: `${HOST_IP}:${src!.port}`, secretRef: { name: 'src-milvus' } },
        target: { endpoint: `${HOST_IP}:${dst!.port}`, database: 'patterns_db', createDatabase: true },
        collections: [{ name: '*', exclude: [KILLABLE.name] }],
      }),
    );
    const obj = await waitForPhase('patterns', ['Succeeded', 'Failed'], 240_000);
    expect(obj.status?.phase, JSON.stringify(obj.status, null, 2)).toBe('Succeeded');
    const sel = obj.status!.collectionSelection!;
    expect(sel.names).toContain(PARTITION_KEY.name);
    expect(sel.names).not.toContain(KILLABLE.name);
    expect(obj.status!.collections!.map((c) => c.name)).toEqual(sel.names);
    expect(obj.status!.targetDatabase?.name).toBe('patterns_db');
    const inDb = admin(dst!.endpoint, { database: 'patterns_db' });
    try {
      expect(await inDb.count(PARTITION_KEY.name)).toBe(ROWS);
      // A collection created on the source now does not join: a re-run works on the recorded set.
      const srcAdmin = admin(src!.endpoint, { username: 'root', password: 'Milvus' });
      try {
        await createCollection(srcAdmin, { ...KILLABLE, name: 'late_arrival' });
        await indexAndLoad(srcAdmin, 'late_arrival', 'vec');
      } finally {
        srcAdmin.close();
      }
      await kn(['annotate', 'mmig', 'patterns', `${RERUN}=after-late-arrival`, '--overwrite']);
      const again = await waitForPhase(
        'patterns',
        ['Succeeded', 'Failed'],
        240_000,
        (o) => o.status?.lastRerun === 'after-late-arrival',
      );
      expect(again.status?.phase).toBe('Succeeded');
      expect(again.status!.collectionSelection).toEqual(sel);
      expect(await inDb.showCollections()).not.toContain('late_arrival');
    } finally {
      inDb.close();
    }
  }, 600_000);

  it('serves /metrics: reconciles, queue depth, migrations by phase, rows copied', async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const value = (line: string) =>
      Number(text.match(new RegExp(`^${line.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm'))?.[1]);
    expect(value('milvus_migrate_reconcile_total{result="success"}')).toBeGreaterThan(2);
    expect(value('milvus_migrate_reconcile_duration_seconds_count')).toBeGreaterThan(2);
    expect(value('milvus_migrate_workqueue_depth')).toBeGreaterThanOrEqual(0);
    expect(value('milvus_migrate_leader')).toBe(1);
    expect(value('milvus_migrate_migrations{phase="Succeeded"}')).toBeGreaterThanOrEqual(1);
    expect(value(`milvus_migrate_rows_copied{namespace="${NS}",name="books"}`)).toBe(ROWS);
    console.log(
      `[e2e] /metrics (excerpt)\n${text
        .split('\n')
        .filter((l) =>
          /^milvus_migrate_(reconcile_total|reconcile_errors|workqueue|leader|migrations|rows_)/.test(l),
        )
        .join('\n')}`,
    );
  });

  it('a wrong password ends Failed with a readable reason, the password nowhere', async () => {
    await kn(['apply', '-f', '-'], secret('bad-creds', { username: 'root', password: WRONG_PASSWORD }));
    await kn(
      ['apply', '-f', '-'],
      migration('badpw', {
        source: { endpoint: `${HOST_IP}:${src!.port}`, secretRef: { name: 'bad-creds' } },
        target: { endpoint: `${HOST_IP}:${dst!.port}` },
        collections: [{ name: PARTITION_KEY.name, targetName: 'pk_copy_2' }],
      }),
    );
    const obj = await waitForPhase('badpw', ['Failed', 'Succeeded'], 180_000);
    expect(obj.status?.phase).toBe('Failed');
    const stalled = obj.status?.conditions?.find((c) => c.type === 'Stalled');
    console.log(`[e2e] badpw: Stalled=${stalled?.status} reason=${stalled?.reason}: ${stalled?.message}`);
    expect(stalled).toMatchObject({ status: 'True' });
    expect(stalled?.reason).toMatch(/^[A-Z][A-Za-z]+$/);
    expect(`${stalled?.reason} ${stalled?.message}`).toMatch(/auth|password|credential/i);
    const events = await kn(['get', 'events', '-o', 'json']);
    const podLog = await kn(['logs', 'job/badpw-copy', '--tail=-1']);
    const describe = await kn(['describe', 'milvusmigration', 'badpw']);
    console.log(
      `[e2e] kubectl describe milvusmigration badpw (events)\n${describe.slice(describe.indexOf('Events:'))}`,
    );
    for (const [what, text] of [
      ['status', JSON.stringify(obj.status)],
      ['events', events],
      ['pod log', podLog],
      ['describe', describe],
      ['controller log', controllerLog],
    ] as const) {
      expect(text.includes(WRONG_PASSWORD), `the password appears in the ${what}`).toBe(false);
    }
  }, 240_000);

  it('re-run: the Failed migration, its Secret fixed and the rerun annotation set, ends Succeeded', async () => {
    const before = await getMigration('badpw');
    expect(before.status?.phase).toBe('Failed');
    await kn(['apply', '-f', '-'], secret('bad-creds', { username: 'root', password: 'Milvus' }));
    // Fixing the Secret alone changes nothing: Failed is final for its generation.
    await sleep(3000);
    expect((await getMigration('badpw')).status?.phase).toBe('Failed');
    await kn(['annotate', 'mmig', 'badpw', `${RERUN}=fixed-secret`, '--overwrite']);
    const obj = await waitForPhase(
      'badpw',
      ['Succeeded'],
      240_000,
      (o) => o.status?.lastRerun === 'fixed-secret',
    );
    expect(obj.metadata.generation).toBe(before.metadata.generation);
    expect(obj.status?.collections?.[0]).toMatchObject({ targetName: 'pk_copy_2', targetEntities: ROWS });
    expect(await dstAdmin!.count('pk_copy_2')).toBe(ROWS);
    expect(await kn(['describe', 'mmig', 'badpw'])).toMatch(/Rerun/);
    // The same value again does not start another Job.
    await kn(['annotate', 'mmig', 'badpw', `${RERUN}=fixed-secret`, '--overwrite']);
    await sleep(3000);
    expect((await getMigration('badpw')).status?.phase).toBe('Succeeded');
  }, 300_000);

  it('refuses a Secret from another namespace with a reason that says what to do', async () => {
    await kn(
      ['apply', '-f', '-'],
      migration('foreign', {
        source: { ...srcSpec(), secretRef: { name: 'src-milvus', namespace: 'kube-system' } },
        target: dstSpec(),
        collections: [{ name: PARTITION_KEY.name, targetName: 'pk_foreign' }],
      }),
    );
    // The field is kept by the API server (not pruned), so the controller sees and refuses it.
    expect(await kn(['get', 'mmig', 'foreign', '-o', 'jsonpath={.spec.source.secretRef.namespace}'])).toBe(
      'kube-system',
    );
    const obj = await waitForPhase('foreign', ['Failed', 'Succeeded', 'Running'], 60_000);
    expect(obj.status?.phase).toBe('Failed');
    const stalled = obj.status?.conditions?.find((c) => c.type === 'Stalled');
    console.log(`[e2e] foreign: Stalled=${stalled?.status} ${stalled?.reason}: ${stalled?.message}`);
    expect(stalled).toMatchObject({ status: 'True', reason: 'CrossNamespaceSecret' });
    expect(stalled?.message).toMatch(/Copy the Secret into namespace/);
    expect((await kubectl(['-n', NS, 'get', 'job', 'foreign-copy'])).code).not.toBe(0);
    expect(await dstAdmin!.showCollections()).not.toContain('pk_foreign');
  }, 120_000);

  it('spec.sync: Syncing with passes while the source is written to, then cutover: true; Succeeded, target == source (differ)', async () => {
    const SYNCED: CollectionDef = {
      name: 'synced',
      fields: [
        { name: 'id', type: 'Int64', primary: true },
        { name: 'vec', type: 'FloatVector', dim: 8 },
        { name: 'updated_at', type: 'Int64' },
      ],
    };
    const srcAdmin = admin(src!.endpoint, { username: 'root', password: 'Milvus' });
    const r = rng(23);
    let stamp = 1_000_000n;
    const rowsOf = (ids: number[]) =>
      ids.map((id) => ({ id: BigInt(id), vec: vector(r, 8), updated_at: ++stamp }));
    const churn = async (fresh: number[], gone: number[], updated: number[]) => {
      await insertRows(srcAdmin, SYNCED, rowsOf(fresh));
      await srcAdmin.deleteKeys(SYNCED.name, `id in [${gone.join(',')}]`);
      const rows = rowsOf(updated);
      await srcAdmin.upsert({
        collection_name: SYNCED.name,
        fields_data: columns(SYNCED, rows),
        num_rows: rows.length,
      });
    };
    const ids = (a: number, n: number) => Array.from({ length: n }, (_v, i) => a + i);
    try {
      await createCollection(srcAdmin, SYNCED);
      await insertRows(srcAdmin, SYNCED, rowsOf(ids(0, 1500)));
      await indexAndLoad(srcAdmin, SYNCED.name, 'vec');
      await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
      const spec = (cutover: boolean) => ({
        source: srcSpec(),
        target: dstSpec(),
        collections: [{ name: SYNCED.name }],
        verify: 'full',
        sync: { interval: '8s', changedField: 'updated_at', cutover },
      });
      await kn(['apply', '-f', '-'], migration('synced', spec(false)));
      // Written while the bulk copy runs (or right after it).
      await churn(ids(10_000, 20), ids(0, 10), ids(100, 15));
      const first = await waitForPhase(
        'synced',
        ['Syncing', 'Failed'],
        240_000,
        (o) => (o.status?.sync?.passes ?? 0) >= 1,
      );
      expect(first.status?.phase, JSON.stringify(first.status, null, 2)).toBe('Syncing');
      // Between passes.
      await churn(ids(20_000, 20), ids(200, 10), ids(300, 15));
      const passes = first.status!.sync!.passes;
      const later = await waitForPhase(
        'synced',
        ['Syncing'],
        120_000,
        (o) => (o.status?.sync?.passes ?? 0) >= passes + 2,
      );
      const cs = later.status!.collections![0]!;
      expect(cs.phase).toBe('Syncing');
      expect(cs.sync?.watermark).toBeDefined();
      const table = await kn(['get', 'milvusmigration', 'synced']);
      console.log(`[e2e] kubectl get milvusmigration synced (Syncing)\n${table}`);
      expect(table.split('\n')[0]).toMatch(/PHASE\s+PROGRESS\s+ROWS\s+LAG\s+AGE/);
      expect(table.split('\n')[1]).toMatch(/Syncing/);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(
        new RegExp(`milvus_migrate_sync_passes\\{namespace="${NS}",name="synced"\\} [1-9]`),
      );
      expect(metrics).toMatch(
        new RegExp(`milvus_migrate_sync_lag_seconds\\{namespace="${NS}",name="synced"\\} \\d`),
      );

      // The application's last writes; then it stops and the cutover is asked for.
      await churn(ids(30_000, 20), ids(400, 10), ids(500, 15));
      await kn([
        'patch',
        'milvusmigration',
        'synced',
        '--type',
        'merge',
        '-p',
        '{"spec":{"sync":{"cutover":true}}}',
      ]);
      const done = await waitForPhase('synced', ['Succeeded', 'Failed'], 240_000);
      expect(done.status?.phase, JSON.stringify(done.status, null, 2)).toBe('Succeeded');
      // The controller records the Job's verdict (reason Succeeded); the pod's was CutOver.
      expect(done.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(done.status?.collections?.[0]?.message).toMatch(/^cut over: counts match/);
      expect(done.status?.sync?.cutoverSeconds).toBeGreaterThan(0);
      console.log(
        `[e2e] synced: cutover ${JSON.stringify(done.status?.sync)}; last pass ${JSON.stringify(done.status?.collections?.[0]?.sync)}`,
      );
      const d = await diffCollection({
        source: { endpoint: src!.endpoint, kind: 'milvus-2.3.5', username: 'root', password: 'Milvus' },
        target: { endpoint: dst!.endpoint, kind: 'milvus-2.3.5' },
        sourceName: SYNCED.name,
        targetName: SYNCED.name,
        regeneratedKeys: false,
        warnings: done.status?.collections?.[0]?.warnings ?? [],
      });
      expect(d.differences).toEqual([]);
      expect(d.sourceRows).toBe(1500 + 60 - 30);
      expect(d.targetRows).toBe(d.sourceRows);
    } finally {
      srcAdmin.close();
    }
  }, 600_000);

  it('a copy pod killed mid-run is replaced; Succeeded with every row exactly once', async () => {
    const t0 = Date.now();
    await kn(
      ['apply', '-f', '-'],
      migration('podkill', {
        source: srcSpec(),
        target: dstSpec(),
        collections: [{ name: KILLABLE.name, targetName: 'kill_pod' }],
      }),
    );
    await waitUntilMidCopy('podkill', 'kill_pod');
    const pods = await kn([
      'get',
      'pods',
      '-l',
      'job-name=podkill-copy',
      '-o',
      'jsonpath={.items[*].metadata.name}',
    ]);
    const victim = pods.trim().split(/\s+/)[0]!;
    await kn(['delete', 'pod', victim, '--force', '--grace-period=0']);
    const partial = await targetRows('kill_pod');
    console.log(`[e2e] podkill: deleted pod ${victim} with ${partial} rows on the target`);
    const obj = await waitForPhase('podkill', ['Succeeded', 'Failed'], 300_000);
    expect(obj.status?.phase, JSON.stringify(obj.status, null, 2)).toBe('Succeeded');
    const after = (
      await kn(['get', 'pods', '-l', 'job-name=podkill-copy', '-o', 'jsonpath={.items[*].metadata.name}'])
    )
      .trim()
      .split(/\s+/);
    expect(after).not.toContain(victim);
    expect(after.length).toBeGreaterThanOrEqual(1);
    await expectExactlyOnce('kill_pod');
    expect(obj.status?.collections?.[0]?.targetEntities).toBe(KILL_ROWS);
    console.log(`[e2e] podkill: ${(Date.now() - t0) / 1000} s in all`);
  }, 400_000);

  it("a copy pod's network to the target cut mid-copy through a real fault proxy (replies lost after Inserts were sent, then the target away for 40 s): Succeeded, every key once", async () => {
    // Toxiproxy between the copy pod and the target, listening on every interface: pods reach it
    // at the node IP like the test servers.
    const toxi = await startToxiproxy({ listenHost: '0.0.0.0' });
    try {
      const port = (await toxi.proxy('netcut', dst!.endpoint)).split(':')[1];
      await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
      await kn(
        ['apply', '-f', '-'],
        migration('netcut', {
          source: srcSpec(),
          target: { endpoint: `${HOST_IP}:${port}` },
          collections: [{ name: KILLABLE.name, targetName: 'net_cut' }],
        }),
      );
      const before = await waitUntilMidCopy('netcut', 'net_cut');
      // 1. Replies lost: the target got each Insert, its answer never reaches the pod (the
      //    ambiguous write: only a lookup of the page's keys can tell whether it landed).
      await toxi.add('netcut', 'lost', {
        type: 'reset_peer',
        stream: 'downstream',
        attributes: { timeout: 0 },
      });
      await sleep(3000);
      await toxi.remove('netcut', 'lost');
      const between = await targetRows('net_cut');
      // 2. The target away (connections closed, new ones refused) for longer than a pod's own
      //    retries: the pod either waits it out or fails and its replacement resumes.
      await toxi.enable('netcut', false);
      await sleep(40_000);
      await toxi.enable('netcut', true);
      console.log(`[e2e] netcut: faults put in at ${before} rows, the target away from ${between} rows`);
      const obj = await waitForPhase('netcut', ['Succeeded', 'Failed'], 400_000);
      expect(obj.status?.phase, JSON.stringify(obj.status, null, 2)).toBe('Succeeded');
      await expectExactlyOnce('net_cut');
      expect(obj.status?.collections?.[0]?.targetEntities).toBe(KILL_ROWS);
      // The faults reached the copy: its pods logged failed calls (a retry, a lookup after an
      // ambiguous Insert, a wait for the server) or a pod failed and was replaced.
      const pods = (
        await kn(['get', 'pods', '-l', 'job-name=netcut-copy', '-o', 'jsonpath={.items[*].metadata.name}'])
      )
        .trim()
        .split(/\s+/)
        .filter(Boolean);
      let logs = '';
      for (const p of pods) logs += (await kubectl(['-n', NS, 'logs', p, '--tail=-1'])).stdout;
      const seen = logs
        .split('\n')
        .filter((l) => /: retrying"|: trying again"|insert failed after it was sent|could not reach/.test(l));
      const lookups = seen.filter((l) => l.includes('insert failed after it was sent'));
      const landed = lookups.reduce((n, l) => n + Number(/"landed":(\d+)/.exec(l)?.[1] ?? 0), 0);
      console.log(
        `[e2e] netcut: ${pods.length} copy pod(s); ${seen.length} failed calls logged, ${lookups.length} Inserts looked up after a lost reply (${landed} rows had landed, not written again), e.g.\n${seen.slice(0, 3).join('\n')}`,
      );
      expect(
        pods.length > 1 || seen.length > 0,
        `no sign of the faults in the copy pods' logs:\n${logs.slice(-3000)}`,
      ).toBe(true);
    } finally {
      await toxi.stop();
    }
  }, 600_000);

  /** Shard pods (job-completion-index → pod names) of a sharded run's copy Jobs, seen while it runs. */
  function watchShardPods(name: string): { seen: Map<string, Set<string>>; stop(): void } {
    const seen = new Map<string, Set<string>>();
    let on = true;
    (async () => {
      while (on) {
        const r = await kubectl([
          '-n',
          NS,
          'get',
          'pods',
          '-l',
          `job-name=${name}-copy`,
          '-o',
          'jsonpath={range .items[*]}{.metadata.labels.batch\\.kubernetes\\.io/job-completion-index} {.metadata.name}{"\\n"}{end}',
        ]);
        for (const line of r.stdout.split('\n').filter(Boolean)) {
          const [i, pod] = line.trim().split(' ');
          if (i && pod) seen.set(i, (seen.get(i) ?? new Set()).add(pod));
        }
        await sleep(1000);
      }
    })().catch(() => undefined);
    return { seen, stop: () => (on = false) };
  }

  /** The status a parallelism-1 run also ends with: phase, counts, conditions, generation. */
  function expectFinalStatus(obj: Obj): void {
    expect(obj.status?.phase, JSON.stringify(obj.status, null, 2)).toBe('Succeeded');
    expect(obj.status?.observedGeneration).toBe(obj.metadata.generation);
    expect(obj.status).toMatchObject({
      progress: '100%',
      rows: `${KILL_ROWS}/${KILL_ROWS}`,
      collectionsDone: '1/1',
    });
    expect(obj.status?.collections?.[0]).toMatchObject({
      phase: 'Succeeded',
      sourceEntities: KILL_ROWS,
      targetEntities: KILL_ROWS,
      copiedEntities: KILL_ROWS,
    });
    expect(obj.status?.collections?.[0]?.message).toMatch(/^verified: counts match/);
    expect(obj.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'True',
      reason: 'Succeeded',
    });
    expect((obj.status as Record<string, unknown>).shardPlan).toBeUndefined();
  }

  it('parallelism 3: a plan Job, one copy pod per shard (Indexed Job), a finalize Job; Succeeded, every key once', async () => {
    const t0 = Date.now();
    // Also when run alone (-t parallelism): the Secret the first test makes.
    await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
    const pods = watchShardPods('sharded');
    await kn(
      ['apply', '-f', '-'],
      migration('sharded', {
        source: srcSpec(),
        target: dstSpec(),
        parallelism: 3,
        collections: [{ name: KILLABLE.name, targetName: 'kill_sharded' }],
      }),
    );
    let obj: Obj;
    try {
      obj = await waitForPhase('sharded', ['Succeeded', 'Failed'], 300_000);
    } finally {
      pods.stop();
    }
    expectFinalStatus(obj);
    await expectExactlyOnce('kill_sharded');
    console.log(
      `[e2e] sharded: shard pods seen ${JSON.stringify([...pods.seen].map(([i, p]) => [i, [...p]]))}`,
    );
    expect([...pods.seen.keys()].sort()).toEqual(['0', '1', '2']);
    const describe = await kn(['describe', 'milvusmigration', 'sharded']);
    expect(describe).toMatch(/ShardsStarted.*3 shard pods/);
    expect(describe).not.toMatch(/ShardFailed/);
    // The plan and copy Jobs went when their stage was done; the finalize Job stays like a copy Job.
    expect((await kubectl(['-n', NS, 'get', 'job', 'sharded-plan'])).code).not.toBe(0);
    expect(await kn(['get', 'job', 'sharded-finalize', '-o', 'jsonpath={.status.succeeded}'])).toBe('1');
    console.log(`[e2e] sharded: ${(Date.now() - t0) / 1000} s in all\n${describe}`);
  }, 400_000);

  it('parallelism 3, a shard pod force-deleted mid-copy: only its shard is resumed; Succeeded, every key once', async () => {
    const t0 = Date.now();
    await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
    await kn(
      ['apply', '-f', '-'],
      migration('shardkill', {
        source: srcSpec(),
        target: dstSpec(),
        parallelism: 3,
        collections: [{ name: KILLABLE.name, targetName: 'kill_shard' }],
      }),
    );
    await waitUntilMidCopy('shardkill', 'kill_shard', 180_000);
    const victim = (
      await kn([
        'get',
        'pods',
        '-l',
        'job-name=shardkill-copy,batch.kubernetes.io/job-completion-index=1',
        '-o',
        'jsonpath={.items[*].metadata.name}',
      ])
    ).trim();
    expect(victim).not.toBe('');
    await kn(['delete', 'pod', victim, '--force', '--grace-period=0']);
    console.log(
      `[e2e] shardkill: deleted shard pod ${victim} with ${await targetRows('kill_shard')} rows on the target`,
    );
    const obj = await waitForPhase('shardkill', ['Succeeded', 'Failed'], 300_000);
    expectFinalStatus(obj);
    await expectExactlyOnce('kill_shard');
    const events = await kn([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=shardkill',
      '-o',
      'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}',
    ]);
    console.log(`[e2e] shardkill: ${(Date.now() - t0) / 1000} s in all; events:\n${events}`);
    expect(events).toMatch(/ShardFailed: shard 1 stopped before finishing/);
    expect(events).toMatch(/ShardsResumed: copy attempt 2: resuming shard 1 .*shards 0,2 are complete/);
  }, 400_000);

  it('parallelism 3, suspended mid-copy: every Job stops; resumed, it plans again and ends Succeeded, every key once', async () => {
    const t0 = Date.now();
    await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
    await kn(
      ['apply', '-f', '-'],
      migration('shardpause', {
        source: srcSpec(),
        target: dstSpec(),
        parallelism: 3,
        collections: [{ name: KILLABLE.name, targetName: 'kill_shardpause' }],
      }),
    );
    await waitUntilMidCopy('shardpause', 'kill_shardpause', 180_000);
    await kn(['patch', 'mmig', 'shardpause', '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    const canceled = await waitForPhase('shardpause', ['Canceled'], 60_000);
    expect((canceled.status as Record<string, unknown>).shardPlan).toBeUndefined();
    const g0 = Date.now();
    for (;;) {
      const left = await kn(['get', 'jobs', '-l', 'migration.milvus.io/name=shardpause', '-o', 'name']);
      if (!left.trim()) break;
      if (Date.now() - g0 > 60_000) throw new Error(`Jobs still there 60 s after the suspend: ${left}`);
      await sleep(500);
    }
    const gone = (Date.now() - g0) / 1000;
    const partial = await targetRows('kill_shardpause');
    console.log(`[e2e] shardpause: every Job gone ${gone} s after Canceled, ${partial} rows on the target`);
    expect(partial).toBeLessThan(KILL_ROWS);
    await kn(['patch', 'mmig', 'shardpause', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    const obj = await waitForPhase('shardpause', ['Succeeded', 'Failed'], 300_000);
    expectFinalStatus(obj);
    await expectExactlyOnce('kill_shardpause');
    console.log(`[e2e] shardpause: ${(Date.now() - t0) / 1000} s in all`);
  }, 400_000);

  it('delete: DropIncomplete drops the partly written target, Retain keeps it; the Jobs stop', async () => {
    const t0 = Date.now();
    for (const [name, policy, target] of [
      ['del-drop', 'DropIncomplete', 'kill_drop'],
      ['del-keep', 'Retain', 'kill_keep'],
    ] as const)
      await kn(
        ['apply', '-f', '-'],
        migration(name, {
          source: srcSpec(),
          target: dstSpec(),
          collections: [{ name: KILLABLE.name, targetName: target }],
          deletionPolicy: policy,
        }),
      );
    await Promise.all([waitUntilMidCopy('del-drop', 'kill_drop'), waitUntilMidCopy('del-keep', 'kill_keep')]);
    await kn(['delete', 'mmig', 'del-drop', 'del-keep', '--wait=false']);
    const [dropSecs, keepSecs] = await Promise.all([
      waitGone(['mmig', 'del-drop'], 150_000),
      waitGone(['mmig', 'del-keep'], 150_000),
    ]);
    console.log(`[e2e] delete: del-drop gone after ${dropSecs} s, del-keep after ${keepSecs} s`);
    await waitGone(['job', 'del-drop-copy'], 60_000);
    await waitGone(['job', 'del-keep-copy'], 60_000);
    const collections = await dstAdmin!.showCollections();
    expect(collections).not.toContain('kill_drop');
    expect(collections).toContain('kill_keep');
    const kept = await targetRows('kill_keep');
    console.log(`[e2e] delete: kill_keep kept with ${kept}/${KILL_ROWS} rows; kill_drop dropped`);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(KILL_ROWS);
    const events = await kn([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=del-drop,reason=TargetsDropped',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    expect(events).toContain('"kill_drop"');
    // The source is read-only to us: still all there.
    const srcAdmin = admin(src!.endpoint, { username: 'root', password: 'Milvus' });
    expect(await srcAdmin.count(KILLABLE.name)).toBe(KILL_ROWS);
    srcAdmin.close();
    console.log(`[e2e] delete: ${(Date.now() - t0) / 1000} s in all`);
  }, 400_000);

  it('a forged owned-targets annotation drops nothing: DropIncomplete leaves a collection it did not create', async () => {
    // "prod" existed on the target before; the migration never owned it.
    await createCollection(dstAdmin!, { ...KILLABLE, name: 'prod' });
    await kn(
      ['apply', '-f', '-'],
      migration('forge', {
        source: srcSpec(),
        target: dstSpec(),
        collections: [{ name: PARTITION_KEY.name, targetName: 'forge_copy' }],
      }),
    );
    const obj = await waitForPhase('forge', ['Succeeded', 'Failed'], 240_000);
    expect(obj.status?.phase, JSON.stringify(obj.status?.errors)).toBe('Succeeded');
    await kn([
      'annotate',
      'mmig',
      'forge',
      `migration.milvus.io/owned-targets=${JSON.stringify(['prod', 'forge_copy'])}`,
      '--overwrite',
    ]);
    await kn([
      'patch',
      'mmig',
      'forge',
      '--type',
      'merge',
      '-p',
      '{"spec":{"deletionPolicy":"DropIncomplete"}}',
    ]);
    await kn(['delete', 'mmig', 'forge', '--wait=false']);
    await waitGone(['mmig', 'forge'], 150_000);
    const left = await dstAdmin!.showCollections();
    expect(left).toContain('prod');
    // Verified complete: never dropped either.
    expect(left).toContain('forge_copy');
    expect(await dstAdmin!.count('forge_copy')).toBe(ROWS);
  }, 400_000);

  it('two MilvusMigrations for one target collection, applied in one file: the second is refused naming the first; every row once', async () => {
    await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
    const spec = {
      source: srcSpec(),
      target: dstSpec(),
      collections: [{ name: KILLABLE.name, targetName: 'kill_claimed' }],
    };
    const both = {
      apiVersion: 'v1',
      kind: 'List',
      items: [JSON.parse(migration('claim-a', spec)), JSON.parse(migration('claim-b', spec))],
    };
    await kn(['apply', '-f', '-'], JSON.stringify(both));
    const isRefused = (o: Obj) =>
      o.status?.conditions?.some((c) => c.type === 'Stalled' && c.reason === 'TargetClaimed') === true;
    // One of them is refused before it creates anything; the other copies.
    let refused: string | undefined;
    const t0 = Date.now();
    while (!refused) {
      for (const n of ['claim-a', 'claim-b']) if (isRefused(await getMigration(n))) refused = n;
      if (Date.now() - t0 > 60_000) throw new Error(`neither was refused:\n${controllerLog.slice(-4000)}`);
      await sleep(500);
    }
    const winner = refused === 'claim-a' ? 'claim-b' : 'claim-a';
    const won = await waitForPhase(winner, ['Succeeded', 'Failed'], 300_000);
    expectFinalStatus(won);
    await expectExactlyOnce('kill_claimed');
    const lost = await getMigration(refused);
    console.log(`[e2e] claim: ${winner} copied, ${refused} refused after ${(Date.now() - t0) / 1000} s`);
    expect(lost.status?.phase).toBe('Failed');
    const stalled = lost.status?.conditions?.find((c) => c.type === 'Stalled');
    expect(stalled?.reason).toBe('TargetClaimed');
    expect(stalled?.message).toContain(`claimed by MilvusMigration "${NS}/${winner}"`);
    // The refused one never made a Job and never wrote.
    expect((await kubectl(['-n', NS, 'get', 'job', `${refused}-copy`])).code).not.toBe(0);
    const events = await kn([
      'get',
      'events',
      '--field-selector',
      `involvedObject.name=${refused},reason=TargetClaimed`,
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    expect(events).toContain(`"${NS}/${winner}"`);
    // The claim is a Lease in the controller's namespace naming the winner.
    const leases = JSON.parse(
      await kn(['get', 'leases', '-l', 'migration.milvus.io/claim', '-o', 'json']),
    ) as { items: { metadata: { annotations: Record<string, string> } }[] };
    const mine = leases.items.filter((l) =>
      l.metadata.annotations['migration.milvus.io/target']?.endsWith('/default/kill_claimed'),
    );
    expect(mine.map((l) => l.metadata.annotations['migration.milvus.io/holder'])).toEqual([
      `${NS}/${winner}`,
    ]);
    // The winner deleted (Retain): its claim is released and the refused one goes on by itself —
    // to a plan that refuses the collection the winner created. Nothing is written twice.
    await kn(['delete', 'mmig', winner, '--wait=true', '--timeout=120s']);
    const after = await waitForPhase(refused, ['Failed', 'Succeeded'], 120_000, (o) => !isRefused(o));
    console.log(
      `[e2e] claim: after ${winner} was deleted, ${refused}: ${after.status?.conditions?.find((c) => c.type === 'Stalled')?.reason}`,
    );
    expect(after.status?.phase).toBe('Failed');
    await expectExactlyOnce('kill_claimed');
    await kn(['delete', 'mmig', refused, '--wait=true', '--timeout=120s']);
  }, 600_000);

  it('deletion during a re-run drops nothing verified (DropIncomplete, status.verifiedTargets)', async () => {
    await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
    await kn(
      ['apply', '-f', '-'],
      migration('rerun-del', {
        source: srcSpec(),
        target: dstSpec(),
        collections: [{ name: KILLABLE.name, targetName: 'kill_rerundel' }],
        deletionPolicy: 'DropIncomplete',
      }),
    );
    const done = await waitForPhase('rerun-del', ['Succeeded', 'Failed'], 300_000);
    expectFinalStatus(done);
    expect((done.status as { verifiedTargets?: string[] }).verifiedTargets).toEqual(['kill_rerundel']);
    await kn(['annotate', 'mmig', 'rerun-del', `${RERUN}=${Date.now()}`, '--overwrite']);
    // The re-run under way: the status no longer says Succeeded for the collection.
    const mid = await waitForPhase(
      'rerun-del',
      ['Pending', 'Running'],
      120_000,
      (o) => o.status?.collections?.[0]?.phase !== 'Succeeded',
    );
    console.log(
      `[e2e] rerun-del: deleting while ${mid.status?.phase}, collection ${mid.status?.collections?.[0]?.phase}`,
    );
    await kn(['delete', 'mmig', 'rerun-del', '--wait=false']);
    await waitGone(['mmig', 'rerun-del'], 150_000);
    expect(await dstAdmin!.showCollections()).toContain('kill_rerundel');
    await expectExactlyOnce('kill_rerundel');
    const events = await kn([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=rerun-del,reason=TargetsDropped',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    expect(events).not.toContain('kill_rerundel');
  }, 600_000);

  it('spec.verify changed mid-run: the run restarts for the new generation; no status answers for generation 2 before its run ends', async () => {
    await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
    await kn(
      ['apply', '-f', '-'],
      migration('regen', {
        source: srcSpec(),
        target: dstSpec(),
        collections: [{ name: KILLABLE.name, targetName: 'kill_regen' }],
        verify: 'sample',
      }),
    );
    await waitUntilMidCopy('regen', 'kill_regen');
    const jobGen = async () => {
      const r = await kubectl(['-n', NS, 'get', 'job', 'regen-copy', '-o', 'json']);
      if (r.code !== 0) return undefined;
      const j = JSON.parse(r.stdout) as {
        metadata: { annotations?: Record<string, string> };
        spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
      };
      const env = j.spec.template.spec.containers[0]!.env.find((e) => e.name === 'MM_MIGRATION')!.value!;
      return {
        generation: Number(j.metadata.annotations?.['migration.milvus.io/generation']),
        verify: (JSON.parse(env) as { spec: { verify: string } }).spec.verify,
      };
    };
    expect(await jobGen()).toEqual({ generation: 1, verify: 'sample' });
    await kn(['patch', 'mmig', 'regen', '--type', 'merge', '-p', '{"spec":{"verify":"full"}}']);
    // Until it ends, every status seen: Ready=True or kstatus Current never for generation 2 made
    // from the sample run.
    const seen: string[] = [];
    const t0 = Date.now();
    let last: Obj;
    for (;;) {
      const raw = JSON.parse(await kn(['get', 'mmig', 'regen', '-o', 'json']));
      last = raw as Obj;
      const j = await jobGen();
      const ready = last.status?.conditions?.find((c) => c.type === 'Ready')?.status;
      const [ks] = kstatus([raw]);
      const line = `${last.status?.phase} og=${last.status?.observedGeneration} ready=${ready} kstatus=${ks?.status} job=${j ? `${j.generation}/${j.verify}` : '-'}`;
      if (seen[seen.length - 1] !== line) seen.push(line);
      if (ks?.status === 'Current' || ready === 'True') {
        // Only from a run of generation 2 (verify full).
        expect(j, seen.join('\n')).toEqual({ generation: 2, verify: 'full' });
        expect(last.status?.observedGeneration).toBe(2);
      }
      if (last.status?.phase === 'Succeeded' || last.status?.phase === 'Failed') break;
      if (Date.now() - t0 > 300_000) throw new Error(`regen did not end:\n${seen.join('\n')}`);
      await sleep(1000);
    }
    console.log(`[e2e] regen: ${seen.join('\n  ')}`);
    expectFinalStatus(last);
    expect(last.metadata.generation).toBe(2);
    expect(await jobGen()).toEqual({ generation: 2, verify: 'full' });
    await expectExactlyOnce('kill_regen');
    const events = await kn([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=regen,reason=SpecChanged',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    expect(events).toContain('generation 2');
  }, 600_000);

  it('progress: the whole total before the first row, never above the rows on the target, never falling when a killed pod resumes, 100 % at Succeeded (duplicate keys and 2^63-1 accounted)', async () => {
    await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
    const srcAdmin = admin(src!.endpoint, { username: 'root', password: 'Milvus' });
    if (!(await srcAdmin.showCollections()).includes(INT64_EXTREME.name))
      await seedInt64Extreme(srcAdmin, 300);
    const extremeCount = await srcAdmin.count(INT64_EXTREME.name);
    srcAdmin.close();
    // The target through a real fault proxy: once rows arrive, each reply is held back so that the
    // copy crawls until the status shows progress and the pod is killed, whatever the status lag on
    // a loaded machine (CI saw Pending 0 % until 1,761 of 2,300 rows were copied).
    const toxi = await startToxiproxy({ listenHost: '0.0.0.0' });
    const proxyPort = (await toxi.proxy('progress', dst!.endpoint)).split(':')[1];
    let slowed = false;
    await kn(
      ['apply', '-f', '-'],
      migration('progress', {
        source: srcSpec(),
        target: { endpoint: `${HOST_IP}:${proxyPort}` },
        verify: 'count',
        collections: [
          { name: KILLABLE.name, targetName: 'kill_progress' },
          { name: INT64_EXTREME.name, targetName: 'extreme_progress' },
        ],
      }),
    );
    /** Rows on the target as of now: flushed, and read once the flush is complete. */
    const rowsNow = async (name: string): Promise<number> => {
      if (!(await dstAdmin!.showCollections()).includes(name)) return 0;
      const f = await dstAdmin!.call<{ coll_flush_ts?: Record<string, string> }>('Flush', {
        db_name: 'default',
        collection_names: [name],
      });
      for (let i = 0; i < 40; i++) {
        const st = await dstAdmin!.call<{ flushed?: boolean }>('GetFlushState', {
          flush_ts: f.coll_flush_ts?.[name],
          db_name: 'default',
          collection_name: name,
        });
        if (st.flushed) break;
        await sleep(250);
      }
      const r = await dstAdmin!.call<{ stats: { key: string; value: string }[] }>('GetCollectionStatistics', {
        db_name: 'default',
        collection_name: name,
      });
      return Number(r.stats.find((kv) => kv.key === 'row_count')?.value ?? 0);
    };
    const toCopy = KILL_ROWS + extremeCount - 6; // 5 duplicate keys fold into one row each, 2^63-1 unreadable
    const samples: string[] = [];
    let lastPct = 0;
    let killed = '';
    const t0 = Date.now();
    let obj: Obj;
    try {
      for (;;) {
        obj = await getMigration('progress');
        const s = obj.status;
        const pct = Number.parseInt(s?.progress ?? '0', 10);
        const copied = (s?.collections ?? []).reduce((n, c) => n + c.copiedEntities, 0);
        // Whenever a row is counted, the whole total is known.
        if (copied > 0)
          expect(
            s?.collections?.map((c) => c.sourceEntities),
            JSON.stringify(s?.collections),
          ).toEqual([KILL_ROWS, extremeCount]);
        // Read after the status: the target can only have more by now.
        const on = (await rowsNow('kill_progress')) + (await rowsNow('extreme_progress'));
        const share = Math.floor((on * 100) / toCopy);
        samples.push(
          `${((Date.now() - t0) / 1000).toFixed(1)}s ${s?.phase} ${s?.progress} rows=${s?.rows} target=${on} (${share}%)`,
        );
        expect(pct, samples.join('\n')).toBeLessThanOrEqual(share);
        expect(pct, samples.join('\n')).toBeGreaterThanOrEqual(lastPct);
        lastPct = pct;
        if (!killed && !slowed && on > 0) {
          await toxi.add('progress', 'slow', {
            type: 'latency',
            stream: 'downstream',
            attributes: { latency: 1500 },
          });
          slowed = true;
          samples.push('-- target replies delayed 1.5 s');
        }
        // Killed once the status shows progress, so that the replacement pod's reports must not lower it.
        if (!killed && pct >= 5 && on < toCopy - 300) {
          const pods = await kn([
            'get',
            'pods',
            '-l',
            'job-name=progress-copy',
            '-o',
            'jsonpath={.items[*].metadata.name}',
          ]);
          killed = pods.trim().split(/\s+/)[0] ?? '';
          if (killed) {
            await kn(['delete', 'pod', killed, '--force', '--grace-period=0']);
            await toxi.remove('progress', 'slow');
            samples.push(`-- killed ${killed}; target replies at full speed again`);
          }
        }
        if (s?.phase === 'Succeeded' || s?.phase === 'Failed') break;
        if (Date.now() - t0 > 300_000) throw new Error(`progress did not end:\n${samples.join('\n')}`);
        await sleep(500);
      }
    } finally {
      await toxi.stop();
    }
    console.log(`[e2e] progress:\n  ${samples.join('\n  ')}`);
    expect(killed, 'the copy pod was killed mid-copy').not.toBe('');
    expect(obj.status?.phase, JSON.stringify(obj.status, null, 2)).toBe('Succeeded');
    expect(obj.status).toMatchObject({
      progress: '100%',
      rows: `${toCopy}/${toCopy}`,
      collectionsDone: '2/2',
    });
    expect(obj.status?.collections?.[1]).toMatchObject({ foldedEntities: 6, sourceEntities: extremeCount });
    await expectExactlyOnce('kill_progress');
  }, 600_000);

  it('a Secret deleted mid-run: no Failed while the copy goes on, a Warning Event; a replacement pod waits for it instead of starting without credentials', async () => {
    await kn(['apply', '-f', '-'], secret('src-del', { username: 'root', password: 'Milvus' }));
    await kn(
      ['apply', '-f', '-'],
      migration('secretdel', {
        source: { ...srcSpec(), secretRef: { name: 'src-del' } },
        target: dstSpec(),
        collections: [{ name: KILLABLE.name, targetName: 'kill_secretdel' }],
      }),
    );
    await waitUntilMidCopy('secretdel', 'kill_secretdel');
    await kn(['delete', 'secret', 'src-del']);
    const phases: string[] = [];
    const note = (o: Obj) => {
      const c = o.status?.conditions?.find((x) => x.type === 'SecretsAvailable');
      const line = `${o.status?.phase} ${o.status?.progress ?? ''} SecretsAvailable=${c?.status ?? '-'}/${c?.reason ?? '-'}`;
      if (phases[phases.length - 1] !== line) phases.push(line);
      expect(o.status?.phase, phases.join('\n')).not.toBe('Failed');
    };
    // Reported while the pod copies on.
    const t0 = Date.now();
    for (;;) {
      const o = await getMigration('secretdel');
      note(o);
      if (o.status?.conditions?.some((c) => c.type === 'SecretsAvailable' && c.reason === 'SecretDeleted'))
        break;
      if (Date.now() - t0 > 60_000) throw new Error(`no SecretDeleted report:\n${phases.join('\n')}`);
      await sleep(1000);
    }
    // The pod dies now: its replacement must not start without the Secret.
    const pods = await kn([
      'get',
      'pods',
      '-l',
      'job-name=secretdel-copy',
      '-o',
      'jsonpath={.items[*].metadata.name}',
    ]);
    const victim = pods.trim().split(/\s+/)[0]!;
    await kn(['delete', 'pod', victim, '--force', '--grace-period=0']);
    let waiting = '';
    for (let i = 0; i < 60 && !waiting; i++) {
      const r = JSON.parse(await kn(['get', 'pods', '-l', 'job-name=secretdel-copy', '-o', 'json'])) as {
        items: {
          metadata: { name: string };
          status?: { containerStatuses?: { state?: { waiting?: { reason?: string } } }[] };
        }[];
      };
      const next = r.items.find((p) => p.metadata.name !== victim);
      waiting = next?.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? '';
      if (waiting && waiting !== 'CreateContainerConfigError') waiting = '';
      note(await getMigration('secretdel'));
      await sleep(1000);
    }
    console.log(`[e2e] secretdel: replacement pod waits with ${waiting}`);
    expect(waiting).toBe('CreateContainerConfigError');
    // Back: the waiting pod starts, resumes and the migration ends with every row once.
    await kn(['apply', '-f', '-'], secret('src-del', { username: 'root', password: 'Milvus' }));
    const t1 = Date.now();
    let done: Obj;
    for (;;) {
      done = await getMigration('secretdel');
      note(done);
      if (done.status?.phase === 'Succeeded') break;
      if (Date.now() - t1 > 300_000) throw new Error(`secretdel did not end:\n${phases.join('\n')}`);
      await sleep(2000);
    }
    console.log(`[e2e] secretdel: ${phases.join(' → ')}`);
    expectFinalStatus(done);
    expect(done.status?.conditions?.find((c) => c.type === 'SecretsAvailable')).toMatchObject({
      status: 'True',
      reason: 'SecretsFound',
    });
    await expectExactlyOnce('kill_secretdel');
    const events = await kn([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=secretdel,reason=SecretDeleted',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    expect(events).toContain('Secret "src-del" was deleted while the copy runs');
    expect(events).not.toContain('Milvus');
  }, 600_000);

  it('a deletion never hangs: target unreachable → the time box ends it, a Warning Event names what is left', async () => {
    const t0 = Date.now();
    const relay = await relayTo(dst!.port);
    await kn(
      ['apply', '-f', '-'],
      migration('unreachable', {
        source: srcSpec(),
        target: { endpoint: `${HOST_IP}:${relay.port}` },
        collections: [{ name: KILLABLE.name, targetName: 'kill_unreachable' }],
        deletionPolicy: 'DropIncomplete',
      }),
    );
    await waitUntilMidCopy('unreachable', 'kill_unreachable');
    await relay.close();
    const tDelete = Date.now();
    await kn(['delete', 'mmig', 'unreachable', '--wait=false']);
    const secs = await waitGone(['mmig', 'unreachable'], 150_000);
    console.log(`[e2e] unreachable: gone ${secs} s after the delete (time box ${CLEANUP_TIMEOUT_S} s)`);
    // It did try for the whole time box, then let go. The box counts from deletionTimestamp, which
    // has whole seconds (truncated): it may end up to a second before tDelete + the box.
    expect(Date.now() - tDelete).toBeGreaterThanOrEqual((CLEANUP_TIMEOUT_S - 1) * 1000);
    const events = await kn([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=unreachable',
      '-o',
      'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}',
    ]);
    console.log(`[e2e] unreachable: events\n${events}`);
    expect(events).toMatch(/CleanupTimedOut: .*"kill_unreachable" may be left partly written/);
    // Left as it was (the target was unreachable); the source untouched.
    expect(await dstAdmin!.showCollections()).toContain('kill_unreachable');
    await waitGone(['job', 'unreachable-copy'], 60_000);
    console.log(`[e2e] unreachable: ${(Date.now() - t0) / 1000} s in all`);
  }, 300_000);

  it('suspend stops the copy Job (Canceled); resume finishes it without duplicates', async () => {
    // Given keys (not autoID): however far the copy got before the suspend, the resume can tell
    // which rows are there.
    await kn(
      ['apply', '-f', '-'],
      migration('pausable', {
        source: { endpoint: `${HOST_IP}:${src!.port}`, secretRef: { name: 'src-milvus' } },
        target: { endpoint: `${HOST_IP}:${dst!.port}` },
        collections: [{ name: KILLABLE.name, targetName: 'kill_pausable' }],
      }),
    );
    // As soon as the copy pod runs, suspend.
    for (let i = 0; ; i++) {
      const phase = await kubectl([
        '-n',
        NS,
        'get',
        'pods',
        '-l',
        'job-name=pausable-copy',
        '-o',
        'jsonpath={.items[*].status.phase}',
      ]);
      if (phase.stdout.includes('Running')) break;
      if (i > 120)
        throw new Error(`no running pod of Job pausable-copy after 60 s\n${controllerLog.slice(-4000)}`);
      await sleep(250);
    }
    await kn(['patch', 'mmig', 'pausable', '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    const canceled = await waitForPhase('pausable', ['Canceled'], 60_000);
    expect(canceled.status?.observedGeneration).toBe(2);
    expect(canceled.status?.conditions?.find((c) => c.type === 'Reconciling')?.status).toBe('False');
    for (let i = 0; (await kubectl(['-n', NS, 'get', 'job', 'pausable-copy'])).code === 0; i++) {
      if (i > 60) throw new Error('the Job was not deleted after suspend');
      await sleep(500);
    }
    const existed = (await dstAdmin!.showCollections()).includes('kill_pausable');
    console.log(
      `[e2e] pausable: suspended with the target collection ${existed ? `created (${JSON.stringify(canceled.status?.collections?.[0])})` : 'not created yet'}`,
    );
    await kn(['patch', 'mmig', 'pausable', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    const done = await waitForPhase('pausable', ['Succeeded', 'Failed'], 240_000);
    expect(done.status?.phase, JSON.stringify(done.status, null, 2)).toBe('Succeeded');
    expect(done.status?.observedGeneration).toBe(3);
    await expectExactlyOnce('kill_pausable');
    expect(done.status?.collections?.[0]?.targetEntities).toBe(KILL_ROWS);
    const events = await kn(['describe', 'mmig', 'pausable']);
    expect(events).toMatch(/Suspended/);
  }, 360_000);

  it('runs in the cluster from deploy/ with only its RBAC; a controller pod killed mid-run, Succeeded exactly once', async () => {
    // The child-process controller steps aside: one controller per namespace.
    const exited = new Promise((r) => controller!.once('exit', r));
    controller!.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    expect(controller!.exitCode).toBe(0);
    // It released the Lease on the way out.
    expect((await lease(NS)).holderIdentity ?? '').toBe('');
    const items = parseAllDocuments(await kc(['kustomize', path.join(REPO_ROOT, 'deploy')])).map(
      (d) => d.toJS() as DeployObject,
    );
    const objs = items.filter((o) => o.kind !== 'CustomResourceDefinition');
    const dep = objs.find((o) => o.kind === 'Deployment')!;
    const c = dep.spec!.template!.spec!.containers[0]!;
    c.image = IMAGE;
    for (const e of c.env ?? []) {
      if (e.name === 'WATCH_NAMESPACE') e.value = NS;
      if (e.name === 'MM_IMAGE') e.value = IMAGE;
    }
    c.env = [
      ...(c.env ?? []),
      { name: 'MILVUS_MIGRATE_PAGE_BYTES', value: PAGE_BYTES },
      { name: 'MILVUS_MIGRATE_PAGE_DELAY_MS', value: PAGE_DELAY_MS },
    ];
    deployed = objs;
    await kc(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }));
    const rollout = await kc(
      ['-n', 'milvus-migrate', 'rollout', 'status', 'deployment/milvus-migrate-controller', '--timeout=120s'],
      undefined,
      150_000,
    );
    console.log(`[e2e] ${rollout.trim()}`);
    const controllerPod = async () =>
      (
        await kc([
          '-n',
          CONTROLLER_NS,
          'get',
          'pods',
          '-l',
          'app.kubernetes.io/component=controller',
          '--field-selector=status.phase=Running',
          '-o',
          'jsonpath={.items[*].metadata.name}',
        ])
      ).trim();
    const first = await controllerPod();
    await kn(
      ['apply', '-f', '-'],
      migration('incluster', {
        source: srcSpec(),
        target: dstSpec(),
        collections: [{ name: KILLABLE.name, targetName: 'kill_controller' }],
      }),
    );
    await waitUntilMidCopy('incluster', 'kill_controller');
    const held = await lease(CONTROLLER_NS);
    console.log(`[e2e] Lease ${CONTROLLER_NS}/${LEASE}: holder ${held.holderIdentity}`);
    expect(held.holderIdentity?.startsWith(`${first}_`)).toBe(true);
    const t0 = Date.now();
    await kc(['-n', CONTROLLER_NS, 'delete', 'pod', first, '--force', '--grace-period=0']);
    let obj: Obj;
    try {
      obj = await waitForPhase('incluster', ['Succeeded', 'Failed'], 300_000);
    } catch (err) {
      const logs = await kubectl([
        '-n',
        'milvus-migrate',
        'logs',
        'deployment/milvus-migrate-controller',
        '--tail=60',
      ]);
      throw new Error(`${(err as Error).message}\n--- in-cluster controller\n${logs.stdout}${logs.stderr}`);
    }
    expect(obj.status?.phase, JSON.stringify(obj.status, null, 2)).toBe('Succeeded');
    console.log(
      `[e2e] incluster: Succeeded ${(Date.now() - t0) / 1000} s after the controller pod was killed`,
    );
    await expectExactlyOnce('kill_controller');
    // The replacement pod took the Lease over.
    const second = await controllerPod();
    expect(second).not.toBe(first);
    const now = await lease(CONTROLLER_NS);
    expect(now.holderIdentity?.startsWith(`${second}_`), JSON.stringify(now)).toBe(true);
    // /metrics through the Service (the API server's service proxy: no port-forward needed).
    const metrics = await kc([
      'get',
      '--raw',
      `/api/v1/namespaces/${CONTROLLER_NS}/services/milvus-migrate-controller-metrics:metrics/proxy/metrics`,
    ]);
    expect(metrics).toMatch(/^milvus_migrate_leader 1$/m);
    expect(metrics).toMatch(
      new RegExp(`^milvus_migrate_rows_copied\\{namespace="${NS}",name="incluster"\\} ${KILL_ROWS}$`, 'm'),
    );
    const logs = await kc(['-n', CONTROLLER_NS, 'logs', 'deployment/milvus-migrate-controller']);
    expect(logs).not.toMatch(/forbidden/i);
    console.log(
      `[e2e] kubectl get milvusmigrations -o wide (all of this run)\n${await kn(['get', 'milvusmigrations', '-o', 'wide'])}\n` +
        `[e2e] kubectl describe milvusmigration incluster\n${await kn(['describe', 'milvusmigration', 'incluster'])}`,
    );
  }, 500_000);
});

/**
 * The operator end to end on a real Kubernetes cluster (whatever KUBECONFIG points at): the
 * controller runs here as a child process (`node dist/cli/main.js controller`, watching one fresh
 * namespace), the copy Jobs run the project's image in the cluster and reach two real Milvus
 * servers on this machine (source with authentication). Skipped without KUBECONFIG (or with
 * MM_SKIP_CLUSTER). Environment as in test/e2e/cluster.test.ts (KUBECTL, MM_IMAGE, MM_HOST_IP).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import { CRD_FILE, CRD_NAME } from '../../src/api/crd.js';
import { API_VERSION_FULL, KIND, type MigrationStatus } from '../../src/api/migration.js';
import { ensureBuilt } from '../support/cli.js';
import { PARTITION_KEY, seedPartitionKey } from '../support/fixtures.js';
import { createTestNamespace, kc, kubectl, sleep } from '../support/kube.js';
import { type MilvusTestServer, REPO_ROOT, startMilvus } from '../support/milvus-server.js';
import { admin } from '../support/rows.js';

const enabled = Boolean(process.env.KUBECONFIG) && !process.env.MM_SKIP_CLUSTER;
if (!enabled) console.log('test/e2e/operator.test.ts: skipped — set KUBECONFIG to run it');

const IMAGE = process.env.MM_IMAGE ?? 'milvus-migrate:dev';
const HOST_IP = process.env.MM_HOST_IP ?? '10.88.0.1';
const NS = `mm-op-${randomBytes(4).toString('hex')}`;
const WRONG_PASSWORD = `wrong-${randomBytes(6).toString('hex')}`;
const ROWS = 400;

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
  metadata: { generation: number };
  status?: MigrationStatus;
}

async function getMigration(name: string): Promise<Obj> {
  return JSON.parse(await kn(['get', 'milvusmigration', name, '-o', 'json'])) as Obj;
}

let controller: ChildProcess | undefined;
let controllerLog = '';

/** Polls until the phase is one of `phases`; fails with the controller's and the Job's logs. */
async function waitForPhase(name: string, phases: string[], timeoutMs: number): Promise<Obj> {
  const t0 = Date.now();
  let last: Obj | undefined;
  const seen: string[] = [];
  for (;;) {
    last = await getMigration(name);
    const p = `${last.status?.phase ?? '-'} ${last.status?.progress ?? ''}`;
    if (seen[seen.length - 1] !== p) seen.push(p);
    if (last.status?.phase && phases.includes(last.status.phase)) {
      console.log(`[e2e] ${name}: ${seen.join(' → ')} in ${(Date.now() - t0) / 1000} s`);
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

function migration(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: API_VERSION_FULL,
    kind: KIND,
    metadata: { name, namespace: NS },
    spec,
  });
}

function secret(name: string, data: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NS },
    stringData: data,
  });
}

/**
 * test/e2e/cluster.test.ts deletes the CRD at its end when it installed it, which would delete this
 * file's objects mid-test: wait until no other e2e namespace exists before installing the CRD.
 */
async function otherE2eNamespaces(): Promise<string[]> {
  const out = await kc([
    'get',
    'namespaces',
    '-l',
    'app.kubernetes.io/created-by=milvus-migrate-e2e',
    '-o',
    'jsonpath={.items[*].metadata.name}',
  ]);
  return out.split(/\s+/).filter((n) => n && n !== NS);
}

async function waitForOtherE2e(): Promise<void> {
  const t0 = Date.now();
  for (let others = await otherE2eNamespaces(); others.length; others = await otherE2eNamespaces()) {
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
    crdWasInstalled = (await kubectl(['get', 'crd', CRD_NAME, '-o', 'name'])).code === 0;
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
    srcAdmin.close();
    dstAdmin = admin(dst.endpoint);

    healthPort = await freePort();
    controller = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'controller'], {
      env: {
        ...process.env,
        MM_IMAGE: IMAGE,
        WATCH_NAMESPACE: NS,
        MM_HEALTH_PORT: String(healthPort),
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

  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
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
    const annotations = JSON.parse(
      await kn(['get', 'milvusmigration', 'books', '-o', 'jsonpath={.metadata.annotations}']),
    ) as Record<string, string>;
    expect(JSON.parse(annotations['migration.milvus.io/owned-targets']!)).toEqual([PARTITION_KEY.name]);
  }, 300_000);

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

  it('suspend stops the copy Job (Canceled); resume finishes it without duplicates', async () => {
    await kn(
      ['apply', '-f', '-'],
      migration('pausable', {
        source: { endpoint: `${HOST_IP}:${src!.port}`, secretRef: { name: 'src-milvus' } },
        target: { endpoint: `${HOST_IP}:${dst!.port}` },
        collections: [{ name: PARTITION_KEY.name, targetName: 'pk_pausable' }],
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
    const existed = (await dstAdmin!.showCollections()).includes('pk_pausable');
    console.log(
      `[e2e] pausable: suspended with the target collection ${existed ? `created (${JSON.stringify(canceled.status?.collections?.[0])})` : 'not created yet'}`,
    );
    await kn(['patch', 'mmig', 'pausable', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    const done = await waitForPhase('pausable', ['Succeeded', 'Failed'], 240_000);
    expect(done.status?.phase, JSON.stringify(done.status, null, 2)).toBe('Succeeded');
    expect(done.status?.observedGeneration).toBe(3);
    expect(await dstAdmin!.count('pk_pausable')).toBe(ROWS);
    expect(done.status?.collections?.[0]?.targetEntities).toBe(ROWS);
    const events = await kn(['describe', 'mmig', 'pausable']);
    expect(events).toMatch(/Suspended/);
  }, 360_000);

  it('runs in the cluster from deploy/ (kustomize) with only its RBAC', async () => {
    // The child-process controller steps aside: one controller per namespace.
    const exited = new Promise((r) => controller!.once('exit', r));
    controller!.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    expect(controller!.exitCode).toBe(0);
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
    deployed = objs;
    await kc(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }));
    const rollout = await kc(
      ['-n', 'milvus-migrate', 'rollout', 'status', 'deployment/milvus-migrate-controller', '--timeout=120s'],
      undefined,
      150_000,
    );
    console.log(`[e2e] ${rollout.trim()}`);
    await kn(
      ['apply', '-f', '-'],
      migration('incluster', {
        source: { endpoint: `${HOST_IP}:${src!.port}`, secretRef: { name: 'src-milvus' } },
        target: { endpoint: `${HOST_IP}:${dst!.port}` },
        collections: [{ name: PARTITION_KEY.name, targetName: 'pk_incluster' }],
      }),
    );
    let obj: Obj;
    try {
      obj = await waitForPhase('incluster', ['Succeeded', 'Failed'], 240_000);
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
    expect(await dstAdmin!.count('pk_incluster')).toBe(ROWS);
    const logs = await kc(['-n', 'milvus-migrate', 'logs', 'deployment/milvus-migrate-controller']);
    expect(logs).not.toMatch(/forbidden/i);
  }, 400_000);
});

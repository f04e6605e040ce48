/**
 * The Helm chart on a real cluster, the way the README's quickstart tells a user: helm install the
 * chart (the locally built image), the controller runs as a pod and becomes Ready, a Secret and a
 * MilvusMigration between two real Milvus servers on this machine end Succeeded; helm upgrade
 * changes the log level; a failed migration is fixed and re-run; helm uninstall keeps the CRD and
 * the users' MilvusMigrations. Also: the controller's and copy pods' RBAC as the API server grants
 * it, the docs' examples against the CRD schema (server-side dry run), and the Argo CD and kstatus
 * health of the live status objects. Skipped without KUBECONFIG (or with MM_SKIP_CLUSTER).
 *
 * MM_CAPTURE_STATUS=1 writes the status objects seen here to test/fixtures/status/ (the unit tests
 * of the health checks run on them).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import { CRD_NAME } from '../../src/api/crd.js';
import type { MigrationStatus } from '../../src/api/migration.js';
import { CHART_DIR, CONTROLLER_NS, find, type K8sObject, renderChart } from '../support/chart.js';
import { PARTITION_KEY, seedPartitionKey } from '../support/fixtures.js';
import { argoHealth, kstatus } from '../support/gitops.js';
import {
  crdInstalled,
  createTestNamespace,
  kc,
  kubectl,
  migrationJson,
  otherE2eNamespaces,
  removeMigrations,
  secretJson,
  sleep,
} from '../support/kube.js';
import { type MilvusTestServer, REPO_ROOT, startMilvus } from '../support/milvus-server.js';
import { admin } from '../support/rows.js';
import { helmBinary, run } from '../support/tools.js';

const enabled = Boolean(process.env.KUBECONFIG) && !process.env.MM_SKIP_CLUSTER;
if (!enabled) console.log('test/e2e/helm.test.ts: skipped — set KUBECONFIG to run it');

const IMAGE = process.env.MM_IMAGE ?? 'milvus-migrate:dev';
const [IMAGE_REPO, IMAGE_TAG] = [
  IMAGE.slice(0, IMAGE.lastIndexOf(':')),
  IMAGE.slice(IMAGE.lastIndexOf(':') + 1),
];
const HOST_IP = process.env.MM_HOST_IP ?? '10.88.0.1';
const NS = `mm-helm-${randomBytes(4).toString('hex')}`;
const migration = (name: string, spec: Record<string, unknown>) => migrationJson(NS, name, spec);
const secret = (name: string, data: Record<string, string>) => secretJson(NS, name, data);
const RELEASE = 'milvus-migrate';
const ROWS = 3000;
const CAPTURE = process.env.MM_CAPTURE_STATUS === '1';
const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'status');

const kn = (args: string[], input?: string, timeoutMs?: number) => kc(['-n', NS, ...args], input, timeoutMs);

/** helm against KUBECONFIG; install, upgrade and uninstall get --timeout so a hang fails the test. */
async function helm(args: string[]): Promise<string> {
  const waits = ['install', 'upgrade', 'uninstall'].includes(args[0]!);
  const r = run(helmBinary(), [...args, ...(waits ? ['--timeout', '180s'] : [])]);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

interface Mig extends K8sObject {
  metadata: { name: string; namespace?: string; generation: number; labels?: Record<string, string> };
  status?: MigrationStatus;
}

async function getMig(name: string): Promise<Mig> {
  return JSON.parse(await kn(['get', 'milvusmigration', name, '-o', 'json'])) as Mig;
}

/** The object as a fixture: what health checks read, without cluster bookkeeping. */
function asFixture(o: Mig): Mig {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: { name: o.metadata.name, namespace: 'demo', generation: o.metadata.generation },
    spec: o.spec,
    ...(o.status ? { status: o.status } : {}),
  };
}

const captured: Record<string, Mig> = {};
function capture(name: string, o: Mig): void {
  captured[name] = asFixture(o);
  if (!CAPTURE) return;
  mkdirSync(FIXTURES, { recursive: true });
  writeFileSync(path.join(FIXTURES, `${name}.json`), `${JSON.stringify(captured[name], null, 2)}\n`);
}

async function controllerLogs(): Promise<string> {
  const r = await kubectl(['-n', CONTROLLER_NS, 'logs', 'deployment/milvus-migrate-controller', '--tail=80']);
  return r.stdout + r.stderr;
}

/**
 * Polls until the phase is one of `phases`; every object seen on the way goes to `onSeen`.
 * Fails with the controller's and the copy Job's logs.
 */
async function waitForPhase(
  name: string,
  phases: string[],
  timeoutMs: number,
  onSeen?: (o: Mig) => void,
): Promise<Mig> {
  const t0 = Date.now();
  const seen: string[] = [];
  for (;;) {
    const o = await getMig(name);
    onSeen?.(o);
    const p = `${o.status?.phase ?? '-'} ${o.status?.progress ?? ''}`.trim();
    if (seen[seen.length - 1] !== p) seen.push(p);
    if (
      o.status?.phase &&
      phases.includes(o.status.phase) &&
      o.status.observedGeneration === o.metadata.generation
    ) {
      console.log(`[e2e helm] ${name}: ${seen.join(' → ')} in ${(Date.now() - t0) / 1000} s`);
      return o;
    }
    if (Date.now() - t0 > timeoutMs) {
      const job = await kubectl(['-n', NS, 'logs', `job/${name}-copy`, '--tail=30']);
      throw new Error(
        `${name} did not reach ${phases.join('/')} in ${timeoutMs / 1000} s (seen: ${seen.join(' → ')})\n` +
          `status: ${JSON.stringify(o.status, null, 2)}\n--- copy pod\n${job.stdout}${job.stderr}\n--- controller\n${await controllerLogs()}`,
      );
    }
    await sleep(300);
  }
}

/**
 * The cluster to ourselves: test/e2e/operator.test.ts installs deploy/ with the same object names,
 * and test/e2e/cluster.test.ts deletes the CRD it installed. Both mark their namespaces; operator
 * waits while any other marked namespace exists. Here: wait until none exists, mark ours, and if
 * another appeared meanwhile (it checked before ours existed), step back and wait again.
 */
async function claimCluster(): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    for (let others = await otherE2eNamespaces(NS); others.length; others = await otherE2eNamespaces(NS)) {
      if (Date.now() - t0 > 900_000) throw new Error(`other e2e namespaces still there: ${others.join(' ')}`);
      await sleep(2000);
    }
    await createTestNamespace(NS);
    // Longer than another file's gap between its check and creating its namespace.
    await sleep(5000);
    if (!(await otherE2eNamespaces(NS)).length) return;
    console.log('[e2e helm] another e2e file started at the same time: stepping back');
    await kubectl(['delete', 'namespace', NS, '--wait=true', '--timeout=120s'], undefined, 150_000);
  }
}

/** `kubectl auth can-i --list` as a set of "group|resource|verb" and "url|verb" grants. */
async function grants(user: string, namespace: string): Promise<Set<string>> {
  const out = await kc(['auth', 'can-i', '--list', '--as', user, '-n', namespace]);
  const lines = out.split('\n').filter((l) => l.trim());
  const header = lines[0]!;
  const cols = ['Non-Resource URLs', 'Resource Names', 'Verbs'].map((c) => header.indexOf(c));
  const set = new Set<string>();
  const list = (s: string) =>
    s
      .trim()
      .replace(/^\[|\]$/g, '')
      .split(/\s+/)
      .filter(Boolean);
  for (const l of lines.slice(1)) {
    const resource = l.slice(0, cols[0]).trim();
    const urls = list(l.slice(cols[0], cols[1]));
    const names = list(l.slice(cols[1], cols[2]));
    const verbs = list(l.slice(cols[2]));
    for (const v of verbs) {
      if (resource) {
        // "jobs.batch", "pods/log", "milvusmigrations.migration.milvus.io/status" (subresource last).
        const [res, sub] = resource.split('/') as [string, string | undefined];
        const dot = res.indexOf('.');
        const group = dot < 0 ? '' : res.slice(dot + 1);
        const r = (dot < 0 ? res : res.slice(0, dot)) + (sub ? `/${sub}` : '');
        set.add(`${group}|${r}|${v}${names.length ? `|${names.join(',')}` : ''}`);
      }
      for (const u of urls) set.add(`url|${u}|${v}`);
    }
  }
  return set;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
function ruleGrants(rules: Rule[]): string[] {
  return rules.flatMap((r) =>
    r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}|${res}|${v}`))),
  );
}

let crdWasInstalled = false;
let claimed = false;
let installed = false;
let src: MilvusTestServer | undefined;
let dst: MilvusTestServer | undefined;
let dstAdmin: MilvusClient | undefined;

(enabled ? describe : describe.skip)('the Helm chart on a real cluster', () => {
  beforeAll(async () => {
    await claimCluster();
    claimed = true;
    crdWasInstalled = await crdInstalled(CRD_NAME);
    [src, dst] = await Promise.all([
      startMilvus({ kind: 'milvus-2.3.5', auth: true, name: 'helm-src' }),
      startMilvus({ kind: 'milvus-2.3.5', name: 'helm-dst' }),
    ]);
    const srcAdmin = admin(src.endpoint, { username: 'root', password: 'Milvus' });
    await seedPartitionKey(srcAdmin, ROWS);
    srcAdmin.close();
    dstAdmin = admin(dst.endpoint);
  }, 1_200_000);

  afterAll(async () => {
    // While the controller still runs: it removes the finalizers of the migrations it deletes.
    if (claimed) await removeMigrations(NS);
    if (installed) await helm(['uninstall', RELEASE, '-n', CONTROLLER_NS, '--wait']).catch(() => undefined);
    if (claimed) {
      await kubectl(['delete', 'namespace', NS, '--wait=true', '--timeout=120s'], undefined, 150_000);
      await kubectl(
        ['delete', 'namespace', CONTROLLER_NS, '--ignore-not-found', '--wait=true', '--timeout=120s'],
        undefined,
        150_000,
      );
      // Another file may have started meanwhile and rely on the CRD: leave it then.
      if (!crdWasInstalled && !(await otherE2eNamespaces(NS)).length)
        await kubectl(['delete', 'crd', CRD_NAME, '--ignore-not-found', '--wait=true', '--timeout=60s']);
    }
    dstAdmin?.close();
    await Promise.all([src?.stop(), dst?.stop()]);
  }, 600_000);

  it('helm install: the controller runs as a pod of the chart and becomes Ready', async () => {
    const t0 = Date.now();
    await helm([
      'install',
      RELEASE,
      CHART_DIR,
      '--namespace',
      CONTROLLER_NS,
      '--create-namespace',
      '--set',
      `image.repository=${IMAGE_REPO}`,
      '--set',
      `image.tag=${IMAGE_TAG}`,
      '--set',
      'image.pullPolicy=Never',
      '--set',
      `watchNamespace=${NS}`,
      '--wait',
    ]);
    installed = true;
    console.log(`[e2e helm] helm install --wait: ${(Date.now() - t0) / 1000} s`);
    const pods = JSON.parse(
      await kc([
        '-n',
        CONTROLLER_NS,
        'get',
        'pods',
        '-l',
        'app.kubernetes.io/component=controller',
        '-o',
        'json',
      ]),
    ) as { items: K8sObject[] };
    expect(pods.items).toHaveLength(1);
    const pod = pods.items[0]!;
    expect(pod.status.conditions.find((c: { type: string }) => c.type === 'Ready')?.status).toBe('True');
    const c = pod.spec.containers[0];
    expect(c.image).toBe(IMAGE);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true });
    expect(pod.spec.serviceAccountName).toBe('milvus-migrate-controller');
    expect(
      await kc([
        'get',
        'crd',
        CRD_NAME,
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Established")].status}',
      ]),
    ).toBe('True');
    const svc = JSON.parse(
      await kc(['-n', CONTROLLER_NS, 'get', 'endpoints', 'milvus-migrate-controller-metrics', '-o', 'json']),
    ) as K8sObject;
    expect(svc.subsets?.[0]?.ports?.[0]).toMatchObject({ name: 'metrics', port: 8080 });
  }, 300_000);

  it('RBAC: the controller may do exactly what the chart grants; copy pods nothing beyond any identity', async () => {
    // Installed with watchNamespace: the controller's grant is a Role in NS, nothing cluster-wide.
    const objs = renderChart({ watchNamespace: NS });
    const clusterRules = find(objs, 'Role', 'milvus-migrate-controller').rules as Rule[];
    const leaseRules = find(objs, 'Role', 'milvus-migrate-controller-leader-election').rules as Rule[];
    // What every authenticated identity may do (self reviews, discovery URLs): a ServiceAccount
    // that does not exist has only its groups' grants.
    const baseline = await grants(`system:serviceaccount:${NS}:no-such-account`, NS);
    const resourceBaseline = [...baseline].filter((g) => !g.startsWith('url|'));
    expect(
      resourceBaseline.every((g) => /^(authorization|authentication)\.k8s\.io\|self/.test(g)),
      resourceBaseline.join('\n'),
    ).toBe(true);

    const sa = `system:serviceaccount:${CONTROLLER_NS}:milvus-migrate-controller`;
    const inUserNs = await grants(sa, NS);
    expect([...inUserNs].sort()).toEqual([...new Set([...baseline, ...ruleGrants(clusterRules)])].sort());
    const inOwnNs = await grants(sa, CONTROLLER_NS);
    expect([...inOwnNs].sort()).toEqual([...new Set([...baseline, ...ruleGrants(leaseRules)])].sort());
    expect([...(await grants(sa, 'default'))].sort()).toEqual([...baseline].sort());
    // Spot checks that read as the design: no listing Secrets, no pods/exec, no Deployments.
    for (const [verb, what] of [
      ['list', 'secrets'],
      ['create', 'pods/exec'],
      ['create', 'pods'],
      ['update', 'jobs.batch'],
      ['delete', 'milvusmigrations.migration.milvus.io'],
      ['create', 'leases.coordination.k8s.io'],
    ]) {
      const r = await kubectl(['auth', 'can-i', verb!, what!, '--as', sa, '-n', NS]);
      expect(r.stdout.trim(), `${verb} ${what}`).toBe('no');
    }
    // Copy pods run as the namespace's default ServiceAccount (and get no token, see below).
    const copyPods = await grants(`system:serviceaccount:${NS}:default`, NS);
    expect([...copyPods].sort()).toEqual([...baseline].sort());
  });

  it('RBAC with watchNamespace: a Role in that namespace only, nothing cluster-wide (kubectl auth can-i --list); namespace editors and viewers may use MilvusMigrations (aggregated ClusterRoles)', async () => {
    // The chart's objects for a controller in a namespace of its own watching one other namespace,
    // applied as they render (ClusterRoles aside: the installed release owns milvus-migrate-view and
    // -edit already). Both namespaces are this test's own: the installed release is left alone.
    const ctrlNs = `mm-rbac-${randomBytes(3).toString('hex')}`;
    const watchedNs = `${ctrlNs}-w`;
    const objs = renderChart({ watchNamespace: watchedNs }, ctrlNs);
    const rbac = objs.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind));
    expect(objs.filter((o) => o.kind === 'ClusterRoleBinding')).toEqual([]);
    await kc(['create', 'namespace', ctrlNs]);
    await kc(['create', 'namespace', watchedNs]);
    try {
      await kc(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac }));
      const sa = `system:serviceaccount:${ctrlNs}:milvus-migrate-controller`;
      const baseline = await grants(`system:serviceaccount:${ctrlNs}:no-such-account`, 'default');
      const watched = await grants(sa, watchedNs);
      const elsewhere = await grants(sa, 'default');
      const rules = find(objs, 'Role', 'milvus-migrate-controller').rules as Rule[];
      console.log(
        `[e2e helm] watchNamespace=${watchedNs}: ${watched.size - baseline.size} grants in it, ${elsewhere.size - baseline.size} in default`,
      );
      expect([...watched].sort()).toEqual([...new Set([...baseline, ...ruleGrants(rules)])].sort());
      expect([...elsewhere].sort()).toEqual([...baseline].sort());
      for (const [verb, what] of [
        ['get', 'secrets'],
        ['create', 'jobs.batch'],
        ['list', 'milvusmigrations.migration.milvus.io'],
      ]) {
        const r = await kubectl(['auth', 'can-i', verb!, what!, '--as', sa, '-n', 'default']);
        expect(r.stdout.trim(), `${verb} ${what} in default`).toBe('no');
        const w = await kubectl(['auth', 'can-i', verb!, what!, '--as', sa, '-n', watchedNs]);
        expect(w.stdout.trim(), `${verb} ${what} in ${watchedNs}`).toBe('yes');
      }
    } finally {
      await kubectl(['delete', 'namespace', ctrlNs, watchedNs, '--wait=false']);
    }
    // Aggregation: the built-in edit and view roles, bound in NS, now cover MilvusMigrations.
    await kn(['create', 'rolebinding', 'alice-edit', '--clusterrole=edit', '--user=alice']);
    await kn(['create', 'rolebinding', 'bob-view', '--clusterrole=view', '--user=bob']);
    const can = async (verb: string, user: string) =>
      (
        await kubectl(['auth', 'can-i', verb, 'milvusmigrations.migration.milvus.io', '--as', user, '-n', NS])
      ).stdout.trim();
    for (let i = 0; i < 20 && (await can('create', 'alice')) !== 'yes'; i++) await sleep(500);
    expect(await can('create', 'alice')).toBe('yes');
    expect(await can('delete', 'alice')).toBe('yes');
    expect(await can('list', 'bob')).toBe('yes');
    expect(await can('create', 'bob')).toBe('no');
    expect(await can('patch', 'bob')).toBe('no');
  });

  it('the examples in docs/examples pass the CRD schema (server-side dry run)', async () => {
    const dir = path.join(REPO_ROOT, 'docs', 'examples');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      const out = await kn(
        ['apply', '--dry-run=server', '-f', '-'],
        readFileSync(path.join(dir, f), 'utf8').replace(/namespace: [a-z0-9-]+/g, `namespace: ${NS}`),
      );
      expect(out, f).toMatch(/milvusmigration\.migration\.milvus\.io\/\S+ created \(server dry run\)/);
    }
    // The schema does refuse: a bad endpoint in a copy of the first example.
    const bad = readFileSync(path.join(dir, files[0]!), 'utf8')
      .replace(/namespace: [a-z0-9-]+/g, `namespace: ${NS}`)
      .replace(/endpoint: .*/, 'endpoint: "not an endpoint"');
    const r = await kubectl(['-n', NS, 'apply', '--dry-run=server', '-f', '-'], bad);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/endpoint/);
  });

  it('a first migration: Succeeded, counts equal; health is Progressing/InProgress, then Healthy/Current', async () => {
    await kn(['apply', '-f', '-'], secret('src-milvus', { username: 'root', password: 'Milvus' }));
    await kn(
      ['apply', '-f', '-'],
      migration('books', {
        source: { endpoint: `${HOST_IP}:${src!.port}`, secretRef: { name: 'src-milvus' } },
        target: { endpoint: `${HOST_IP}:${dst!.port}` },
        collections: [{ name: PARTITION_KEY.name, targetName: 'books_copy' }],
      }),
    );
    const inProgress: Mig[] = [];
    const done = await waitForPhase('books', ['Succeeded', 'Failed'], 300_000, (o) => {
      const p = o.status?.phase;
      if (p && p !== 'Succeeded' && p !== 'Failed') inProgress.push(o);
    });
    expect(done.status?.phase, JSON.stringify(done.status, null, 2)).toBe('Succeeded');
    expect(await dstAdmin!.count('books_copy')).toBe(ROWS);
    expect(done.status).toMatchObject({ progress: '100%', rows: `${ROWS}/${ROWS}`, collectionsDone: '1/1' });

    expect(inProgress.length, 'no in-progress status was seen').toBeGreaterThan(0);
    const pending = inProgress.find((o) => o.status?.phase === 'Pending');
    const running = inProgress.find((o) => o.status?.phase === 'Running' || o.status?.phase === 'Verifying');
    if (pending) capture('pending', pending);
    if (running) capture('running', running);
    capture('succeeded', done);
    console.log(
      `[e2e helm] in-progress phases seen: ${[...new Set(inProgress.map((o) => o.status?.phase))].join(', ')}`,
    );
    for (const o of inProgress) {
      expect((await argoHealth(o)).status).toBe('Progressing');
      expect(kstatus([o])[0]!.status).toBe('InProgress');
    }
    expect(await argoHealth(done)).toMatchObject({ status: 'Healthy' });
    expect(kstatus([done])[0]!.status).toBe('Current');

    // The copy pod: no ServiceAccount token, read-only root filesystem (and it worked).
    const pod = JSON.parse(await kn(['get', 'pods', '-l', 'job-name=books-copy', '-o', 'json']))
      .items[0] as K8sObject;
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.serviceAccountName).toBe('default');
    expect(pod.spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
    expect(pod.spec.volumes?.some((v: { projected?: unknown }) => v.projected)).toBeFalsy();
  }, 400_000);

  it('helm upgrade changes the log level; the upgraded controller fails a bad password, then re-runs it', async () => {
    // The served CRD is an older one (without status.verifiedTargets); the documented upgrade
    // (README: the CRD first, server-side, then helm upgrade) serves the chart's CRD again.
    const crdPath = '/spec/versions/0/schema/openAPIV3Schema/properties/status/properties/verifiedTargets';
    await kc([
      'patch',
      'crd',
      CRD_NAME,
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'remove', path: crdPath }]),
    ]);
    const served = async () =>
      (JSON.parse(await kc(['get', 'crd', CRD_NAME, '-o', 'json'])) as K8sObject).spec.versions[0].schema
        .openAPIV3Schema.properties.status.properties as Record<string, unknown>;
    expect(Object.keys(await served())).not.toContain('verifiedTargets');
    await kc(['apply', '--server-side', '--force-conflicts', '-f', path.join(CHART_DIR, 'crds')]);
    expect(Object.keys(await served())).toContain('verifiedTargets');
    const t0 = Date.now();
    await helm([
      'upgrade',
      RELEASE,
      CHART_DIR,
      '--namespace',
      CONTROLLER_NS,
      '--reuse-values',
      '--set',
      'logLevel=debug',
      '--wait',
    ]);
    console.log(`[e2e helm] helm upgrade --wait: ${(Date.now() - t0) / 1000} s`);
    const dep = JSON.parse(
      await kc(['-n', CONTROLLER_NS, 'get', 'deployment', 'milvus-migrate-controller', '-o', 'json']),
    ) as K8sObject;
    const env = Object.fromEntries(
      dep.spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [
        e.name,
        e.value,
      ]),
    );
    expect(env).toMatchObject({ LOG_LEVEL: 'debug', WATCH_NAMESPACE: NS, MM_IMAGE: IMAGE });
    expect(dep.status.readyReplicas).toBe(1);
    expect(dep.status.updatedReplicas).toBe(1);
    expect(await helm(['history', RELEASE, '-n', CONTROLLER_NS])).toMatch(/^2\s.*deployed/m);
    // The migration done before the upgrade stays done (no second Job).
    expect((await getMig('books')).status?.phase).toBe('Succeeded');

    await kn(['apply', '-f', '-'], secret('bad-creds', { username: 'root', password: 'not-the-password' }));
    await kn(
      ['apply', '-f', '-'],
      migration('badpw', {
        source: { endpoint: `${HOST_IP}:${src!.port}`, secretRef: { name: 'bad-creds' } },
        target: { endpoint: `${HOST_IP}:${dst!.port}` },
        collections: [{ name: PARTITION_KEY.name, targetName: 'badpw_copy' }],
      }),
    );
    const failed = await waitForPhase('badpw', ['Failed', 'Succeeded'], 240_000);
    // Debug lines (pino level 20) from the upgraded pod: the new log level reached the process.
    expect(await controllerLogs()).toContain('"level":20');
    expect(failed.status?.phase).toBe('Failed');
    const stalled = failed.status?.conditions?.find((c) => c.type === 'Stalled');
    expect(stalled).toMatchObject({ status: 'True', reason: 'AuthenticationFailed' });
    capture('failed', failed);
    expect(await argoHealth(failed)).toMatchObject({ status: 'Degraded' });
    expect((await argoHealth(failed)).message).toContain('AuthenticationFailed');
    expect(kstatus([failed])[0]!.status).toBe('Failed');

    // The README's re-run: fix the Secret, then suspend and resume (a new generation retries).
    await kn(['apply', '-f', '-'], secret('bad-creds', { username: 'root', password: 'Milvus' }));
    await kn(['patch', 'mmig', 'badpw', '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    await kn(['patch', 'mmig', 'badpw', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    const rerun = await waitForPhase('badpw', ['Succeeded', 'Failed'], 300_000);
    expect(rerun.status?.phase, JSON.stringify(rerun.status, null, 2)).toBe('Succeeded');
    expect(await dstAdmin!.count('badpw_copy')).toBe(ROWS);
  }, 700_000);

  it('a migration created suspended is Canceled: Argo CD Suspended, kstatus InProgress', async () => {
    await kn(
      ['apply', '-f', '-'],
      migration('held', {
        source: { endpoint: `${HOST_IP}:${src!.port}`, secretRef: { name: 'src-milvus' } },
        target: { endpoint: `${HOST_IP}:${dst!.port}` },
        collections: [{ name: PARTITION_KEY.name, targetName: 'held_copy' }],
        suspend: true,
      }),
    );
    const held = await waitForPhase('held', ['Canceled'], 60_000);
    capture('canceled', held);
    expect(await argoHealth(held)).toMatchObject({ status: 'Suspended' });
    // Ready=False without Reconciling or Stalled: kstatus says not done (it resumes on unsuspend).
    expect(kstatus([held])[0]!.status).toBe('InProgress');
    expect((await kubectl(['-n', NS, 'get', 'job', 'held-copy'])).code).not.toBe(0);
  }, 120_000);

  it('helm uninstall removes the controller and keeps the CRD and every MilvusMigration', async () => {
    const before = JSON.parse(await kn(['get', 'milvusmigrations', '-o', 'json'])).items as Mig[];
    await helm(['uninstall', RELEASE, '--namespace', CONTROLLER_NS, '--wait']);
    installed = false;
    for (const [kind, name] of [
      ['deployment', 'milvus-migrate-controller'],
      ['serviceaccount', 'milvus-migrate-controller'],
      ['service', 'milvus-migrate-controller-metrics'],
      ['role', 'milvus-migrate-controller-leader-election'],
    ])
      expect(
        (await kubectl(['-n', CONTROLLER_NS, 'get', kind!, name!])).code,
        `${kind} ${name} left`,
      ).not.toBe(0);
    for (const what of [
      'clusterrole/milvus-migrate-controller',
      'clusterrolebinding/milvus-migrate-controller',
    ])
      expect((await kubectl(['get', what])).code, `${what} left`).not.toBe(0);
    expect((await kubectl(['get', 'crd', CRD_NAME])).code).toBe(0);
    const after = JSON.parse(await kn(['get', 'milvusmigrations', '-o', 'json'])).items as Mig[];
    expect(after.map((o) => o.metadata.name).sort()).toEqual(['badpw', 'books', 'held']);
    expect(after.map((o) => o.metadata.name).sort()).toEqual(before.map((o) => o.metadata.name).sort());
    expect(after.find((o) => o.metadata.name === 'books')?.status?.phase).toBe('Succeeded');
  }, 300_000);
});

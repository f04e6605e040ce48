import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCrd, CRD_FILE, CRD_NAME, type StructuralSchema } from '../../src/api/crd.js';
import {
  crdInstalled,
  createTestNamespace,
  KUBECTL,
  kc,
  kubectl,
  migrationJson,
  sleep,
} from '../support/kube.js';
import { type MilvusTestServer, REPO_ROOT, startMilvus } from '../support/milvus-server.js';

const enabled = Boolean(process.env.KUBECONFIG) && !process.env.MM_SKIP_CLUSTER;
if (!enabled) {
  console.log(
    'test/e2e/cluster.test.ts: skipped — set KUBECONFIG to run it (local cluster: ' +
      'KUBECONFIG=$(test/setup/cluster/up.sh) after test/setup/image/build.sh)',
  );
}

const IMAGE = process.env.MM_IMAGE ?? 'milvus-migrate:dev';
const HOST_IP = process.env.MM_HOST_IP ?? '10.88.0.1';
const NS = `mm-smoke-${randomBytes(4).toString('hex')}`;
const migration = (name: string, spec: Record<string, unknown>) => migrationJson(NS, name, spec);
const PKG_VERSION = (
  JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

const kn = (args: string[], input?: string) => kc(['-n', NS, ...args], input);

/** The column headers of `kubectl get` output. */
function headers(table: string): string[] {
  return (table.split('\n')[0] ?? '').trim().split(/\s+/);
}

interface JobSpec {
  args?: string[];
  command?: string[];
  env?: Record<string, unknown>[];
}

/** A Job running the project's image with the restricted security settings the operator uses. */
function jobManifest(name: string, j: JobSpec): string {
  return JSON.stringify({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: NS },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: 120,
      template: {
        metadata: {
          labels: { 'app.kubernetes.io/name': 'milvus-migrate', 'app.kubernetes.io/component': 'e2e' },
        },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'main',
              image: IMAGE,
              imagePullPolicy: 'IfNotPresent',
              ...(j.command ? { command: j.command } : {}),
              ...(j.args ? { args: j.args } : {}),
              ...(j.env ? { env: j.env } : {}),
              securityContext: {
                runAsNonRoot: true,
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
              },
              resources: {
                requests: { cpu: '50m', memory: '64Mi' },
                limits: { cpu: '1', memory: '256Mi' },
              },
            },
          ],
        },
      },
    },
  });
}

/** Waiting reasons that will not resolve by themselves: fail at once with a hint. */
const STUCK = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

async function diagnostics(name: string): Promise<string> {
  const parts = await Promise.all([
    kubectl(['-n', NS, 'describe', 'job', name]),
    kubectl(['-n', NS, 'describe', 'pods', '-l', `job-name=${name}`]),
    kubectl(['-n', NS, 'logs', `job/${name}`, '--tail=50']),
  ]);
  return parts.map((p) => p.stdout + p.stderr).join('\n---\n');
}

/** Creates the Job, waits until it completes or fails (bounded), returns its log. */
async function runJob(
  name: string,
  j: JobSpec,
  timeoutMs = 150_000,
): Promise<{ log: string; seconds: number }> {
  const t0 = Date.now();
  await kn(['create', '-f', '-'], jobManifest(name, j));
  for (;;) {
    const job = JSON.parse(await kn(['get', 'job', name, '-o', 'json'])) as {
      status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
    };
    const conds = (job.status?.conditions ?? []).filter((c) => c.status === 'True');
    if (conds.some((c) => c.type === 'Complete')) break;
    const failed = conds.find((c) => c.type === 'Failed');
    if (failed) {
      throw new Error(`Job ${name} failed (${failed.reason}: ${failed.message})\n${await diagnostics(name)}`);
    }
    const pods = JSON.parse(await kn(['get', 'pods', '-l', `job-name=${name}`, '-o', 'json'])) as {
      items: {
        status?: { containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[] };
      }[];
    };
    for (const p of pods.items) {
      for (const cs of p.status?.containerStatuses ?? []) {
        const w = cs.state?.waiting;
        if (w?.reason && STUCK.has(w.reason)) {
          throw new Error(
            `Job ${name}: container waiting with ${w.reason} (${w.message ?? ''}). Is ${IMAGE} on the node? ` +
              `(local cluster: test/setup/image/build.sh; kind: kind load docker-image ${IMAGE})\n` +
              (await diagnostics(name)),
          );
        }
      }
    }
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`Job ${name} did not finish within ${timeoutMs / 1000} s\n${await diagnostics(name)}`);
    }
    await sleep(1000);
  }
  const log = await kn(['logs', `job/${name}`]);
  return { log, seconds: (Date.now() - t0) / 1000 };
}

let crdWasInstalled = false;
let nsCreated = false;

(enabled ? describe : describe.skip)(`on a real cluster (KUBECONFIG=${process.env.KUBECONFIG ?? ''})`, () => {
  beforeAll(async () => {
    const version = JSON.parse(await kc(['version', '-o', 'json'])) as {
      clientVersion?: { gitVersion?: string };
      serverVersion?: { gitVersion?: string; platform?: string };
    };
    const server = (
      await kc(['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'])
    ).trim();
    console.log(
      `[e2e] API server ${server}: Kubernetes ${version.serverVersion?.gitVersion} ` +
        `(${version.serverVersion?.platform}); kubectl ${version.clientVersion?.gitVersion} at ${KUBECTL}`,
    );
    const nodes = JSON.parse(await kc(['get', 'nodes', '-o', 'json'])) as {
      items: {
        metadata: { name: string };
        status: { nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string; osImage: string } };
      }[];
    };
    for (const n of nodes.items) {
      const i = n.status.nodeInfo;
      console.log(
        `[e2e] node ${n.metadata.name}: kubelet ${i.kubeletVersion}, runtime ${i.containerRuntimeVersion}, ${i.osImage}`,
      );
    }
    console.log(`[e2e] namespace ${NS}, image ${IMAGE}, host reachable from pods at ${HOST_IP}`);

    crdWasInstalled = await crdInstalled(CRD_NAME);
    await createTestNamespace(NS);
    nsCreated = true;
  });

  afterAll(async () => {
    const t0 = Date.now();
    if (nsCreated) {
      const r = await kubectl(
        ['delete', 'namespace', NS, '--wait=true', '--timeout=120s'],
        undefined,
        150_000,
      );
      if (r.code !== 0) console.log(`[e2e] deleting namespace ${NS} failed: ${r.stderr}`);
    }
    if (!crdWasInstalled) {
      const r = await kubectl([
        'delete',
        'crd',
        CRD_NAME,
        '--ignore-not-found',
        '--wait=true',
        '--timeout=60s',
      ]);
      if (r.code !== 0) console.log(`[e2e] deleting CRD ${CRD_NAME} failed: ${r.stderr}`);
    }
    console.log(
      `[e2e] cleaned up namespace ${NS}${crdWasInstalled ? '' : ` and CRD ${CRD_NAME}`} in ${(Date.now() - t0) / 1000} s`,
    );
  });

  describe('the MilvusMigration CRD', () => {
    const statusSchema = (
      buildCrd() as { spec: { versions: { schema: { openAPIV3Schema: StructuralSchema } }[] } }
    ).spec.versions[0]!.schema.openAPIV3Schema.properties!.status!;

    it('applies from crds/ and is served', async () => {
      const out = await kc(['apply', '-f', path.join(REPO_ROOT, CRD_FILE)]);
      console.log(`[e2e] ${out.trim()}${crdWasInstalled ? ' (was installed before; left installed)' : ''}`);
      await kc(['wait', '--for', 'condition=established', '--timeout=60s', `crd/${CRD_NAME}`]);
      const crd = JSON.parse(await kc(['get', 'crd', CRD_NAME, '-o', 'json'])) as {
        status: { acceptedNames: { shortNames?: string[]; categories?: string[] } };
      };
      expect(crd.status.acceptedNames.shortNames).toEqual(['mmig']);
      expect(crd.status.acceptedNames.categories).toEqual(['milvus']);
    });

    it('creates an object with defaults and prints the columns', async () => {
      await kn(
        ['create', '-f', '-'],
        migration('books', {
          source: { endpoint: '10.0.0.1:19530' },
          target: { endpoint: 'https://milvus.example.com', tls: {} },
          collections: [{ name: 'books' }, { name: 'films', targetName: 'films_v2' }],
        }),
      );
      const obj = JSON.parse(await kn(['get', 'milvusmigration', 'books', '-o', 'json'])) as {
        spec: Record<string, unknown>;
      };
      // Defaults from the zod schema, applied by the API server.
      expect(obj.spec).toMatchObject({
        verify: 'sample',
        suspend: false,
        source: { database: 'default' },
        target: { database: 'default', tls: { insecureSkipVerify: false } },
      });

      const table = await kn(['get', 'milvusmigrations']);
      const wide = await kn(['get', 'mmig', '-o', 'wide']);
      expect(headers(table)).toEqual(['NAME', 'PHASE', 'PROGRESS', 'ROWS', 'LAG', 'AGE']);
      expect(headers(wide)).toEqual([
        'NAME',
        'PHASE',
        'PROGRESS',
        'ROWS',
        'LAG',
        'AGE',
        'SOURCE',
        'TARGET',
        'COLLECTIONS',
      ]);
      expect(wide).toContain('10.0.0.1:19530');
      expect(wide).toContain('https://milvus.example.com');
      expect(await kn(['get', 'milvus', '-o', 'name'])).toContain(
        'milvusmigration.migration.milvus.io/books',
      );

      // The status subresource: written through /status, ignored in a write of the main resource.
      const status: Record<string, string> = { phase: 'Running', progress: '40%' };
      if (statusSchema.properties?.rows) status.rows = '400/1000';
      if (statusSchema.properties?.collectionsDone) status.collectionsDone = '1/2';
      await kn([
        'patch',
        'mmig',
        'books',
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({ status }),
      ]);
      await kn(['patch', 'mmig', 'books', '--type=merge', '-p', '{"status":{"phase":"Failed"}}']);
      const after = await kn(['get', 'mmig', '-o', 'wide']);
      console.log(`[e2e] kubectl get milvusmigrations -o wide\n${after}`);
      const row = (after.split('\n')[1] ?? '').trim().split(/\s+/);
      expect(row.slice(0, 3)).toEqual(['books', 'Running', '40%']);
      if (status.rows) expect(row).toContain(status.rows);
      if (status.collectionsDone) expect(row).toContain(status.collectionsDone);
    });

    it('refuses invalid objects with a message naming the field', async () => {
      const good = {
        source: { endpoint: 'a:19530' },
        target: { endpoint: 'b:19530' },
        collections: [{ name: 'c' }],
      };
      const cases: [string, Record<string, unknown>, RegExp][] = [
        [
          'bad endpoint',
          { ...good, source: { endpoint: 'not a host!' } },
          /spec\.source\.endpoint: Invalid value: "not a host!": .*should match/,
        ],
        ['no collections', { source: good.source, target: good.target }, /spec\.collections: Required value/],
        [
          'empty collections',
          { ...good, collections: [] },
          /spec\.collections.*should have at least 1 items/,
        ],
        [
          'bad collection name',
          { ...good, collections: [{ name: '1x' }] },
          /spec\.collections\[0\]\.name.*should match/,
        ],
        ['bad verify', { ...good, verify: 'all' }, /spec\.verify: Unsupported value: "all"/],
        ['unknown field', { ...good, colections: [] }, /unknown field "spec\.colections"/],
      ];
      for (const [what, spec, message] of cases) {
        const r = await kubectl(['-n', NS, 'create', '-f', '-'], migration('invalid', spec));
        expect(r.code, `${what}: accepted: ${r.stdout}`).not.toBe(0);
        expect(r.stderr, what).toMatch(message);
        console.log(`[e2e] refused (${what}): ${r.stderr.trim().replace(/\s*\n\s*/g, ' ')}`);
      }
      expect((await kubectl(['-n', NS, 'get', 'mmig', 'invalid'])).code).not.toBe(0);
    });

    it('refuses changes of source, target and collections (CEL); suspend and verify may change', async () => {
      const changes: [string, unknown][] = [
        ['source', { source: { endpoint: '10.0.0.2:19530' } }],
        ['target', { target: { database: 'other' } }],
        ['collections', { collections: [{ name: 'books' }] }],
      ];
      for (const [field, patch] of changes) {
        const r = await kubectl([
          '-n',
          NS,
          'patch',
          'mmig',
          'books',
          '--type=merge',
          '-p',
          JSON.stringify({ spec: patch }),
        ]);
        expect(r.code, `change of spec.${field} accepted`).not.toBe(0);
        expect(r.stderr).toMatch(
          new RegExp(
            `spec\\.${field}: Invalid value: .*spec\\.${field} cannot change once a migration exists; ` +
              'create a new MilvusMigration',
          ),
        );
        if (field === 'source') console.log(`[e2e] refused (CEL): ${r.stderr.trim()}`);
      }
      await kn(['patch', 'mmig', 'books', '--type=merge', '-p', '{"spec":{"suspend":true,"verify":"full"}}']);
      const obj = JSON.parse(await kn(['get', 'mmig', 'books', '-o', 'json'])) as {
        metadata: { generation: number };
        spec: { suspend: boolean; verify: string; source: { endpoint: string } };
      };
      expect(obj.spec).toMatchObject({
        suspend: true,
        verify: 'full',
        source: { endpoint: '10.0.0.1:19530' },
      });
      expect(obj.metadata.generation).toBe(2);
    });
  });

  describe('the project image in pods', () => {
    it('runs `--version` as a restricted, non-root, read-only Job', async () => {
      const { log, seconds } = await runJob('version', { args: ['--version'] });
      console.log(`[e2e] Job version (${IMAGE} --version) succeeded in ${seconds} s: ${log.trim()}`);
      expect(log.trim()).toBe(PKG_VERSION);
    });

    it('gets a value from a Secret through secretKeyRef', async () => {
      // A made-up, non-secret test value: the point is the plumbing, and it may be printed.
      const value = `e2e-test-value-${randomBytes(3).toString('hex')}`;
      await kn(
        ['create', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'e2e-value', namespace: NS },
          stringData: { value },
        }),
      );
      const { log, seconds } = await runJob('secret', {
        command: ['node', '-e', 'process.stdout.write("value=" + process.env.MM_VALUE + "\\n")'],
        env: [{ name: 'MM_VALUE', valueFrom: { secretKeyRef: { name: 'e2e-value', key: 'value' } } }],
      });
      console.log(`[e2e] Job secret succeeded in ${seconds} s: ${log.trim()}`);
      expect(log.trim()).toBe(`value=${value}`);
    });

    describe('with a real Milvus server on the host', () => {
      let milvus: MilvusTestServer | undefined;
      beforeAll(async () => {
        milvus = await startMilvus({ kind: 'milvus-2.3.5', name: 'e2e-cluster' });
      });
      afterAll(async () => {
        await milvus?.stop();
      });

      it('reaches it from a pod: `ping` prints the server version', async () => {
        const endpoint = `${HOST_IP}:${milvus!.port}`;
        const { log, seconds } = await runJob('ping', { args: ['ping', '--endpoint', endpoint] });
        console.log(
          `[e2e] Job ping (${IMAGE} ping --endpoint ${endpoint}) succeeded in ${seconds} s: ${log.trim()} ` +
            `(host side: ${milvus!.version})`,
        );
        expect(log.trim()).toMatch(/^v2\.3\.5(\D|$)/);
      });
    });
  });
});

/**
 * kubectl for the end-to-end tests: they talk to whatever cluster KUBECONFIG names only through
 * kubectl, so kind, the local cluster and a real cluster are driven the same way.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { API_VERSION_FULL, KIND } from '../../src/api/migration.js';
import { REPO_ROOT } from './milvus-server.js';

/** $KUBECTL, else the local cluster's kubectl (test/setup/cluster), else kubectl on PATH. */
export function findKubectl(): string {
  if (process.env.KUBECTL) return process.env.KUBECTL;
  const state = process.env.MILVUS_MIGRATE_STATE ?? path.join(REPO_ROOT, '.cache');
  const local = path.join(state, 'cluster', 'kubectl');
  return existsSync(local) ? local : 'kubectl';
}
export const KUBECTL = findKubectl();

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** kubectl with optional stdin; never throws on a failed command (see kc). Killed after timeoutMs. */
export function kubectl(args: string[], input?: string, timeoutMs = 90_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(KUBECTL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${KUBECTL} (set KUBECTL): ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

/** kubectl that must succeed; returns stdout. */
export async function kc(args: string[], input?: string, timeoutMs?: number): Promise<string> {
  const r = await kubectl(args, input, timeoutMs);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A fresh namespace where every pod must pass the "restricted" Pod Security Standard, returned once
 * its default ServiceAccount exists (a controller creates it shortly after the namespace).
 */
export async function createTestNamespace(ns: string): Promise<void> {
  await kc(
    ['create', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: ns,
        labels: {
          'app.kubernetes.io/created-by': 'milvus-migrate-e2e',
          'pod-security.kubernetes.io/enforce': 'restricted',
        },
      },
    }),
  );
  for (let i = 0; (await kubectl(['-n', ns, 'get', 'serviceaccount', 'default'])).code !== 0; i++) {
    if (i > 60)
      throw new Error(`no default ServiceAccount in ${ns} after 30 s (is kube-controller-manager up?)`);
    await sleep(500);
  }
}

/**
 * Whether the CRD is installed now. A CRD that another test file is deleting (terminating) is
 * waited out first: objects cannot be created while it terminates, and it will be gone.
 */
export async function crdInstalled(name: string, timeoutMs = 120_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await kubectl(['get', 'crd', name, '-o', 'jsonpath={.metadata.deletionTimestamp}']);
    if (r.code !== 0) return false;
    if (!r.stdout.trim()) return true;
    if (Date.now() > deadline)
      throw new Error(`CRD ${name} is still terminating after ${timeoutMs / 1000} s`);
    await sleep(1000);
  }
}

/**
 * Deletes every MilvusMigration of a namespace at teardown without waiting for a controller (it may
 * be uninstalled already): marked deleted first, so no controller adds the finalizer back, then the
 * finalizer removed by hand. Neither the namespace nor the CRD then hangs in Terminating for the
 * next test file.
 */
export async function removeMigrations(ns: string): Promise<void> {
  await kubectl(['-n', ns, 'delete', 'mmig', '--all', '--wait=false']);
  const left = await kubectl(['-n', ns, 'get', 'mmig', '-o', 'name']);
  for (const n of left.stdout.split('\n').filter(Boolean)) {
    await kubectl(['-n', ns, 'patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  }
}

/** A MilvusMigration as JSON, for `kubectl apply -f -`. */
export function migrationJson(ns: string, name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: API_VERSION_FULL,
    kind: KIND,
    metadata: { name, namespace: ns },
    spec,
  });
}

/** A Secret as JSON, for `kubectl apply -f -`. */
export function secretJson(ns: string, name: string, data: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns },
    stringData: data,
  });
}

/** The namespaces of other e2e files running now (they carry the e2e label; see createTestNamespace). */
export async function otherE2eNamespaces(ownNs: string): Promise<string[]> {
  const out = await kc([
    'get',
    'namespaces',
    '-l',
    'app.kubernetes.io/created-by=milvus-migrate-e2e',
    '-o',
    'jsonpath={.items[*].metadata.name}',
  ]);
  return out.split(/\s+/).filter((n) => n && n !== ownNs);
}

/** Renders the Helm chart and the kustomize base into plain objects for comparison. */
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './milvus-server.js';
import { helmBinary, kustomizeKubectl, mustRun } from './tools.js';

export const CHART_DIR = path.join(REPO_ROOT, 'charts', 'milvus-migrate');
export const CONTROLLER_NS = 'milvus-migrate';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary Kubernetes objects
  [k: string]: any;
};

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

/** `helm template` of the chart (CRDs included) with --set values (typed as helm types them). */
export function renderChart(set: Record<string, string> = {}, namespace = CONTROLLER_NS): K8sObject[] {
  const args = ['template', 'milvus-migrate', CHART_DIR, '--namespace', namespace, '--include-crds'];
  for (const [k, v] of Object.entries(set)) args.push('--set', `${k}=${v}`);
  return parseManifests(mustRun(helmBinary(), args));
}

export function renderKustomize(): K8sObject[] {
  return parseManifests(mustRun(kustomizeKubectl(), ['kustomize', path.join(REPO_ROOT, 'deploy')]));
}

export const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Labels only Helm adds (release bookkeeping); everything else must be the same in both. */
export const HELM_ONLY_LABELS = [
  'helm.sh/chart',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/managed-by',
];

export function withoutHelmLabels(o: K8sObject): K8sObject {
  const c = structuredClone(o);
  const labels = c.metadata.labels;
  if (labels) for (const l of HELM_ONLY_LABELS) delete labels[l];
  return c;
}

export function find(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind}${name ? `/${name}` : ''} among ${objs.map(key).join(', ')}`);
  return o;
}

// biome-ignore lint/suspicious/noExplicitAny: container of a rendered Deployment
export function controllerContainer(objs: K8sObject[]): any {
  return find(objs, 'Deployment', 'milvus-migrate-controller').spec.template.spec.containers[0];
}

export function envOf(container: {
  env?: { name: string; value?: string }[];
}): Record<string, string | undefined> {
  return Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
}

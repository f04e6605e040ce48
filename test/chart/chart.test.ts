/**
 * The Helm chart without a cluster: helm lint, helm template with default and non-default values,
 * its CRD copy is the generated one, and it makes the same objects as the kustomize base deploy/.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CRD_FILE } from '../../src/api/crd.js';
import { CHART_CRD_FILE, renderCrdYaml } from '../../src/api/generate-crd.js';
import { milvusMigration } from '../../src/api/migration.js';
import { copyPodFromEnv, jobManifest } from '../../src/controller/job.js';
import {
  CHART_DIR,
  controllerContainer,
  envOf,
  find,
  key,
  renderChart,
  renderKustomize,
  withoutHelmLabels,
} from '../support/chart.js';
import { REPO_ROOT } from '../support/milvus-server.js';
import { helmBinary, run } from '../support/tools.js';

const CHART_VERSION = '0.1.0';

describe('helm lint and template', () => {
  it('helm lint --strict passes', () => {
    const r = run(helmBinary(), ['lint', '--strict', CHART_DIR]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('Chart.yaml: version and appVersion', () => {
    const r = run(helmBinary(), ['show', 'chart', CHART_DIR]);
    expect(r.stdout).toMatch(new RegExp(`^version: ${CHART_VERSION}$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^appVersion: "?${CHART_VERSION}"?$`, 'm'));
  });

  it('default values: the controller objects, no ServiceMonitor, the copy Jobs run the controller image', () => {
    const objs = renderChart();
    expect(objs.map(key).sort()).toEqual(
      [
        'ClusterRole//milvus-migrate-controller',
        'ClusterRole//milvus-migrate-edit',
        'ClusterRole//milvus-migrate-view',
        'ClusterRoleBinding//milvus-migrate-controller',
        'CustomResourceDefinition//milvusmigrations.migration.milvus.io',
        'Deployment/milvus-migrate/milvus-migrate-controller',
        'Role/milvus-migrate/milvus-migrate-controller-leader-election',
        'RoleBinding/milvus-migrate/milvus-migrate-controller-leader-election',
        'Service/milvus-migrate/milvus-migrate-controller-metrics',
        'ServiceAccount/milvus-migrate/milvus-migrate-controller',
      ].sort(),
    );
    const c = controllerContainer(objs);
    expect(c.image).toBe(`milvus-migrate:${CHART_VERSION}`);
    expect(envOf(c)).toMatchObject({ MM_IMAGE: c.image, LOG_LEVEL: 'info', WATCH_NAMESPACE: '' });
  });

  it('values reach the objects: image, log level, watched namespace, scheduling, ServiceMonitor', () => {
    const objs = renderChart(
      {
        'image.repository': 'registry.example.com/mm',
        'image.tag': '1.2.3',
        'image.pullPolicy': 'Always',
        logLevel: 'debug',
        watchNamespace: 'team-a',
        'nodeSelector.pool': 'system',
        'tolerations[0].key': 'dedicated',
        'tolerations[0].operator': 'Exists',
        'metrics.serviceMonitor.enabled': 'true',
        'metrics.serviceMonitor.labels.release': 'prom',
        'resources.limits.memory': '1Gi',
      },
      'ops',
    );
    const c = controllerContainer(objs);
    expect(c.image).toBe('registry.example.com/mm:1.2.3');
    expect(c.imagePullPolicy).toBe('Always');
    expect(envOf(c)).toMatchObject({
      MM_IMAGE: 'registry.example.com/mm:1.2.3',
      LOG_LEVEL: 'debug',
      WATCH_NAMESPACE: 'team-a',
    });
    expect(c.resources.limits.memory).toBe('1Gi');
    const pod = find(objs, 'Deployment').spec.template.spec;
    expect(pod.nodeSelector).toEqual({ pool: 'system' });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Exists' }]);
    // Installed elsewhere, every namespaced object and every subject follows the release namespace;
    // the grant to watch team-a is a Role and RoleBinding there, and nothing cluster-wide.
    for (const o of objs.filter(
      (x) => x.metadata.namespace !== undefined && x.metadata.namespace !== 'team-a',
    ))
      expect(o.metadata.namespace).toBe('ops');
    expect(
      objs
        .filter((x) => x.metadata.namespace === 'team-a')
        .map(key)
        .sort(),
    ).toEqual(['Role/team-a/milvus-migrate-controller', 'RoleBinding/team-a/milvus-migrate-controller']);
    expect(find(objs, 'RoleBinding', 'milvus-migrate-controller').subjects[0].namespace).toBe('ops');
    expect(find(objs, 'RoleBinding', 'milvus-migrate-controller-leader-election').subjects[0].namespace).toBe(
      'ops',
    );
    expect(objs.filter((x) => x.kind === 'ClusterRoleBinding')).toEqual([]);
    expect(
      objs
        .filter((x) => x.kind === 'ClusterRole')
        .map((x) => x.metadata.name)
        .sort(),
    ).toEqual(['milvus-migrate-edit', 'milvus-migrate-view']);
    // The same rules as the cluster-wide grant of a default install.
    expect(find(objs, 'Role', 'milvus-migrate-controller').rules).toEqual(
      find(renderChart(), 'ClusterRole', 'milvus-migrate-controller').rules,
    );
    const sm = find(objs, 'ServiceMonitor', 'milvus-migrate-controller');
    expect(sm.metadata.labels?.release).toBe('prom');
    expect(sm.spec.endpoints).toEqual([
      { port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s', honorLabels: true },
    ]);
    const svc = find(objs, 'Service');
    // A ServiceMonitor selects Services by their labels.
    expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
  });

  it('values.schema.json refuses a wrong log level, pull policy or a misspelt key', () => {
    for (const [set, says] of [
      ['logLevel=verbose', 'logLevel'],
      ['image.pullPolicy=Sometimes', 'pullPolicy'],
      ['watchNamespaces=a', 'watchNamespaces'],
    ] as const) {
      const r = run(helmBinary(), ['template', 'x', CHART_DIR, '--set', set]);
      expect(r.code, `${set} was accepted`).not.toBe(0);
      expect(r.stderr).toContain(says);
    }
  });
});

describe('the chart and deploy/ do not drift apart', () => {
  it('the chart ships the generated CRD (npm run gen:crd writes both copies)', () => {
    const chartCrd = readFileSync(path.join(REPO_ROOT, CHART_CRD_FILE), 'utf8');
    expect(chartCrd, `${CHART_CRD_FILE} is stale: run npm run gen:crd`).toBe(renderCrdYaml());
    expect(chartCrd).toBe(readFileSync(path.join(REPO_ROOT, CRD_FILE), 'utf8'));
  });

  it('same objects as kubectl kustomize deploy/ (the chart leaves the Namespace to --create-namespace)', () => {
    // deploy/ names the locally built image milvus-migrate:dev; the chart defaults to appVersion.
    const chart = renderChart({ 'image.tag': 'dev' }).map(withoutHelmLabels);
    const base = renderKustomize();
    const baseNs = base.filter((o) => o.kind === 'Namespace');
    expect(baseNs.map(key)).toEqual(['Namespace//milvus-migrate']);
    const rest = base.filter((o) => o.kind !== 'Namespace');
    expect(chart.map(key).sort()).toEqual(rest.map(key).sort());
    for (const b of rest) {
      const c = chart.find((x) => key(x) === key(b))!;
      expect(c, `${key(b)} differs between the chart and deploy/`).toEqual(b);
    }
  });

  it('the comparison notices a difference (a changed value makes the Deployment differ)', () => {
    const chart = renderChart({ 'image.tag': 'dev', logLevel: 'debug' }).map(withoutHelmLabels);
    const base = renderKustomize();
    expect(find(chart, 'Deployment')).not.toEqual(find(base, 'Deployment'));
  });
});

describe('platform settings', () => {
  it('replicaCount > 1 gets a PodDisruptionBudget (none for one replica)', () => {
    expect(renderChart().filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
    const objs = renderChart({ replicaCount: '2' });
    expect(find(objs, 'Deployment').spec.replicas).toBe(2);
    const pdb = find(objs, 'PodDisruptionBudget', 'milvus-migrate-controller');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(find(objs, 'Deployment').spec.selector.matchLabels);
  });

  it('copyPod values reach the controller (MM_COPY_POD), which puts them on every copy Job', () => {
    const objs = renderChart({
      'copyPod.priorityClassName': 'batch-low',
      'copyPod.nodeSelector.pool': 'migrations',
      'copyPod.resources.limits.memory': '4Gi',
      'copyPod.ttlSecondsAfterFinished': '3600',
      'copyPod.labels.team': 'data',
      'copyPod.tolerations[0].key': 'spot',
      'copyPod.tolerations[0].operator': 'Exists',
    });
    const settings = copyPodFromEnv({ MM_COPY_POD: envOf(controllerContainer(objs)).MM_COPY_POD });
    const j = jobManifest(MIGRATION, ['books'], 'img:1', [], {}, settings);
    const pod = j.spec!.template.spec!;
    expect(pod.priorityClassName).toBe('batch-low');
    expect(pod.nodeSelector).toEqual({ pool: 'migrations' });
    expect(pod.tolerations).toEqual([{ key: 'spot', operator: 'Exists' }]);
    expect(pod.containers[0]!.resources).toEqual({ limits: { memory: '4Gi' } });
    expect(j.spec!.ttlSecondsAfterFinished).toBe(3600);
    expect(j.spec!.template.metadata!.labels).toMatchObject({
      team: 'data',
      'migration.milvus.io/name': 'books',
    });
    // Defaults: the built-in resources, nothing else set.
    const d = jobManifest(
      MIGRATION,
      ['books'],
      'img:1',
      [],
      {},
      copyPodFromEnv({ MM_COPY_POD: envOf(controllerContainer(renderChart())).MM_COPY_POD }),
    );
    expect(d.spec!.template.spec!.containers[0]!.resources).toEqual({
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { cpu: '2', memory: '1Gi' },
    });
    expect(d.spec!.ttlSecondsAfterFinished).toBeUndefined();
    expect(d.spec!.template.spec!.priorityClassName).toBeUndefined();
    // The schema refuses a TTL that would remove Jobs before the controller reads them.
    const r = run(helmBinary(), ['template', 'x', CHART_DIR, '--set', 'copyPod.ttlSecondsAfterFinished=10']);
    expect(r.code).not.toBe(0);
  });
});

const MIGRATION = milvusMigration.parse({
  apiVersion: 'migration.milvus.io/v1alpha1',
  kind: 'MilvusMigration',
  metadata: { name: 'books', namespace: 'ns1', uid: 'u', generation: 1 },
  spec: { source: { endpoint: 'h:1' }, target: { endpoint: 'h:2' }, collections: [{ name: 'books' }] },
});

describe('optional platform objects', () => {
  it('PrometheusRule: a Failed migration, a stalled copy, no leader, reconcile errors — on metrics the controller exports', () => {
    expect(renderChart().filter((o) => o.kind === 'PrometheusRule')).toEqual([]);
    const objs = renderChart({
      'metrics.prometheusRule.enabled': 'true',
      'metrics.prometheusRule.stalledFor': '1h',
    });
    const rules = find(objs, 'PrometheusRule', 'milvus-migrate-controller').spec.groups[0].rules as {
      alert: string;
      expr: string;
    }[];
    expect(rules.map((r) => r.alert)).toEqual([
      'MilvusMigrationFailed',
      'MilvusMigrationCopyStalled',
      'MilvusMigrateNoLeader',
      'MilvusMigrateReconcileErrors',
    ]);
    expect(rules[1]!.expr).toContain('delta(milvus_migrate_rows_copied[1h]) == 0');
    // Every metric an alert reads is one the controller serves.
    const served = readFileSync(path.join(REPO_ROOT, 'src/controller/metrics.ts'), 'utf8');
    for (const r of rules)
      for (const m of r.expr.match(/milvus_migrate_[a-z_]+/g) ?? []) expect(served, m).toContain(`'${m}'`);
  });

  it('NetworkPolicy: controller ingress only on its ports; with watchNamespace, none into the copy pods', () => {
    expect(renderChart().filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
    const objs = renderChart({ 'networkPolicy.enabled': 'true', watchNamespace: 'team-a' });
    const ctl = find(objs, 'NetworkPolicy', 'milvus-migrate-controller');
    expect(ctl.spec.policyTypes).toEqual(['Ingress']);
    expect(ctl.spec.ingress).toEqual([{ ports: [{ port: 8080 }, { port: 8081 }] }]);
    expect(ctl.spec.podSelector.matchLabels).toEqual(find(objs, 'Deployment').spec.selector.matchLabels);
    const copy = find(objs, 'NetworkPolicy', 'milvus-migrate-copy-pods');
    expect(copy.metadata.namespace).toBe('team-a');
    expect(copy.spec).toMatchObject({ policyTypes: ['Ingress'], ingress: [] });
    // The copy Jobs' pods carry the labels it selects.
    const j = jobManifest(MIGRATION, ['books'], 'img:1');
    expect(j.spec!.template.metadata!.labels).toMatchObject(copy.spec.podSelector.matchLabels);
  });

  it('Grafana dashboard: a ConfigMap for the sidecar whose panels query only metrics the controller serves', () => {
    expect(renderChart().filter((o) => o.kind === 'ConfigMap')).toEqual([]);
    const cm = find(
      renderChart({ 'metrics.grafanaDashboard.enabled': 'true' }),
      'ConfigMap',
      'milvus-migrate-dashboard',
    );
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    const dash = JSON.parse(cm.data['milvus-migrate.json']) as { panels: { targets: { expr: string }[] }[] };
    const served = readFileSync(path.join(REPO_ROOT, 'src/controller/metrics.ts'), 'utf8');
    const metrics = dash.panels.flatMap((p) =>
      p.targets.flatMap((t) => t.expr.match(/milvus_migrate_[a-z_]+/g) ?? []),
    );
    expect(metrics.length).toBeGreaterThan(5);
    for (const m of metrics) expect(served, m).toContain(`'${m}'`);
  });
});

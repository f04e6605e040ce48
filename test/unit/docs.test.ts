/**
 * The docs stay true: the field reference is what the generator writes from the schema, the
 * troubleshooting page covers exactly the reasons the code can set, the examples load as the CLI
 * loads them, and the Argo CD snippet in docs/gitops.md is the shipped health check.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REFERENCE_FILE, renderReference } from '../../src/api/generate-docs.js';
import { loadInputFiles } from '../../src/api/input.js';
import { REASONS } from '../../src/api/reasons.js';
import { HEALTH_LUA } from '../support/gitops.js';
import { REPO_ROOT } from '../support/milvus-server.js';
import { reasonsIn, reasonsInTree } from '../support/reasons.js';

const doc = (f: string) => readFileSync(path.join(REPO_ROOT, 'docs', f), 'utf8');

describe('docs/reference.md', () => {
  it('is what npm run gen:docs writes from the schema', () => {
    expect(readFileSync(path.join(REPO_ROOT, REFERENCE_FILE), 'utf8'), 'run npm run gen:docs').toBe(
      renderReference(),
    );
  });

  it('lists every spec field with its default and enum', () => {
    const ref = renderReference();
    for (const f of ['spec.source.endpoint', 'spec.collections[].targetName', 'spec.verify', 'spec.suspend'])
      expect(ref).toContain(`| \`${f}\` |`);
    expect(ref).toMatch(
      /\| `spec.verify` \| `string` \|[^\n]*`sample`[^\n]*one of `count`, `sample`, `full`/,
    );
  });
});

describe('docs/troubleshooting.md', () => {
  const headings = new Set([...doc('troubleshooting.md').matchAll(/^### (\S+)$/gm)].map((m) => m[1]!));

  it('the reason finder finds reasons where the code sets them', () => {
    const found = reasonsIn(
      'x.ts',
      `throw new UserError('m', 'AlphaReason');
       applyPhaseConditions(s, 'Failed', ok ? 'BetaReason' : 'GammaReason', 'message text');
       const reason = 'DeltaReason';
       emit({ reason: x ?? 'EpsilonReason' });
       function reasonOf() { return 'ZetaReason'; }
       function pick(a: boolean): Reason { return a ? 'EtaReason' : 'ThetaReason'; }
       function label(): string { return 'NotReturnedReason'; }
       log('NotAReason', 'Not a reason');`,
    );
    expect([...found].sort()).toEqual(
      [
        'AlphaReason',
        'BetaReason',
        'DeltaReason',
        'EpsilonReason',
        'GammaReason',
        'ZetaReason',
        'EtaReason',
        'ThetaReason',
      ].sort(),
    );
  });

  it('explains every reason the code can set', () => {
    const reasons = reasonsInTree(REPO_ROOT);
    // The known core: a finder that silently found nothing would pass the next check.
    for (const r of ['SecretNotFound', 'AuthenticationFailed', 'JobFailed', 'PlanRefused', 'InvalidSpec'])
      expect(reasons.has(r), r).toBe(true);
    const missing = [...reasons.keys()].filter((r) => !headings.has(r));
    expect(
      missing.map((r) => `${r} (${reasons.get(r)!.join(', ')})`),
      'reasons without a "### Reason" section in docs/troubleshooting.md',
    ).toEqual([]);
  });

  it('explains exactly the reasons of src/api/reasons.ts, the one list the code takes them from', () => {
    expect([...headings].sort()).toEqual([...REASONS].sort());
    const known = new Set<string>(REASONS);
    const reasons = reasonsInTree(REPO_ROOT);
    expect(
      [...reasons.keys()].filter((r) => !known.has(r)),
      'reasons set in the code but missing in src/api/reasons.ts',
    ).toEqual([]);
  });

  it('explains no reason the code no longer sets', () => {
    const reasons = reasonsInTree(REPO_ROOT);
    expect([...headings].filter((h) => !reasons.has(h))).toEqual([]);
  });
});

describe('docs/examples', () => {
  const dir = path.join(REPO_ROOT, 'docs', 'examples');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

  it('cover Zilliz Cloud, user/password, a custom CA and many collections with renames', () => {
    expect(files.sort()).toEqual(
      [
        'many-collections.yaml',
        'self-hosted-password.yaml',
        'tls-custom-ca.yaml',
        'zilliz-cloud.yaml',
      ].sort(),
    );
    const zilliz = loadInputFiles([path.join(dir, 'zilliz-cloud.yaml')]);
    expect(zilliz.migration.spec.target.endpoint).toMatch(/^https:\/\//);
    expect(zilliz.secrets.find((s) => s.name === 'zilliz-cloud')?.data.token).toBeDefined();
    const tls = loadInputFiles([path.join(dir, 'tls-custom-ca.yaml')]);
    expect(tls.secrets[0]?.data['ca.crt']?.toString()).toContain('BEGIN CERTIFICATE');
    const many = loadInputFiles([path.join(dir, 'many-collections.yaml')]).migration.spec.collections;
    expect(many.length).toBeGreaterThanOrEqual(4);
    expect(many.filter((c) => c.targetName && c.targetName !== c.name).length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('%s loads as the CLI loads it (schema, Secrets named by secretRef present)', (f) => {
    const input = loadInputFiles([path.join(dir, f)]);
    for (const side of ['source', 'target'] as const) {
      const ref = input.migration.spec[side].secretRef;
      if (ref) expect(input.secrets.map((s) => s.name)).toContain(ref.name);
    }
  });
});

describe('docs/gitops.md', () => {
  it('the argocd-cm snippet carries deploy/argocd/health.lua verbatim', () => {
    const block = doc('gitops.md').match(/```yaml\n(# argocd-cm[\s\S]*?)```/)?.[1];
    expect(block, 'no argocd-cm yaml block in docs/gitops.md').toBeDefined();
    const cm = parse(block!) as { data: Record<string, string> };
    expect(cm.data['resource.customizations.health.migration.milvus.io_MilvusMigration']).toBe(
      readFileSync(HEALTH_LUA, 'utf8'),
    );
  });
});

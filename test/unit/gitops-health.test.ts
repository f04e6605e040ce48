/**
 * GitOps health of real status objects: test/fixtures/status/*.json were captured from the cluster
 * by test/e2e/helm.test.ts (MM_CAPTURE_STATUS=1), which also checks the live objects. Each is read
 * by the Argo CD Lua check we ship and by the kstatus library Flux uses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { argoHealth, kstatus } from '../support/gitops.js';
import { REPO_ROOT } from '../support/milvus-server.js';

const DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'status');
// biome-ignore lint/suspicious/noExplicitAny: captured Kubernetes objects
const load = (name: string): any => JSON.parse(readFileSync(path.join(DIR, `${name}.json`), 'utf8'));

// Fixture → [Argo CD health, kstatus status]. Canceled (spec.suspend) has Ready=False with neither
// Reconciling nor Stalled, which kstatus reads as InProgress: not done, resumes when unsuspended.
const EXPECTED: Record<string, [string, string]> = {
  pending: ['Progressing', 'InProgress'],
  running: ['Progressing', 'InProgress'],
  succeeded: ['Healthy', 'Current'],
  failed: ['Degraded', 'Failed'],
  canceled: ['Suspended', 'InProgress'],
};

describe('health of captured status objects', () => {
  it('every captured fixture has an expectation and every expectation a fixture', () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.replace(/\.json$/, ''));
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))('%s: Argo CD %s, kstatus %s', async (name, [argo, ks]) => {
    const o = load(name);
    expect(o.status.observedGeneration).toBe(o.metadata.generation);
    const hs = await argoHealth(o);
    expect(hs.status).toBe(argo);
    expect(hs.message.length).toBeGreaterThan(0);
    expect(kstatus([o])[0]!.status).toBe(ks);
  });

  it('a failed migration names its reason in Argo CD and its message in kstatus', async () => {
    const o = load('failed');
    const stalled = o.status.conditions.find((c: { type: string }) => c.type === 'Stalled');
    expect((await argoHealth(o)).message).toBe(`${stalled.reason}: ${stalled.message}`);
    expect(kstatus([o])[0]!.message).toBe(stalled.message);
  });

  it('a spec change the controller has not seen yet is in progress for both, even after success', async () => {
    const o = load('succeeded');
    o.metadata.generation += 1;
    expect((await argoHealth(o)).status).toBe('Progressing');
    expect(kstatus([o])[0]!.status).toBe('InProgress');
  });

  it('an object the controller has not touched: Progressing in Argo CD; kstatus cannot tell yet', async () => {
    const { status: _s, ...fresh } = load('succeeded');
    expect((await argoHealth(fresh)).status).toBe('Progressing');
    // kstatus treats an object without conditions as Current (docs/gitops.md says so).
    expect(kstatus([fresh])[0]!.status).toBe('Current');
  });

  it('a deleted object is Terminating for kstatus', () => {
    const o = load('running');
    o.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    expect(kstatus([o])[0]!.status).toBe('Terminating');
  });
});

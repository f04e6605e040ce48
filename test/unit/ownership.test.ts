/**
 * decide() for issue 14: claims on target collections (two migrations, one target), the record of
 * verified targets DropIncomplete never drops, and honest generations (a Job made from another
 * spec, a finished run and a newer generation).
 */

import { describe, expect, it } from 'vitest';
import type { MigrationStatus } from '../../src/api/migration.js';
import { milvusMigration } from '../../src/api/migration.js';
import type { Reason } from '../../src/api/reasons.js';
import { applyPhaseConditions, overallProgress, summarize } from '../../src/api/status.js';
import { claimId, claimLease, claimLeaseName, type ObservedClaim } from '../../src/controller/claims.js';
import {
  type Action,
  decide,
  incompleteTargets,
  type Observed,
  transportWarnings,
} from '../../src/controller/decide.js';
import {
  GENERATION_ANNOTATION,
  jobManifest,
  SPEC_HASH_ANNOTATION,
  specHash,
} from '../../src/controller/job.js';
import { NOW, observed } from '../support/observed.js';

const types = (a: Action[]) => a.map((x) => x.type);
const patched = (a: Action[]) =>
  (a.find((x) => x.type === 'patchStatus') as { status: MigrationStatus } | undefined)?.status;
const cond = (s: MigrationStatus | undefined, t: string) => s?.conditions?.find((c) => c.type === t);
const job = (over: Partial<NonNullable<Observed['job']>> = {}): NonNullable<Observed['job']> => ({
  name: 'books-copy',
  uid: 'job-uid',
  deleting: false,
  complete: false,
  failed: false,
  ...over,
});
function status(phase: MigrationStatus['phase'], reason: Reason, gen = 1, extra: MigrationStatus = {}) {
  const s: MigrationStatus = { ...extra, observedGeneration: gen };
  applyPhaseConditions(s, phase!, reason, 'm', gen);
  return s;
}

const ID = claimId('10.0.0.2:19530', 'default', 'books');
const claim = (over: Partial<ObservedClaim> = {}): ObservedClaim => ({
  target: 'books',
  id: ID,
  lease: claimLeaseName(ID),
  ...over,
});
const MINE = { namespace: 'ns1', name: 'books', uid: 'uid-1' };
const OTHER = { namespace: 'team-b', name: 'first', uid: 'uid-other' };

describe('claims: one migration per target collection', () => {
  it('the claim identity: endpoint as dialled (host lower-cased, default ports), database, collection', () => {
    expect(claimId('Milvus.Example:19530', 'default', 'c')).toBe('milvus.example:19530/default/c');
    expect(claimId('milvus.example', 'default', 'c')).toBe(
      claimId('http://milvus.example:19530', 'default', 'c'),
    );
    expect(claimId('https://m.example', 'db', 'c')).toBe('m.example:443/db/c');
    expect(claimId('h:1', 'db1', 'c')).not.toBe(claimId('h:1', 'db2', 'c'));
    const l = claimLease('milvus-migrate', ID, MINE);
    expect(l.metadata?.name).toMatch(/^mmig-claim-[0-9a-f]{40}$/);
    expect(l.metadata?.annotations).toMatchObject({
      'migration.milvus.io/target': ID,
      'migration.milvus.io/holder': 'ns1/books',
      'migration.milvus.io/holder-uid': 'uid-1',
    });
  });

  it('nobody holds it → claim first; nothing is looked at or created before', () => {
    const a = decide(observed({ claims: [claim()] }, { ownedTargets: undefined }));
    expect(a).toEqual([
      { type: 'claimTargets', claims: [claim()] },
      { type: 'requeue', afterMs: 500 },
    ]);
  });

  it('held by this migration → on to the target check and the Job', () => {
    expect(decide(observed({ claims: [claim({ holder: MINE })] }, { ownedTargets: undefined }))).toEqual([
      { type: 'computeOwnedTargets' },
    ]);
    expect(types(decide(observed({ claims: [claim({ holder: MINE })] })))).toContain('createJob');
  });

  it('held by another live migration → refused (TargetClaimed, naming it), no Job, checked again in 30 s', () => {
    const a = decide(observed({ claims: [claim({ holder: OTHER })] }));
    expect(types(a)).toEqual(['patchStatus', 'event', 'requeue']);
    const s = patched(a)!;
    expect(s.phase).toBe('Failed');
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'True', reason: 'TargetClaimed' });
    expect(cond(s, 'Stalled')?.message).toContain('claimed by MilvusMigration "team-b/first"');
    expect(a[1]).toMatchObject({ type: 'event', eventType: 'Warning', reason: 'TargetClaimed' });
    expect(a[2]).toEqual({ type: 'requeue', afterMs: 30_000 });
    // Already said: only the re-check.
    expect(decide(observed({ claims: [claim({ holder: OTHER })] }, { status: s }))).toEqual([
      { type: 'requeue', afterMs: 30_000 },
    ]);
    // The holder deleted (its claim released): a refused migration goes on by itself.
    expect(decide(observed({ claims: [claim()] }, { status: s }))[0]).toMatchObject({ type: 'claimTargets' });
  });

  it('a stale claim (its holder is gone) is taken over', () => {
    const stale = claim({ holder: OTHER, stale: true });
    expect(decide(observed({ claims: [stale] }))[0]).toEqual({ type: 'claimTargets', claims: [stale] });
  });

  it('one of several targets held by another → the whole migration is refused', () => {
    const a = decide(
      observed({
        claims: [
          claim({ holder: MINE }),
          claim({ target: 'b', id: 'x/default/b', lease: 'l2', holder: OTHER }),
        ],
      }),
    );
    expect(patched(a)?.phase).toBe('Failed');
    expect(types(a)).not.toContain('createJob');
    expect(types(a)).not.toContain('claimTargets');
  });

  it('deletion: the Jobs stop (Foreground) before the claims are given back, then the finalizer goes', () => {
    const del = { deleting: true, deletionTimestamp: NOW - 1000 };
    const held = [claim({ holder: MINE })];
    expect(decide(observed({ job: job(), claims: held }, del))).toEqual([
      { type: 'deleteJob', name: 'books-copy', propagation: 'Foreground' },
      { type: 'requeue', afterMs: 2000 },
    ]);
    expect(decide(observed({ claims: held }, del))).toEqual([
      { type: 'releaseClaims', claims: held },
      { type: 'removeFinalizer' },
    ]);
    // Another's claim is never released by this one.
    expect(decide(observed({ claims: [claim({ holder: OTHER })] }, del))).toEqual([
      { type: 'removeFinalizer' },
    ]);
  });
});

describe('DropIncomplete drops only what never reached a verified copy', () => {
  const COLLS = [
    { name: 'books', targetName: 'books' },
    { name: 'b2', targetName: 'b2' },
  ];
  const succeeded = (): MigrationStatus =>
    status('Succeeded', 'Succeeded', 1, {
      collections: [
        { name: 'books', targetName: 'books', phase: 'Succeeded', sourceEntities: 3, copiedEntities: 3 },
        { name: 'b2', targetName: 'b2', phase: 'Succeeded', sourceEntities: 3, copiedEntities: 3 },
      ],
    });

  it('every status written records the Succeeded targets in status.verifiedTargets', () => {
    const a = decide(
      observed({ job: job({ complete: true }), podStatus: succeeded() }, { collections: COLLS }),
    );
    expect(patched(a)?.verifiedTargets).toEqual(['b2', 'books']);
  });

  it('a re-run whose pod reports the collections Copying again keeps the record', () => {
    // The re-run's Job was created (Pending): the last run's figures are still in the status.
    const cur = status('Pending', 'JobCreated', 1, {
      collections: succeeded().collections!,
      verifiedTargets: ['b2', 'books'],
      lastRerun: '1',
    });
    const pod = status('Running', 'Copying', 1, {
      collections: [
        { name: 'books', targetName: 'books', phase: 'Copying', sourceEntities: 3, copiedEntities: 0 },
        { name: 'b2', targetName: 'b2', phase: 'Pending', copiedEntities: 0 },
      ],
    });
    const a = decide(
      observed({ job: job(), podStatus: pod }, { status: cur, rerun: '1', collections: COLLS }),
    );
    const s = patched(a)!;
    expect(s.phase).toBe('Running');
    expect(s.verifiedTargets).toEqual(['b2', 'books']);
    // Deleted at that moment: nothing verified is dropped.
    const m = {
      status: s,
      deleting: true,
      deletionTimestamp: NOW - 1000,
      deletionPolicy: 'DropIncomplete' as const,
      ownedTargets: ['books', 'b2'],
      collections: COLLS,
    };
    expect(incompleteTargets(observed({}, m).migration)).toEqual([]);
    expect(decide(observed({}, m))).toEqual([{ type: 'removeFinalizer' }]);
  });

  it('a Job that succeeded (the worker exits 0 only when every collection verified) records every target, even without a readable report', () => {
    const a = decide(
      observed(
        { job: job({ complete: true }) },
        { collections: COLLS, status: status('Running', 'Copying') },
      ),
    );
    expect(patched(a)).toMatchObject({ phase: 'Succeeded', verifiedTargets: ['b2', 'books'] });
  });

  it('an older status without the record: Succeeded collections count as verified', () => {
    const m = observed({}, { ownedTargets: ['books', 'b2', 'x'], status: succeeded() }).migration;
    expect(incompleteTargets(m)).toEqual(['x']);
  });
});

describe('honest generations', () => {
  const SPEC = milvusMigration.parse({
    apiVersion: 'migration.milvus.io/v1alpha1',
    kind: 'MilvusMigration',
    metadata: { name: 'books', namespace: 'ns1', uid: 'uid-1', generation: 4 },
    spec: {
      source: { endpoint: '10.0.0.1:19530' },
      target: { endpoint: '10.0.0.2:19530' },
      collections: [{ name: 'books' }],
    },
  });
  const H1 = specHash(SPEC.spec);
  const H2 = specHash({ ...SPEC.spec, verify: 'full' });

  it('the spec hash covers what a result depends on, not suspend, deletionPolicy or parallelism, nor key order', () => {
    expect(H2).not.toBe(H1);
    expect(specHash({ ...SPEC.spec, suspend: true, deletionPolicy: 'DropIncomplete', parallelism: 4 })).toBe(
      H1,
    );
    const reordered = Object.fromEntries(Object.entries(SPEC.spec).reverse()) as typeof SPEC.spec;
    expect(specHash(reordered)).toBe(H1);
    expect(specHash({ ...SPEC.spec, target: { ...SPEC.spec.target, database: 'db2' } })).not.toBe(H1);
  });

  it('every Job records the generation and spec hash it was made from', () => {
    const j = jobManifest(SPEC, ['books']);
    expect(j.metadata?.annotations).toMatchObject({
      [GENERATION_ANNOTATION]: '4',
      [SPEC_HASH_ANNOTATION]: H1,
    });
  });

  it('spec.verify changed mid-run → the Job is stopped, observedGeneration stays at the last run, SpecChanged', () => {
    const cur = status('Running', 'Copying', 1, { runSpecHash: undefined });
    const a = decide(
      observed({ job: job({ generation: 1, specHash: H1 }), specHash: H2 }, { generation: 2, status: cur }),
    );
    expect(types(a)).toEqual(['deleteJob', 'patchStatus', 'event', 'requeue']);
    expect(a[0]).toEqual({ type: 'deleteJob', name: 'books-copy', propagation: 'Foreground' });
    const s = patched(a)!;
    expect(s.observedGeneration).toBe(1);
    expect(cond(s, 'Reconciling')).toMatchObject({
      status: 'True',
      reason: 'SpecChanged',
      observedGeneration: 1,
    });
    expect(a[2]).toMatchObject({ reason: 'SpecChanged' });
    // Once the old Job is gone: a Job of generation 2.
    expect(types(decide(observed({ specHash: H2 }, { generation: 2, status: s })))).toContain('createJob');
  });

  it('a change that does not touch the result (deletionPolicy) lets the run go on', () => {
    const a = decide(
      observed(
        { job: job({ generation: 1, specHash: H1 }), specHash: H1 },
        { generation: 2, status: status('Running', 'Copying') },
      ),
    );
    expect(types(a)).not.toContain('deleteJob');
  });

  it('a Succeeded run answers for a newer generation only if its result holds for it', () => {
    const done = status('Succeeded', 'Succeeded', 1, { runSpecHash: H1 });
    expect(decide(observed({ specHash: H1 }, { generation: 2, status: done }))).toEqual([
      { type: 'patchStatus', status: { ...done, observedGeneration: 2 } },
    ]);
    // verify changed after the run: a new run, and no observedGeneration 2 before it ends.
    const a = decide(observed({ specHash: H2 }, { generation: 2, status: done }));
    expect(types(a)).toEqual(['createJob', 'patchStatus', 'event', 'requeue']);
    expect(a[2]).toMatchObject({ reason: 'SpecChanged' });
    expect(cond(patched(a), 'Ready')?.status).toBe('False');
    // Its Job still there from the last run: stopped first.
    expect(
      types(
        decide(
          observed(
            { specHash: H2, job: job({ complete: true, specHash: H1 }) },
            { generation: 2, status: done },
          ),
        ),
      ),
    ).toEqual(['deleteJob', 'requeue']);
  });

  it('the run that ends records the spec hash it answers for', () => {
    const a = decide(
      observed({ job: job({ complete: true, specHash: H2 }), specHash: H2 }, { generation: 2 }),
    );
    expect(patched(a)).toMatchObject({ phase: 'Succeeded', observedGeneration: 2, runSpecHash: H2 });
  });
});

describe('progress that means something', () => {
  it('folded source rows are not rows to copy: Succeeded reads 100 %, rows n/n', () => {
    const s: MigrationStatus = {
      collections: [
        {
          name: 'x',
          targetName: 'x',
          phase: 'Succeeded',
          sourceEntities: 2006,
          foldedEntities: 6,
          copiedEntities: 2000,
        },
      ],
    };
    summarize(s);
    expect(s).toMatchObject({ progress: '100%', rows: '2000/2000', collectionsDone: '1/1' });
  });

  it('never 100 % before every collection Succeeded, nor while a source count is unknown', () => {
    const s: MigrationStatus = {
      collections: [
        { name: 'a', targetName: 'a', phase: 'Verifying', sourceEntities: 10, copiedEntities: 10 },
        { name: 'b', targetName: 'b', phase: 'Pending', copiedEntities: 0 },
      ],
    };
    summarize(s);
    expect(s.progress).toBe('99%');
    expect(overallProgress([{ name: 'a', targetName: 'a', phase: 'Pending', copiedEntities: 0 }])).toBe('0%');
  });

  it('a resumed pod that has not reached a collection yet does not make its progress fall', () => {
    const cur = status('Running', 'Copying', 1, {
      collections: [
        { name: 'a', targetName: 'a', phase: 'Succeeded', sourceEntities: 100, copiedEntities: 100 },
        { name: 'b', targetName: 'b', phase: 'Copying', sourceEntities: 100, copiedEntities: 68 },
      ],
    });
    summarize(cur);
    // The replacement pod's first report: planned, nothing measured yet.
    const pod = status('Running', 'Copying', 1, {
      collections: [
        { name: 'a', targetName: 'a', phase: 'Creating', sourceEntities: 100, copiedEntities: 0 },
        { name: 'b', targetName: 'b', phase: 'Pending', sourceEntities: 100, copiedEntities: 0 },
      ],
    });
    const s = patched(decide(observed({ job: job(), podStatus: pod }, { status: cur })))!;
    expect(s.collections!.map((c) => c.copiedEntities)).toEqual([100, 68]);
    expect(Number.parseInt(s.progress!, 10)).toBeGreaterThanOrEqual(Number.parseInt(cur.progress!, 10) - 0);
    // Once the pod measures the collection itself, its own figure stands.
    pod.collections![1] = { ...pod.collections![1]!, phase: 'Copying', copiedEntities: 70 };
    const t = patched(decide(observed({ job: job(), podStatus: pod }, { status: s })))!;
    expect(t.collections![1]!.copiedEntities).toBe(70);
  });
});

describe('a Secret deleted or changed while a Job runs', () => {
  const running = () =>
    status('Running', 'Copying', 1, {
      collections: [
        { name: 'books', targetName: 'books', phase: 'Copying', sourceEntities: 10, copiedEntities: 3 },
      ],
    });

  it('deleted: no Failed while the Job runs; SecretsAvailable=False and one Warning Event', () => {
    const a = decide(observed({ job: job(), missingSecrets: ['src'] }, { status: running() }));
    const s = patched(a)!;
    expect(s.phase).toBe('Running');
    expect(cond(s, 'SecretsAvailable')).toMatchObject({ status: 'False', reason: 'SecretDeleted' });
    expect(cond(s, 'SecretsAvailable')?.message).toContain('Secret "src" was deleted while the copy runs');
    expect(a.filter((x) => x.type === 'event')).toEqual([
      expect.objectContaining({ eventType: 'Warning', reason: 'SecretDeleted' }),
    ]);
    // Said once: the next reconciles carry the condition without another Event.
    const again = decide(
      observed(
        { job: job(), missingSecrets: ['src'], podStatus: running(), lastProgressPatch: 0 },
        { status: s },
      ),
    );
    expect(again.filter((x) => x.type === 'event')).toEqual([]);
    expect(cond(patched(again), 'SecretsAvailable')?.reason).toBe('SecretDeleted');
    // Back: True again, said once.
    const back = decide(observed({ job: job() }, { status: s }));
    expect(cond(patched(back), 'SecretsAvailable')).toMatchObject({ status: 'True', reason: 'SecretsFound' });
    expect(back.filter((x) => x.type === 'event').map((x) => (x as { reason: string }).reason)).toEqual([
      'SecretsFound',
    ]);
  });

  it('deleted with no Job running: SecretNotFound as before (nothing is started without it)', () => {
    const a = decide(observed({ missingSecrets: ['src'] }, { status: running() }));
    expect(patched(a)?.phase).toBe('Failed');
    expect(cond(patched(a), 'Stalled')?.reason).toBe('SecretNotFound');
    expect(types(a)).not.toContain('createJob');
  });

  it('changed since the Job was made: reported (SecretChanged), the run goes on', () => {
    const a = decide(observed({ job: job(), changedSecrets: ['src'] }, { status: running() }));
    expect(types(a)).not.toContain('deleteJob');
    expect(cond(patched(a), 'SecretsAvailable')).toMatchObject({ status: 'True', reason: 'SecretChanged' });
    expect(a).toContainEqual(
      expect.objectContaining({ type: 'event', eventType: 'Normal', reason: 'SecretChanged' }),
    );
  });
});

describe('credentials without TLS, TLS verification off', () => {
  it('warns (condition TransportSecure=False, one Warning Event each) and runs as specified', () => {
    const warn = transportWarnings({
      source: { endpoint: '10.0.0.1:19530', secretRef: { name: 'src' } },
      target: {
        endpoint: 'https://t.example',
        secretRef: { name: 'dst' },
        tls: { insecureSkipVerify: true },
      },
    });
    expect(warn.map((w) => w.reason)).toEqual(['CredentialsWithoutTLS', 'TLSVerificationOff']);
    expect(warn[0]?.message).toContain('Secret "src"');
    const a = decide(observed({ transport: warn }));
    expect(types(a)).toContain('createJob');
    expect(cond(patched(a), 'TransportSecure')).toMatchObject({
      status: 'False',
      reason: 'CredentialsWithoutTLS',
    });
    expect(a.filter((x) => x.type === 'event' && x.eventType === 'Warning').length).toBe(2);
    // Said once; kept on later statuses.
    const s = patched(a)!;
    const b = decide(
      observed({ transport: warn, job: job(), podStatus: status('Running', 'Copying') }, { status: s }),
    );
    expect(b.filter((x) => x.type === 'event')).toEqual([]);
    expect(cond(patched(b), 'TransportSecure')?.status).toBe('False');
  });

  it('nothing to say for TLS with verification, or no credentials', () => {
    expect(
      transportWarnings({
        source: { endpoint: '10.0.0.1:19530' },
        target: { endpoint: 'https://t.example:443', secretRef: { name: 'dst' } },
      }),
    ).toEqual([]);
    expect(decide(observed({ transport: [] }, { status: status('Succeeded', 'Succeeded') }))).toEqual([]);
  });
});

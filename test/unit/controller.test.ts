import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { userPasswords } from '../../src/api/input.js';
import type { MigrationStatus } from '../../src/api/migration.js';
import type { Reason } from '../../src/api/reasons.js';
import { applyPhaseConditions } from '../../src/api/status.js';
import { type Action, decide, type Observed } from '../../src/controller/decide.js';
import { jobManifest, jobName, specHash, workerEnvFrom } from '../../src/controller/job.js';
import { syncFigures } from '../../src/controller/sync-job.js';
import { FixedStateStore, targetKey } from '../../src/engine/state.js';
import { ownedTargets, syncState, workerInput } from '../../src/worker/input.js';
import { lastStatusIn, statusLine } from '../../src/worker/protocol.js';
import { runWorker } from '../../src/worker/worker.js';
import { NOW, observed } from '../support/observed.js';

function status(
  phase: MigrationStatus['phase'],
  reason: Reason,
  gen = 1,
  extra: MigrationStatus = {},
): MigrationStatus {
  const s: MigrationStatus = { ...extra, observedGeneration: gen };
  applyPhaseConditions(s, phase!, reason, 'm', gen);
  return s;
}

const running = (copied: number): MigrationStatus =>
  status('Running', 'Copying', 1, {
    collections: [
      { name: 'books', targetName: 'books', phase: 'Copying', sourceEntities: 300, copiedEntities: copied },
    ],
  });

const types = (a: Action[]) => a.map((x) => x.type);
const patched = (a: Action[]) =>
  (a.find((x) => x.type === 'patchStatus') as { status: MigrationStatus }).status;
const cond = (s: MigrationStatus, t: string) => s.conditions?.find((c) => c.type === t);

describe('decide()', () => {
  it('new object, owned targets not yet known → look at the target first', () => {
    expect(decide(observed({}, { ownedTargets: undefined }))).toEqual([{ type: 'computeOwnedTargets' }]);
  });

  it('new object with owned targets → create the Job, Pending, event', () => {
    const a = decide(observed());
    expect(types(a)).toEqual(['createJob', 'patchStatus', 'event', 'requeue']);
    expect(a[0]).toEqual({ type: 'createJob', ownedTargets: ['books'] });
    expect(patched(a).phase).toBe('Pending');
    expect(cond(patched(a), 'Reconciling')?.status).toBe('True');
    expect(patched(a).observedGeneration).toBe(1);
  });

  it('Job running + a status in the log → patch progress, then look again in 5 s', () => {
    const a = decide(observed({ job: job(), podStatus: running(120) }));
    expect(types(a)).toEqual(['patchStatus', 'requeue']);
    const s = patched(a);
    expect(s).toMatchObject({ phase: 'Running', progress: '40%', rows: '120/300', collectionsDone: '0/1' });
    expect(a[1]).toEqual({ type: 'requeue', afterMs: 5000 });
  });

  it('progress is patched at most every 5 s and only when it changed', () => {
    const at100 = patched(decide(observed({ job: job(), podStatus: running(100) })));
    expect(
      types(
        decide(
          observed({ job: job(), podStatus: running(120), lastProgressPatch: NOW - 1000 }, { status: at100 }),
        ),
      ),
    ).toEqual(['requeue']);
    const cur = decide(observed({ job: job(), podStatus: running(120) }));
    const same = decide(observed({ job: job(), podStatus: running(120) }, { status: patched(cur) }));
    expect(types(same)).toEqual(['requeue']);
  });

  it('the pod began copying: patched at once (not after the 5 s interval); a Pending status is looked at every second', () => {
    const pending = decide(observed({ job: job() }, { status: status('Pending', 'JobCreated') }));
    expect(pending).toEqual([{ type: 'requeue', afterMs: 1000 }]);
    const a = decide(
      observed(
        { job: job(), podStatus: running(120), lastProgressPatch: NOW - 1000 },
        { status: status('Pending', 'JobCreated') },
      ),
    );
    expect(types(a)).toEqual(['patchStatus', 'requeue']);
    expect(patched(a)).toMatchObject({ phase: 'Running', rows: '120/300' });
  });

  it('a final phase in the log while the Job still runs is not final yet', () => {
    const s = decide(observed({ job: job(), podStatus: status('Succeeded', 'Succeeded') }));
    expect(patched(s).phase).toBe('Running');
  });

  it('Job complete → Succeeded from the last log status, Ready=True, event', () => {
    const final = status('Succeeded', 'Succeeded', 1, {
      collections: [
        {
          name: 'books',
          targetName: 'books',
          phase: 'Succeeded',
          sourceEntities: 300,
          copiedEntities: 300,
          targetEntities: 300,
        },
      ],
    });
    const a = decide(observed({ job: job({ complete: true }), podStatus: final }, { status: running(200) }));
    expect(types(a)).toEqual(['patchStatus', 'event']);
    const s = patched(a);
    expect(s).toMatchObject({
      phase: 'Succeeded',
      progress: '100%',
      rows: '300/300',
      collectionsDone: '1/1',
    });
    expect(s.collections?.[0]?.targetEntities).toBe(300);
    expect(cond(s, 'Ready')?.status).toBe('True');
    expect(cond(s, 'Stalled')?.status).toBe('False');
    expect(a[1]).toMatchObject({ type: 'event', eventType: 'Normal', reason: 'Succeeded' });
  });

  it('Succeeded is final: nothing more to do', () => {
    expect(
      decide(observed({ job: job({ complete: true }) }, { status: status('Succeeded', 'Succeeded') })),
    ).toEqual([]);
  });

  it('Job failed → Failed with the worker reason, or the pod log lines', () => {
    const final = status('Failed', 'AuthenticationFailed', 1, {
      errors: [{ time: 't', message: 'source: authentication failed' }],
    });
    const a = decide(observed({ job: job({ failed: true }), podStatus: final }));
    expect(patched(a).phase).toBe('Failed');
    expect(cond(patched(a), 'Stalled')).toMatchObject({ status: 'True', reason: 'AuthenticationFailed' });
    expect(a[1]).toMatchObject({ type: 'event', eventType: 'Warning', reason: 'AuthenticationFailed' });

    const b = decide(
      observed({
        job: job({ failed: true, failureMessage: 'BackoffLimitExceeded' }),
        podErrors: ['out of memory'],
      }),
    );
    const s = patched(b);
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'True', reason: 'JobFailed' });
    expect(s.errors?.map((e) => e.message).join('\n')).toContain('out of memory');
  });

  it('Failed is final for its generation', () => {
    expect(
      decide(observed({ job: job({ failed: true }) }, { status: status('Failed', 'JobFailed') })),
    ).toEqual([]);
  });

  it('suspend → delete the Job and Canceled (once)', () => {
    const a = decide(
      observed({ job: job(), podStatus: running(90) }, { suspend: true, generation: 2, status: running(60) }),
    );
    expect(types(a)).toEqual(['deleteJob', 'patchStatus', 'event']);
    expect(a[0]).toEqual({ type: 'deleteJob', name: 'books-copy', propagation: 'Foreground' });
    const s = patched(a);
    expect(s).toMatchObject({ phase: 'Canceled', observedGeneration: 2, rows: '90/300' });
    expect(s.collections?.[0]?.phase).toBe('Canceled');
    expect(cond(s, 'Reconciling')?.status).toBe('False');
    // Job gone, Canceled recorded for this generation: nothing more.
    expect(decide(observed({}, { suspend: true, generation: 2, status: s }))).toEqual([]);
  });

  it('suspend back to false → a new Job (the engine resumes from the target)', () => {
    const canceled = status('Canceled', 'Suspended', 2);
    expect(types(decide(observed({}, { generation: 3, status: canceled })))).toContain('createJob');
    // the old Job still being deleted: wait
    expect(decide(observed({ job: job({ deleting: true }) }, { generation: 3, status: canceled }))).toEqual([
      { type: 'requeue', afterMs: 2000 },
    ]);
  });

  it('missing Secret → Failed SecretNotFound, re-checked later; created later → Job', () => {
    const a = decide(observed({ missingSecrets: ['src-creds'] }));
    expect(types(a)).toEqual(['patchStatus', 'event', 'requeue']);
    const s = patched(a);
    expect(s.phase).toBe('Failed');
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'True', reason: 'SecretNotFound' });
    expect(cond(s, 'Stalled')?.message).toContain('"src-creds" not found in namespace "ns1"');
    // Same state again: no new patch or event, only the later look.
    expect(decide(observed({ missingSecrets: ['src-creds'] }, { status: s }))).toEqual([
      { type: 'requeue', afterMs: 30_000 },
    ]);
    expect(types(decide(observed({}, { status: s })))).toContain('createJob');
  });

  it('invalid spec → Failed/Stalled InvalidSpec, once per generation', () => {
    const a = decide(observed({ specError: 'spec.collections: the list is empty' }));
    const s = patched(a);
    expect(s.phase).toBe('Failed');
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(decide(observed({ specError: 'x' }, { status: s }))).toEqual([]);
  });

  it('generation bump → observedGeneration follows', () => {
    const done = status('Succeeded', 'Succeeded', 1);
    const a = decide(observed({}, { generation: 2, status: done }));
    expect(types(a)).toEqual(['patchStatus']);
    expect(patched(a)).toMatchObject({ phase: 'Succeeded', observedGeneration: 2 });
    const p = decide(observed({ job: job(), podStatus: running(10) }, { generation: 4 }));
    expect(patched(p).observedGeneration).toBe(4);
    expect(cond(patched(p), 'Ready')?.observedGeneration).toBe(4);
  });

  it('a Failed migration with a new generation gets a fresh Job', () => {
    const failed = status('Failed', 'JobFailed', 1);
    expect(decide(observed({ job: job({ failed: true }) }, { generation: 2, status: failed }))).toEqual([
      { type: 'deleteJob', name: 'books-copy', propagation: 'Foreground' },
    ]);
    expect(types(decide(observed({}, { generation: 2, status: failed })))).toContain('createJob');
  });

  it('a new object gets the finalizer before anything else', () => {
    expect(decide(observed({}, { finalizer: false, ownedTargets: undefined }))).toEqual([
      { type: 'addFinalizer' },
    ]);
  });

  it('a refused Secret namespace → Failed/Stalled with its own reason, once per generation', () => {
    const msg = 'spec.source.secretRef.namespace "other" is not the migration\'s namespace "ns1": ...';
    const a = decide(observed({ specError: msg, specReason: 'CrossNamespaceSecret' }));
    expect(types(a)).toEqual(['patchStatus', 'event']);
    expect(cond(patched(a), 'Stalled')).toMatchObject({ status: 'True', reason: 'CrossNamespaceSecret' });
    // The collections are listed (not started) when the spec could be read.
    const withList = decide(
      observed(
        { specError: msg, specReason: 'CrossNamespaceSecret' },
        { collections: [{ name: 'a', targetName: 'a' }] },
      ),
    );
    expect(patched(withList)).toMatchObject({
      collectionsDone: '0/1',
      collections: [{ name: 'a', targetName: 'a', phase: 'Pending', copiedEntities: 0 }],
    });
    expect(a[1]).toMatchObject({ eventType: 'Warning', reason: 'CrossNamespaceSecret' });
    expect(
      decide(observed({ specError: msg, specReason: 'CrossNamespaceSecret' }, { status: patched(a) })),
    ).toEqual([]);
  });
});

describe('decide() on deletion', () => {
  const COLLS = [{ name: 'books', targetName: 'books' }];
  const deleting = (m: Partial<Observed['migration']> = {}) => ({
    deleting: true,
    deletionTimestamp: NOW - 1000,
    collections: COLLS,
    ...m,
  });

  it('Retain: stop the Job (Background) and let the object go at once; targets untouched', () => {
    const a = decide(observed({ job: job() }, deleting()));
    expect(a).toEqual([
      { type: 'deleteJob', name: 'books-copy', propagation: 'Background' },
      { type: 'removeFinalizer' },
    ]);
  });

  it('DropIncomplete: stop the Job in the foreground, wait for it, then drop the unfinished owned targets', () => {
    const st = running(10);
    st.collections!.push({ name: 'done', targetName: 'done', phase: 'Succeeded', copiedEntities: 5 });
    const m = deleting({
      deletionPolicy: 'DropIncomplete',
      ownedTargets: ['books', 'done', 'never_started'],
      status: st,
    });
    expect(decide(observed({ job: job() }, m))).toEqual([
      { type: 'deleteJob', name: 'books-copy', propagation: 'Foreground' },
      { type: 'requeue', afterMs: 2000 },
    ]);
    // The Job still being deleted (its pod may still write): wait.
    expect(decide(observed({ job: job({ deleting: true }) }, m))).toEqual([
      { type: 'requeue', afterMs: 2000 },
    ]);
    // Gone: drop what this migration created and did not finish; never the Succeeded one.
    expect(decide(observed({}, m))).toEqual([
      { type: 'dropTargets', names: ['books', 'never_started'] },
      { type: 'removeFinalizer' },
    ]);
  });

  it('DropIncomplete drops nothing that existed before (not owned) or when the target was never looked at', () => {
    expect(decide(observed({}, deleting({ deletionPolicy: 'DropIncomplete', ownedTargets: [] })))).toEqual([
      { type: 'removeFinalizer' },
    ]);
    expect(
      decide(observed({}, deleting({ deletionPolicy: 'DropIncomplete', ownedTargets: undefined }))),
    ).toEqual([{ type: 'removeFinalizer' }]);
  });

  it('never hangs: past the time box the finalizer goes anyway, with a Warning Event naming what is left', () => {
    const m = deleting({
      deletionPolicy: 'DropIncomplete',
      ownedTargets: ['books'],
      deletionTimestamp: NOW - 121_000,
    });
    for (const o of [observed({ job: job({ deleting: true }) }, m), observed({}, m)]) {
      const a = decide(o);
      expect(types(a)).toEqual(['event', 'removeFinalizer']);
      expect(a[0]).toMatchObject({ eventType: 'Warning', reason: 'CleanupTimedOut' });
      expect((a[0] as { message: string }).message).toContain('"books" may be left partly written');
    }
    expect(types(decide(observed({ cleanupTimeoutMs: 300_000 }, m)))).toEqual([
      'dropTargets',
      'removeFinalizer',
    ]);
  });

  it('without the finalizer (already cleaned up) there is nothing to do', () => {
    expect(decide(observed({ job: job() }, deleting({ finalizer: false })))).toEqual([]);
  });

  it('a deletion with an invalid spec still stops the Job', () => {
    expect(decide(observed({ job: job(), specError: 'bad' }, deleting()))).toEqual([
      { type: 'deleteJob', name: 'books-copy', propagation: 'Background' },
      { type: 'removeFinalizer' },
    ]);
  });
});

describe('decide(): suspend before the first progress report', () => {
  it('Canceled lists every collection of the spec', () => {
    const pending = decide(
      observed(
        {},
        {
          collections: [
            { name: 'a', targetName: 'a2' },
            { name: 'b', targetName: 'b' },
          ],
        },
      ),
    );
    // Pending already lists them...
    expect(patched(pending).collections?.map((c) => [c.name, c.targetName, c.phase])).toEqual([
      ['a', 'a2', 'Pending'],
      ['b', 'b', 'Pending'],
    ]);
    // ...and a suspend before any progress (status without collections, no pod status) keeps them.
    const a = decide(
      observed(
        { job: job() },
        {
          suspend: true,
          generation: 2,
          status: status('Pending', 'JobCreated'),
          collections: [
            { name: 'a', targetName: 'a2' },
            { name: 'b', targetName: 'b' },
          ],
        },
      ),
    );
    const s = patched(a);
    expect(s.phase).toBe('Canceled');
    expect(s.collections).toEqual([
      { name: 'a', targetName: 'a2', phase: 'Canceled', copiedEntities: 0 },
      { name: 'b', targetName: 'b', phase: 'Canceled', copiedEntities: 0 },
    ]);
    expect(s.collectionsDone).toBe('0/2');
  });
});

describe('decide(): re-run with the migration.milvus.io/rerun annotation', () => {
  const failed = () =>
    status('Failed', 'AuthenticationFailed', 1, { errors: [{ time: 't', message: 'auth' }] });

  it('a Failed migration with a new rerun value: delete the old Job, then a fresh one that records the value', () => {
    const a = decide(observed({ job: job({ failed: true }) }, { status: failed(), rerun: '1' }));
    expect(a).toEqual([
      { type: 'deleteJob', name: 'books-copy', propagation: 'Foreground' },
      { type: 'requeue', afterMs: 2000 },
    ]);
    expect(
      decide(observed({ job: job({ failed: true, deleting: true }) }, { status: failed(), rerun: '1' })),
    ).toEqual([{ type: 'requeue', afterMs: 2000 }]);
    const b = decide(observed({}, { status: failed(), rerun: '1' }));
    expect(types(b)).toEqual(['createJob', 'patchStatus', 'event', 'requeue']);
    expect(patched(b)).toMatchObject({ phase: 'Pending', lastRerun: '1' });
    expect(cond(patched(b), 'Stalled')?.status).toBe('False');
    expect(b[2]).toMatchObject({ reason: 'Rerun' });
  });

  it('the same value again does nothing; nor does a value without a finished phase', () => {
    const done = { ...failed(), lastRerun: '1' };
    expect(decide(observed({ job: job({ failed: true }) }, { status: done, rerun: '1' }))).toEqual([]);
    // Running: the value is not acted on now (the Job in progress is already copying what is missing).
    expect(
      types(decide(observed({ job: job(), podStatus: running(5) }, { status: running(1), rerun: '2' }))),
    ).toEqual(['patchStatus', 'requeue']);
  });

  it('the controller keeps lastRerun across progress reports from the pod', () => {
    const cur = { ...running(1), lastRerun: '7' };
    const a = decide(observed({ job: job(), podStatus: running(50) }, { status: cur, rerun: '7' }));
    expect(patched(a).lastRerun).toBe('7');
  });

  it('a Succeeded migration can be re-run too (a check that copies nothing new)', () => {
    const ok = status('Succeeded', 'Succeeded');
    expect(types(decide(observed({ job: job({ complete: true }) }, { status: ok, rerun: 'x' })))).toEqual([
      'deleteJob',
      'requeue',
    ]);
    expect(types(decide(observed({}, { status: ok, rerun: 'x' })))).toContain('createJob');
  });

  it('suspend wins over a re-run', () => {
    const a = decide(observed({}, { status: failed(), rerun: '1', suspend: true, generation: 2 }));
    expect(types(a)).not.toContain('createJob');
  });
});

function job(over: Partial<NonNullable<Observed['job']>> = {}): NonNullable<Observed['job']> {
  return { name: 'books-copy', uid: 'job-uid', deleting: false, complete: false, failed: false, ...over };
}

const MIGRATION = {
  apiVersion: 'migration.milvus.io/v1alpha1' as const,
  kind: 'MilvusMigration' as const,
  metadata: { name: 'books', namespace: 'ns1', uid: 'uid-1', generation: 1 },
  spec: {
    source: { endpoint: '10.0.0.1:19530', database: 'default', secretRef: { name: 'src' } },
    target: { endpoint: '10.0.0.2:19530', database: 'default' },
    collections: [{ name: 'books' }],
    verify: 'sample' as const,
    parallelism: 1,
    suspend: false,
    deletionPolicy: 'Retain' as const,
  },
};

describe('the copy Job', () => {
  it('is restricted, owned by the migration, credentials through secretKeyRef only', () => {
    const j = jobManifest(MIGRATION, ['books'], 'img:1', [], {
      src: { resourceVersion: '7', keys: ['username', 'password', 'ca.crt'] },
    });
    expect(j.metadata?.name).toBe('books-copy');
    expect(j.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'MilvusMigration',
      uid: 'uid-1',
      controller: true,
    });
    expect(j.spec?.backoffLimit).toBe(6);
    expect(j.spec?.podReplacementPolicy).toBe('Failed');
    const pod = j.spec!.template.spec!;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const c = pod.containers[0]!;
    expect(c).toMatchObject({ image: 'img:1', imagePullPolicy: 'IfNotPresent', args: ['worker'] });
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.resources?.limits).toBeDefined();
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
    expect(JSON.parse(env.MM_OWNED_TARGETS!.value!)).toEqual(['books']);
    // Only the keys the Secret has, none optional: a pod never starts without its credentials.
    expect(env.MM_SOURCE_PASSWORD?.valueFrom?.secretKeyRef).toEqual({ name: 'src', key: 'password' });
    expect(env.MM_SOURCE_TOKEN).toBeUndefined();
    expect(env.MM_TARGET_PASSWORD).toBeUndefined();
    expect(pod.volumes).toEqual([
      {
        name: 'source-tls',
        secret: { secretName: 'src', items: [{ key: 'ca.crt', path: 'ca.crt' }], defaultMode: 0o440 },
      },
    ]);
    expect(JSON.stringify(j)).not.toContain('optional');
    expect(j.metadata?.annotations?.['migration.milvus.io/secret-versions']).toBe('{"src":"7"}');
    // A Secret without certificates: no volume at all.
    const plain = jobManifest(MIGRATION, ['books'], 'img:1', [], {
      src: { resourceVersion: '8', keys: ['token'] },
    });
    expect(plain.spec!.template.spec!.volumes).toEqual([]);
  });

  it('hands the controller’s MILVUS_MIGRATE_PAGE_BYTES (and nothing else) to the copy pods', () => {
    const env = workerEnvFrom({ MILVUS_MIGRATE_PAGE_BYTES: '2000', NODE_OPTIONS: '--x', LOG_LEVEL: 'debug' });
    expect(env).toEqual([{ name: 'MILVUS_MIGRATE_PAGE_BYTES', value: '2000' }]);
    const c = jobManifest(MIGRATION, ['books'], 'img:1', env).spec!.template.spec!.containers[0]!;
    expect(c.env?.find((e) => e.name === 'MILVUS_MIGRATE_PAGE_BYTES')?.value).toBe('2000');
    expect(workerEnvFrom({})).toEqual([]);
  });

  it('spec.rbac.users: its Secret mounted whole (one file per user), its version recorded; the worker reads the files as that Secret', () => {
    const m = {
      ...MIGRATION,
      spec: { ...MIGRATION.spec, rbac: { users: { secretRef: { name: 'people' } } } },
    };
    const j = jobManifest(m, ['books'], 'img:1', [], {
      src: { resourceVersion: '7', keys: ['username', 'password'] },
      people: { resourceVersion: '9', keys: ['alice', 'bob'] },
    });
    const pod = j.spec!.template.spec!;
    expect(pod.volumes).toEqual([
      { name: 'rbac-users', secret: { secretName: 'people', defaultMode: 0o440 } },
    ]);
    expect(pod.containers[0]!.volumeMounts).toEqual([
      { name: 'rbac-users', mountPath: '/etc/milvus-migrate/rbac-users', readOnly: true },
    ]);
    expect(JSON.parse(j.metadata!.annotations!['migration.milvus.io/secret-versions']!)).toEqual({
      src: '7',
      people: '9',
    });
    // Passwords never in the env or the Job.
    expect(JSON.stringify(j)).not.toMatch(/alice|bob/);

    const dir = mkdtempSync(path.join(tmpdir(), 'mm-users-'));
    mkdirSync(path.join(dir, 'rbac-users', '..2026_12_03'), { recursive: true });
    writeFileSync(path.join(dir, 'rbac-users', 'alice'), 'secret-1');
    writeFileSync(path.join(dir, 'rbac-users', 'bob'), 'secret-2');
    const input = workerInput({ MM_MIGRATION: JSON.stringify(m) }, dir);
    expect(input.secrets.find((x) => x.name === 'people')).toEqual({
      name: 'people',
      namespace: 'ns1',
      data: { alice: Buffer.from('secret-1'), bob: Buffer.from('secret-2') },
    });
    expect(userPasswords(input)).toEqual(
      new Map([
        ['alice', 'secret-1'],
        ['bob', 'secret-2'],
      ]),
    );
    // Milvus takes 6-256 characters: a shorter one is refused before anything is written.
    input.secrets.find((x) => x.name === 'people')!.data.bob = Buffer.from('abc');
    expect(() => userPasswords(input)).toThrow(
      /password for user "bob" has 3 characters; Milvus takes 6 to 256/,
    );
  });

  it('keeps the pod label within 63 characters', () => {
    expect(jobName('a'.repeat(200)).length).toBeLessThanOrEqual(63);
  });
});

describe('the worker', () => {
  it('builds the engine input from env and finds the last MMSTATUS line', () => {
    const input = workerInput(
      { MM_MIGRATION: JSON.stringify(MIGRATION), MM_SOURCE_USERNAME: 'u', MM_SOURCE_PASSWORD: 'p' },
      '/nonexistent',
    );
    expect(input.secrets).toEqual([
      { name: 'src', namespace: 'ns1', data: { username: Buffer.from('u'), password: Buffer.from('p') } },
    ]);
    expect(ownedTargets({ MM_OWNED_TARGETS: '["a","b"]' })).toEqual(['a', 'b']);
    const log = [
      'x',
      statusLine({ phase: 'Running' }),
      '{"level":30}',
      statusLine({ phase: 'Succeeded' }),
      '',
    ].join('\n');
    expect(lastStatusIn(log)?.phase).toBe('Succeeded');
    expect(lastStatusIn('MMSTATUS {"phase":"Run')).toBeUndefined();
  });

  it('passes over an MMSTATUS line that is JSON but not a status (checked with the status schema)', () => {
    const log = [
      statusLine({ phase: 'Running', collections: [] }),
      'MMSTATUS {"phase":"Exploded"}',
      'MMSTATUS {"phase":"Running","collections":[{"name":"a"}]}',
      'MMSTATUS 42',
    ].join('\n');
    expect(lastStatusIn(log)).toEqual({ phase: 'Running', collections: [] });
  });

  it('fails with a readable status when the input is missing', async () => {
    const lines: string[] = [];
    const r = await runWorker({ env: {}, write: (l) => lines.push(l) });
    expect(r.exitCode).toBe(1);
    expect(lastStatusIn(lines.join('\n'))?.errors?.[0]?.message).toMatch(/MM_MIGRATION/);
  });

  it('FixedStateStore treats exactly the listed targets as ours', async () => {
    const s = new FixedStateStore('h:1', 'default', ['a']);
    const st = await s.load();
    expect(Object.keys(st.targets)).toEqual([targetKey('h:1', 'default', 'a')]);
  });
});

describe('spec.sync in the operator', () => {
  const syncing = (watermark?: string): MigrationStatus =>
    status('Syncing', 'Syncing', 1, {
      collections: [
        {
          name: 'books',
          targetName: 'books',
          phase: 'Syncing',
          sourceEntities: 300,
          copiedEntities: 300,
          ...(watermark
            ? {
                sync: {
                  passes: 2,
                  added: 3,
                  deleted: 1,
                  updated: 4,
                  passSeconds: 0.5,
                  lastPassStart: '2027-01-15T08:00:00.000Z',
                  watermark,
                },
              }
            : {}),
        },
      ],
      sync: { passes: 2, lastPassStart: '2027-01-15T08:00:00.000Z' },
    });

  it('a Syncing pod status is taken over as Syncing (not held back as "finishing"), looked at again in 5 s', () => {
    const a = decide(observed({ job: job(), podStatus: syncing('1700') }));
    expect(types(a)).toEqual(['patchStatus', 'requeue']);
    const s = patched(a);
    expect(s.phase).toBe('Syncing');
    expect(cond(s, 'Reconciling')?.status).toBe('True');
    expect(cond(s, 'Ready')?.status).toBe('False');
    expect(s.collections?.[0]?.sync?.watermark).toBe('1700');
    expect(s.sync?.passes).toBe(2);
  });

  it('cutover: true (a new spec hash) stops the syncing pod and starts one for the cutover, keeping the watermarks', () => {
    const a = decide(
      observed(
        { job: job({ specHash: 'before', generation: 1 }), specHash: 'after', podStatus: syncing('1700') },
        { status: syncing('1700'), generation: 2 },
      ),
    );
    expect(types(a)).toEqual(['deleteJob', 'patchStatus', 'event', 'requeue']);
    const s = patched(a);
    expect(s.phase).toBe('Pending');
    expect(cond(s, 'Reconciling')?.reason).toBe('SpecChanged');
    expect(s.collections?.[0]?.sync?.watermark).toBe('1700');
    // The next reconcile (Job gone) creates the cutover pod from that status.
    const b = decide(observed({}, { status: s, generation: 2 }));
    expect(types(b)).toEqual(['createJob', 'patchStatus', 'event', 'requeue']);
  });

  it('the copy pod of a syncing migration gets the copied targets and their watermarks', () => {
    const withSync = { ...MIGRATION, spec: { ...MIGRATION.spec, sync: { interval: '5m', cutover: true } } };
    const env = (st?: MigrationStatus) =>
      jobManifest(
        { ...withSync, ...(st ? { status: st } : {}) },
        ['books'],
        'img:1',
      ).spec!.template.spec!.containers[0]!.env!.find((e) => e.name === 'MM_SYNC_STATE')?.value;
    expect(JSON.parse(env(syncing('1700'))!)).toEqual({ books: { copied: true, watermark: '1700' } });
    // Copied (Syncing) before a first pass reported a watermark: the next pass upserts every stamped row.
    expect(JSON.parse(env(syncing())!)).toEqual({ books: { copied: true } });
    expect(env(running(100))).toBeUndefined();
    expect(env()).toBeUndefined();
  });

  it('the spec hash covers spec.sync, and is unchanged for a spec without it', () => {
    const plain = specHash(MIGRATION.spec);
    expect(specHash({ ...MIGRATION.spec, sync: undefined })).toBe(plain);
    const a = specHash({ ...MIGRATION.spec, sync: { interval: '5m', cutover: false } });
    const b = specHash({ ...MIGRATION.spec, sync: { interval: '5m', cutover: true } });
    expect(a).not.toBe(plain);
    expect(b).not.toBe(a);
  });

  it('the spec hash covers spec.rbac (roles switched on later get a run), and is unchanged without it', () => {
    const plain = specHash(MIGRATION.spec);
    expect(specHash({ ...MIGRATION.spec, rbac: undefined })).toBe(plain);
    expect(specHash({ ...MIGRATION.spec, rbac: { roles: true } })).not.toBe(plain);
  });

  it('metrics: passes and lag only while Syncing', () => {
    const at = Date.parse('2027-01-15T08:00:30.000Z');
    expect(syncFigures(syncing('1'), at)).toEqual({ syncPasses: 2, lagSeconds: 30 });
    expect(syncFigures(running(1), at)).toEqual({});
  });

  it('the worker reads MM_SYNC_STATE, and refuses anything else', () => {
    expect(syncState({ MM_SYNC_STATE: '{"books":{"copied":true,"watermark":"12"}}' })).toEqual({
      books: { copied: true, watermark: '12' },
    });
    expect(syncState({})).toEqual({});
    expect(() => syncState({ MM_SYNC_STATE: '{"books":{"watermark":12}}' })).toThrow(/MM_SYNC_STATE/);
  });
});

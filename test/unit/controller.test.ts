import { describe, expect, it } from 'vitest';
import type { MigrationStatus } from '../../src/api/migration.js';
import { applyPhaseConditions } from '../../src/api/status.js';
import { type Action, decide, type Observed } from '../../src/controller/decide.js';
import { jobManifest, jobName } from '../../src/controller/job.js';
import {
  lastStatusIn,
  ownedTargets,
  runWorker,
  statusLine,
  workerInput,
} from '../../src/controller/worker.js';
import { FixedStateStore, targetKey } from '../../src/engine/state.js';

const NOW = 1_800_000_000_000;

function observed(over: Partial<Observed> = {}, m: Partial<Observed['migration']> = {}): Observed {
  return {
    migration: {
      name: 'books',
      namespace: 'ns1',
      uid: 'uid-1',
      generation: 1,
      deleting: false,
      suspend: false,
      status: {},
      ownedTargets: ['books'],
      ...m,
    },
    missingSecrets: [],
    now: NOW,
    lastProgressPatch: 0,
    ...over,
  };
}

function status(
  phase: MigrationStatus['phase'],
  reason: string,
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
    expect(
      types(decide(observed({ job: job(), podStatus: running(120), lastProgressPatch: NOW - 1000 }))),
    ).toEqual(['requeue']);
    const cur = decide(observed({ job: job(), podStatus: running(120) }));
    const same = decide(observed({ job: job(), podStatus: running(120) }, { status: patched(cur) }));
    expect(types(same)).toEqual(['requeue']);
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
    expect(a[0]).toEqual({ type: 'deleteJob', name: 'books-copy' });
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
      { type: 'deleteJob', name: 'books-copy' },
    ]);
    expect(types(decide(observed({}, { generation: 2, status: failed })))).toContain('createJob');
  });

  it('an object being deleted is left to the garbage collector', () => {
    expect(decide(observed({ job: job() }, { deleting: true }))).toEqual([]);
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
  },
};

describe('the copy Job', () => {
  it('is restricted, owned by the migration, credentials through secretKeyRef only', () => {
    const j = jobManifest(MIGRATION, ['books'], 'img:1');
    expect(j.metadata?.name).toBe('books-copy');
    expect(j.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'MilvusMigration',
      uid: 'uid-1',
      controller: true,
    });
    expect(j.spec?.backoffLimit).toBe(6);
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
    expect(env.MM_SOURCE_PASSWORD?.valueFrom?.secretKeyRef).toEqual({
      name: 'src',
      key: 'password',
      optional: true,
    });
    expect(env.MM_TARGET_PASSWORD).toBeUndefined();
    expect(pod.volumes?.[0]?.secret).toMatchObject({ secretName: 'src', optional: true });
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

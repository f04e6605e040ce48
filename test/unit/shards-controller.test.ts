/**
 * The operator's sharded run (spec.parallelism > 1) as table tests of decide(): plan Job → Indexed
 * copy Job (one pod per shard) → failed shards resumed by a next attempt → finalize Job; and the
 * Jobs it builds.
 */

import { describe, expect, it } from 'vitest';
import type { MigrationStatus, ShardPlan, ShardPlanStatus } from '../../src/api/migration.js';
import type { Reason } from '../../src/api/reasons.js';
import { applyPhaseConditions } from '../../src/api/status.js';
import {
  type Action,
  copyRetryDelayMs,
  decide,
  MAX_COPY_ATTEMPTS,
  type Observed,
  type ObservedJob,
} from '../../src/controller/decide.js';
import {
  ATTEMPT_ANNOTATION,
  jobManifest,
  jobName,
  STAGE_LABEL,
  shardJobName,
  stageJobManifest,
} from '../../src/controller/job.js';
import {
  formatIndexes,
  lastPlanIn,
  PLAN_PREFIX,
  parseIndexes,
  statusLine,
} from '../../src/worker/protocol.js';
import { runWorker } from '../../src/worker/worker.js';
import { observed as base, NOW } from '../support/observed.js';

const COLLS = [
  { name: 'books', targetName: 'books' },
  { name: 'small', targetName: 'small_v2' },
];
const PLAN: ShardPlan = {
  shards: 3,
  collections: [
    { name: 'books', targetName: 'books', fresh: true, sourceEntities: 3000, bounds: ['i:1000', 'i:2000'] },
    { name: 'small', targetName: 'small_v2', fresh: false, sourceEntities: 10, bounds: [] },
  ],
};
const sp = (over: Partial<ShardPlanStatus> = {}): ShardPlanStatus => ({
  ...PLAN,
  attempt: 1,
  completed: '',
  copiedDone: [0, 0],
  ...over,
});

/** A migration of two collections with parallelism 3. */
function observed(over: Partial<Observed> = {}, m: Partial<Observed['migration']> = {}): Observed {
  return base({ parallelism: 3, ...over }, { ownedTargets: ['books', 'small_v2'], collections: COLLS, ...m });
}

function job(name: string, over: Partial<ObservedJob> = {}): ObservedJob {
  return { name, uid: `${name}-uid`, deleting: false, complete: false, failed: false, ...over };
}
const copyJob = (over: Partial<ObservedJob> = {}) =>
  job('books-copy', { indexed: true, completedIndexes: '', ...over });

/** A status with a shard plan, as the controller keeps it while shards copy. */
function withPlan(plan: ShardPlanStatus, copied = [0, 0]): MigrationStatus {
  const s: MigrationStatus = {
    observedGeneration: 1,
    shardPlan: plan,
    collections: PLAN.collections.map((c, k) => ({
      name: c.name,
      targetName: c.targetName,
      phase: 'Copying',
      sourceEntities: c.sourceEntities,
      copiedEntities: copied[k]!,
    })),
  };
  applyPhaseConditions(s, 'Running', 'Copying', 'm', 1);
  return s;
}

/** What shard pod i last printed: its copied rows per collection. */
function shard(
  phase: MigrationStatus['phase'],
  copied: number[],
  reason: Reason = 'Copying',
): { status: MigrationStatus } {
  const s: MigrationStatus = {
    collections: PLAN.collections.map((c, k) => ({
      name: c.name,
      targetName: c.targetName,
      phase: phase === 'Succeeded' ? 'Succeeded' : 'Copying',
      copiedEntities: copied[k]!,
    })),
  };
  applyPhaseConditions(s, phase!, reason, `shard says ${reason}`);
  return { status: s };
}

const types = (a: Action[]) => a.map((x) => x.type);
const patched = (a: Action[]) =>
  (a.find((x) => x.type === 'patchStatus') as { status: MigrationStatus }).status;
const find = <T extends Action['type']>(a: Action[], t: T) =>
  a.find((x) => x.type === t) as Extract<Action, { type: T }>;
const cond = (s: MigrationStatus, t: string) => s.conditions?.find((c) => c.type === t);

describe('decide(): a sharded run, plan stage', () => {
  it('parallelism 1 keeps the single copy Job', () => {
    expect(types(decide(observed({ parallelism: 1 })))).toEqual([
      'createJob',
      'patchStatus',
      'event',
      'requeue',
    ]);
  });

  it('parallelism > 1, nothing yet → the plan Job, Pending, every collection listed', () => {
    const a = decide(observed());
    expect(types(a)).toEqual(['createStageJob', 'patchStatus', 'event', 'requeue']);
    expect(find(a, 'createStageJob')).toEqual({
      type: 'createStageJob',
      ownedTargets: ['books', 'small_v2'],
      job: { stage: 'plan' },
    });
    const s = patched(a);
    expect(s.phase).toBe('Pending');
    expect(s.shardPlan).toBeUndefined();
    expect(s.collections?.map((c) => c.name)).toEqual(['books', 'small']);
    expect(find(a, 'event')).toMatchObject({ reason: 'JobCreated' });
  });

  it('plan Job running → wait', () => {
    expect(types(decide(observed({ planJob: job('books-plan') })))).toEqual(['requeue']);
  });

  it('plan Job complete → its plan into status.shardPlan (attempt 0), sourceEntities, Running', () => {
    const a = decide(observed({ planJob: job('books-plan', { complete: true }), planOutput: PLAN }));
    expect(types(a)).toEqual(['patchStatus', 'requeue']);
    const s = patched(a);
    expect(s.shardPlan).toEqual({ ...PLAN, attempt: 0, completed: '', copiedDone: [0, 0] });
    expect(s.phase).toBe('Running');
    expect(s).toMatchObject({ rows: '0/3010', progress: '0%' });
    expect(s.collections?.map((c) => [c.name, c.sourceEntities, c.copiedEntities])).toEqual([
      ['books', 3000, 0],
      ['small', 10, 0],
    ]);
  });

  it('plan Job complete but its MMPLAN line unreadable → Failed PlanUnreadable, says how to go on', () => {
    const a = decide(observed({ planJob: job('books-plan', { complete: true }) }));
    const s = patched(a);
    expect(s.phase).toBe('Failed');
    expect(cond(s, 'Stalled')).toMatchObject({ reason: 'PlanUnreadable' });
    expect(cond(s, 'Stalled')?.message).toMatch(/migration\.milvus\.io\/rerun/);
  });

  it('plan Job failed with the pod verdict → Failed with its reason (e.g. PlanRefused)', () => {
    const pod: MigrationStatus = { errors: [] };
    applyPhaseConditions(pod, 'Failed', 'PlanRefused', 'nothing was written: target name taken');
    const a = decide(
      observed({
        planJob: job('books-plan', { failed: true, failureMessage: 'PodFailurePolicy' }),
        planPod: { status: pod },
      }),
    );
    const s = patched(a);
    expect(s.phase).toBe('Failed');
    expect(cond(s, 'Stalled')).toMatchObject({ reason: 'PlanRefused' });
    expect(find(a, 'event')).toMatchObject({ eventType: 'Warning', reason: 'PlanRefused' });
  });

  it('plan Job failed without a verdict → JobFailed naming the plan Job', () => {
    const a = decide(
      observed({
        planJob: job('books-plan', { failed: true, failureMessage: 'BackoffLimitExceeded' }),
        planPod: { errors: ['OOMKilled'] },
      }),
    );
    expect(cond(patched(a), 'Stalled')?.message).toMatch(
      /^the plan Job failed \(BackoffLimitExceeded\): OOMKilled/,
    );
  });
});

describe('decide(): a sharded run, copy stage', () => {
  it('plan recorded → record attempt 1 first, then the Indexed copy Job; the plan Job goes', () => {
    const a = decide(
      observed({ planJob: job('books-plan', { complete: true }) }, { status: withPlan(sp({ attempt: 0 })) }),
    );
    expect(types(a)).toEqual(['deleteJob', 'patchStatus', 'createStageJob', 'event', 'requeue']);
    expect(a[0]).toEqual({ type: 'deleteJob', name: 'books-plan', propagation: 'Background' });
    expect(patched(a).shardPlan?.attempt).toBe(1);
    expect(find(a, 'createStageJob').job).toEqual({ stage: 'copy', plan: PLAN, attempt: 1, completed: [] });
    expect(find(a, 'event')).toMatchObject({ reason: 'ShardsStarted' });
  });

  it('copy Job running → rows summed over the shard pods, shards done in the message', () => {
    const a = decide(
      observed(
        {
          job: copyJob(),
          shardPods: {
            0: shard('Succeeded', [1000, 0]),
            1: shard('Running', [400, 10]),
            2: shard('Running', [300, 0]),
          },
        },
        { status: withPlan(sp()) },
      ),
    );
    expect(types(a)).toEqual(['patchStatus', 'requeue']);
    const s = patched(a);
    expect(s.collections?.map((c) => c.copiedEntities)).toEqual([1700, 10]);
    expect(s).toMatchObject({ phase: 'Running', rows: '1710/3010', progress: '56%' });
    expect(s.collections?.[0]?.message).toBe('copying in 3 shard pods: 1/3 shards done');
    expect(s.shardPlan).toEqual(sp());
    // Throttled like the single pod's progress.
    expect(
      types(
        decide(
          observed(
            { job: copyJob(), lastProgressPatch: NOW - 1000, shardPods: {} },
            { status: withPlan(sp()) },
          ),
        ),
      ),
    ).toEqual(['requeue']);
  });

  it('shards failed (FailedIndexes) → wait the back-off, then record the completed ones and delete the Job in the foreground', () => {
    const failedAt = NOW - 1000;
    const failed = copyJob({
      failed: true,
      failureReason: 'FailedIndexes',
      failureMessage: 'FailedIndexes: Job has failed indexes',
      failedAt,
      completedIndexes: '0,2',
      failedIndexes: '1',
    });
    const pods = {
      0: shard('Succeeded', [1000, 0]),
      1: shard('Running', [500, 10]),
      2: shard('Succeeded', [1000, 0]),
    };
    const early = decide(observed({ job: failed, shardPods: pods }, { status: withPlan(sp()) }));
    expect(early).toEqual([{ type: 'requeue', afterMs: copyRetryDelayMs(1) - 1000 }]);
    const a = decide(
      observed(
        { job: failed, shardPods: pods, now: failedAt + copyRetryDelayMs(1) },
        { status: withPlan(sp()) },
      ),
    );
    expect(types(a)).toEqual(['patchStatus', 'deleteJob', 'event', 'requeue']);
    expect(patched(a).shardPlan).toMatchObject({ attempt: 1, completed: '0,2', copiedDone: [2000, 0] });
    // Completed shards counted once: from the record, not again from their pods.
    expect(patched(a).rows).toBe('2510/3010');
    expect(patched(a).phase).toBe('Running');
    expect(find(a, 'deleteJob')).toEqual({
      type: 'deleteJob',
      name: 'books-copy',
      propagation: 'Foreground',
    });
    expect(find(a, 'event')).toMatchObject({ eventType: 'Warning', reason: 'ShardFailed' });
    expect(find(a, 'event').message).toMatch(/^shard 1 stopped before finishing/);
  });

  it('the old Job gone → attempt 2 resumes the failed shards only', () => {
    const a = decide(observed({}, { status: withPlan(sp({ completed: '0,2', copiedDone: [2000, 0] })) }));
    expect(types(a)).toEqual(['patchStatus', 'createStageJob', 'event', 'requeue']);
    expect(patched(a).shardPlan?.attempt).toBe(2);
    expect(find(a, 'createStageJob').job).toEqual({
      stage: 'copy',
      plan: PLAN,
      attempt: 2,
      completed: [0, 2],
    });
    expect(find(a, 'event')).toMatchObject({ reason: 'ShardsResumed' });
    expect(find(a, 'event').message).toMatch(/resuming shard 1 .*shards 0,2 are complete/);
    // A Job still going away: wait for it, never two writers.
    expect(
      types(
        decide(
          observed({ job: copyJob({ deleting: true }) }, { status: withPlan(sp({ completed: '0,2' })) }),
        ),
      ),
    ).toEqual(['requeue']);
  });

  it('a shard pod with the final verdict (exit 1 → FailJob) → Failed with its reason, rows of every shard kept', () => {
    const pod = shard('Failed', [200, 0], 'CopyFailed');
    pod.status.errors = [{ time: 't', collection: 'books', message: 'insert refused' }];
    const a = decide(
      observed(
        {
          job: copyJob({
            failed: true,
            failureReason: 'PodFailurePolicy',
            failureMessage: 'PodFailurePolicy',
          }),
          shardPods: { 0: shard('Canceled', [900, 0]), 1: pod },
        },
        { status: withPlan(sp()) },
      ),
    );
    expect(types(a)).toEqual(['patchStatus', 'event']);
    const s = patched(a);
    expect(s.phase).toBe('Failed');
    expect(cond(s, 'Stalled')).toMatchObject({ reason: 'CopyFailed', message: 'shard says CopyFailed' });
    expect(s.collections?.[0]?.copiedEntities).toBe(1100);
    expect(s.errors?.at(-1)?.message).toBe('insert refused');
    expect(s.shardPlan).toBeUndefined();
  });

  it('after MAX_COPY_ATTEMPTS attempts → Failed JobFailed, naming the shards and what to do', () => {
    const a = decide(observed({}, { status: withPlan(sp({ attempt: MAX_COPY_ATTEMPTS, completed: '0' })) }));
    const s = patched(a);
    expect(s.phase).toBe('Failed');
    expect(cond(s, 'Stalled')?.reason).toBe('JobFailed');
    expect(cond(s, 'Stalled')?.message).toMatch(/^shards 1-2 did not complete in 7 copy attempts.*rerun/);
    expect(s.shardPlan).toBeUndefined();
  });

  it('copy Job complete → every shard recorded complete', () => {
    const pods = {
      0: shard('Succeeded', [1000, 10]),
      1: shard('Succeeded', [1000, 0]),
      2: shard('Succeeded', [1000, 0]),
    };
    const a = decide(
      observed(
        { job: copyJob({ complete: true, completedIndexes: '0-2' }), shardPods: pods },
        { status: withPlan(sp()) },
      ),
    );
    expect(types(a)).toEqual(['patchStatus', 'requeue']);
    expect(patched(a).shardPlan).toMatchObject({ completed: '0-2', copiedDone: [3000, 10] });
    expect(patched(a).rows).toBe('3010/3010');
  });
});

describe('decide(): a sharded run, finalize stage', () => {
  const copied = withPlan(sp({ completed: '0-2', copiedDone: [3000, 10] }), [3000, 10]);

  it('every shard complete → the copy Job goes, Verifying, the finalize Job with the plan', () => {
    const a = decide(observed({ job: copyJob({ complete: true }) }, { status: copied }));
    expect(types(a)).toEqual(['deleteJob', 'patchStatus', 'createStageJob', 'requeue']);
    expect(a[0]).toEqual({ type: 'deleteJob', name: 'books-copy', propagation: 'Background' });
    expect(patched(a).phase).toBe('Verifying');
    expect(find(a, 'createStageJob').job).toEqual({ stage: 'finalize', plan: PLAN });
  });

  it('finalize running → its progress, Verifying (not its own first Pending), rows not going back to 0', () => {
    const pod: MigrationStatus = {
      collections: [
        { name: 'books', targetName: 'books', phase: 'Verifying', sourceEntities: 3000, copiedEntities: 0 },
        { name: 'small', targetName: 'small_v2', phase: 'Pending', copiedEntities: 0 },
      ],
    };
    applyPhaseConditions(pod, 'Pending', 'Planning', 'checking source, target and collections');
    const a = decide(
      observed({ finalizeJob: job('books-finalize'), finalizePod: { status: pod } }, { status: copied }),
    );
    const s = patched(a);
    expect(s.phase).toBe('Verifying');
    expect(s.rows).toBe('3010/3010');
    expect(s.shardPlan).toEqual(copied.shardPlan);
  });

  it('finalize complete → Succeeded from its pod (as a single copy pod reports it), the plan cleared', () => {
    const pod: MigrationStatus = {
      collections: [
        {
          name: 'books',
          targetName: 'books',
          phase: 'Succeeded',
          sourceEntities: 3000,
          copiedEntities: 3000,
          targetEntities: 3000,
        },
        {
          name: 'small',
          targetName: 'small_v2',
          phase: 'Succeeded',
          sourceEntities: 10,
          copiedEntities: 10,
          targetEntities: 10,
        },
      ],
    };
    applyPhaseConditions(pod, 'Succeeded', 'Verified', '2 collections copied and verified');
    const a = decide(
      observed(
        { finalizeJob: job('books-finalize', { complete: true }), finalizePod: { status: pod } },
        { status: copied },
      ),
    );
    const s = patched(a);
    expect(s).toMatchObject({
      phase: 'Succeeded',
      progress: '100%',
      rows: '3010/3010',
      collectionsDone: '2/2',
    });
    expect(s.shardPlan).toBeUndefined();
    expect(s.collections?.[1]?.targetEntities).toBe(10);
    expect(find(a, 'event')).toMatchObject({ reason: 'Succeeded' });
    // Then final: nothing more.
    expect(
      decide(observed({ finalizeJob: job('books-finalize', { complete: true }) }, { status: s })),
    ).toEqual([]);
  });

  it('finalize failed with a verdict → Failed VerificationFailed', () => {
    const pod: MigrationStatus = { errors: [] };
    applyPhaseConditions(pod, 'Failed', 'VerificationFailed', '1 of 2 collections failed');
    const a = decide(
      observed(
        { finalizeJob: job('books-finalize', { failed: true }), finalizePod: { status: pod } },
        { status: copied },
      ),
    );
    expect(cond(patched(a), 'Stalled')?.reason).toBe('VerificationFailed');
    expect(patched(a).shardPlan).toBeUndefined();
  });
});

describe('decide(): a sharded run stopped, deleted, re-run', () => {
  const copying = withPlan(sp(), [1200, 0]);
  const jobs = { job: copyJob(), planJob: job('books-plan', { complete: true }) };

  it('suspend → every Job deleted in the foreground; Canceled keeps the rows, drops the plan', () => {
    const a = decide(observed(jobs, { suspend: true, generation: 2, status: copying }));
    expect(a.filter((x) => x.type === 'deleteJob')).toEqual([
      { type: 'deleteJob', name: 'books-copy', propagation: 'Foreground' },
      { type: 'deleteJob', name: 'books-plan', propagation: 'Foreground' },
    ]);
    const s = patched(a);
    expect(s.phase).toBe('Canceled');
    expect(s.shardPlan).toBeUndefined();
    expect(s.collections?.[0]).toMatchObject({ phase: 'Canceled', copiedEntities: 1200 });
  });

  it('resumed after a suspend → planned again (the targets are resumed then)', () => {
    const canceled: MigrationStatus = { observedGeneration: 2, collections: copying.collections };
    applyPhaseConditions(canceled, 'Canceled', 'Suspended', 'm', 2);
    expect(types(decide(observed({}, { generation: 3, status: canceled })))).toEqual([
      'createStageJob',
      'patchStatus',
      'event',
      'requeue',
    ]);
  });

  it('deletion with DropIncomplete → every Job stopped in the foreground, targets dropped only once they are gone', () => {
    const del = {
      deleting: true,
      deletionTimestamp: NOW - 1000,
      deletionPolicy: 'DropIncomplete' as const,
      status: copying,
    };
    const a = decide(observed({ ...jobs, finalizeJob: job('books-finalize') }, del));
    expect(types(a)).toEqual(['deleteJob', 'deleteJob', 'deleteJob', 'requeue']);
    expect(a.every((x) => x.type !== 'deleteJob' || x.propagation === 'Foreground')).toBe(true);
    expect(types(decide(observed({ planJob: job('books-plan', { deleting: true }) }, del)))).toEqual([
      'requeue',
    ]);
    const b = decide(observed({}, del));
    expect(b).toEqual([{ type: 'dropTargets', names: ['books', 'small_v2'] }, { type: 'removeFinalizer' }]);
  });

  it('re-run of a Succeeded sharded run → its finalize Job goes, then a new plan Job (event Rerun)', () => {
    const done: MigrationStatus = { observedGeneration: 1, collections: copying.collections };
    applyPhaseConditions(done, 'Succeeded', 'Succeeded', 'm', 1);
    const a = decide(
      observed({ finalizeJob: job('books-finalize', { complete: true }) }, { status: done, rerun: 'r1' }),
    );
    expect(a).toEqual([
      { type: 'deleteJob', name: 'books-finalize', propagation: 'Foreground' },
      { type: 'requeue', afterMs: 2000 },
    ]);
    const b = decide(observed({}, { status: done, rerun: 'r1' }));
    expect(types(b)).toEqual(['createStageJob', 'patchStatus', 'event', 'requeue']);
    expect(patched(b).lastRerun).toBe('r1');
    expect(find(b, 'event')).toMatchObject({ reason: 'Rerun' });
  });

  it('a copy Job left from an earlier run without a plan in the status is stopped first', () => {
    expect(decide(observed({ job: copyJob() }))).toEqual([
      { type: 'deleteJob', name: 'books-copy', propagation: 'Foreground' },
      { type: 'requeue', afterMs: 2000 },
    ]);
  });
});

const MIGRATION = {
  apiVersion: 'migration.milvus.io/v1alpha1' as const,
  kind: 'MilvusMigration' as const,
  metadata: { name: 'books', namespace: 'ns1', uid: 'uid-1', generation: 1 },
  spec: {
    source: { endpoint: '10.0.0.1:19530', database: 'default', secretRef: { name: 'src' } },
    target: { endpoint: '10.0.0.2:19530', database: 'default', secretRef: { name: 'dst' } },
    collections: [{ name: 'books' }, { name: 'small', targetName: 'small_v2' }],
    verify: 'sample' as const,
    parallelism: 3,
    suspend: false,
    deletionPolicy: 'Retain' as const,
  },
};

const SECRETS = {
  src: { resourceVersion: '1', keys: ['username', 'password', 'ca.crt'] },
  dst: { resourceVersion: '2', keys: ['token'] },
};

describe('the Jobs of a sharded run', () => {
  const envOf = (j: ReturnType<typeof stageJobManifest>) =>
    Object.fromEntries((j.spec!.template.spec!.containers[0]!.env ?? []).map((e) => [e.name, e]));

  it('the copy Job is Indexed: one pod per shard, a failed pod fails only its index and is not replaced', () => {
    const j = stageJobManifest(
      MIGRATION,
      ['books'],
      { stage: 'copy', plan: PLAN, attempt: 1, completed: [] },
      'img:1',
      [],
      SECRETS,
    );
    expect(j.metadata?.name).toBe('books-copy');
    expect(j.metadata?.annotations?.[ATTEMPT_ANNOTATION]).toBe('1');
    expect(j.metadata?.labels?.[STAGE_LABEL]).toBe('copy');
    expect(j.spec).toMatchObject({
      completionMode: 'Indexed',
      completions: 3,
      parallelism: 3,
      backoffLimitPerIndex: 0,
      podReplacementPolicy: 'Failed',
    });
    expect(j.spec?.backoffLimit).toBeUndefined();
    expect(j.spec?.podFailurePolicy?.rules).toEqual([
      { action: 'FailJob', onExitCodes: { containerName: 'copy', operator: 'In', values: [1] } },
      { action: 'FailIndex', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
    ]);
    const env = envOf(j);
    expect(env.MM_STAGE?.value).toBe('copy');
    expect(JSON.parse(env.MM_SHARD_PLAN!.value!)).toEqual(PLAN);
    expect(env.MM_SHARD_RESUME?.value).toBe('false');
    expect(env.MM_COMPLETED_INDEXES?.value).toBe('');
    // Secrets, TLS volumes and security exactly as the single copy pod's.
    const single = jobManifest(MIGRATION, ['books'], 'img:1', [], SECRETS);
    const podOf = (x: typeof j) => x.spec!.template.spec!;
    expect(podOf(j).volumes).toEqual(podOf(single).volumes);
    expect(podOf(j).securityContext).toEqual(podOf(single).securityContext);
    expect(podOf(j).automountServiceAccountToken).toBe(false);
    expect(env.MM_SOURCE_PASSWORD?.valueFrom?.secretKeyRef).toEqual({ name: 'src', key: 'password' });
    expect(env.MM_TARGET_TOKEN?.valueFrom?.secretKeyRef).toEqual({ name: 'dst', key: 'token' });
    const again = envOf(
      stageJobManifest(MIGRATION, ['books'], { stage: 'copy', plan: PLAN, attempt: 2, completed: [0, 2, 3] }),
    );
    expect(again.MM_SHARD_RESUME?.value).toBe('true');
    expect(again.MM_COMPLETED_INDEXES?.value).toBe('0,2-3');
  });

  it("keeps the names and the shard pods' hostnames (`<job>-<index>`) within 63 characters", () => {
    for (const n of [1, 40, 55, 56, 57, 58, 59, 120]) {
      const name = 'm'.repeat(n);
      expect(`${shardJobName(name)}-31`.length, name).toBeLessThanOrEqual(63);
      for (const stage of ['plan', 'finalize'] as const)
        expect(jobName(name, stage).length).toBeLessThanOrEqual(63);
      // Short names: the same copy Job name with any parallelism.
      if (n <= 55) expect(shardJobName(name)).toBe(jobName(name));
    }
  });

  it('the plan and finalize Jobs are single-pod Jobs like the copy Job, with their stage', () => {
    const p = stageJobManifest(MIGRATION, ['books'], { stage: 'plan' }, 'img:1', [
      { name: 'MILVUS_MIGRATE_PAGE_BYTES', value: '4000' },
    ]);
    expect(p.metadata?.name).toBe('books-plan');
    expect(p.spec?.completionMode).toBeUndefined();
    expect(p.spec?.backoffLimit).toBe(6);
    expect(envOf(p).MM_STAGE?.value).toBe('plan');
    expect(envOf(p).MM_SHARD_PLAN).toBeUndefined();
    expect(envOf(p).MILVUS_MIGRATE_PAGE_BYTES?.value).toBe('4000');
    const f = stageJobManifest(MIGRATION, ['books'], { stage: 'finalize', plan: PLAN }, 'img:1');
    expect(f.metadata?.name).toBe('books-finalize');
    expect(JSON.parse(envOf(f).MM_SHARD_PLAN!.value!)).toEqual(PLAN);
  });
});

describe('the worker in a sharded run', () => {
  it('indexes as a Job writes them, and back', () => {
    expect([...parseIndexes('0,2-4,7')]).toEqual([0, 2, 3, 4, 7]);
    expect(parseIndexes('').size).toBe(0);
    expect(formatIndexes([7, 0, 3, 2, 4])).toBe('0,2-4,7');
    expect(formatIndexes([])).toBe('');
  });

  it('finds the MMPLAN line in a log, and refuses a malformed one', () => {
    const log = [
      '{"level":30,"msg":"x"}',
      `${PLAN_PREFIX}${JSON.stringify(PLAN)}`,
      statusLine({ phase: 'Succeeded' }),
    ];
    expect(lastPlanIn(log.join('\n'))).toEqual(PLAN);
    expect(lastPlanIn(`${PLAN_PREFIX}{"shards":0}`)).toBeUndefined();
    expect(
      lastPlanIn(
        `${PLAN_PREFIX}{"shards":2,"collections":[{"name":"a","targetName":"a","fresh":true,"sourceEntities":1,"bounds":[5]}]}`,
      ),
    ).toBeUndefined();
  });

  it('a shard completed by an earlier attempt exits 0 at once, touching no server', async () => {
    const lines: string[] = [];
    const r = await runWorker({
      env: {
        MM_MIGRATION: JSON.stringify(MIGRATION),
        MM_STAGE: 'copy',
        MM_SHARD_PLAN: JSON.stringify(PLAN),
        JOB_COMPLETION_INDEX: '2',
        MM_COMPLETED_INDEXES: '0,2',
        MM_SHARD_RESUME: 'true',
      },
      secretsDir: '/nonexistent',
      write: (l) => lines.push(l),
    });
    expect(r.exitCode).toBe(0);
    expect(r.status.phase).toBe('Succeeded');
  });

  it('a copy stage without a plan or an index fails with a readable reason (exit 1)', async () => {
    for (const env of [
      { MM_STAGE: 'copy', JOB_COMPLETION_INDEX: '0' },
      { MM_STAGE: 'copy', MM_SHARD_PLAN: JSON.stringify(PLAN) },
      { MM_STAGE: 'copy', MM_SHARD_PLAN: JSON.stringify(PLAN), JOB_COMPLETION_INDEX: '' },
      { MM_STAGE: 'shuffle' },
    ]) {
      const r = await runWorker({
        env: { MM_MIGRATION: JSON.stringify(MIGRATION), ...env },
        secretsDir: '/nonexistent',
        write: () => undefined,
      });
      expect(r.exitCode).toBe(1);
      expect(r.status.conditions?.find((c) => c.type === 'Stalled')?.reason).toBe('InvalidInput');
    }
  });
});

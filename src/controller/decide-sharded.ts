/**
 * The sharded machine (spec.parallelism > 1): plan Job, Indexed copy Job with its attempts, finalize
 * Job, and the status that sums the shards' progress.
 */
import type { MigrationStatus, ShardPlan, ShardPlanStatus } from '../api/migration.js';
import { applyPhaseConditions, pushError, summarize } from '../api/status.js';
import { formatIndexes, parseIndexes } from '../worker/protocol.js';
import { jobFailed, jobSucceeded, podProgress } from './decide-single.js';
import { newRunReason, newRunStatus, stripTimes, withPhase } from './decide-status.js';
import {
  type Action,
  copyRetryDelayMs,
  MAX_COPY_ATTEMPTS,
  type Observed,
  type ObservedJob,
  PROGRESS_INTERVAL_MS,
  RERUN_ANNOTATION,
} from './decide-types.js';

/** The plan as the copy and finalize pods get it (status.shardPlan without the bookkeeping). */
function planOf(sp: ShardPlanStatus): ShardPlan {
  return { shards: sp.shards, collections: sp.collections };
}

/**
 * The status while shards copy: per collection, rows of the shards completed by earlier attempts
 * plus what each running shard pod last reported; the shards done in the messages.
 */
function shardProgress(o: Observed, sp: ShardPlanStatus, done: Set<number>): MigrationStatus {
  const s = structuredClone(o.migration.status);
  const pods = o.shardPods ?? {};
  const finished = new Set(done);
  for (const [i, p] of Object.entries(pods)) if (p.status?.phase === 'Succeeded') finished.add(Number(i));
  const msg = `copying in ${sp.shards} shard pods: ${finished.size}/${sp.shards} shards done${sp.attempt > 1 ? ` (copy attempt ${sp.attempt})` : ''}`;
  s.collections = sp.collections.map((pc, k) => {
    let copied = sp.copiedDone?.[k] ?? 0;
    for (const [i, p] of Object.entries(pods)) {
      if (done.has(Number(i))) continue;
      copied += p.status?.collections?.[k]?.copiedEntities ?? 0;
    }
    const prev = o.migration.status.collections?.[k];
    return {
      name: pc.name,
      targetName: pc.targetName,
      phase: 'Copying' as const,
      sourceEntities: pc.sourceEntities,
      // Never backwards while a pod's log is between reads.
      copiedEntities: Math.max(copied, prev?.name === pc.name ? prev.copiedEntities : 0),
      message: msg,
      ...(prev?.warnings ? { warnings: prev.warnings } : {}),
    };
  });
  summarize(s);
  s.shardPlan = sp;
  s.observedGeneration = o.migration.generation;
  applyPhaseConditions(s, 'Running', 'Copying', msg, o.migration.generation);
  return s;
}

/** Rows per collection that the shards `newly` (completed now) copied, added to the plan's record. */
function withCompleted(
  o: Observed,
  sp: ShardPlanStatus,
  done: Set<number>,
  now: Set<number>,
): ShardPlanStatus {
  const copiedDone = sp.collections.map((_c, k) => sp.copiedDone?.[k] ?? 0);
  for (const i of now) {
    if (done.has(i)) continue;
    const p = o.shardPods?.[i]?.status;
    sp.collections.forEach((_c, k) => {
      copiedDone[k]! += p?.collections?.[k]?.copiedEntities ?? 0;
    });
  }
  return { ...sp, completed: formatIndexes([...done, ...now]), copiedDone };
}

/**
 * A sharded run, level-triggered from status.shardPlan and the Jobs:
 * no plan → plan Job → its MMPLAN line into status.shardPlan → Indexed copy Job (attempt 1, fresh
 * targets without look-ups) → shards that failed (FailedIndexes) → the Job is deleted (Foreground)
 * and attempt n+1 resumes only those → every shard complete → finalize Job → its verdict.
 */
export function decideSharded(
  o: Observed,
  ownedTargets: string[],
  again: 'rerun' | 'spec' | undefined,
): Action[] {
  const m = o.migration;
  const gen = m.generation;
  const cur = m.status;
  const sp = cur.shardPlan;
  const requeue = (afterMs: number): Action => ({ type: 'requeue', afterMs });

  if (!sp) {
    // A copy or finalize Job without a plan in the status belongs to an earlier run: stop it first.
    const stale = [o.job, o.finalizeJob].filter((j): j is ObservedJob => j !== undefined);
    if (stale.length)
      return [
        ...stale
          .filter((j) => !j.deleting)
          .map((j): Action => ({ type: 'deleteJob', name: j.name, propagation: 'Foreground' })),
        requeue(2000),
      ];
    const pj = o.planJob;
    if (!pj) {
      const s = newRunStatus(
        o,
        `the plan Job was created: it creates the target collections and splits each into up to ${o.parallelism ?? 2} key ranges`,
      );
      delete s.shardPlan;
      return [
        { type: 'createStageJob', ownedTargets, job: { stage: 'plan' } },
        { type: 'patchStatus', status: s },
        {
          type: 'event',
          eventType: 'Normal',
          reason: newRunReason(again),
          message: again
            ? `${again === 'rerun' ? `${RERUN_ANNOTATION}="${m.rerun}"` : `the spec changed (generation ${gen}) after the last run`}: created a new plan Job; the copy writes only what the target is missing`
            : `created the plan Job (parallelism ${o.parallelism ?? 2}: one copy pod per shard after it)`,
        },
        requeue(2000),
      ];
    }
    if (pj.deleting) return [requeue(2000)];
    if (pj.failed) return jobFailed(o, pj, o.planPod ?? {}, 'plan');
    if (!pj.complete) return [requeue(PROGRESS_INTERVAL_MS)];
    const plan = o.planOutput;
    if (!plan || plan.collections.length !== (m.collections?.length ?? plan.collections.length)) {
      const msg = `the plan Job completed, but its result (the MMPLAN line of its pod's log) could not be read: set a new ${RERUN_ANNOTATION} value to plan again`;
      const s = withPhase(cur, 'Failed', 'PlanUnreadable', msg, gen);
      delete s.shardPlan;
      pushError(s, msg);
      return [
        { type: 'patchStatus', status: s },
        { type: 'event', eventType: 'Warning', reason: 'PlanUnreadable', message: msg },
      ];
    }
    const next: ShardPlanStatus = {
      ...plan,
      attempt: 0,
      completed: '',
      copiedDone: plan.collections.map(() => 0),
    };
    // Progress starts from zero (a re-run's status still holds the last run's figures).
    const fresh = { ...o, shardPods: {}, migration: { ...m, status: { ...cur, collections: [] } } };
    return [{ type: 'patchStatus', status: shardProgress(fresh, next, new Set()) }, requeue(0)];
  }

  const out: Action[] = [];
  // The plan is in the status: its Job has done its part.
  if (o.planJob && !o.planJob.deleting)
    out.push({ type: 'deleteJob', name: o.planJob.name, propagation: 'Background' });
  const done = parseIndexes(sp.completed);
  if (done.size < sp.shards) return [...out, ...decideCopy(o, sp, done, ownedTargets)];

  // Every shard copied: the finalize Job shapes and verifies the targets.
  if (o.job && !o.job.deleting) out.push({ type: 'deleteJob', name: o.job.name, propagation: 'Background' });
  const fj = o.finalizeJob;
  if (!fj) {
    const s = structuredClone(cur);
    applyPhaseConditions(
      s,
      'Verifying',
      'Verifying',
      'every shard was copied; the finalize Job indexes, loads and verifies the target collections',
      gen,
    );
    s.observedGeneration = gen;
    return [
      ...out,
      { type: 'patchStatus', status: s },
      { type: 'createStageJob', ownedTargets, job: { stage: 'finalize', plan: planOf(sp) } },
      requeue(2000),
    ];
  }
  if (fj.deleting) return [...out, requeue(2000)];
  if (fj.complete) return [...out, ...jobSucceeded(o, o.finalizePod?.status)];
  if (fj.failed) return [...out, ...jobFailed(o, fj, o.finalizePod ?? {}, 'finalize')];
  return [...out, ...podProgress(o, o.finalizePod?.status, sp)];
}

function decideCopy(o: Observed, sp: ShardPlanStatus, done: Set<number>, ownedTargets: string[]): Action[] {
  const gen = o.migration.generation;
  const requeue = (afterMs: number): Action => ({ type: 'requeue', afterMs });
  const pending = [...Array(sp.shards).keys()].filter((i) => !done.has(i));
  const cj = o.job;
  if (!cj) {
    if (sp.attempt >= MAX_COPY_ATTEMPTS) {
      const msg = `shard${pending.length > 1 ? 's' : ''} ${formatIndexes(pending)} did not complete in ${sp.attempt} copy attempts (their pods stopped each time; see the errors and events): fix the cause and set a new ${RERUN_ANNOTATION} value to resume`;
      const s = withPhase(shardProgress(o, sp, done), 'Failed', 'JobFailed', msg, gen);
      delete s.shardPlan;
      pushError(s, msg);
      return [
        { type: 'patchStatus', status: s },
        { type: 'event', eventType: 'Warning', reason: 'JobFailed', message: msg },
      ];
    }
    const attempt = sp.attempt + 1;
    // The attempt is recorded before its Job exists: a Job lost in between only costs a resume.
    const s = shardProgress({ ...o, shardPods: {} }, { ...sp, attempt }, done);
    return [
      { type: 'patchStatus', status: s },
      {
        type: 'createStageJob',
        ownedTargets,
        job: { stage: 'copy', plan: planOf(sp), attempt, completed: [...done] },
      },
      attempt === 1
        ? {
            type: 'event',
            eventType: 'Normal',
            reason: 'ShardsStarted',
            message: `created the copy Job: ${sp.shards} shard pods, one key range of every collection each`,
          }
        : {
            type: 'event',
            eventType: 'Normal',
            reason: 'ShardsResumed',
            message: `copy attempt ${attempt}: resuming shard${pending.length > 1 ? 's' : ''} ${formatIndexes(pending)} (only keys missing on the target are written)${done.size ? `; shards ${formatIndexes(done)} are complete` : ''}`,
          },
      requeue(2000),
    ];
  }
  if (cj.deleting) return [requeue(2000)];
  if (cj.complete) {
    const all = new Set(Array.from({ length: sp.shards }, (_v, i) => i));
    const next = withCompleted(o, sp, done, all);
    return [{ type: 'patchStatus', status: shardProgress(o, next, all) }, requeue(0)];
  }
  if (cj.failed) {
    const pods = Object.values(o.shardPods ?? {});
    const verdict = pods.find((p) => p.status?.phase === 'Failed');
    if (verdict || cj.failureReason !== 'FailedIndexes')
      return jobFailed(
        o,
        cj,
        verdict ?? pods.find((p) => p.errors?.length) ?? {},
        'copy',
        shardProgress(o, sp, done),
      );
    // Only shards failed (a pod deleted, evicted, killed): resume them in a new attempt, after a
    // back-off, once this Job's pods are all gone.
    const wait = (cj.failedAt ?? 0) + copyRetryDelayMs(sp.attempt) - o.now;
    if (wait > 0) return [requeue(wait)];
    const now = parseIndexes(cj.completedIndexes);
    const next = withCompleted(o, sp, done, now);
    const failed = cj.failedIndexes ?? formatIndexes(pending.filter((i) => !now.has(i)));
    return [
      { type: 'patchStatus', status: shardProgress(o, next, parseIndexes(next.completed)) },
      { type: 'deleteJob', name: cj.name, propagation: 'Foreground' },
      {
        type: 'event',
        eventType: 'Warning',
        reason: 'ShardFailed',
        message: `shard${failed.includes(',') || failed.includes('-') ? 's' : ''} ${failed} stopped before finishing (${cj.failureMessage ?? 'pod failed'}); the next copy attempt resumes ${failed.includes(',') || failed.includes('-') ? 'them' : 'it'}`,
      },
      requeue(2000),
    ];
  }
  // Running: the shards' progress, at most every PROGRESS_INTERVAL_MS.
  const out: Action[] = [];
  if (o.now - o.lastProgressPatch >= PROGRESS_INTERVAL_MS) {
    const s = shardProgress(o, sp, done);
    if (JSON.stringify(stripTimes(s)) !== JSON.stringify(stripTimes(o.migration.status)))
      out.push({ type: 'patchStatus', status: s, progress: true });
  }
  out.push(requeue(PROGRESS_INTERVAL_MS));
  return out;
}

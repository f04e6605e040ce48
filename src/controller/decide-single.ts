/**
 * The single-Job machine (spec.parallelism 1): one copy Job, its pod's progress, its verdict. The
 * Job outcomes (jobSucceeded, jobFailed, podProgress) serve the sharded machine's Jobs too.
 */

import type { MigrationStatus, ShardPlanStatus } from '../api/migration.js';
import { reasonOr } from '../api/reasons.js';
import { applyPhaseConditions, pushError, summarize } from '../api/status.js';
import { fromPod, newRunReason, newRunStatus, stripTimes, summary, withPhase } from './decide-status.js';
import {
  type Action,
  type Observed,
  type ObservedJob,
  type ObservedPod,
  PROGRESS_INTERVAL_MS,
  RERUN_ANNOTATION,
  STARTUP_POLL_MS,
} from './decide-types.js';

/**
 * One copy Job for the whole migration: created (for a new run, a re-run or a changed spec), then
 * its pod's progress until the Job's verdict.
 */
export function decideSingleJob(
  o: Observed,
  ownedTargets: string[],
  again: 'rerun' | 'spec' | undefined,
): Action[] {
  const m = o.migration;
  const gen = m.generation;
  const job = o.job;
  if (!job) {
    const s = newRunStatus(o, 'the copy Job was created; waiting for its pod');
    return [
      { type: 'createJob', ownedTargets },
      { type: 'patchStatus', status: s },
      {
        type: 'event',
        eventType: 'Normal',
        reason: newRunReason(again),
        message: again
          ? again === 'rerun'
            ? `${RERUN_ANNOTATION}="${m.rerun}": created a new copy Job; it copies only what the target is missing`
            : `the spec changed (generation ${gen}) after the last run: created a new copy Job for it; it copies only what the target is missing`
          : 'created the copy Job',
      },
      { type: 'requeue', afterMs: 2000 },
    ];
  }
  if (job.deleting) return [{ type: 'requeue', afterMs: 2000 }];

  if (job.complete) return jobSucceeded(o, o.podStatus);
  if (job.failed) return jobFailed(o, job, { status: o.podStatus, errors: o.podErrors }, 'copy');
  return podProgress(o, o.podStatus);
}

/** Running: take the pod's progress over, at most every PROGRESS_INTERVAL_MS. */
export function podProgress(
  o: Observed,
  pod: MigrationStatus | undefined,
  sharded?: ShardPlanStatus,
): Action[] {
  const cur = o.migration.status;
  const out: Action[] = [];
  if (pod) {
    const s = fromPod(o, pod);
    // A resumed pod has not measured a collection it has not reached yet (Pending, Creating): the
    // rows already on the target stay counted until it does, so progress never falls on resume.
    for (const c of s.collections ?? []) {
      const prev = cur.collections?.find((p) => p.name === c.name && p.targetName === c.targetName);
      if (!prev || (c.phase !== 'Pending' && c.phase !== 'Creating')) continue;
      c.copiedEntities = Math.max(c.copiedEntities, prev.copiedEntities);
      c.sourceEntities ??= prev.sourceEntities;
      if (c.foldedEntities === undefined && prev.foldedEntities !== undefined)
        c.foldedEntities = prev.foldedEntities;
    }
    if (s.collections) summarize(s);
    // A final phase in the log wins only with the Job's verdict; until then it is still running.
    if (s.phase === 'Succeeded' || s.phase === 'Failed' || s.phase === 'Canceled')
      applyPhaseConditions(s, 'Running', 'Finishing', 'the copy pod is finishing', o.migration.generation);
    if (sharded) {
      // The finalize pod plans again first (Pending): to the user the run is verifying by now.
      if (s.phase === 'Pending' || s.phase === 'Running')
        applyPhaseConditions(
          s,
          'Verifying',
          'Verifying',
          'every shard was copied; the finalize Job indexes, loads and verifies the target collections',
          o.migration.generation,
        );
      s.shardPlan = sharded;
      // The finalize pod starts from zero: keep what the shards copied until it reports its own.
      for (const c of s.collections ?? []) {
        const prev = cur.collections?.find((p) => p.name === c.name);
        if (prev && c.phase !== 'Succeeded' && c.phase !== 'Failed') {
          c.copiedEntities = Math.max(c.copiedEntities, prev.copiedEntities);
          c.sourceEntities ??= prev.sourceEntities;
        }
      }
      summarize(s);
    }
    // Counts at most every PROGRESS_INTERVAL_MS; a new phase (the pod began copying, verifying) at once.
    const due = o.now - o.lastProgressPatch >= PROGRESS_INTERVAL_MS || s.phase !== cur.phase;
    if (due && JSON.stringify(stripTimes(s)) !== JSON.stringify(stripTimes(cur)))
      out.push({ type: 'patchStatus', status: s, progress: true });
  }
  // Until the pod has reported it is copying, look more often: the status must not say Pending
  // for long while rows are being written.
  out.push({ type: 'requeue', afterMs: cur.phase === 'Pending' ? STARTUP_POLL_MS : PROGRESS_INTERVAL_MS });
  return out;
}

export function jobSucceeded(o: Observed, pod: MigrationStatus | undefined): Action[] {
  const cur = o.migration.status;
  const base = pod?.phase === 'Succeeded' ? fromPod(o, pod) : cur;
  const s = withPhase(
    base,
    'Succeeded',
    'Succeeded',
    'every collection was copied and verified',
    o.migration.generation,
  );
  delete s.shardPlan;
  if (o.specHash !== undefined) s.runSpecHash = o.specHash;
  // The Job's success is the worker's verdict (exit 0 only when every collection verified), also
  // when its last report could not be read.
  const targets = o.migration.collections?.map((c) => c.targetName) ?? [];
  if (targets.length) s.verifiedTargets = [...new Set([...(s.verifiedTargets ?? []), ...targets])].sort();
  s.completionTime ??= new Date(o.now).toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (s.collections) summarize(s);
  return [
    { type: 'patchStatus', status: s },
    { type: 'event', eventType: 'Normal', reason: 'Succeeded', message: summary(s) },
  ];
}

/**
 * A Job failed for good: the pod's own verdict when it gave one (exit 1), else JobFailed with the
 * Job's reason and the pod's last error lines. `base` (a sharded run's summed progress) replaces
 * the pod's collections, which cover only its shard.
 */
export function jobFailed(
  o: Observed,
  job: ObservedJob,
  pod: ObservedPod,
  what: 'copy' | 'plan' | 'finalize',
  base?: MigrationStatus,
): Action[] {
  const cur = o.migration.status;
  const gen = o.migration.generation;
  const p = pod.status;
  let s: MigrationStatus;
  if (p?.phase === 'Failed') {
    if (base) {
      s = structuredClone(base);
      const stalled = p.conditions?.find((c) => c.type === 'Stalled');
      for (const e of p.errors ?? []) pushError(s, e.message, e.collection);
      for (const pc of p.collections ?? []) {
        const c = s.collections?.find((x) => x.name === pc.name);
        if (c && pc.phase === 'Failed') {
          c.phase = 'Failed';
          if (pc.message !== undefined) c.message = pc.message;
        }
      }
      applyPhaseConditions(
        s,
        'Failed',
        reasonOr(stalled?.reason, 'CopyFailed'),
        stalled?.message ?? 'a shard failed',
        gen,
      );
    } else {
      s = fromPod(o, p);
    }
  } else {
    const reason = 'JobFailed';
    const lines = pod.errors?.length ? pod.errors : [];
    const msg = `the ${what} Job failed (${job.failureMessage ?? 'no reason given'})${lines.length ? `: ${lines[lines.length - 1]}` : ''}`;
    s = withPhase(base ?? (p ? fromPod(o, p) : cur), 'Failed', reason, msg, gen);
    for (const l of lines) pushError(s, l);
    pushError(s, msg);
  }
  delete s.shardPlan;
  s.observedGeneration = gen;
  if (o.specHash !== undefined) s.runSpecHash = o.specHash;
  if (s.collections) summarize(s);
  const failed = s.conditions?.find((c) => c.type === 'Stalled');
  return [
    { type: 'patchStatus', status: s },
    {
      type: 'event',
      eventType: 'Warning',
      reason: reasonOr(failed?.reason, 'Failed'),
      message: failed?.message ?? 'the migration failed',
    },
  ];
}

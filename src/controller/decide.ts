/**
 * The controller's brain, as a pure function: what it observed about one MilvusMigration (the
 * object, its Secrets, its Job, the copy pod's last reported status) → the actions that move the
 * world one step toward the spec. No I/O here, so every transition is a table test.
 */
import type { CollectionStatus, DeletionPolicy, MigrationStatus, Phase } from '../api/migration.js';
import { applyPhaseConditions, pushError, summarize } from '../api/status.js';

/** The MilvusMigration as read from the API server (spec unvalidated). */
export interface ObservedMigration {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
  resourceVersion?: string;
  deleting: boolean;
  suspend: boolean;
  status: MigrationStatus;
  /** From the annotation; undefined until the controller has looked at the target. */
  ownedTargets?: string[];
  /** Whether metadata.finalizers holds FINALIZER. */
  finalizer: boolean;
  /** metadata.deletionTimestamp in ms since the epoch, when deleting. */
  deletionTimestamp?: number;
  /** spec.deletionPolicy (Retain when the spec cannot be read). */
  deletionPolicy: DeletionPolicy;
  /** The RERUN_ANNOTATION value, if set. */
  rerun?: string;
  /** spec.collections as source → target names, when the spec is valid. */
  collections?: { name: string; targetName: string }[];
}

export interface ObservedJob {
  name: string;
  uid: string;
  deleting: boolean;
  complete: boolean;
  failed: boolean;
  /** Job condition message when failed. */
  failureMessage?: string;
}

export interface Observed {
  migration: ObservedMigration;
  /** Why the spec is invalid (zod + cross-field checks), if it is; and its stable reason. */
  specError?: string;
  specReason?: string;
  /** Secrets named by the spec that do not exist in the migration's namespace. */
  missingSecrets: string[];
  job?: ObservedJob;
  /** The newest copy pod's last MMSTATUS status. */
  podStatus?: MigrationStatus;
  /** Last log lines of the newest copy pod that look like errors (for a failed Job). */
  podErrors?: string[];
  /** ms since the epoch; and when status was last patched from a pod log (for the 5 s throttle). */
  now: number;
  lastProgressPatch: number;
  /** How long a deletion may wait for the copy pods to stop and the target to answer. */
  cleanupTimeoutMs?: number;
}

export type Action =
  | { type: 'addFinalizer' }
  | { type: 'removeFinalizer' }
  | { type: 'computeOwnedTargets' }
  | { type: 'createJob'; ownedTargets: string[] }
  /**
   * Foreground keeps the Job (deleting) until its pods are gone: a new Job must never start while an
   * old pod may still be writing, or both could insert the same rows.
   */
  | { type: 'deleteJob'; name: string; propagation?: 'Background' | 'Foreground' }
  | { type: 'dropTargets'; names: string[] }
  | { type: 'patchStatus'; status: MigrationStatus; progress?: boolean }
  | { type: 'event'; eventType: 'Normal' | 'Warning'; reason: string; message: string }
  | { type: 'requeue'; afterMs: number };

export const PROGRESS_INTERVAL_MS = 5000;
/** Held while the object exists, so that deleting it stops the copy and applies spec.deletionPolicy. */
export const FINALIZER = 'migration.milvus.io/cleanup';
/** Any new value re-runs a finished (Failed or Succeeded) migration; the engine copies only what is missing. */
export const RERUN_ANNOTATION = 'migration.milvus.io/rerun';
/** A deletion gives up on stopping pods and dropping targets after this long, and says so in an Event. */
export const DEFAULT_CLEANUP_TIMEOUT_MS = 120_000;
/** Failures that go away by themselves (a Secret created later): re-checked on every reconcile. */
const RETRYABLE_REASONS = new Set(['SecretNotFound']);

function stalledReason(s: MigrationStatus): string | undefined {
  return s.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True')?.reason;
}

function withPhase(
  base: MigrationStatus,
  phase: Phase,
  reason: string,
  message: string,
  generation: number,
): MigrationStatus {
  const s = structuredClone(base);
  s.observedGeneration = generation;
  applyPhaseConditions(s, phase, reason, message, generation);
  return s;
}

/** The pod's status, taken over with the object's generation and the conditions' history. */
function fromPod(o: Observed, pod: MigrationStatus): MigrationStatus {
  const gen = o.migration.generation;
  const s: MigrationStatus = { ...structuredClone(pod) };
  s.observedGeneration = gen;
  // Keep lastTransitionTime of conditions whose status did not flip.
  const prev = o.migration.status.conditions ?? [];
  s.conditions = (s.conditions ?? []).map((c) => {
    const p = prev.find((x) => x.type === c.type);
    return {
      ...c,
      observedGeneration: gen,
      lastTransitionTime: p && p.status === c.status ? p.lastTransitionTime : c.lastTransitionTime,
    };
  });
  if (s.collections) summarize(s);
  // The pod knows nothing of re-runs: keep the controller's own record.
  if (o.migration.status.lastRerun !== undefined) s.lastRerun = o.migration.status.lastRerun;
  return s;
}

/**
 * Every collection of the spec in the status, also before the copy pod reported anything (a suspend
 * or a failure that lands first still says which collections were not copied).
 */
function withCollectionList(s: MigrationStatus, m: ObservedMigration, phase: CollectionStatus['phase']) {
  if (s.collections?.length || !m.collections?.length) return;
  s.collections = m.collections.map((c) => ({ ...c, phase, copiedEntities: 0 }));
  s.collectionsDone = `0/${s.collections.length}`;
}

/** Target collections this migration created (owned) that did not reach Succeeded. */
export function incompleteTargets(m: ObservedMigration): string[] {
  const done = new Set(
    (m.status.collections ?? []).filter((c) => c.phase === 'Succeeded').map((c) => c.targetName),
  );
  return (m.ownedTargets ?? []).filter((t) => !done.has(t));
}

/**
 * Deletion: stop the copy Job, apply spec.deletionPolicy, then let the object go. Time-boxed so an
 * unreachable target or a stuck pod never keeps the object forever: past the time box the
 * finalizer is removed anyway and a Warning Event names what may be left behind.
 */
function decideDeletion(o: Observed): Action[] {
  const m = o.migration;
  if (!m.finalizer) return [];
  const out: Action[] = [];
  const drop = m.deletionPolicy === 'DropIncomplete' ? incompleteTargets(m) : [];
  const timeout = o.cleanupTimeoutMs ?? DEFAULT_CLEANUP_TIMEOUT_MS;
  const overdue = o.now - (m.deletionTimestamp ?? o.now) >= timeout;
  if (o.job && !o.job.deleting) {
    // Foreground: the Job object stays until its pods are gone, so "no Job" below means no writer.
    out.push({ type: 'deleteJob', name: o.job.name, propagation: drop.length ? 'Foreground' : 'Background' });
  }
  if (drop.length && !overdue) {
    // Never drop a collection a copy pod may still be writing to.
    if (o.job) return [...out, { type: 'requeue', afterMs: 2000 }];
    out.push({ type: 'dropTargets', names: drop });
  } else if (drop.length) {
    const msg = `deletionPolicy DropIncomplete: gave up after ${Math.round(timeout / 1000)} s (${o.job ? 'the copy pod did not stop' : 'the target did not answer'}); target collection${drop.length > 1 ? 's' : ''} ${drop.map((d) => `"${d}"`).join(', ')} may be left partly written: drop ${drop.length > 1 ? 'them' : 'it'} by hand if unwanted`;
    out.push({ type: 'event', eventType: 'Warning', reason: 'CleanupTimedOut', message: msg });
  }
  out.push({ type: 'removeFinalizer' });
  return out;
}

export function decide(o: Observed): Action[] {
  const m = o.migration;
  const gen = m.generation;
  const cur = m.status;
  if (m.deleting) return decideDeletion(o);
  // First of all, so that a deletion at any later point goes through decideDeletion.
  if (!m.finalizer) return [{ type: 'addFinalizer' }];

  if (o.specError !== undefined) {
    const reason = o.specReason ?? 'InvalidSpec';
    if (cur.phase === 'Failed' && stalledReason(cur) === reason && cur.observedGeneration === gen) return [];
    const s = withPhase(cur, 'Failed', reason, o.specError, gen);
    withCollectionList(s, m, 'Pending');
    pushError(s, o.specError);
    return [
      { type: 'patchStatus', status: s },
      { type: 'event', eventType: 'Warning', reason, message: o.specError },
    ];
  }

  if (m.suspend) {
    const out: Action[] = [];
    if (o.job && !o.job.deleting)
      out.push({ type: 'deleteJob', name: o.job.name, propagation: 'Foreground' });
    if (
      cur.phase === 'Succeeded' ||
      (cur.phase === 'Failed' && !RETRYABLE_REASONS.has(stalledReason(cur) ?? ''))
    ) {
      // Nothing left to stop; only record that this generation was seen.
      if (cur.observedGeneration !== gen)
        out.push({ type: 'patchStatus', status: { ...cur, observedGeneration: gen } });
      return out;
    }
    if (cur.phase !== 'Canceled' || cur.observedGeneration !== gen) {
      const base = o.podStatus ? fromPod(o, o.podStatus) : structuredClone(cur);
      withCollectionList(base, m, 'Canceled');
      for (const c of base.collections ?? [])
        if (c.phase !== 'Succeeded' && c.phase !== 'Failed') c.phase = 'Canceled';
      const msg = 'spec.suspend is true: the copy Job was stopped; set it to false to resume';
      out.push({ type: 'patchStatus', status: withPhase(base, 'Canceled', 'Suspended', msg, gen) });
      out.push({ type: 'event', eventType: 'Normal', reason: 'Suspended', message: msg });
    }
    return out;
  }

  // Re-run: a new annotation value on a finished migration starts a fresh Job; the engine resumes
  // from what the target already holds, so only missing rows are written.
  const rerun = m.rerun !== undefined && m.rerun !== cur.lastRerun;
  const finished =
    cur.phase === 'Succeeded' || (cur.phase === 'Failed' && !RETRYABLE_REASONS.has(stalledReason(cur) ?? ''));
  if (rerun && finished && o.job)
    return o.job.deleting
      ? [{ type: 'requeue', afterMs: 2000 }]
      : [
          { type: 'deleteJob', name: o.job.name, propagation: 'Foreground' },
          { type: 'requeue', afterMs: 2000 },
        ];

  if (cur.phase === 'Succeeded' && !rerun) {
    return cur.observedGeneration === gen
      ? []
      : [{ type: 'patchStatus', status: { ...cur, observedGeneration: gen } }];
  }
  if (cur.phase === 'Failed' && !RETRYABLE_REASONS.has(stalledReason(cur) ?? '') && !rerun) {
    if (cur.observedGeneration === gen) return [];
    // A new generation after a failure (e.g. suspend toggled): try again with a fresh Job.
    if (o.job)
      return o.job.deleting
        ? [{ type: 'requeue', afterMs: 2000 }]
        : [{ type: 'deleteJob', name: o.job.name, propagation: 'Foreground' }];
  }

  if (o.missingSecrets.length) {
    const msg = `Secret${o.missingSecrets.length > 1 ? 's' : ''} ${o.missingSecrets.map((n) => `"${n}"`).join(', ')} not found in namespace "${m.namespace}": create ${o.missingSecrets.length > 1 ? 'them' : 'it'} there (Secrets are only read from the migration's own namespace)`;
    const out: Action[] = [{ type: 'requeue', afterMs: 30_000 }];
    if (cur.phase !== 'Failed' || stalledReason(cur) !== 'SecretNotFound' || cur.observedGeneration !== gen) {
      const s = withPhase(cur, 'Failed', 'SecretNotFound', msg, gen);
      withCollectionList(s, m, 'Pending');
      pushError(s, msg);
      out.unshift(
        { type: 'patchStatus', status: s },
        { type: 'event', eventType: 'Warning', reason: 'SecretNotFound', message: msg },
      );
    }
    return out;
  }

  if (m.ownedTargets === undefined) return [{ type: 'computeOwnedTargets' }];

  const job = o.job;
  if (!job) {
    const s = withPhase(cur, 'Pending', 'JobCreated', 'the copy Job was created; waiting for its pod', gen);
    withCollectionList(s, m, 'Pending');
    delete s.completionTime;
    const again = rerun && finished;
    if (m.rerun !== undefined) s.lastRerun = m.rerun;
    return [
      { type: 'createJob', ownedTargets: m.ownedTargets },
      { type: 'patchStatus', status: s },
      {
        type: 'event',
        eventType: 'Normal',
        reason: again ? 'Rerun' : 'JobCreated',
        message: again
          ? `${RERUN_ANNOTATION}="${m.rerun}": created a new copy Job; it copies only what the target is missing`
          : 'created the copy Job',
      },
      { type: 'requeue', afterMs: 2000 },
    ];
  }
  if (job.deleting) return [{ type: 'requeue', afterMs: 2000 }];

  if (job.complete) {
    const base = o.podStatus?.phase === 'Succeeded' ? fromPod(o, o.podStatus) : cur;
    const s = withPhase(base, 'Succeeded', 'Succeeded', 'every collection was copied and verified', gen);
    s.completionTime ??= new Date(o.now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (s.collections) summarize(s);
    return [
      { type: 'patchStatus', status: s },
      { type: 'event', eventType: 'Normal', reason: 'Succeeded', message: summary(s) },
    ];
  }

  if (job.failed) {
    const pod = o.podStatus;
    let s: MigrationStatus;
    if (pod?.phase === 'Failed') {
      s = fromPod(o, pod);
    } else {
      const reason = 'JobFailed';
      const lines = o.podErrors?.length ? o.podErrors : [];
      const msg = `the copy Job failed (${job.failureMessage ?? 'no reason given'})${lines.length ? `: ${lines[lines.length - 1]}` : ''}`;
      s = withPhase(pod ? fromPod(o, pod) : cur, 'Failed', reason, msg, gen);
      for (const l of lines) pushError(s, l);
      pushError(s, msg);
    }
    s.observedGeneration = gen;
    const failed = s.conditions?.find((c) => c.type === 'Stalled');
    return [
      { type: 'patchStatus', status: s },
      {
        type: 'event',
        eventType: 'Warning',
        reason: failed?.reason ?? 'Failed',
        message: failed?.message ?? 'the migration failed',
      },
    ];
  }

  // Running: take the pod's progress over, at most every PROGRESS_INTERVAL_MS.
  const out: Action[] = [];
  if (o.podStatus && o.now - o.lastProgressPatch >= PROGRESS_INTERVAL_MS) {
    const s = fromPod(o, o.podStatus);
    // A final phase in the log wins only with the Job's verdict; until then it is still running.
    if (s.phase === 'Succeeded' || s.phase === 'Failed' || s.phase === 'Canceled')
      applyPhaseConditions(s, 'Running', 'Finishing', 'the copy pod is finishing', gen);
    if (JSON.stringify(stripTimes(s)) !== JSON.stringify(stripTimes(cur)))
      out.push({ type: 'patchStatus', status: s, progress: true });
  }
  out.push({ type: 'requeue', afterMs: PROGRESS_INTERVAL_MS });
  return out;
}

function stripTimes(s: MigrationStatus): unknown {
  return {
    ...s,
    conditions: s.conditions?.map((c) => ({ ...c, lastTransitionTime: '' })),
  };
}

function summary(s: MigrationStatus): string {
  const cs = s.collections ?? [];
  return `migrated ${cs.length} collection${cs.length === 1 ? '' : 's'}, ${s.rows ?? '?'} rows: ${cs
    .map((c) => `${c.name}→${c.targetName} ${c.targetEntities ?? '?'}`)
    .join(', ')}`;
}

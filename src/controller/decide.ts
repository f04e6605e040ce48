/**
 * The controller's brain, as a pure function: what it observed about one MilvusMigration (the
 * object, its Secrets, its Job, the copy pod's last reported status) → the actions that move the
 * world one step toward the spec. No I/O here, so every transition is a table test.
 */
import type { MigrationStatus, Phase } from '../api/migration.js';
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
  /** Why the spec is invalid (zod + cross-field checks), if it is. */
  specError?: string;
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
}

export type Action =
  | { type: 'computeOwnedTargets' }
  | { type: 'createJob'; ownedTargets: string[] }
  | { type: 'deleteJob'; name: string }
  | { type: 'patchStatus'; status: MigrationStatus; progress?: boolean }
  | { type: 'event'; eventType: 'Normal' | 'Warning'; reason: string; message: string }
  | { type: 'requeue'; afterMs: number };

export const PROGRESS_INTERVAL_MS = 5000;
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
  return s;
}

export function decide(o: Observed): Action[] {
  const m = o.migration;
  const gen = m.generation;
  const cur = m.status;
  if (m.deleting) return []; // ownerReferences: the garbage collector removes the Job.

  if (o.specError !== undefined) {
    if (cur.phase === 'Failed' && stalledReason(cur) === 'InvalidSpec' && cur.observedGeneration === gen)
      return [];
    const s = withPhase(cur, 'Failed', 'InvalidSpec', o.specError, gen);
    pushError(s, o.specError);
    return [
      { type: 'patchStatus', status: s },
      { type: 'event', eventType: 'Warning', reason: 'InvalidSpec', message: o.specError },
    ];
  }

  if (m.suspend) {
    const out: Action[] = [];
    if (o.job && !o.job.deleting) out.push({ type: 'deleteJob', name: o.job.name });
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
      const base = o.podStatus ? fromPod(o, o.podStatus) : cur;
      for (const c of base.collections ?? [])
        if (c.phase !== 'Succeeded' && c.phase !== 'Failed') c.phase = 'Canceled';
      const msg = 'spec.suspend is true: the copy Job was stopped; set it to false to resume';
      out.push({ type: 'patchStatus', status: withPhase(base, 'Canceled', 'Suspended', msg, gen) });
      out.push({ type: 'event', eventType: 'Normal', reason: 'Suspended', message: msg });
    }
    return out;
  }

  if (cur.phase === 'Succeeded') {
    return cur.observedGeneration === gen
      ? []
      : [{ type: 'patchStatus', status: { ...cur, observedGeneration: gen } }];
  }
  if (cur.phase === 'Failed' && !RETRYABLE_REASONS.has(stalledReason(cur) ?? '')) {
    if (cur.observedGeneration === gen) return [];
    // A new generation after a failure (e.g. suspend toggled): try again with a fresh Job.
    if (o.job)
      return o.job.deleting
        ? [{ type: 'requeue', afterMs: 2000 }]
        : [{ type: 'deleteJob', name: o.job.name }];
  }

  if (o.missingSecrets.length) {
    const msg = `Secret${o.missingSecrets.length > 1 ? 's' : ''} ${o.missingSecrets.map((n) => `"${n}"`).join(', ')} not found in namespace "${m.namespace}": create ${o.missingSecrets.length > 1 ? 'them' : 'it'} there (Secrets are only read from the migration's own namespace)`;
    const out: Action[] = [{ type: 'requeue', afterMs: 30_000 }];
    if (cur.phase !== 'Failed' || stalledReason(cur) !== 'SecretNotFound' || cur.observedGeneration !== gen) {
      const s = withPhase(cur, 'Failed', 'SecretNotFound', msg, gen);
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
    return [
      { type: 'createJob', ownedTargets: m.ownedTargets },
      { type: 'patchStatus', status: s },
      { type: 'event', eventType: 'Normal', reason: 'JobCreated', message: 'created the copy Job' },
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

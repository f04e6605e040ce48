/** The status builders decide() shares: phases, a pod's report taken over, verified targets, conditions. */

import type { CollectionStatus, MigrationStatus, Phase } from '../api/migration.js';
import type { Reason } from '../api/reasons.js';
import { applyPhaseConditions, setCondition, summarize } from '../api/status.js';
import type { Action, Observed, ObservedMigration } from './decide-types.js';

export function stalledReason(s: MigrationStatus): string | undefined {
  return s.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True')?.reason;
}

export function withPhase(
  base: MigrationStatus,
  phase: Phase,
  reason: Reason,
  message: string,
  generation: number,
): MigrationStatus {
  const s = structuredClone(base);
  s.observedGeneration = generation;
  applyPhaseConditions(s, phase, reason, message, generation);
  return s;
}

/** The pod's status, taken over with the object's generation and the conditions' history. */
export function fromPod(o: Observed, pod: MigrationStatus): MigrationStatus {
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
 * The status of a run that starts now (a new object, a re-run, a changed spec): Pending, every
 * collection listed, the last run's end and the re-run value it answers recorded.
 */
export function newRunStatus(o: Observed, message: string): MigrationStatus {
  const m = o.migration;
  const s = withPhase(m.status, 'Pending', 'JobCreated', message, m.generation);
  withCollectionList(s, m, 'Pending');
  delete s.completionTime;
  if (m.rerun !== undefined) s.lastRerun = m.rerun;
  return s;
}

/** The Event reason of a run that starts now. */
export function newRunReason(again: 'rerun' | 'spec' | undefined): Reason {
  return again === 'rerun' ? 'Rerun' : again === 'spec' ? 'SpecChanged' : 'JobCreated';
}

/**
 * Every collection of the spec in the status, also before the copy pod reported anything (a suspend
 * or a failure that lands first still says which collections were not copied).
 */
export function withCollectionList(
  s: MigrationStatus,
  m: ObservedMigration,
  phase: CollectionStatus['phase'],
) {
  if (s.collections?.length || !m.collections?.length) return;
  s.collections = m.collections.map((c) => ({ ...c, phase, copiedEntities: 0 }));
  s.collectionsDone = `0/${s.collections.length}`;
}

/**
 * Target collections this migration created (owned) that never reached a verified copy: neither in
 * status.verifiedTargets (every collection any run of it verified) nor Succeeded now.
 */
export function incompleteTargets(m: ObservedMigration): string[] {
  const done = verifiedTargets(m.status);
  return (m.ownedTargets ?? []).filter((t) => !done.has(t));
}

/** Every target collection verified complete once: the record, and any Succeeded in `s`. */
export function verifiedTargets(s: MigrationStatus): Set<string> {
  return new Set([
    ...(s.verifiedTargets ?? []),
    ...(s.collections ?? []).filter((c) => c.phase === 'Succeeded').map((c) => c.targetName),
  ]);
}

/**
 * Every status the controller writes keeps the record of verified targets and adds the collections
 * it shows Succeeded (verified by a pod of this migration): the record only grows, whatever a later
 * run, a reset pod status or a log tail shows.
 */
export function keepVerified(cur: MigrationStatus, actions: Action[]): Action[] {
  const before = verifiedTargets(cur);
  return actions.map((a) => {
    if (a.type !== 'patchStatus') return a;
    const all = new Set([...before, ...verifiedTargets(a.status)]);
    if (!all.size) return a;
    return { ...a, status: { ...a.status, verifiedTargets: [...all].sort() } };
  });
}

export function stripTimes(s: MigrationStatus): unknown {
  return {
    ...s,
    conditions: s.conditions?.map((c) => ({ ...c, lastTransitionTime: '' })),
  };
}

export function summary(s: MigrationStatus): string {
  const cs = s.collections ?? [];
  return `migrated ${cs.length} collection${cs.length === 1 ? '' : 's'}, ${s.rows ?? '?'} rows: ${cs
    .map((c) => `${c.name}→${c.targetName} ${c.targetEntities ?? '?'}`)
    .join(', ')}`;
}

/**
 * Condition `type` as `want` in every status written, and when it changes, a patch (if none was
 * due) and `events`.
 */
export function withCondition(
  o: Observed,
  actions: Action[],
  type: string,
  want: { status: 'True' | 'False'; reason: Reason; message: string },
  events: Action[],
): Action[] {
  const m = o.migration;
  const cur = m.status;
  const prev = cur.conditions?.find((c) => c.type === type);
  const apply = (st: MigrationStatus) => {
    const s = structuredClone(st);
    setCondition(s, type, want.status, want.reason, want.message, m.generation);
    return s;
  };
  const out = actions.map((a) => (a.type === 'patchStatus' ? { ...a, status: apply(a.status) } : a));
  if (prev && prev.status === want.status && prev.reason === want.reason && prev.message === want.message)
    return out;
  if (!out.some((a) => a.type === 'patchStatus')) out.unshift({ type: 'patchStatus', status: apply(cur) });
  return [...out, ...events];
}

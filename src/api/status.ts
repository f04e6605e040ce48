/**
 * Status bookkeeping shared by the CLI and the controller: conditions the kstatus way (Ready,
 * Reconciling, Stalled), a bounded error log, and the overall progress.
 */

import {
  type CollectionStatus,
  type Condition,
  MAX_STATUS_ERRORS,
  type MigrationStatus,
  type Phase,
} from './migration.js';
import type { Reason } from './reasons.js';

export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Sets a condition; lastTransitionTime changes only when the status flips. */
export function setCondition(
  s: MigrationStatus,
  type: string,
  status: Condition['status'],
  reason: Reason,
  message: string,
  generation?: number,
): void {
  s.conditions ??= [];
  const list = s.conditions;
  const prev = list.find((c) => c.type === type);
  const next: Condition = {
    type,
    status,
    reason,
    message,
    lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : now(),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  if (prev) list.splice(list.indexOf(prev), 1, next);
  else list.push(next);
}

export function pushError(s: MigrationStatus, message: string, collection?: string): void {
  s.errors ??= [];
  const list = s.errors;
  list.push({ time: now(), ...(collection ? { collection } : {}), message });
  if (list.length > MAX_STATUS_ERRORS) list.splice(0, list.length - MAX_STATUS_ERRORS);
}

/** Conditions that follow from the phase, so GitOps tools read health without custom checks. */
export function applyPhaseConditions(
  s: MigrationStatus,
  phase: Phase,
  reason: Reason,
  message: string,
  generation?: number,
): void {
  s.phase = phase;
  switch (phase) {
    case 'Succeeded':
      setCondition(s, 'Ready', 'True', reason, message, generation);
      setCondition(s, 'Reconciling', 'False', reason, message, generation);
      setCondition(s, 'Stalled', 'False', reason, message, generation);
      break;
    case 'Failed':
      setCondition(s, 'Ready', 'False', reason, message, generation);
      setCondition(s, 'Reconciling', 'False', reason, message, generation);
      setCondition(s, 'Stalled', 'True', reason, message, generation);
      break;
    case 'Canceled':
      setCondition(s, 'Ready', 'False', reason, message, generation);
      setCondition(s, 'Reconciling', 'False', reason, message, generation);
      setCondition(s, 'Stalled', 'False', reason, message, generation);
      break;
    default:
      setCondition(s, 'Ready', 'False', reason, message, generation);
      setCondition(s, 'Reconciling', 'True', reason, message, generation);
      setCondition(s, 'Stalled', 'False', reason, message, generation);
  }
}

/** progress, rows and collectionsDone: the figures `kubectl get` shows. */
export function summarize(s: MigrationStatus): void {
  const cs = s.collections ?? [];
  s.progress = overallProgress(cs);
  const copied = cs.reduce((n, c) => n + c.copiedEntities, 0);
  const total = cs.reduce((n, c) => n + toCopy(c), 0);
  s.rows = `${copied}/${total}`;
  s.collectionsDone = `${cs.filter((c) => c.phase === 'Succeeded').length}/${cs.length}`;
}

/** Rows of a collection a copy can move: count(*) on the source less the folded ones. */
function toCopy(c: CollectionStatus): number {
  return Math.max(0, (c.sourceEntities ?? 0) - (c.foldedEntities ?? 0));
}

/**
 * Copied share of every row to copy. 100 % only when every collection Succeeded; below that while a
 * collection's source count is not known yet (its rows are not in the total).
 */
export function overallProgress(collections: CollectionStatus[]): string {
  let total = 0;
  let copied = 0;
  for (const c of collections) {
    const n = toCopy(c);
    total += n;
    copied += c.phase === 'Succeeded' ? n : Math.min(c.copiedEntities, n);
  }
  const allDone = collections.every((c) => c.phase === 'Succeeded');
  if (total === 0) return allDone ? '100%' : '0%';
  const pct = Math.floor((copied * 100) / total);
  return `${allDone ? pct : Math.min(pct, 99)}%`;
}

/**
 * The controller's brain, as a pure function: what it observed about one MilvusMigration (the
 * object, its Secrets, its Job, the copy pod's last reported status) → the actions that move the
 * world one step toward the spec. No I/O here, so every transition is a table test.
 *
 * This file holds the gates every run passes (deletion, invalid spec, suspend, re-run, changed
 * spec, missing Secrets, target claims); then decide-single.ts (parallelism 1) or
 * decide-sharded.ts runs the Jobs. decide-types.ts: what is observed and the actions;
 * decide-status.ts: the status builders; decide-reports.ts: the transport and Secret conditions;
 * decide-deletion.ts: a deletion and spec.deletionPolicy.
 */
import type { Reason } from '../api/reasons.js';
import { applyPhaseConditions, pushError } from '../api/status.js';
import { heldBy } from './claims.js';
import { decideDeletion } from './decide-deletion.js';
import { withSecretReport, withTransportReport } from './decide-reports.js';
import { decideSharded } from './decide-sharded.js';
import { decideSingleJob } from './decide-single.js';
import { fromPod, keepVerified, stalledReason, withCollectionList, withPhase } from './decide-status.js';
import { type Action, deleteAllJobs, jobsOf, type Observed } from './decide-types.js';

export {
  SECRETS_CONDITION,
  TRANSPORT_CONDITION,
  type TransportWarning,
  transportWarnings,
} from './decide-reports.js';
export { incompleteTargets } from './decide-status.js';
export {
  type Action,
  copyRetryDelayMs,
  DEFAULT_CLEANUP_TIMEOUT_MS,
  FINALIZER,
  MAX_COPY_ATTEMPTS,
  type Observed,
  type ObservedJob,
  type ObservedMigration,
  type ObservedPod,
  PROGRESS_INTERVAL_MS,
  RERUN_ANNOTATION,
} from './decide-types.js';

export function decide(o: Observed): Action[] {
  return withTransportReport(o, withSecretReport(o, keepVerified(o.migration.status, decideOnce(o))));
}

/** Failures that go away by themselves (a Secret created later): re-checked on every reconcile. */
const RETRYABLE_REASONS = new Set<string>(['SecretNotFound', 'TargetClaimed'] satisfies Reason[]);

/** Whether a finished run's result holds for the current spec (only fields it does not depend on changed). */
function resultHolds(o: Observed): boolean {
  return o.specHash === undefined || o.migration.status.runSpecHash === o.specHash;
}

/**
 * A gate that holds the run back until its cause goes away (RETRYABLE_REASONS): Failed with
 * `reason`, written once per generation, and looked at again in 30 s.
 */
function heldBack(o: Observed, reason: Reason, msg: string): Action[] {
  const m = o.migration;
  const cur = m.status;
  const gen = m.generation;
  const out: Action[] = [{ type: 'requeue', afterMs: 30_000 }];
  if (cur.phase !== 'Failed' || stalledReason(cur) !== reason || cur.observedGeneration !== gen) {
    const s = withPhase(cur, 'Failed', reason, msg, gen);
    withCollectionList(s, m, 'Pending');
    pushError(s, msg);
    out.unshift(
      { type: 'patchStatus', status: s },
      { type: 'event', eventType: 'Warning', reason, message: msg },
    );
  }
  return out;
}

function decideOnce(o: Observed): Action[] {
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

  if (o.selectionNeeded) return [{ type: 'resolveCollections' }];

  if (m.suspend) {
    const out: Action[] = deleteAllJobs(o);
    if (
      cur.phase === 'Succeeded' ||
      (cur.phase === 'Failed' && !RETRYABLE_REASONS.has(stalledReason(cur) ?? ''))
    ) {
      // Nothing left to stop; only record that this generation was seen, if the result holds for it.
      if (cur.observedGeneration !== gen && resultHolds(o))
        out.push({ type: 'patchStatus', status: { ...cur, observedGeneration: gen } });
      return out;
    }
    if (cur.phase !== 'Canceled' || cur.observedGeneration !== gen) {
      const base = o.podStatus ? fromPod(o, o.podStatus) : structuredClone(cur);
      // A sharded run's plan ends with it: resuming plans again (the targets are then resumed).
      delete base.shardPlan;
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
  const annotated = m.rerun !== undefined && m.rerun !== cur.lastRerun;
  const finished =
    cur.phase === 'Succeeded' || (cur.phase === 'Failed' && !RETRYABLE_REASONS.has(stalledReason(cur) ?? ''));
  // Honest generations: a finished run answers for a newer generation only if the spec fields its
  // result depends on (specHash) are unchanged; otherwise the new generation gets a run of its own.
  const respec = cur.phase === 'Succeeded' && cur.observedGeneration !== gen && !resultHolds(o);
  const rerun = annotated || respec;
  if (rerun && finished && jobsOf(o).length) return [...deleteAllJobs(o), { type: 'requeue', afterMs: 2000 }];

  if (cur.phase === 'Succeeded' && !rerun) {
    return cur.observedGeneration === gen
      ? []
      : [{ type: 'patchStatus', status: { ...cur, observedGeneration: gen } }];
  }
  if (cur.phase === 'Failed' && !RETRYABLE_REASONS.has(stalledReason(cur) ?? '') && !rerun) {
    if (cur.observedGeneration === gen) return [];
    // A new generation after a failure (e.g. suspend toggled): try again with a fresh Job.
    if (jobsOf(o).length) {
      const del = deleteAllJobs(o);
      return del.length ? del : [{ type: 'requeue', afterMs: 2000 }];
    }
  }

  // A run made from a spec whose result-relevant fields changed since (spec.verify, say) would end
  // with a status that answers for a spec it never ran: stop it and start one for this generation.
  const outdated = jobsOf(o).filter(
    (j) => !j.deleting && j.specHash !== undefined && o.specHash !== undefined && j.specHash !== o.specHash,
  );
  if (outdated.length && !finished) {
    const was = outdated[0]!.generation;
    const msg = `the spec changed (generation ${gen}) while the run of generation ${was ?? '?'} was under way: it is stopped and a run of generation ${gen} starts (only what the target is missing is written)`;
    const s = structuredClone(cur);
    // observedGeneration stays that of the last run that ended: none of this generation has yet.
    applyPhaseConditions(s, 'Pending', 'SpecChanged', msg, cur.observedGeneration);
    delete s.shardPlan;
    return [
      ...deleteAllJobs(o),
      { type: 'patchStatus', status: s },
      { type: 'event', eventType: 'Normal', reason: 'SpecChanged', message: msg },
      { type: 'requeue', afterMs: 2000 },
    ];
  }

  // A Secret deleted while a Job still runs: its pods started with what they need; failing the
  // migration now would misreport a copy that goes on. Reported (condition + Event, withSecrets)
  // instead; the next pod cannot start without it (no optional keys), and a new run waits for it.
  const active = jobsOf(o).some((j) => !j.deleting && !j.complete && !j.failed);
  if (o.missingSecrets.length && !active) {
    const msg = `Secret${o.missingSecrets.length > 1 ? 's' : ''} ${o.missingSecrets.map((n) => `"${n}"`).join(', ')} not found in namespace "${m.namespace}": create ${o.missingSecrets.length > 1 ? 'them' : 'it'} there (Secrets are only read from the migration's own namespace)`;
    return heldBack(o, 'SecretNotFound', msg);
  }

  // Every target collection claimed by this migration before anything is created or written.
  const claims = o.claims ?? [];
  const other = claims.find((c) => c.holder && !c.stale && !heldBy(c, m.uid));
  if (other) {
    const h = other.holder!;
    const msg = `target collection "${other.target}" (${other.id}) is claimed by MilvusMigration "${h.namespace}/${h.name}", which migrates into it: two migrations writing one collection would mix their rows. Nothing was created or written; this migration starts by itself once that one is deleted (or delete this one and give it another targetName)`;
    return heldBack(o, 'TargetClaimed', msg);
  }
  const unclaimed = claims.filter((c) => !heldBy(c, m.uid));
  if (unclaimed.length)
    return [
      { type: 'claimTargets', claims: unclaimed },
      { type: 'requeue', afterMs: 500 },
    ];

  if (m.ownedTargets === undefined) return [{ type: 'computeOwnedTargets' }];

  // parallelism > 1: plan Job → Indexed copy Job (one pod per shard) → finalize Job. A run keeps
  // the path it started on (the Jobs and status.shardPlan say which).
  const sharded =
    cur.shardPlan !== undefined ||
    o.planJob !== undefined ||
    o.finalizeJob !== undefined ||
    o.job?.indexed === true ||
    (o.job === undefined && (o.parallelism ?? 1) > 1);
  if (sharded)
    return decideSharded(o, m.ownedTargets, rerun && finished ? (annotated ? 'rerun' : 'spec') : undefined);

  return decideSingleJob(o, m.ownedTargets, rerun && finished ? (annotated ? 'rerun' : 'spec') : undefined);
}

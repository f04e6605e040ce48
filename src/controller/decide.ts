/**
 * The controller's brain, as a pure function: what it observed about one MilvusMigration (the
 * object, its Secrets, its Job, the copy pod's last reported status) → the actions that move the
 * world one step toward the spec. No I/O here, so every transition is a table test.
 */
import type {
  CollectionStatus,
  DeletionPolicy,
  MigrationStatus,
  Phase,
  ShardPlanStatus,
} from '../api/migration.js';
import { applyPhaseConditions, pushError, setCondition, summarize } from '../api/status.js';
import type { ShardPlan } from '../engine/engine.js';
import { heldBy, type ObservedClaim } from './claims.js';
import type { SecretInfo, StageJob } from './job.js';
import { formatIndexes, parseIndexes } from './worker.js';

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
  /** The Failed condition's reason (FailedIndexes: only shards failed) and when it was set (ms). */
  failureReason?: string;
  failedAt?: number;
  /** A sharded run's Indexed copy Job: status.completedIndexes / failedIndexes. */
  indexed?: boolean;
  completedIndexes?: string;
  failedIndexes?: string;
  /** The generation of the MilvusMigration the Job was made from (GENERATION_ANNOTATION). */
  generation?: number;
  /** specHash() of the spec it was made from (SPEC_HASH_ANNOTATION). */
  specHash?: string;
  /** resourceVersion of each Secret it was made from (SECRETS_ANNOTATION). */
  secretVersions?: Record<string, string>;
}

/** What one pod of a Job last reported. */
export interface ObservedPod {
  status?: MigrationStatus;
  errors?: string[];
}

export interface Observed {
  migration: ObservedMigration;
  /** Why the spec is invalid (zod + cross-field checks), if it is; and its stable reason. */
  specError?: string;
  specReason?: string;
  /** Secrets named by the spec that do not exist in the migration's namespace. */
  missingSecrets: string[];
  /** Secrets named by the spec that changed (resourceVersion) since the running Job was made. */
  changedSecrets?: string[];
  /** The Secrets named by the spec that exist: their versions and key names (for new Jobs). */
  secrets?: Record<string, SecretInfo>;
  /**
   * The claim of every target collection of the spec (claims.ts), when the spec is valid. Only a
   * migration that holds every one of them creates Jobs.
   */
  claims?: ObservedClaim[];
  /**
   * spec.collections has patterns and no set recorded for it (status.collectionSelection): nothing
   * else is observed or decided until the controller expanded them (selection.ts).
   */
  selectionNeeded?: boolean;
  /** specHash() of the current spec: what a run's result depends on. */
  specHash?: string;
  /** Credentials sent without TLS, TLS verification off (transportWarnings()), when the spec is valid. */
  transport?: TransportWarning[];
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
  /** spec.parallelism, when the spec is valid. */
  parallelism?: number;
  /** A sharded run (parallelism > 1): its plan Job, the plan its pod printed, its finalize Job. */
  planJob?: ObservedJob;
  planPod?: ObservedPod;
  planOutput?: ShardPlan;
  /** The newest pod of each index of the Indexed copy Job. */
  shardPods?: Record<number, ObservedPod>;
  finalizeJob?: ObservedJob;
  finalizePod?: ObservedPod;
}

export type Action =
  | { type: 'addFinalizer' }
  | { type: 'removeFinalizer' }
  | { type: 'computeOwnedTargets' }
  | { type: 'resolveCollections' }
  /** Create-if-absent of the claim Leases not held yet (a stale one is taken over). */
  | { type: 'claimTargets'; claims: ObservedClaim[] }
  /** Deletion: give back the claims this migration holds (its Jobs are gone). */
  | { type: 'releaseClaims'; claims: ObservedClaim[] }
  | { type: 'createJob'; ownedTargets: string[] }
  /** A Job of a sharded run (plan, Indexed copy, finalize). */
  | { type: 'createStageJob'; ownedTargets: string[]; job: StageJob }
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
/** Copy Jobs of one shard plan (the first and its retries), as the single copy Job's backoffLimit 6 allows 7 pods. */
export const MAX_COPY_ATTEMPTS = 7;
/** Wait before the next copy attempt: 10 s, doubled per attempt, at most 5 min (the Job controller's pod back-off). */
export function copyRetryDelayMs(attempt: number): number {
  return Math.min(300_000, 10_000 * 2 ** Math.max(0, attempt - 1));
}
/** Failures that go away by themselves (a Secret created later): re-checked on every reconcile. */
const RETRYABLE_REASONS = new Set(['SecretNotFound', 'TargetClaimed']);

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

/**
 * Target collections this migration created (owned) that never reached a verified copy: neither in
 * status.verifiedTargets (every collection any run of it verified) nor Succeeded now.
 */
export function incompleteTargets(m: ObservedMigration): string[] {
  const done = verifiedTargets(m.status);
  return (m.ownedTargets ?? []).filter((t) => !done.has(t));
}

/** Every target collection verified complete once: the record, and any Succeeded in `s`. */
function verifiedTargets(s: MigrationStatus): Set<string> {
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
function keepVerified(cur: MigrationStatus, actions: Action[]): Action[] {
  const before = verifiedTargets(cur);
  return actions.map((a) => {
    if (a.type !== 'patchStatus') return a;
    const all = new Set([...before, ...verifiedTargets(a.status)]);
    if (!all.size) return a;
    return { ...a, status: { ...a.status, verifiedTargets: [...all].sort() } };
  });
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
  const jobs = jobsOf(o);
  const held = (o.claims ?? []).filter((c) => heldBy(c, m.uid));
  for (const j of jobs) {
    // Foreground: the Job object stays until its pods are gone, so "no Job" below means no writer.
    if (!j.deleting)
      out.push({
        type: 'deleteJob',
        name: j.name,
        propagation: drop.length || held.length ? 'Foreground' : 'Background',
      });
  }
  // Never drop a collection a copy pod may still be writing to, nor let another migration claim it.
  if ((drop.length || held.length) && !overdue && jobs.length)
    return [...out, { type: 'requeue', afterMs: 2000 }];
  if (drop.length && !overdue) {
    out.push({ type: 'dropTargets', names: drop });
  } else if (drop.length) {
    const msg = `deletionPolicy DropIncomplete: gave up after ${Math.round(timeout / 1000)} s (${jobs.length ? 'the copy pod did not stop' : 'the target did not answer'}); target collection${drop.length > 1 ? 's' : ''} ${drop.map((d) => `"${d}"`).join(', ')} may be left partly written: drop ${drop.length > 1 ? 'them' : 'it'} by hand if unwanted`;
    out.push({ type: 'event', eventType: 'Warning', reason: 'CleanupTimedOut', message: msg });
  }
  if (held.length) out.push({ type: 'releaseClaims', claims: held });
  out.push({ type: 'removeFinalizer' });
  return out;
}

/** Every Job of the migration: the copy Job, and a sharded run's plan and finalize Jobs. */
function jobsOf(o: Observed): ObservedJob[] {
  return [o.job, o.planJob, o.finalizeJob].filter((j): j is ObservedJob => j !== undefined);
}

/** Foreground deletes of every Job not already going; a requeue to see them gone. */
function deleteAllJobs(o: Observed): Action[] {
  return jobsOf(o)
    .filter((j) => !j.deleting)
    .map((j): Action => ({ type: 'deleteJob', name: j.name, propagation: 'Foreground' }));
}

export function decide(o: Observed): Action[] {
  return withTransportReport(o, withSecretReport(o, keepVerified(o.migration.status, decideOnce(o))));
}

export interface TransportWarning {
  reason: 'CredentialsWithoutTLS' | 'TLSVerificationOff';
  message: string;
}

/** Condition type that warns of credentials sent in clear or TLS without verification. */
export const TRANSPORT_CONDITION = 'TransportSecure';

/**
 * What a spec exposes on the wire: credentials of a Secret sent to a plain host:port / http://
 * endpoint (readable on the network path), and TLS whose certificate is not verified.
 */
export function transportWarnings(spec: {
  source: { endpoint: string; secretRef?: { name: string }; tls?: { insecureSkipVerify?: boolean } };
  target: { endpoint: string; secretRef?: { name: string }; tls?: { insecureSkipVerify?: boolean } };
}): TransportWarning[] {
  const out: TransportWarning[] = [];
  for (const side of ['source', 'target'] as const) {
    const c = spec[side];
    const tls = /^https:\/\//i.test(c.endpoint.trim());
    if (c.secretRef && !tls)
      out.push({
        reason: 'CredentialsWithoutTLS',
        message: `the ${side} credentials (Secret "${c.secretRef.name}") are sent to ${c.endpoint} without TLS: anyone on the network path can read them; use an https:// endpoint`,
      });
    if (tls && c.tls?.insecureSkipVerify)
      out.push({
        reason: 'TLSVerificationOff',
        message: `${side}.tls.insecureSkipVerify is true: the ${side} server's certificate is not verified, so a server posing as ${c.endpoint} would ${c.secretRef ? 'receive the credentials and ' : ''}see every row`,
      });
  }
  return out;
}

/**
 * Warns in condition TransportSecure=False (kept on every status written) and one Warning Event per
 * change; the migration runs as specified (a warning, not a refusal).
 */
function withTransportReport(o: Observed, actions: Action[]): Action[] {
  const m = o.migration;
  const cur = m.status;
  if (m.deleting || o.transport === undefined) return actions;
  const prev = cur.conditions?.find((c) => c.type === TRANSPORT_CONDITION);
  const warn = o.transport;
  if (!warn.length && !prev) return actions;
  const want = warn.length
    ? { status: 'False' as const, reason: warn[0]!.reason, message: warn.map((w) => w.message).join('; ') }
    : {
        status: 'True' as const,
        reason: 'TransportSecure',
        message: 'credentials go only over verified TLS',
      };
  const apply = (st: MigrationStatus) => {
    const s = structuredClone(st);
    setCondition(s, TRANSPORT_CONDITION, want.status, want.reason, want.message, m.generation);
    return s;
  };
  const out = actions.map((a) => (a.type === 'patchStatus' ? { ...a, status: apply(a.status) } : a));
  if (prev && prev.status === want.status && prev.reason === want.reason && prev.message === want.message)
    return out;
  if (!out.some((a) => a.type === 'patchStatus')) out.unshift({ type: 'patchStatus', status: apply(cur) });
  for (const w of warn)
    out.push({ type: 'event', eventType: 'Warning', reason: w.reason, message: w.message });
  return out;
}

/** Condition type that reports Secrets deleted or changed while a Job runs. */
export const SECRETS_CONDITION = 'SecretsAvailable';

/**
 * A Secret deleted or changed while a Job runs does not fail the migration (its pods hold what they
 * need): the condition SecretsAvailable says so in every status written meanwhile, and an Event is
 * recorded once per change. It turns True again (SecretsFound) once the Secrets are back.
 */
function withSecretReport(o: Observed, actions: Action[]): Action[] {
  const m = o.migration;
  const cur = m.status;
  if (m.deleting) return actions;
  const prev = cur.conditions?.find((c) => c.type === SECRETS_CONDITION);
  const active = jobsOf(o).some((j) => !j.deleting && !j.complete && !j.failed);
  const list = (ns: string[]) => ns.map((n) => `"${n}"`).join(', ');
  let want:
    | { status: 'True' | 'False'; reason: string; message: string; type: 'Normal' | 'Warning' }
    | undefined;
  if (active && o.missingSecrets.length)
    want = {
      status: 'False',
      reason: 'SecretDeleted',
      type: 'Warning',
      message: `Secret ${list(o.missingSecrets)} was deleted while the copy runs: running pods keep the credentials they started with and go on; a pod started later (a retry, a shard, the finalize Job) waits until it exists again in namespace "${m.namespace}"`,
    };
  else if (active && o.changedSecrets?.length)
    want = {
      status: 'True',
      reason: 'SecretChanged',
      type: 'Normal',
      message: `Secret ${list(o.changedSecrets)} changed after the running Job was made: its running pods keep the values they started with; pods started later read the new ones`,
    };
  else if (prev && prev.reason !== 'SecretsFound' && !o.missingSecrets.length)
    want = {
      status: 'True',
      reason: 'SecretsFound',
      type: 'Normal',
      message: 'every Secret named by the spec exists',
    };
  else if (prev)
    want = {
      status: prev.status as 'True' | 'False',
      reason: prev.reason,
      message: prev.message,
      type: 'Normal',
    };
  if (!want) return actions;
  const w = want;
  const apply = (st: MigrationStatus) => {
    const s = structuredClone(st);
    setCondition(s, SECRETS_CONDITION, w.status, w.reason, w.message, m.generation);
    return s;
  };
  const out = actions.map((a) => (a.type === 'patchStatus' ? { ...a, status: apply(a.status) } : a));
  const changed = !prev || prev.status !== w.status || prev.reason !== w.reason || prev.message !== w.message;
  if (!changed) return out;
  if (!out.some((a) => a.type === 'patchStatus')) out.unshift({ type: 'patchStatus', status: apply(cur) });
  if (w.reason !== 'SecretsFound' || prev)
    out.push({ type: 'event', eventType: w.type, reason: w.reason, message: w.message });
  return out;
}

/** Whether a finished run's result holds for the current spec (only fields it does not depend on changed). */
function resultHolds(o: Observed): boolean {
  return o.specHash === undefined || o.migration.status.runSpecHash === o.specHash;
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

  // Every target collection claimed by this migration before anything is created or written.
  const claims = o.claims ?? [];
  const other = claims.find((c) => c.holder && !c.stale && !heldBy(c, m.uid));
  if (other) {
    const h = other.holder!;
    const msg = `target collection "${other.target}" (${other.id}) is claimed by MilvusMigration "${h.namespace}/${h.name}", which migrates into it: two migrations writing one collection would mix their rows. Nothing was created or written; this migration starts by itself once that one is deleted (or delete this one and give it another targetName)`;
    const out: Action[] = [{ type: 'requeue', afterMs: 30_000 }];
    if (cur.phase !== 'Failed' || stalledReason(cur) !== 'TargetClaimed' || cur.observedGeneration !== gen) {
      const s = withPhase(cur, 'Failed', 'TargetClaimed', msg, gen);
      withCollectionList(s, m, 'Pending');
      pushError(s, msg);
      out.unshift(
        { type: 'patchStatus', status: s },
        { type: 'event', eventType: 'Warning', reason: 'TargetClaimed', message: msg },
      );
    }
    return out;
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
        reason: again ? (annotated ? 'Rerun' : 'SpecChanged') : 'JobCreated',
        message: again
          ? annotated
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
function podProgress(o: Observed, pod: MigrationStatus | undefined, sharded?: ShardPlanStatus): Action[] {
  const cur = o.migration.status;
  const out: Action[] = [];
  if (pod && o.now - o.lastProgressPatch >= PROGRESS_INTERVAL_MS) {
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
    if (JSON.stringify(stripTimes(s)) !== JSON.stringify(stripTimes(cur)))
      out.push({ type: 'patchStatus', status: s, progress: true });
  }
  out.push({ type: 'requeue', afterMs: PROGRESS_INTERVAL_MS });
  return out;
}

function jobSucceeded(o: Observed, pod: MigrationStatus | undefined): Action[] {
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
function jobFailed(
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
        stalled?.reason ?? 'CopyFailed',
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
      reason: failed?.reason ?? 'Failed',
      message: failed?.message ?? 'the migration failed',
    },
  ];
}

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
function decideSharded(o: Observed, ownedTargets: string[], again: 'rerun' | 'spec' | undefined): Action[] {
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
      const s = withPhase(
        cur,
        'Pending',
        'JobCreated',
        `the plan Job was created: it creates the target collections and splits each into up to ${o.parallelism ?? 2} key ranges`,
        gen,
      );
      withCollectionList(s, m, 'Pending');
      delete s.completionTime;
      delete s.shardPlan;
      if (m.rerun !== undefined) s.lastRerun = m.rerun;
      return [
        { type: 'createStageJob', ownedTargets, job: { stage: 'plan' } },
        { type: 'patchStatus', status: s },
        {
          type: 'event',
          eventType: 'Normal',
          reason: again === 'rerun' ? 'Rerun' : again === 'spec' ? 'SpecChanged' : 'JobCreated',
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

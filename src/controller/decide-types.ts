/**
 * What decide() reads (Observed: the object, its Secrets, Jobs and pods' reports) and what it
 * answers (Action), with the names and timings both sides agree on.
 */

import type { DeletionPolicy, MigrationStatus, ShardPlan } from '../api/migration.js';
import type { Reason } from '../api/reasons.js';
import type { ObservedClaim } from './claims.js';
import type { TransportWarning } from './decide-reports.js';
import type { SecretInfo, StageJob } from './job.js';

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
  specReason?: Reason;
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
  | { type: 'event'; eventType: 'Normal' | 'Warning'; reason: Reason; message: string }
  | { type: 'requeue'; afterMs: number };

export const PROGRESS_INTERVAL_MS = 5000;
/** How often a Pending migration's pod log is read until the pod reports that it copies. */
export const STARTUP_POLL_MS = 1000;
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

/** Every Job of the migration: the copy Job, and a sharded run's plan and finalize Jobs. */
export function jobsOf(o: Observed): ObservedJob[] {
  return [o.job, o.planJob, o.finalizeJob].filter((j): j is ObservedJob => j !== undefined);
}

/** Foreground deletes of every Job not already going; a requeue to see them gone. */
export function deleteAllJobs(o: Observed): Action[] {
  return jobsOf(o)
    .filter((j) => !j.deleting)
    .map((j): Action => ({ type: 'deleteJob', name: j.name, propagation: 'Foreground' }));
}

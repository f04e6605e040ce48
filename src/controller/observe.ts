/**
 * observe: what decide() reads about one MilvusMigration — the object (its spec parsed once), its
 * Secrets' existence and versions, its Jobs, the copy pods' last MMSTATUS reports (the pod logs),
 * the target claims.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { MigrationObject } from '../adapters/kubernetes/kube.js';
import { checkSpec, formatZodError } from '../api/input.js';
import {
  API_VERSION_FULL,
  DELETION_POLICIES,
  type DeletionPolicy,
  KIND,
  type MilvusMigration,
  migrationStatus,
  milvusMigration,
} from '../api/migration.js';
import { hasPatterns } from '../engine/collection-set.js';
import { errorText, reasonOf } from '../util/errors.js';
import { lastPlanIn, lastStatusIn, STATUS_PREFIX } from '../worker/protocol.js';
import { claimHolder, claimId, claimLeaseName, type ObservedClaim } from './claims.js';
import type { ReconcileContext } from './context.js';
import {
  FINALIZER,
  type Observed,
  type ObservedJob,
  type ObservedPod,
  RERUN_ANNOTATION,
  transportWarnings,
} from './decide.js';
import {
  GENERATION_ANNOTATION,
  jobName,
  SECRETS_ANNOTATION,
  SPEC_HASH_ANNOTATION,
  shardJobName,
  specHash,
} from './job.js';

/** What observe() found: decide()'s input, and the migration parsed (when its spec is valid zod). */
export interface Observation {
  observed: Observed;
  migration?: MilvusMigration;
}

/**
 * Everything decide() needs about one MilvusMigration, read from the object, the informers' caches
 * and the API server; with the migration parsed once, for act().
 */
export async function observe(ctx: ReconcileContext, obj: MigrationObject): Promise<Observation> {
  const meta = obj.metadata!;
  const namespace = meta.namespace!;
  const name = meta.name!;
  const parsedStatus = migrationStatus.safeParse(obj.status ?? {});
  const spec = (obj.spec ?? {}) as {
    suspend?: unknown;
    deletionPolicy?: unknown;
    collections?: { name?: unknown; targetName?: unknown }[];
  };
  // Ownership lives in status, which only the controller writes, and never reaches beyond the
  // spec's own target names: nothing a user can edit makes another collection ours.
  const specTargets = new Set(
    (Array.isArray(spec.collections) ? spec.collections : []).map((c) => String(c?.targetName ?? c?.name)),
  );
  const recorded = parsedStatus.success ? parsedStatus.data.ownedTargets : undefined;
  const ownedTargets = recorded?.filter((t) => specTargets.has(t));
  const policy = DELETION_POLICIES.find((p) => p === spec.deletionPolicy) ?? 'Retain';
  const rerun = meta.annotations?.[RERUN_ANNOTATION];
  const o: Observed = {
    migration: {
      name,
      namespace,
      uid: meta.uid ?? '',
      generation: meta.generation ?? 1,
      ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
      deleting: Boolean(meta.deletionTimestamp),
      ...(meta.deletionTimestamp ? { deletionTimestamp: new Date(meta.deletionTimestamp).getTime() } : {}),
      finalizer: (meta.finalizers ?? []).includes(FINALIZER),
      deletionPolicy: policy as DeletionPolicy,
      suspend: spec.suspend === true,
      status: parsedStatus.success ? parsedStatus.data : {},
      ...(ownedTargets ? { ownedTargets } : {}),
      ...(rerun !== undefined ? { rerun } : {}),
    },
    missingSecrets: [],
    now: Date.now(),
    lastProgressPatch: ctx.lastProgress.get(`${namespace}/${name}`) ?? 0,
    cleanupTimeoutMs: ctx.cleanupTimeoutMs,
  };
  // The Job first: a deletion needs it whatever the spec says.
  await observeJob(ctx, o, meta.uid);
  const parsed = milvusMigration.safeParse({ ...obj, apiVersion: API_VERSION_FULL, kind: KIND });
  if (!parsed.success) {
    o.specError = formatZodError(parsed.error, obj);
    return { observed: o };
  }
  const migration = parsed.data;
  // spec.sync runs in one copy pod (sync-job.ts); its copy uses spec.parallelism workers in-process.
  o.parallelism = parsed.data.spec.sync ? 1 : parsed.data.spec.parallelism;
  o.migration.collections = parsed.data.spec.collections.map((c) => ({
    name: c.name,
    targetName: c.targetName ?? c.name,
  }));
  try {
    checkSpec(parsed.data);
  } catch (err) {
    o.specError = errorText(err);
    o.specReason = reasonOf(err);
    return { observed: o, migration };
  }
  if (hasPatterns(parsed.data.spec)) {
    o.selectionNeeded = true;
    return { observed: o, migration };
  }
  o.specHash = specHash(parsed.data.spec);
  o.transport = transportWarnings(parsed.data.spec);
  o.claims = observeClaims(ctx, parsed.data, o.migration.uid);
  if (o.migration.deleting) return { observed: o, migration };
  const refs = new Set(
    [
      parsed.data.spec.source.secretRef?.name,
      parsed.data.spec.target.secretRef?.name,
      parsed.data.spec.rbac?.users?.secretRef.name,
    ].filter((n): n is string => Boolean(n)),
  );
  o.secrets = {};
  for (const ref of refs) {
    // Only ever the migration's own namespace (checkSpec refused any other).
    const secret = await ctx.kube.getSecret(namespace, ref);
    if (!secret) o.missingSecrets.push(ref);
    else
      o.secrets[ref] = {
        resourceVersion: secret.metadata?.resourceVersion ?? '',
        keys: Object.keys({ ...secret.data, ...secret.stringData }),
      };
  }
  // Changed since the running Job was made from them (its pods hold the earlier values).
  const running = [o.job, o.planJob, o.finalizeJob].find((j) => j && !j.deleting && !j.complete && !j.failed);
  const changed = Object.entries(running?.secretVersions ?? {})
    .filter(([n, rv]) => o.secrets?.[n] !== undefined && o.secrets[n].resourceVersion !== rv)
    .map(([n]) => n);
  if (changed.length) o.changedSecrets = changed;
  return { observed: o, migration };
}

/** Who holds the claim of each target collection of the spec, from the claim Lease cache. */
function observeClaims(ctx: ReconcileContext, m: MilvusMigration, uid: string): ObservedClaim[] {
  const t = m.spec.target;
  const known = new Set((ctx.caches.migrations?.list() ?? []).map((x) => x.metadata?.uid));
  return m.spec.collections.map((c) => {
    const target = c.targetName ?? c.name;
    const id = claimId(t.endpoint, t.database, target);
    const lease = claimLeaseName(id);
    const holder = claimHolder(ctx.caches.claims?.get(lease, ctx.claimNamespace));
    // A holder the migration cache does not know is gone (act() checks it live before a takeover).
    const stale =
      holder !== undefined &&
      holder.uid !== uid &&
      ctx.caches.migrations !== undefined &&
      !known.has(holder.uid);
    return { target, id, lease, ...(holder ? { holder } : {}), ...(stale ? { stale } : {}) };
  });
}

/**
 * A Job of this migration (owned by this very object), as decide() sees it. From the Job informer's
 * cache when it holds the Job (a stale entry only delays what the next event shows); a Job not in
 * the cache is looked for on the API server, so a Job just created is never taken for none.
 */
async function readJob(ctx: ReconcileContext, namespace: string, name: string, uid: string | undefined) {
  const job = ctx.caches.jobs?.get(name, namespace) ?? (await ctx.kube.getJob(namespace, name));
  if (!job?.metadata?.ownerReferences?.some((r) => r.uid === uid)) return undefined;
  const conds = job.status?.conditions ?? [];
  const on = (t: string) => conds.find((c) => c.type === t && c.status === 'True');
  const failed = on('Failed');
  const ann = job.metadata?.annotations ?? {};
  const gen = Number(ann[GENERATION_ANNOTATION]);
  const oj: ObservedJob = {
    ...(Number.isInteger(gen) && gen > 0 ? { generation: gen } : {}),
    ...(ann[SPEC_HASH_ANNOTATION] ? { specHash: ann[SPEC_HASH_ANNOTATION] } : {}),
    ...secretVersionsOf(ann[SECRETS_ANNOTATION]),
    name: job.metadata!.name!,
    uid: job.metadata!.uid!,
    deleting: Boolean(job.metadata?.deletionTimestamp),
    complete: Boolean(on('Complete')),
    failed: Boolean(failed),
    ...(failed
      ? {
          failureMessage: `${failed.reason ?? ''}${failed.message ? `: ${failed.message}` : ''}`,
          ...(failed.reason ? { failureReason: failed.reason } : {}),
          ...(failed.lastTransitionTime ? { failedAt: new Date(failed.lastTransitionTime).getTime() } : {}),
        }
      : {}),
    ...(job.spec?.completionMode === 'Indexed'
      ? {
          indexed: true,
          completedIndexes: job.status?.completedIndexes ?? '',
          ...(job.status?.failedIndexes ? { failedIndexes: job.status.failedIndexes } : {}),
        }
      : {}),
  };
  return oj;
}

/** The last MMSTATUS and error lines of a pod (undefined before its container started). */
async function readPod(
  ctx: ReconcileContext,
  namespace: string,
  pod: V1Pod | undefined,
  tail = 50,
): Promise<ObservedPod & { text?: string }> {
  if (!pod?.metadata?.name || pod.status?.phase === 'Pending') return {};
  const text = await ctx.kube.podLog(namespace, pod.metadata.name, tail);
  if (!text) return {};
  const status = lastStatusIn(text);
  return { ...(status ? { status } : {}), errors: errorLines(text), text };
}

async function observeJob(ctx: ReconcileContext, o: Observed, uid: string | undefined): Promise<void> {
  const { namespace, name } = o.migration;
  const [copy, plan, finalize] = await Promise.all([
    readJob(ctx, namespace, jobName(name), uid).then(
      (j) =>
        j ??
        (shardJobName(name) === jobName(name) ? undefined : readJob(ctx, namespace, shardJobName(name), uid)),
    ),
    readJob(ctx, namespace, jobName(name, 'plan'), uid),
    readJob(ctx, namespace, jobName(name, 'finalize'), uid),
  ]);
  if (copy) o.job = copy;
  if (plan) o.planJob = plan;
  if (finalize) o.finalizeJob = finalize;
  if (o.migration.deleting) return;
  if (copy?.indexed) {
    // One pod per shard: the newest pod of each index.
    const pods = await ctx.kube.jobPods(namespace, copy.uid);
    const byIndex = new Map<number, V1Pod>();
    for (const p of pods) {
      const i = Number(p.metadata?.labels?.['batch.kubernetes.io/job-completion-index']);
      if (Number.isInteger(i) && !byIndex.has(i)) byIndex.set(i, p);
    }
    const read = await Promise.all(
      [...byIndex].map(async ([i, p]) => [i, await readPod(ctx, namespace, p)] as const),
    );
    o.shardPods = {};
    for (const [i, r] of read) o.shardPods[i] = observedPod(r);
  } else if (copy) {
    const r = await readPod(ctx, namespace, await ctx.kube.newestPod(namespace, copy.uid));
    if (r.status) o.podStatus = r.status;
    if (r.errors) o.podErrors = r.errors;
  }
  if (plan && !o.migration.status.shardPlan) {
    // MMPLAN comes right before the last MMSTATUS line; a long log tail keeps it in view.
    const r = await readPod(ctx, namespace, await ctx.kube.newestPod(namespace, plan.uid), 400);
    o.planPod = observedPod(r);
    const p = r.text ? lastPlanIn(r.text) : undefined;
    if (p) o.planOutput = p;
  }
  if (finalize) {
    const r = await readPod(ctx, namespace, await ctx.kube.newestPod(namespace, finalize.uid));
    o.finalizePod = observedPod(r);
  }
}

/** A stage pod as decide() sees it: its last status, if any, and its error lines (none before it ran). */
function observedPod(r: ObservedPod): ObservedPod {
  return { ...(r.status ? { status: r.status } : {}), errors: r.errors ?? [] };
}

/** Lines of a pod log that tell why it failed: pino errors' messages, else the last plain lines. */
export function errorLines(logText: string, max = 5): string[] {
  const out: string[] = [];
  for (const line of logText.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith(STATUS_PREFIX)) continue;
    try {
      const j = JSON.parse(t) as { level?: number; msg?: string };
      if (typeof j.level === 'number' && j.level >= 50 && j.msg) out.push(j.msg);
    } catch {
      out.push(t);
    }
  }
  return out.slice(-max).map((l) => (l.length > 500 ? `${l.slice(0, 497)}...` : l));
}

/** The SECRETS_ANNOTATION of a Job, when it is readable. */
function secretVersionsOf(raw: string | undefined): { secretVersions?: Record<string, string> } {
  if (!raw) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    if (v && typeof v === 'object' && Object.values(v).every((x) => typeof x === 'string'))
      return { secretVersions: v as Record<string, string> };
  } catch {
    // not ours to read
  }
  return {};
}

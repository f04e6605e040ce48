/**
 * act: carries out what decide() asked for — patches of the object and its status, Jobs, Events,
 * target claims, and the target calls of ownership and deletionPolicy DropIncomplete.
 */
import { type MigrationObject, statusCode } from '../adapters/kubernetes/kube.js';
import { MilvusClient } from '../adapters/milvus/client.js';
import { credentialsFromSecret } from '../api/input.js';
import {
  API_VERSION_FULL,
  type CollectionSelection,
  KIND,
  type MigrationStatus,
  type MilvusMigration,
  milvusMigration,
} from '../api/migration.js';
import type { Reason } from '../api/reasons.js';
import { applyPhaseConditions } from '../api/status.js';
import { isDatabaseNotFound } from '../engine/target-database.js';
import { errorText, reasonOf } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { type ClaimHolder, claimHolder, claimLease, type ObservedClaim } from './claims.js';
import type { ReconcileContext } from './context.js';
import { type Action, FINALIZER, type Observed } from './decide.js';
import { jobManifest, jobName, stageJobManifest, workerEnvFrom } from './job.js';
import type { Observation } from './observe.js';
import { expandOnSource } from './selection.js';

const log = logger.child({ component: 'controller' });

/** A conflicting write: the reconcile starts again from a fresh read of the object. */
export class Conflict extends Error {}

/**
 * Merge patches of one migration's object or status, each conditional on the resourceVersion the
 * previous one returned (when there is one): a 409 is a Conflict. A 404 throws, or with
 * `gone: 'ignore'` is nothing left to do.
 */
function patcher(
  ctx: ReconcileContext,
  namespace: string,
  name: string,
  resourceVersion: string | undefined,
) {
  return async (
    what: 'object' | 'status',
    body: Record<string, unknown>,
    opts: { gone?: 'ignore' } = {},
  ): Promise<void> => {
    const conditional = resourceVersion !== undefined ? { resourceVersion } : {};
    try {
      const res =
        what === 'object'
          ? await ctx.kube.patchMigration(namespace, name, { metadata: { ...conditional, ...body } })
          : await ctx.kube.patchStatus(namespace, name, { metadata: conditional, status: body });
      if (resourceVersion !== undefined) resourceVersion = res.metadata?.resourceVersion;
    } catch (err) {
      if (statusCode(err) === 409) throw new Conflict('conflict');
      if (statusCode(err) === 404 && opts.gone === 'ignore') return;
      throw err;
    }
  };
}

/** An Event on the migration; one that cannot be recorded is logged, never fails the reconcile. */
async function recordEvent(
  ctx: ReconcileContext,
  involved: { namespace: string; name: string; uid: string },
  type: 'Normal' | 'Warning',
  reason: Reason,
  message: string,
): Promise<void> {
  await ctx.kube
    .event(involved, type, reason, message)
    .catch((err: unknown) =>
      log.warn(
        { key: `${involved.namespace}/${involved.name}`, err: errorText(err) },
        'could not record an event',
      ),
    );
}

/**
 * Create-if-absent of each claim Lease, in name order (two migrations wanting overlapping sets
 * meet at the first shared one). A stale claim is deleted (preconditions: exactly the Lease read)
 * after a live check that its holder is gone, then created anew. Stops at the first claim another
 * migration holds: the next reconcile observes it and refuses.
 */
async function claimTargets(
  ctx: ReconcileContext,
  obj: MigrationObject,
  claims: ObservedClaim[],
): Promise<void> {
  const meta = obj.metadata!;
  const me: ClaimHolder = { namespace: meta.namespace!, name: meta.name!, uid: meta.uid ?? '' };
  const key = `${me.namespace}/${me.name}`;
  for (const c of [...claims].sort((a, b) => a.lease.localeCompare(b.lease))) {
    if (c.stale && c.holder) {
      let live: MigrationObject | undefined;
      try {
        live = await ctx.kube.getMigration(c.holder.namespace, c.holder.name);
      } catch (err) {
        // Not readable here (a namespace this controller may not watch): never taken over.
        if (statusCode(err) === 403) return;
        throw err;
      }
      if (live?.metadata?.uid === c.holder.uid) return; // alive after all: not ours to take
      if (await deleteHeldLease(ctx, c.lease, c.holder.uid)) {
        log.info(
          { key, target: c.id, from: `${c.holder.namespace}/${c.holder.name}` },
          'took over a stale claim',
        );
      }
    }
    if (await ctx.kube.createLease(claimLease(ctx.claimNamespace, c.id, me))) {
      log.info({ key, target: c.id }, 'claimed the target collection');
      continue;
    }
    const holder = claimHolder(await ctx.kube.getLease(ctx.claimNamespace, c.lease));
    if (holder?.uid !== me.uid) {
      log.info({ key, target: c.id, holder }, 'the target collection is claimed by another migration');
      return;
    }
  }
}

/**
 * Deletes claim Lease `name` if it names `uid` as its holder, with preconditions on exactly the
 * Lease read (a Lease changed meanwhile is left alone). Returns whether it was deleted.
 */
async function deleteHeldLease(
  ctx: ReconcileContext,
  name: string,
  uid: string | undefined,
): Promise<boolean> {
  const lease = await ctx.kube.getLease(ctx.claimNamespace, name);
  if (!lease || claimHolder(lease)?.uid !== uid) return false;
  await ctx.kube.deleteLease(
    ctx.claimNamespace,
    name,
    lease.metadata!.uid!,
    lease.metadata!.resourceVersion!,
  );
  return true;
}

/** Gives back the claims this migration holds (only Leases that still name it). */
async function releaseClaims(
  ctx: ReconcileContext,
  obj: MigrationObject,
  claims: ObservedClaim[],
): Promise<void> {
  const uid = obj.metadata?.uid;
  for (const c of claims) {
    if (!(await deleteHeldLease(ctx, c.lease, uid))) continue;
    log.info({ key: `${obj.metadata?.namespace}/${obj.metadata?.name}`, target: c.id }, 'released the claim');
  }
}

/** Carries out decide()'s actions in order; returns when to reconcile again (ms), if at all. */
export async function act(
  ctx: ReconcileContext,
  obj: MigrationObject,
  { observed: o, migration: parsed }: Observation,
  actions: Action[],
): Promise<number | undefined> {
  const meta = obj.metadata!;
  const ns = meta.namespace!;
  const name = meta.name!;
  const key = `${ns}/${name}`;
  let requeue: number | undefined;
  const involved = { namespace: ns, name, uid: meta.uid ?? '' };
  const patch = patcher(ctx, ns, name, meta.resourceVersion);
  // Parsed once by observe(); only a deletion can ask for it with a spec zod refused, and then
  // parsing again throws that error (dropTargets reports it and retries).
  const migration = () =>
    parsed ?? milvusMigration.parse({ ...obj, apiVersion: API_VERSION_FULL, kind: KIND });
  for (const a of actions) {
    switch (a.type) {
      case 'addFinalizer':
        await patch('object', { finalizers: [...(meta.finalizers ?? []), FINALIZER] }, { gone: 'ignore' });
        log.info({ key }, 'added the finalizer');
        requeue = 0;
        break;
      case 'removeFinalizer':
        await patch(
          'object',
          { finalizers: (meta.finalizers ?? []).filter((f) => f !== FINALIZER) },
          { gone: 'ignore' },
        );
        log.info({ key, deletionPolicy: o.migration.deletionPolicy }, 'removed the finalizer');
        break;
      case 'dropTargets':
        await dropTargets(ctx, migration, a.names, involved);
        break;
      case 'claimTargets':
        await claimTargets(ctx, obj, a.claims);
        break;
      case 'releaseClaims':
        await releaseClaims(ctx, obj, a.claims);
        break;
      case 'resolveCollections': {
        const selection = await resolveCollections(ctx, migration(), o);
        // Conditional like the claims: a raced reconcile gets a conflict, not a second set.
        await patch('status', { collectionSelection: selection });
        log.info(
          { key, collections: selection.names.length },
          'expanded the collection patterns and recorded the set',
        );
        requeue = 0;
        break;
      }
      case 'computeOwnedTargets': {
        const owned = await computeOwnedTargets(ctx, migration(), o);
        // resourceVersion makes the claim conditional: a second reconcile that raced this one
        // gets a conflict instead of recording a list computed from a later target state.
        await patch('status', { ownedTargets: owned });
        log.info({ key, ownedTargets: owned }, 'recorded the target collections this migration will own');
        requeue = 0;
        break;
      }
      case 'createJob': {
        await ctx.kube.createJob(
          jobManifest(migration(), a.ownedTargets, ctx.image, workerEnvFrom(), o.secrets, ctx.copyPod),
        );
        log.info({ key, job: jobName(name) }, 'created the copy Job');
        break;
      }
      case 'createStageJob': {
        const manifest = stageJobManifest(
          migration(),
          a.ownedTargets,
          a.job,
          ctx.image,
          workerEnvFrom(),
          o.secrets,
          ctx.copyPod,
        );
        await ctx.kube.createJob(manifest);
        log.info(
          {
            key,
            job: manifest.metadata?.name,
            stage: a.job.stage,
            ...(a.job.stage === 'copy' ? { attempt: a.job.attempt } : {}),
          },
          `created the ${a.job.stage} Job`,
        );
        break;
      }
      case 'deleteJob':
        await ctx.kube.deleteJob(ns, a.name, a.propagation);
        log.info({ key, job: a.name, propagation: a.propagation ?? 'Background' }, 'deleted the copy Job');
        break;
      case 'patchStatus': {
        // A merge patch keeps fields it does not name: a sharded run's plan is removed explicitly.
        const clear = o.migration.status.shardPlan && !a.status.shardPlan ? { shardPlan: null } : {};
        await patch('status', { ...a.status, ...clear });
        if (a.progress) ctx.lastProgress.set(key, o.now);
        log.info({ key, phase: a.status.phase, progress: a.status.progress }, 'status updated');
        break;
      }
      case 'event':
        await recordEvent(ctx, involved, a.eventType, a.reason, a.message);
        break;
      case 'requeue':
        requeue = requeue === undefined ? a.afterMs : Math.min(requeue, a.afterMs);
        break;
    }
  }
  return requeue;
}

/** A client of the target (never the source), with the credentials of its Secret. */
async function targetClient(ctx: ReconcileContext, m: MilvusMigration): Promise<MilvusClient> {
  const t = m.spec.target;
  let credentials: ReturnType<typeof credentialsFromSecret> | undefined;
  if (t.secretRef) {
    // The migration's own namespace only.
    const s = await ctx.kube.getSecret(m.metadata.namespace, t.secretRef.name);
    const data: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(s?.data ?? {})) data[k] = Buffer.from(v, 'base64');
    credentials = credentialsFromSecret(data, `Secret "${t.secretRef.name}"`);
  }
  return new MilvusClient({
    side: 'target',
    endpoint: t.endpoint,
    database: t.database,
    ...(credentials ? { credentials } : {}),
    ...(t.tls ? { tls: t.tls } : {}),
    timeoutMs: 15_000,
  });
}

/**
 * deletionPolicy DropIncomplete: drops those of `names` (owned, not Succeeded) that exist on the
 * target. A failure is an Event and a retry with back-off; decide() gives up after the time box.
 */
async function dropTargets(
  ctx: ReconcileContext,
  migration: () => MilvusMigration,
  names: string[],
  involved: { namespace: string; name: string; uid: string },
): Promise<void> {
  const key = `${involved.namespace}/${involved.name}`;
  try {
    const client = await targetClient(ctx, migration());
    const dropped: string[] = [];
    try {
      const existing = new Set(await client.showCollections());
      for (const n of names.filter((x) => existing.has(x))) {
        await client.dropCollection(n);
        dropped.push(n);
      }
    } finally {
      client.close();
    }
    const msg = dropped.length
      ? `deletionPolicy DropIncomplete: dropped the unfinished target collection${dropped.length > 1 ? 's' : ''} ${dropped.map((d) => `"${d}"`).join(', ')}`
      : 'deletionPolicy DropIncomplete: no unfinished target collection existed; nothing dropped';
    log.info({ key, dropped }, msg);
    await recordEvent(ctx, involved, 'Normal', 'TargetsDropped', msg);
  } catch (err) {
    const msg = `deletionPolicy DropIncomplete: could not drop ${names.map((d) => `"${d}"`).join(', ')} on the target (${errorText(err)}); retrying until the deletion time box ends`;
    await recordEvent(ctx, involved, 'Warning', 'CleanupFailed', msg);
    throw err;
  }
}

/** spec.collections' patterns expanded on the source (selection.ts); a failure is reported as Pending. */
async function resolveCollections(
  ctx: ReconcileContext,
  m: MilvusMigration,
  o: Observed,
): Promise<CollectionSelection> {
  try {
    return await expandOnSource(m, (ns, n) => ctx.kube.getSecret(ns, n));
  } catch (err) {
    return reportPending(ctx, m, o, `cannot expand spec.collections: ${errorText(err)}`, err);
  }
}

/**
 * A step before the copy failed: the status says Pending with the reason, and the error goes on
 * (the reconcile is retried with backoff). The patch is unconditional and its own failure only
 * logged: the error is what this reconcile reports.
 */
async function reportPending(
  ctx: ReconcileContext,
  m: MilvusMigration,
  o: Observed,
  message: string,
  err: unknown,
): Promise<never> {
  const s: MigrationStatus = structuredClone(o.migration.status);
  s.observedGeneration = o.migration.generation;
  applyPhaseConditions(s, 'Pending', reasonOf(err), message, o.migration.generation);
  await patcher(
    ctx,
    m.metadata.namespace,
    m.metadata.name,
    undefined,
  )('status', s).catch((e: unknown) => log.warn({ err: errorText(e) }, 'could not update the status'));
  throw err;
}

/** Target collections that do not exist yet: the ones this migration may create and resume. */
async function computeOwnedTargets(
  ctx: ReconcileContext,
  m: MilvusMigration,
  o: Observed,
): Promise<string[]> {
  try {
    const client = await targetClient(ctx, m);
    try {
      const targets = m.spec.collections.map((c) => c.targetName ?? c.name);
      let existing: Set<string>;
      try {
        existing = new Set(await client.showCollections());
      } catch (err) {
        // A database that spec.target.createDatabase will create holds none of them yet.
        if (m.spec.target.createDatabase && isDatabaseNotFound(err)) return targets;
        throw err;
      }
      return targets.filter((n) => !existing.has(n));
    } finally {
      client.close();
    }
  } catch (err) {
    return reportPending(ctx, m, o, `cannot list the target's collections: ${errorText(err)}`, err);
  }
}

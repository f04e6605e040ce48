/**
 * `milvus-migrate controller`: watches MilvusMigrations and their Jobs, and for each one runs
 * observe → decide (pure, decide.ts) → act. Level-triggered: every reconcile re-reads the object,
 * its Secrets' existence, its Job and the copy pod's last reported status; a periodic resync covers
 * missed events. The copy itself runs in a Job (worker.ts); pods get no API access and report
 * progress through `MMSTATUS` lines in their log. Only the holder of the leader Lease (leader.ts)
 * watches and reconciles; every replica serves /healthz, /readyz and /metrics.
 *
 * spec.parallelism > 1 runs a sharded run instead (decide.ts decideSharded): a plan Job, an Indexed
 * copy Job with one pod per shard (their logs read one by one), a finalize Job.
 */
import http from 'node:http';
import type { V1Job, V1Lease, V1Pod } from '@kubernetes/client-node';
import { Kube, type MigrationObject, statusCode } from '../adapters/kubernetes/kube.js';
import { MilvusClient } from '../adapters/milvus/client.js';
import { checkSpec, credentialsFromSecret, formatZodError } from '../api/input.js';
import {
  API_VERSION_FULL,
  type CollectionSelection,
  DELETION_POLICIES,
  type DeletionPolicy,
  KIND,
  type MigrationStatus,
  type MilvusMigration,
  migrationStatus,
  milvusMigration,
} from '../api/migration.js';
import { applyPhaseConditions } from '../api/status.js';
import { hasPatterns } from '../engine/collection-set.js';
import { errorText, reasonOf } from '../engine/engine.js';
import { logger } from '../util/logger.js';
import {
  CLAIM_LABEL,
  type ClaimHolder,
  claimHolder,
  claimId,
  claimLease,
  claimLeaseName,
  type ObservedClaim,
} from './claims.js';
import {
  type Action,
  DEFAULT_CLEANUP_TIMEOUT_MS,
  decide,
  FINALIZER,
  type Observed,
  type ObservedJob,
  type ObservedPod,
  RERUN_ANNOTATION,
  transportWarnings,
} from './decide.js';
import {
  type CopyPodSettings,
  copyPodFromEnv,
  DEFAULT_IMAGE,
  GENERATION_ANNOTATION,
  jobManifest,
  jobName,
  MANAGED_BY,
  MANAGER,
  NAME_LABEL,
  SECRETS_ANNOTATION,
  SPEC_HASH_ANNOTATION,
  shardJobName,
  specHash,
  stageJobManifest,
  workerEnvFrom,
} from './job.js';
import { controllerNamespace, LeaderElector } from './leader.js';
import { ControllerMetrics, type MigrationFigures } from './metrics.js';
import { WorkQueue } from './queue.js';
import { expandOnSource, withRecordedSelection } from './selection.js';
import { lastPlanIn, lastStatusIn, STATUS_PREFIX } from './worker.js';

const log = logger.child({ component: 'controller' });
export const RESYNC_MS = 30_000;

export interface ControllerOptions {
  kube?: Kube;
  /** The one namespace to watch (all when undefined). */
  namespace?: string;
  image?: string;
  /** Copy-pod settings (default: MM_COPY_POD). */
  copyPod?: CopyPodSettings;
  healthPort?: number;
  metricsPort?: number;
  resyncMs?: number;
  /** Where the leader Lease lives: the controller's own namespace. */
  leaseNamespace?: string;
  leaseDurationMs?: number;
  cleanupTimeoutMs?: number;
  /** Leadership lost without a shutdown: the caller must stop the process (a fresh start re-campaigns). */
  onLostLeadership?: () => void;
}

class Conflict extends Error {}

/** Lines of a pod log that tell why it failed: pino errors' messages, else the last plain lines. */
/** A stage pod as decide() sees it: its last status, if any, and its error lines (none before it ran). */
function observedPod(r: ObservedPod): ObservedPod {
  return { ...(r.status ? { status: r.status } : {}), errors: r.errors ?? [] };
}

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

export class Controller {
  readonly kube: Kube;
  private readonly queue: WorkQueue;
  private readonly image: string;
  private readonly copyPod: CopyPodSettings;
  private readonly lastProgress = new Map<string, number>();
  private informers: { stop(): Promise<void> }[] = [];
  private migrationCache?: { list(): readonly MigrationObject[] };
  private claimCache?: { get(name: string, namespace?: string): V1Lease | undefined };
  /** Where the leader Lease and the target claims (claims.ts) live: the controller's own namespace. */
  readonly claimNamespace: string;
  private resync?: NodeJS.Timeout;
  private server?: http.Server;
  private ready = false;
  private stopping = false;
  private keys = new Set<string>();
  readonly metrics: ControllerMetrics;
  readonly elector: LeaderElector;

  constructor(private readonly opts: ControllerOptions = {}) {
    this.kube = opts.kube ?? new Kube();
    this.image = opts.image ?? process.env.MM_IMAGE ?? DEFAULT_IMAGE;
    this.copyPod = opts.copyPod ?? copyPodFromEnv();
    this.queue = new WorkQueue(
      (key) => this.reconcile(key),
      (key, err, retryMs) =>
        log.warn({ key, retryMs, err: errorText(err) }, 'reconcile failed; retrying with back-off'),
    );
    this.metrics = new ControllerMetrics({
      queueDepth: () => this.queue.depth,
      isLeader: () => this.elector.isLeader,
      migrations: () => this.figures(),
    });
    this.claimNamespace = opts.leaseNamespace ?? controllerNamespace(process.env, this.kube.kc);
    this.elector = new LeaderElector(this.kube.kc, {
      namespace: this.claimNamespace,
      ...(opts.leaseDurationMs ? { leaseDurationMs: opts.leaseDurationMs } : {}),
      onStartedLeading: () => this.startReconciling(),
      onStoppedLeading: () => {
        this.stopReconciling().finally(() => (opts.onLostLeadership ?? (() => process.exit(1)))());
      },
    });
  }

  /**
   * Serves health and metrics and campaigns for the Lease; reconciling starts once leading.
   * /readyz is 200 on every replica that runs (a follower is healthy, and ready to take over), so a
   * rolling update is never blocked by the election; milvus_migrate_leader says who leads.
   */
  async start(): Promise<void> {
    this.startHealth(this.opts.healthPort ?? 8081);
    this.metrics.listen(this.opts.metricsPort ?? 8080);
    this.elector.start();
    this.ready = true;
  }

  private figures(): MigrationFigures[] {
    return (this.migrationCache?.list() ?? []).map((o) => {
      const s = migrationStatus.safeParse(o.status ?? {});
      const cs = s.success ? (s.data.collections ?? []) : [];
      return {
        namespace: o.metadata?.namespace ?? '',
        name: o.metadata?.name ?? '',
        ...(s.success && s.data.phase ? { phase: s.data.phase } : {}),
        copied: cs.reduce((n, c) => n + c.copiedEntities, 0),
        total: cs.reduce((n, c) => n + (c.sourceEntities ?? 0), 0),
      };
    });
  }

  private async startReconciling(): Promise<void> {
    const ns = this.opts.namespace;
    const migrations = this.kube.migrationInformer(ns);
    this.migrationCache = migrations;
    const key = (o: { metadata?: { namespace?: string; name?: string } }) =>
      `${o.metadata?.namespace}/${o.metadata?.name}`;
    const onMigration = (o: MigrationObject) => {
      this.keys.add(key(o));
      this.queue.add(key(o));
    };
    migrations.on('add', onMigration);
    migrations.on('update', onMigration);
    migrations.on('delete', (o) => {
      this.keys.delete(key(o));
      this.lastProgress.delete(key(o));
    });
    const jobs = this.kube.jobInformer(`${MANAGED_BY}=${MANAGER}`, ns);
    const onJob = (j: V1Job) => {
      const owner = j.metadata?.labels?.[NAME_LABEL];
      if (owner) this.queue.add(`${j.metadata?.namespace}/${owner}`);
    };
    jobs.on('add', onJob);
    jobs.on('update', onJob);
    jobs.on('delete', onJob);
    const claims = this.kube.leaseInformer(this.claimNamespace, `${MANAGED_BY}=${MANAGER},${CLAIM_LABEL}`);
    this.claimCache = claims;
    for (const inf of [migrations, jobs, claims] as {
      on(v: 'error', cb: (e: unknown) => void): void;
      start(): Promise<void>;
    }[]) {
      inf.on('error', (err) => {
        if (this.stopping) return;
        log.warn({ err: errorText(err) }, 'watch ended; restarting in 5 s');
        setTimeout(() => {
          if (!this.stopping)
            inf.start().catch((e: unknown) => log.warn({ err: errorText(e) }, 'watch restart failed'));
        }, 5000).unref();
      });
    }
    this.informers = [migrations, jobs, claims];
    await migrations.start();
    await jobs.start();
    await claims.start();
    this.resync = setInterval(() => {
      for (const k of this.keys) this.queue.add(k);
    }, this.opts.resyncMs ?? RESYNC_MS);
    log.info({ namespace: ns ?? '(all)', image: this.image }, 'controller started reconciling');
  }

  private async stopReconciling(): Promise<void> {
    this.stopping = true;
    if (this.resync) clearInterval(this.resync);
    this.queue.stop();
    await Promise.allSettled(this.informers.map((i) => i.stop()));
  }

  /** Stops reconciling, releases the Lease (a successor need not wait for it to expire), closes servers. */
  async stop(): Promise<void> {
    this.ready = false;
    await this.stopReconciling();
    await this.elector.stop();
    await Promise.all([
      new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r())),
      this.metrics.close(),
    ]);
    log.info('controller stopped');
  }

  private startHealth(port: number): void {
    this.server = http.createServer((req, res) => {
      if (req.url === '/healthz') {
        res.writeHead(200).end('ok');
      } else if (req.url === '/readyz') {
        res.writeHead(this.ready ? 200 : 503).end(this.ready ? 'ok' : 'starting');
      } else {
        res.writeHead(404).end();
      }
    });
    this.server.on('error', (err) => log.error({ err: errorText(err) }, 'health server failed'));
    this.server.listen(port);
  }

  /** One reconcile; returns when to look again (ms), if at all. Retries conflicts at once. */
  async reconcile(key: string): Promise<number | undefined> {
    return this.metrics.observe(async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.reconcileOnce(key);
        } catch (err) {
          if (err instanceof Conflict && attempt < 3) continue;
          throw err;
        }
      }
    });
  }

  private async reconcileOnce(key: string): Promise<number | undefined> {
    const [namespace, name] = key.split('/') as [string, string];
    const raw = await this.kube.getMigration(namespace, name);
    if (!raw) return undefined;
    // Patterns in spec.collections stand for the set recorded in status from here on.
    const obj = withRecordedSelection(raw);
    const observed = await this.observe(obj);
    const actions = decide(observed);
    if (actions.length) log.debug({ key, actions: actions.map((a) => a.type) }, 'reconcile');
    return this.act(obj, observed, actions);
  }

  async observe(obj: MigrationObject): Promise<Observed> {
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
      lastProgressPatch: this.lastProgress.get(`${namespace}/${name}`) ?? 0,
      cleanupTimeoutMs: this.opts.cleanupTimeoutMs ?? DEFAULT_CLEANUP_TIMEOUT_MS,
    };
    // The Job first: a deletion needs it whatever the spec says.
    await this.observeJob(o, meta.uid);
    const parsed = milvusMigration.safeParse({ ...obj, apiVersion: API_VERSION_FULL, kind: KIND });
    if (!parsed.success) {
      o.specError = formatZodError(parsed.error, obj);
      return o;
    }
    o.parallelism = parsed.data.spec.parallelism;
    o.migration.collections = parsed.data.spec.collections.map((c) => ({
      name: c.name,
      targetName: c.targetName ?? c.name,
    }));
    try {
      checkSpec(parsed.data);
    } catch (err) {
      o.specError = errorText(err);
      o.specReason = reasonOf(err);
      return o;
    }
    if (hasPatterns(parsed.data.spec)) {
      o.selectionNeeded = true;
      return o;
    }
    o.specHash = specHash(parsed.data.spec);
    o.transport = transportWarnings(parsed.data.spec);
    o.claims = this.observeClaims(parsed.data, o.migration.uid);
    if (o.migration.deleting) return o;
    const refs = new Set(
      [parsed.data.spec.source.secretRef?.name, parsed.data.spec.target.secretRef?.name].filter(
        (n): n is string => Boolean(n),
      ),
    );
    o.secrets = {};
    for (const ref of refs) {
      // Only ever the migration's own namespace (checkSpec refused any other).
      const secret = await this.kube.getSecret(namespace, ref);
      if (!secret) o.missingSecrets.push(ref);
      else
        o.secrets[ref] = {
          resourceVersion: secret.metadata?.resourceVersion ?? '',
          keys: Object.keys({ ...secret.data, ...secret.stringData }),
        };
    }
    // Changed since the running Job was made from them (its pods hold the earlier values).
    const running = [o.job, o.planJob, o.finalizeJob].find(
      (j) => j && !j.deleting && !j.complete && !j.failed,
    );
    const changed = Object.entries(running?.secretVersions ?? {})
      .filter(([n, rv]) => o.secrets?.[n] !== undefined && o.secrets[n].resourceVersion !== rv)
      .map(([n]) => n);
    if (changed.length) o.changedSecrets = changed;
    return o;
  }

  /** Who holds the claim of each target collection of the spec, from the claim Lease cache. */
  private observeClaims(m: MilvusMigration, uid: string): ObservedClaim[] {
    const t = m.spec.target;
    const known = new Set((this.migrationCache?.list() ?? []).map((x) => x.metadata?.uid));
    return m.spec.collections.map((c) => {
      const target = c.targetName ?? c.name;
      const id = claimId(t.endpoint, t.database, target);
      const lease = claimLeaseName(id);
      const holder = claimHolder(this.claimCache?.get(lease, this.claimNamespace));
      // A holder the migration cache does not know is gone (act() checks it live before a takeover).
      const stale =
        holder !== undefined &&
        holder.uid !== uid &&
        this.migrationCache !== undefined &&
        !known.has(holder.uid);
      return { target, id, lease, ...(holder ? { holder } : {}), ...(stale ? { stale } : {}) };
    });
  }

  /**
   * Create-if-absent of each claim Lease, in name order (two migrations wanting overlapping sets
   * meet at the first shared one). A stale claim is deleted (preconditions: exactly the Lease read)
   * after a live check that its holder is gone, then created anew. Stops at the first claim another
   * migration holds: the next reconcile observes it and refuses.
   */
  private async claimTargets(obj: MigrationObject, claims: ObservedClaim[]): Promise<void> {
    const meta = obj.metadata!;
    const me: ClaimHolder = { namespace: meta.namespace!, name: meta.name!, uid: meta.uid ?? '' };
    const key = `${me.namespace}/${me.name}`;
    for (const c of [...claims].sort((a, b) => a.lease.localeCompare(b.lease))) {
      if (c.stale && c.holder) {
        let live: MigrationObject | undefined;
        try {
          live = await this.kube.getMigration(c.holder.namespace, c.holder.name);
        } catch (err) {
          // Not readable here (a namespace this controller may not watch): never taken over.
          if (statusCode(err) === 403) return;
          throw err;
        }
        if (live?.metadata?.uid === c.holder.uid) return; // alive after all: not ours to take
        const lease = await this.kube.getLease(this.claimNamespace, c.lease);
        if (lease && claimHolder(lease)?.uid === c.holder.uid) {
          await this.kube.deleteLease(
            this.claimNamespace,
            c.lease,
            lease.metadata!.uid!,
            lease.metadata!.resourceVersion!,
          );
          log.info(
            { key, target: c.id, from: `${c.holder.namespace}/${c.holder.name}` },
            'took over a stale claim',
          );
        }
      }
      if (await this.kube.createLease(claimLease(this.claimNamespace, c.id, me))) {
        log.info({ key, target: c.id }, 'claimed the target collection');
        continue;
      }
      const holder = claimHolder(await this.kube.getLease(this.claimNamespace, c.lease));
      if (holder?.uid !== me.uid) {
        log.info({ key, target: c.id, holder }, 'the target collection is claimed by another migration');
        return;
      }
    }
  }

  /** Gives back the claims this migration holds (only Leases that still name it). */
  private async releaseClaims(obj: MigrationObject, claims: ObservedClaim[]): Promise<void> {
    const uid = obj.metadata?.uid;
    for (const c of claims) {
      const lease = await this.kube.getLease(this.claimNamespace, c.lease);
      if (!lease || claimHolder(lease)?.uid !== uid) continue;
      await this.kube.deleteLease(
        this.claimNamespace,
        c.lease,
        lease.metadata!.uid!,
        lease.metadata!.resourceVersion!,
      );
      log.info(
        { key: `${obj.metadata?.namespace}/${obj.metadata?.name}`, target: c.id },
        'released the claim',
      );
    }
  }

  /** A Job of this migration (owned by this very object), as decide() sees it. */
  private async readJob(namespace: string, name: string, uid: string | undefined) {
    const job = await this.kube.getJob(namespace, name);
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
  private async readPod(
    namespace: string,
    pod: V1Pod | undefined,
    tail = 50,
  ): Promise<ObservedPod & { text?: string }> {
    if (!pod?.metadata?.name || pod.status?.phase === 'Pending') return {};
    const text = await this.kube.podLog(namespace, pod.metadata.name, tail);
    if (!text) return {};
    const status = lastStatusIn(text);
    return { ...(status ? { status } : {}), errors: errorLines(text), text };
  }

  private async observeJob(o: Observed, uid: string | undefined): Promise<void> {
    const { namespace, name } = o.migration;
    const [copy, plan, finalize] = await Promise.all([
      this.readJob(namespace, jobName(name), uid).then(
        (j) =>
          j ??
          (shardJobName(name) === jobName(name)
            ? undefined
            : this.readJob(namespace, shardJobName(name), uid)),
      ),
      this.readJob(namespace, jobName(name, 'plan'), uid),
      this.readJob(namespace, jobName(name, 'finalize'), uid),
    ]);
    if (copy) o.job = copy;
    if (plan) o.planJob = plan;
    if (finalize) o.finalizeJob = finalize;
    if (o.migration.deleting) return;
    if (copy?.indexed) {
      // One pod per shard: the newest pod of each index.
      const pods = await this.kube.jobPods(namespace, copy.uid);
      const byIndex = new Map<number, V1Pod>();
      for (const p of pods) {
        const i = Number(p.metadata?.labels?.['batch.kubernetes.io/job-completion-index']);
        if (Number.isInteger(i) && !byIndex.has(i)) byIndex.set(i, p);
      }
      const read = await Promise.all(
        [...byIndex].map(async ([i, p]) => [i, await this.readPod(namespace, p)] as const),
      );
      o.shardPods = {};
      for (const [i, r] of read) o.shardPods[i] = observedPod(r);
    } else if (copy) {
      const r = await this.readPod(namespace, await this.kube.newestPod(namespace, copy.uid));
      if (r.status) o.podStatus = r.status;
      if (r.errors) o.podErrors = r.errors;
    }
    if (plan && !o.migration.status.shardPlan) {
      // MMPLAN comes right before the last MMSTATUS line; a long log tail keeps it in view.
      const r = await this.readPod(namespace, await this.kube.newestPod(namespace, plan.uid), 400);
      o.planPod = observedPod(r);
      const p = r.text ? lastPlanIn(r.text) : undefined;
      if (p) o.planOutput = p;
    }
    if (finalize) {
      const r = await this.readPod(namespace, await this.kube.newestPod(namespace, finalize.uid));
      o.finalizePod = observedPod(r);
    }
  }

  private async act(obj: MigrationObject, o: Observed, actions: Action[]): Promise<number | undefined> {
    const meta = obj.metadata!;
    const ns = meta.namespace!;
    const name = meta.name!;
    const key = `${ns}/${name}`;
    let resourceVersion = meta.resourceVersion;
    let requeue: number | undefined;
    const involved = { namespace: ns, name, uid: meta.uid ?? '' };
    const patchMeta = async (metadata: Record<string, unknown>) => {
      try {
        const res = await this.kube.patchMigration(ns, name, { metadata: { resourceVersion, ...metadata } });
        resourceVersion = res.metadata?.resourceVersion;
      } catch (err) {
        if (statusCode(err) === 409) throw new Conflict('conflict');
        if (statusCode(err) === 404) return; // gone already: nothing left to do
        throw err;
      }
    };
    for (const a of actions) {
      switch (a.type) {
        case 'addFinalizer':
          await patchMeta({ finalizers: [...(meta.finalizers ?? []), FINALIZER] });
          log.info({ key }, 'added the finalizer');
          requeue = 0;
          break;
        case 'removeFinalizer':
          await patchMeta({ finalizers: (meta.finalizers ?? []).filter((f) => f !== FINALIZER) });
          log.info({ key, deletionPolicy: o.migration.deletionPolicy }, 'removed the finalizer');
          break;
        case 'dropTargets':
          await this.dropTargets(obj, a.names, involved);
          break;
        case 'claimTargets':
          await this.claimTargets(obj, a.claims);
          break;
        case 'releaseClaims':
          await this.releaseClaims(obj, a.claims);
          break;
        case 'resolveCollections':
          await this.resolveCollections(obj, o, resourceVersion);
          requeue = 0;
          break;
        case 'computeOwnedTargets': {
          const owned = await this.computeOwnedTargets(obj, o);
          try {
            // resourceVersion makes the claim conditional: a second reconcile that raced this one
            // gets a conflict instead of recording a list computed from a later target state.
            await this.kube.patchStatus(ns, name, {
              metadata: { resourceVersion },
              status: { ownedTargets: owned },
            });
          } catch (err) {
            if (statusCode(err) === 409) throw new Conflict('conflict');
            throw err;
          }
          log.info({ key, ownedTargets: owned }, 'recorded the target collections this migration will own');
          requeue = 0;
          break;
        }
        case 'createJob': {
          const m = milvusMigration.parse({ ...obj, apiVersion: API_VERSION_FULL, kind: KIND });
          await this.kube.createJob(
            jobManifest(m, a.ownedTargets, this.image, workerEnvFrom(), o.secrets, this.copyPod),
          );
          log.info({ key, job: jobName(name) }, 'created the copy Job');
          break;
        }
        case 'createStageJob': {
          const m = milvusMigration.parse({ ...obj, apiVersion: API_VERSION_FULL, kind: KIND });
          const manifest = stageJobManifest(
            m,
            a.ownedTargets,
            a.job,
            this.image,
            workerEnvFrom(),
            o.secrets,
            this.copyPod,
          );
          await this.kube.createJob(manifest);
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
          await this.kube.deleteJob(ns, a.name, a.propagation);
          log.info({ key, job: a.name, propagation: a.propagation ?? 'Background' }, 'deleted the copy Job');
          break;
        case 'patchStatus': {
          try {
            // A merge patch keeps fields it does not name: a sharded run's plan is removed explicitly.
            const clear = o.migration.status.shardPlan && !a.status.shardPlan ? { shardPlan: null } : {};
            const res = await this.kube.patchStatus(ns, name, {
              metadata: { resourceVersion },
              status: { ...a.status, ...clear },
            });
            resourceVersion = res.metadata?.resourceVersion;
          } catch (err) {
            if (statusCode(err) === 409) throw new Conflict('conflict');
            throw err;
          }
          if (a.progress) this.lastProgress.set(key, o.now);
          log.info({ key, phase: a.status.phase, progress: a.status.progress }, 'status updated');
          break;
        }
        case 'event':
          await this.kube
            .event(involved, a.eventType, a.reason, a.message)
            .catch((err: unknown) => log.warn({ key, err: errorText(err) }, 'could not record an event'));
          break;
        case 'requeue':
          requeue = requeue === undefined ? a.afterMs : Math.min(requeue, a.afterMs);
          break;
      }
    }
    return requeue;
  }

  /** A client of the target (never the source), with the credentials of its Secret. */
  private async targetClient(m: MilvusMigration): Promise<MilvusClient> {
    const t = m.spec.target;
    let credentials: ReturnType<typeof credentialsFromSecret> | undefined;
    if (t.secretRef) {
      // The migration's own namespace only.
      const s = await this.kube.getSecret(m.metadata.namespace, t.secretRef.name);
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
  private async dropTargets(
    obj: MigrationObject,
    names: string[],
    involved: { namespace: string; name: string; uid: string },
  ): Promise<void> {
    const key = `${involved.namespace}/${involved.name}`;
    try {
      const m = milvusMigration.parse({ ...obj, apiVersion: API_VERSION_FULL, kind: KIND });
      const client = await this.targetClient(m);
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
      await this.kube
        .event(involved, 'Normal', 'TargetsDropped', msg)
        .catch((err: unknown) => log.warn({ key, err: errorText(err) }, 'could not record an event'));
    } catch (err) {
      const msg = `deletionPolicy DropIncomplete: could not drop ${names.map((d) => `"${d}"`).join(', ')} on the target (${errorText(err)}); retrying until the deletion time box ends`;
      await this.kube
        .event(involved, 'Warning', 'CleanupFailed', msg)
        .catch((e: unknown) => log.warn({ key, err: errorText(e) }, 'could not record an event'));
      throw err;
    }
  }

  /** Expands spec.collections' patterns on the source and records the set (conditionally). */
  private async resolveCollections(
    obj: MigrationObject,
    o: Observed,
    resourceVersion?: string,
  ): Promise<void> {
    const m = milvusMigration.parse({ ...obj, apiVersion: API_VERSION_FULL, kind: KIND });
    let selection: CollectionSelection;
    try {
      selection = await expandOnSource(m, (ns, n) => this.kube.getSecret(ns, n));
    } catch (err) {
      const s: MigrationStatus = structuredClone(o.migration.status);
      s.observedGeneration = o.migration.generation;
      applyPhaseConditions(
        s,
        'Pending',
        reasonOf(err),
        `cannot expand spec.collections: ${errorText(err)}`,
        o.migration.generation,
      );
      await this.kube
        .patchStatus(m.metadata.namespace, m.metadata.name, { status: s })
        .catch((e: unknown) => log.warn({ err: errorText(e) }, 'could not update the status'));
      throw err;
    }
    try {
      await this.kube.patchStatus(m.metadata.namespace, m.metadata.name, {
        metadata: { resourceVersion },
        status: { collectionSelection: selection },
      });
    } catch (err) {
      if (statusCode(err) === 409) throw new Conflict('conflict');
      throw err;
    }
    log.info(
      { key: `${m.metadata.namespace}/${m.metadata.name}`, collections: selection.names.length },
      'expanded the collection patterns and recorded the set',
    );
  }

  /** Target collections that do not exist yet: the ones this migration may create and resume. */
  private async computeOwnedTargets(obj: MigrationObject, o: Observed): Promise<string[]> {
    const m = milvusMigration.parse({ ...obj, apiVersion: API_VERSION_FULL, kind: KIND });
    try {
      const client = await this.targetClient(m);
      try {
        const existing = new Set(await client.showCollections());
        return m.spec.collections.map((c) => c.targetName ?? c.name).filter((n) => !existing.has(n));
      } finally {
        client.close();
      }
    } catch (err) {
      const reason = reasonOf(err);
      const message = `cannot list the target's collections: ${errorText(err)}`;
      const s: MigrationStatus = structuredClone(o.migration.status);
      s.observedGeneration = o.migration.generation;
      applyPhaseConditions(s, 'Pending', reason, message, o.migration.generation);
      await this.kube
        .patchStatus(m.metadata.namespace, m.metadata.name, { status: s })
        .catch((e: unknown) => log.warn({ err: errorText(e) }, 'could not update the status'));
      throw err;
    }
  }
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

/** Runs the controller until SIGTERM / SIGINT; then stops the watches and exits 0. */
export async function runController(opts: ControllerOptions = {}): Promise<void> {
  const c = new Controller({
    ...opts,
    ...(process.env.WATCH_NAMESPACE ? { namespace: process.env.WATCH_NAMESPACE } : {}),
    healthPort: Number(process.env.MM_HEALTH_PORT ?? 8081),
    metricsPort: Number(process.env.MM_METRICS_PORT ?? 8080),
    ...(process.env.MM_CLEANUP_TIMEOUT_SECONDS
      ? { cleanupTimeoutMs: Number(process.env.MM_CLEANUP_TIMEOUT_SECONDS) * 1000 }
      : {}),
    ...(process.env.MM_LEASE_DURATION_SECONDS
      ? { leaseDurationMs: Number(process.env.MM_LEASE_DURATION_SECONDS) * 1000 }
      : {}),
  });
  const shutdown = (sig: string) => {
    log.info({ signal: sig }, 'stopping');
    c.stop().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await c.start();
}

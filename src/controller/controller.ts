/**
 * `milvus-migrate controller`: watches MilvusMigrations and their Jobs, and for each one runs
 * observe (observe.ts) → decide (pure, decide.ts) → act (act.ts). Level-triggered: every reconcile
 * re-reads the object, its Secrets' existence, its Jobs and the copy pods' last reported status; a
 * periodic resync covers missed events. The copy itself runs in a Job (src/worker/); pods get no
 * API access and report progress through `MMSTATUS` lines in their log. Only the holder of the
 * leader Lease (leader.ts) watches and reconciles; every replica serves /healthz, /readyz and
 * /metrics. This file is the wiring: informers, queue, resync, health, leadership.
 *
 * spec.parallelism > 1 runs a sharded run instead (decide-sharded.ts): a plan Job, an Indexed
 * copy Job with one pod per shard (their logs read one by one), a finalize Job.
 */
import http from 'node:http';
import type { V1Job } from '@kubernetes/client-node';
import { Kube, type MigrationObject } from '../adapters/kubernetes/kube.js';
import { migrationStatus } from '../api/migration.js';
import { errorText } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { act, Conflict } from './act.js';
import { CLAIM_LABEL } from './claims.js';
import type { ReconcileContext } from './context.js';
import { DEFAULT_CLEANUP_TIMEOUT_MS, decide } from './decide.js';
import {
  type CopyPodSettings,
  copyPodFromEnv,
  DEFAULT_IMAGE,
  MANAGED_BY,
  MANAGER,
  NAME_LABEL,
} from './job.js';
import { controllerNamespace, LeaderElector } from './leader.js';
import { ControllerMetrics, type MigrationFigures } from './metrics.js';
import { observe } from './observe.js';
import { WorkQueue } from './queue.js';
import { withRecordedSelection } from './selection.js';
import { syncFigures } from './sync-job.js';

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

export class Controller {
  readonly kube: Kube;
  private readonly queue: WorkQueue;
  private readonly image: string;
  /** What observe and act work with; its caches are filled once watching. */
  private readonly ctx: ReconcileContext;
  private informers: { stop(): Promise<void> }[] = [];
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
    this.ctx = {
      kube: this.kube,
      claimNamespace: this.claimNamespace,
      image: this.image,
      copyPod: opts.copyPod ?? copyPodFromEnv(),
      cleanupTimeoutMs: opts.cleanupTimeoutMs ?? DEFAULT_CLEANUP_TIMEOUT_MS,
      lastProgress: new Map<string, number>(),
      caches: {},
    };
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
    return (this.ctx.caches.migrations?.list() ?? []).map((o) => {
      const s = migrationStatus.safeParse(o.status ?? {});
      const cs = s.success ? (s.data.collections ?? []) : [];
      return {
        namespace: o.metadata?.namespace ?? '',
        name: o.metadata?.name ?? '',
        ...(s.success && s.data.phase ? { phase: s.data.phase } : {}),
        copied: cs.reduce((n, c) => n + c.copiedEntities, 0),
        total: cs.reduce((n, c) => n + (c.sourceEntities ?? 0), 0),
        ...syncFigures(s.success ? s.data : undefined, Date.now()),
      };
    });
  }

  private async startReconciling(): Promise<void> {
    const ns = this.opts.namespace;
    const migrations = this.kube.migrationInformer(ns);
    this.ctx.caches.migrations = migrations;
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
      this.ctx.lastProgress.delete(key(o));
    });
    const jobs = this.kube.jobInformer(`${MANAGED_BY}=${MANAGER}`, ns);
    const onJob = (j: V1Job) => {
      const owner = j.metadata?.labels?.[NAME_LABEL];
      if (owner) this.queue.add(`${j.metadata?.namespace}/${owner}`);
    };
    jobs.on('add', onJob);
    jobs.on('update', onJob);
    jobs.on('delete', onJob);
    this.ctx.caches.jobs = jobs;
    const claims = this.kube.leaseInformer(this.claimNamespace, `${MANAGED_BY}=${MANAGER},${CLAIM_LABEL}`);
    this.ctx.caches.claims = claims;
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
          return await this.reconcileOnce(key, attempt > 0);
        } catch (err) {
          if (err instanceof Conflict && attempt < 3) continue;
          throw err;
        }
      }
    });
  }

  /**
   * The object from the informer's cache; after a conflict (the cache was behind a write), or when
   * the cache does not hold it, from the API server.
   */
  private async reconcileOnce(key: string, live: boolean): Promise<number | undefined> {
    const [namespace, name] = key.split('/') as [string, string];
    const cached = live ? undefined : this.ctx.caches.migrations?.get(name, namespace);
    const raw = cached ?? (await this.kube.getMigration(namespace, name));
    if (!raw) return undefined;
    // Patterns in spec.collections stand for the set recorded in status from here on.
    const obj = withRecordedSelection(raw);
    const observation = await observe(this.ctx, obj);
    const actions = decide(observation.observed);
    if (actions.length) log.debug({ key, actions: actions.map((a) => a.type) }, 'reconcile');
    return act(this.ctx, obj, observation, actions);
  }
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

/**
 * The controller's Prometheus metrics (prom-client), served on their own port (MM_METRICS_PORT,
 * default 8080) at /metrics. Gauges about migrations are computed at scrape time from the
 * controller's informer cache, so they are never stale and cost nothing between scrapes; only the
 * leader runs informers, so followers report no migrations (see milvus_migrate_leader).
 */
import http from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { PHASES } from '../api/migration.js';
import { errorText } from '../util/errors.js';
import { logger } from '../util/logger.js';

const log = logger.child({ component: 'metrics' });

export interface MigrationFigures {
  namespace: string;
  name: string;
  phase?: string;
  /** Sum of copiedEntities and sourceEntities over the collections in the status. */
  copied: number;
  total: number;
}

export interface MetricsSource {
  queueDepth(): number;
  isLeader(): boolean;
  migrations(): MigrationFigures[];
}

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles: Counter<'result'>;
  readonly reconcileErrors: Counter;
  readonly reconcileDuration: Histogram;
  private server?: http.Server;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    this.reconciles = new Counter({
      name: 'milvus_migrate_reconcile_total',
      help: 'Reconciles of MilvusMigrations, by result (success, error).',
      labelNames: ['result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'milvus_migrate_reconcile_errors_total',
      help: 'Reconciles that failed and were retried with back-off.',
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'milvus_migrate_reconcile_duration_seconds',
      help: 'Time one reconcile took (API calls included).',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    new Gauge({
      name: 'milvus_migrate_workqueue_depth',
      help: 'MilvusMigrations waiting in the work queue (scheduled, not running).',
      registers,
      collect() {
        this.set(source.queueDepth());
      },
    });
    new Gauge({
      name: 'milvus_migrate_leader',
      help: '1 when this replica holds the leader Lease and reconciles, else 0.',
      registers,
      collect() {
        this.set(source.isLeader() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'milvus_migrate_migrations',
      help: 'MilvusMigrations by status.phase ("None" before the first status).',
      labelNames: ['phase'],
      registers,
      collect() {
        const counts = new Map<string, number>([...PHASES, 'None'].map((p) => [p, 0]));
        for (const m of source.migrations()) {
          const p = m.phase ?? 'None';
          counts.set(p, (counts.get(p) ?? 0) + 1);
        }
        this.reset();
        for (const [phase, n] of counts) this.set({ phase }, n);
      },
    });
    new Gauge({
      name: 'milvus_migrate_rows_copied',
      help: 'Rows copied to the target so far, per MilvusMigration (from its status).',
      labelNames: ['namespace', 'name'],
      registers,
      collect() {
        this.reset();
        for (const m of source.migrations()) this.set({ namespace: m.namespace, name: m.name }, m.copied);
      },
    });
    new Gauge({
      name: 'milvus_migrate_rows_source',
      help: 'Rows on the source, per MilvusMigration (from its status).',
      labelNames: ['namespace', 'name'],
      registers,
      collect() {
        this.reset();
        for (const m of source.migrations()) this.set({ namespace: m.namespace, name: m.name }, m.total);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'milvus_migrate_' });
  }

  /** Times one reconcile and counts its result. */
  async observe<T>(fn: () => Promise<T>): Promise<T> {
    const end = this.reconcileDuration.startTimer();
    try {
      const r = await fn();
      this.reconciles.inc({ result: 'success' });
      return r;
    } catch (err) {
      this.reconciles.inc({ result: 'error' });
      this.reconcileErrors.inc();
      throw err;
    } finally {
      end();
    }
  }

  listen(port: number): void {
    this.server = http.createServer((req, res) => {
      if (req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(`cannot collect metrics: ${errorText(err)}`),
      );
    });
    this.server.on('error', (err) => log.error({ err: errorText(err), port }, 'metrics server failed'));
    this.server.listen(port);
  }

  close(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

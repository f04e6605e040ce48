/**
 * Leader election on a coordination.k8s.io/v1 Lease, the way client-go's leaderelection does it
 * (@kubernetes/client-node 1.4.0 has no helper): the holder renews spec.renewTime every retry
 * period; another replica takes the Lease over only after it has seen the same record unchanged for
 * a whole lease duration, measured on its own clock (so clock skew between nodes does not matter).
 * Writes are replace (PUT) with the read resourceVersion, so two candidates never both win.
 * On shutdown the holder releases the Lease (holder cleared), so a successor starts at once.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { statusCode } from '../adapters/kubernetes/kube.js';
import { errorText } from '../util/errors.js';
import { logger } from '../util/logger.js';

const log = logger.child({ component: 'leader-election' });

export const LEASE_NAME = 'milvus-migrate-controller';
const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * The controller's own namespace: POD_NAMESPACE (downward API), else the service account's
 * namespace file (in a pod), else the kubeconfig context's namespace, else "default".
 */
export function controllerNamespace(
  env: Record<string, string | undefined> = process.env,
  kc?: KubeConfig,
  readFile: (p: string) => string = (p) => readFileSync(p, 'utf8'),
): string {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    const ns = readFile(SERVICE_ACCOUNT_NAMESPACE).trim();
    if (ns) return ns;
  } catch {
    // not in a pod
  }
  const ctx = kc?.getContextObject(kc.getCurrentContext());
  return ctx?.namespace || 'default';
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** The three Lease calls used (get, create, update: exactly the Role's verbs). */
export type LeaseApi = Pick<
  CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>;

export interface LeaderElectorOptions {
  namespace: string;
  /** For tests; by default made from the KubeConfig. */
  api?: LeaseApi;
  name?: string;
  identity?: string;
  leaseDurationMs?: number;
  /** The holder gives up leadership when it could not renew for this long (< leaseDurationMs). */
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void | Promise<void>;
  /** Called once when leadership is lost (not on release): the process should stop reconciling. */
  onStoppedLeading: () => void;
  now?: () => number;
}

export class LeaderElector {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  private readonly api: LeaseApi;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private timer?: NodeJS.Timeout;
  /** The tick under way, if any: stop() waits for it, or it could renew after the release. */
  private ticking?: Promise<void>;
  private stopped = false;
  private leading = false;
  /** This process wrote itself as holder at some point (it may still be the holder). */
  private wroteHolder = false;
  private lastRenew = 0;
  /** The last record seen and when (local clock) it was first seen. */
  private observed?: { key: string; at: number };

  constructor(
    kc: KubeConfig,
    private readonly opts: LeaderElectorOptions,
  ) {
    this.api = opts.api ?? kc.makeApiClient(CoordinationV1Api);
    this.namespace = opts.namespace;
    this.name = opts.name ?? LEASE_NAME;
    // Pod name first, so `kubectl get lease` shows which pod leads; a suffix for the unlikely reuse.
    this.identity = opts.identity ?? `${process.env.HOSTNAME || os.hostname()}_${process.pid}`;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    this.now = opts.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    log.info(
      { lease: `${this.namespace}/${this.name}`, identity: this.identity },
      'campaigning for the Lease',
    );
    this.runTick();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.runTick(), this.retryPeriodMs);
    this.timer.unref?.();
  }

  private runTick(): void {
    const t = this.tick().finally(() => {
      if (this.ticking === t) this.ticking = undefined;
    });
    this.ticking = t;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let becameLeader = false;
    try {
      // A stop() that came while the Lease was being read must not be undone by this write.
      if ((await this.tryAcquireOrRenew()) && !this.stopped) {
        this.lastRenew = this.now();
        becameLeader = !this.leading;
        this.leading = true;
      }
    } catch (err) {
      log.warn({ err: errorText(err) }, 'could not read or write the Lease');
    }
    if (this.stopped) return;
    if (becameLeader) {
      log.info({ identity: this.identity }, 'became the leader');
      try {
        await this.opts.onStartedLeading();
      } catch (err) {
        // A leader that cannot work must not keep the Lease: step down (the process restarts).
        log.error({ err: errorText(err) }, 'could not start reconciling as the leader; stepping down');
        this.leading = false;
        // A shutdown under way (stop() waits for this tick) is not a lost leadership.
        if (!this.stopped) this.opts.onStoppedLeading();
        return;
      }
    }
    if (this.leading && this.now() - this.lastRenew > this.renewDeadlineMs) {
      // Another replica may take over after leaseDuration: stop before it can.
      this.leading = false;
      log.error({ identity: this.identity }, 'lost the Lease (not renewed in time); stopping');
      this.opts.onStoppedLeading();
      return;
    }
    this.schedule();
  }

  /** One attempt; true when this process holds the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const t = this.now();
    let lease: V1Lease | undefined;
    try {
      lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      renewTime: microTime(t),
    };
    if (!lease) {
      try {
        await this.api.createNamespacedLease({
          namespace: this.namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.name, namespace: this.namespace },
            spec: { ...spec, acquireTime: microTime(t), leaseTransitions: 0 } as unknown as V1Lease['spec'],
          },
        });
        this.wroteHolder = true;
        return true;
      } catch (err) {
        if (statusCode(err) === 409) return false; // another candidate created it first
        throw err;
      }
    }
    const cur = lease.spec ?? {};
    const holder = cur.holderIdentity ?? '';
    const key = `${holder}|${String(cur.renewTime ?? '')}`;
    if (this.observed?.key !== key) this.observed = { key, at: t };
    const durationMs = (cur.leaseDurationSeconds ?? Math.ceil(this.leaseDurationMs / 1000)) * 1000;
    const mine = holder === this.identity;
    const free = holder === '' || t - this.observed.at >= durationMs;
    if (!mine && !free) return false;
    const body: V1Lease = {
      ...lease,
      spec: {
        ...cur,
        ...spec,
        ...(mine
          ? {}
          : { acquireTime: microTime(t), leaseTransitions: (cur.leaseTransitions ?? 0) + (holder ? 1 : 0) }),
      } as unknown as V1Lease['spec'],
    };
    try {
      const res = await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body });
      this.observed = { key: `${this.identity}|${String(res.spec?.renewTime ?? '')}`, at: t };
      if (!mine) log.info({ previous: holder || '(released)' }, 'took over the Lease');
      this.wroteHolder = true;
      return true;
    } catch (err) {
      if (statusCode(err) === 409) return false; // someone else wrote it in between
      throw err;
    }
  }

  /** Stops campaigning; the holder clears holderIdentity so a successor need not wait. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    // A renewal in flight would otherwise land after the release and hold the Lease again
    // (seen in CI: the holder still set after a clean exit).
    await this.ticking;
    if (!this.wroteHolder) return;
    // Release whatever this process wrote, even a first acquisition the in-flight tick made
    // after stop() was called (it never started leading).
    try {
      for (let attempt = 0; ; attempt++) {
        const lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
        if (lease.spec?.holderIdentity !== this.identity) break;
        try {
          await this.api.replaceNamespacedLease({
            name: this.name,
            namespace: this.namespace,
            body: {
              ...lease,
              spec: {
                ...lease.spec,
                holderIdentity: '',
                leaseDurationSeconds: 1,
                renewTime: microTime(this.now()),
              } as unknown as V1Lease['spec'],
            },
          });
          log.info({ identity: this.identity }, 'released the Lease');
          break;
        } catch (err) {
          // Someone wrote in between (a candidate's takeover write): read again and look.
          if (statusCode(err) !== 409 || attempt >= 2) throw err;
        }
      }
    } catch (err) {
      if (statusCode(err) !== 404)
        log.warn(
          { err: errorText(err) },
          'could not release the Lease; a successor takes over after it expires',
        );
    } finally {
      this.leading = false;
    }
  }
}

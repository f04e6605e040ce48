import { KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  controllerNamespace,
  LEASE_NAME,
  LeaderElector,
  type LeaseApi,
  microTime,
} from '../../src/controller/leader.js';

/** An in-memory Lease endpoint with the API server's optimistic concurrency (409 on a stale write). */
class FakeLeases {
  lease?: V1Lease;
  private rv = 0;
  /** When set, the next read waits here (after calling `reached`): a call in flight, held open. */
  hold?: { reached: () => void; until: Promise<void> };
  api: LeaseApi = {
    readNamespacedLease: (async () => {
      const hold = this.hold;
      if (hold) {
        this.hold = undefined;
        hold.reached();
        await hold.until;
      }
      if (!this.lease) throw Object.assign(new Error('not found'), { code: 404 });
      return structuredClone(this.lease);
    }) as LeaseApi['readNamespacedLease'],
    createNamespacedLease: (async ({ body }: { body: V1Lease }) => {
      if (this.lease) throw Object.assign(new Error('exists'), { code: 409 });
      this.lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++this.rv) } };
      return structuredClone(this.lease);
    }) as LeaseApi['createNamespacedLease'],
    replaceNamespacedLease: (async ({ body }: { body: V1Lease }) => {
      if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion)
        throw Object.assign(new Error('conflict'), { code: 409 });
      this.lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++this.rv) } };
      return structuredClone(this.lease);
    }) as LeaseApi['replaceNamespacedLease'],
  };
}

function elector(fake: FakeLeases, identity: string, clock: { t: number }) {
  return new LeaderElector(new KubeConfig(), {
    namespace: 'mm',
    identity,
    api: fake.api,
    now: () => clock.t,
    onStartedLeading: () => {},
    onStoppedLeading: () => {},
  });
}

describe('leader election on a Lease', () => {
  it('one holder at a time; a successor only after a whole lease duration without renewal', async () => {
    const fake = new FakeLeases();
    const clock = { t: 1_000_000 };
    const a = elector(fake, 'pod-a', clock);
    const b = elector(fake, 'pod-b', clock);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(fake.lease?.metadata?.name).toBe(LEASE_NAME);
    expect(fake.lease?.spec).toMatchObject({ holderIdentity: 'pod-a', leaseDurationSeconds: 15 });
    expect(await b.tryAcquireOrRenew()).toBe(false);
    // a renews: b keeps seeing a fresh record and never takes over.
    for (let i = 0; i < 10; i++) {
      clock.t += 5000;
      expect(await a.tryAcquireOrRenew()).toBe(true);
      expect(await b.tryAcquireOrRenew()).toBe(false);
    }
    // a stops renewing (killed): not yet after 14 s, taken over after 15 s.
    clock.t += 14_000;
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.t += 1000;
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(fake.lease?.spec).toMatchObject({ holderIdentity: 'pod-b', leaseTransitions: 1 });
    expect(await a.tryAcquireOrRenew()).toBe(false);
  });

  it('release clears the holder so a successor starts at once', async () => {
    const fake = new FakeLeases();
    const clock = { t: 2_000_000 };
    const started: string[] = [];
    const a = new LeaderElector(new KubeConfig(), {
      namespace: 'mm',
      identity: 'pod-a',
      api: fake.api,
      now: () => clock.t,
      onStartedLeading: () => {
        started.push('a');
      },
      onStoppedLeading: () => {},
    });
    a.start();
    for (let i = 0; i < 50 && !a.isLeader; i++) await new Promise((r) => setTimeout(r, 10));
    expect(a.isLeader).toBe(true);
    expect(started).toEqual(['a']);
    await a.stop();
    expect(fake.lease?.spec?.holderIdentity).toBe('');
    const b = elector(fake, 'pod-b', clock);
    expect(await b.tryAcquireOrRenew()).toBe(true);
  });

  // CI saw the holder still set after a clean exit: a renewal read before stop() wrote after it.
  it.each([
    ['a renewal', true],
    ['a first acquisition', false],
  ])('stop() during %s in flight still leaves the Lease released', async (_what, leadFirst) => {
    const fake = new FakeLeases();
    const started: string[] = [];
    const a = new LeaderElector(new KubeConfig(), {
      namespace: 'mm',
      identity: 'pod-a',
      api: fake.api,
      retryPeriodMs: 5,
      onStartedLeading: () => {
        started.push('a');
      },
      onStoppedLeading: () => {},
    });
    let release = () => {};
    const reached = new Promise<void>((reachedResolve) => {
      const until = new Promise<void>((r) => {
        release = r;
      });
      if (!leadFirst) fake.hold = { reached: reachedResolve, until };
      else {
        // Lead first, then hold the next renewal's read open.
        void (async () => {
          for (let i = 0; i < 200 && !a.isLeader; i++) await new Promise((r) => setTimeout(r, 5));
          fake.hold = { reached: reachedResolve, until };
        })();
      }
    });
    a.start();
    await reached;
    const stopping = a.stop();
    release();
    await stopping;
    expect(fake.lease?.spec?.holderIdentity).toBe('');
    expect(a.isLeader).toBe(false);
    expect(started).toEqual(leadFirst ? ['a'] : []);
    // Nothing renews it afterwards.
    await new Promise((r) => setTimeout(r, 30));
    expect(fake.lease?.spec?.holderIdentity).toBe('');
  });

  it('writes MicroTime with six fractional digits', () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02T03:04:05.678000Z');
  });

  it('finds its namespace: POD_NAMESPACE, else the service account file, else the context, else default', () => {
    const none = () => {
      throw new Error('ENOENT');
    };
    expect(controllerNamespace({ POD_NAMESPACE: 'ops' }, undefined, () => 'sa-ns')).toBe('ops');
    expect(controllerNamespace({}, undefined, () => 'sa-ns\n')).toBe('sa-ns');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:6443' }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u', namespace: 'ctx-ns' }],
      currentContext: 'x',
    });
    expect(controllerNamespace({}, kc, none)).toBe('ctx-ns');
    expect(controllerNamespace({}, undefined, none)).toBe('default');
  });
});

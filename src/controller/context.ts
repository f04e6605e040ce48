/** What observe and act share with the controller that runs them: its clients, caches and settings. */
import type { V1Job, V1Lease } from '@kubernetes/client-node';
import type { Kube, MigrationObject } from '../adapters/kubernetes/kube.js';
import type { CopyPodSettings } from './job.js';

/** The part of an informer's cache that reconciling reads. */
export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(): readonly T[];
}

export interface ReconcileContext {
  kube: Kube;
  /** Where the leader Lease and the target claims (claims.ts) live: the controller's own namespace. */
  claimNamespace: string;
  image: string;
  copyPod: CopyPodSettings;
  /** How long a deletion may wait for the copy pods to stop and the target to answer. */
  cleanupTimeoutMs: number;
  /** When the status was last patched from a pod log, per "namespace/name" (the 5 s throttle). */
  lastProgress: Map<string, number>;
  /** The informers' caches, once watching (undefined before: every read goes to the API server). */
  caches: { migrations?: Cache<MigrationObject>; jobs?: Cache<V1Job>; claims?: Cache<V1Lease> };
}

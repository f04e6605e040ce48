/**
 * The few Kubernetes API calls the controller makes, over @kubernetes/client-node 1.x. Every
 * namespaced read is in the namespace it is given (the migration's own): no call here can reach a
 * Secret of another namespace.
 */

import {
  ApiException,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type V1Job,
  type V1Lease,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { API_GROUP, API_VERSION } from '../../api/migration.js';
import type { Reason } from '../../api/reasons.js';

export const PLURAL = 'milvusmigrations';

export interface MigrationObject extends KubernetesObject {
  spec?: unknown;
  status?: Record<string, unknown>;
}

export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const c = (err as { code?: unknown; statusCode?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

export class Kube {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
  readonly custom: CustomObjectsApi;
  readonly coordination: CoordinationV1Api;

  constructor(kc?: KubeConfig) {
    this.kc = kc ?? new KubeConfig();
    if (!kc) this.kc.loadFromDefault();
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.batch = this.kc.makeApiClient(BatchV1Api);
    this.custom = this.kc.makeApiClient(CustomObjectsApi);
    this.coordination = this.kc.makeApiClient(CoordinationV1Api);
  }

  /** The claim Leases (claims.ts) in the controller's own namespace. */
  leaseInformer(namespace: string, labelSelector: string) {
    const path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
    const list = () => this.coordination.listNamespacedLease({ namespace, labelSelector });
    return makeInformer<V1Lease>(this.kc, path, list, labelSelector);
  }

  async getLease(namespace: string, name: string): Promise<V1Lease | undefined> {
    try {
      return await this.coordination.readNamespacedLease({ namespace, name });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /** Create-if-absent: false when an object of that name exists already (409). */
  async createLease(lease: V1Lease): Promise<boolean> {
    try {
      await this.coordination.createNamespacedLease({ namespace: lease.metadata!.namespace!, body: lease });
      return true;
    } catch (err) {
      if (statusCode(err) === 409) return false;
      throw err;
    }
  }

  /** Deletes exactly the Lease that was read (uid and resourceVersion preconditions); false if it changed. */
  async deleteLease(namespace: string, name: string, uid: string, resourceVersion: string): Promise<boolean> {
    try {
      await this.coordination.deleteNamespacedLease({
        namespace,
        name,
        body: { preconditions: { uid, resourceVersion } },
      });
      return true;
    } catch (err) {
      const c = statusCode(err);
      if (c === 404 || c === 409) return false;
      throw err;
    }
  }

  migrationInformer(namespace?: string) {
    const path = namespace
      ? `/apis/${API_GROUP}/${API_VERSION}/namespaces/${namespace}/${PLURAL}`
      : `/apis/${API_GROUP}/${API_VERSION}/${PLURAL}`;
    const list = () =>
      namespace
        ? this.custom.listNamespacedCustomObject({
            group: API_GROUP,
            version: API_VERSION,
            namespace,
            plural: PLURAL,
          })
        : this.custom.listClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: PLURAL });
    return makeInformer<MigrationObject>(this.kc, path, list, undefined);
  }

  jobInformer(labelSelector: string, namespace?: string) {
    const path = namespace ? `/apis/batch/v1/namespaces/${namespace}/jobs` : '/apis/batch/v1/jobs';
    const list = () =>
      namespace
        ? this.batch.listNamespacedJob({ namespace, labelSelector })
        : this.batch.listJobForAllNamespaces({ labelSelector });
    return makeInformer<V1Job>(this.kc, path, list, labelSelector);
  }

  async getMigration(namespace: string, name: string): Promise<MigrationObject | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({
        group: API_GROUP,
        version: API_VERSION,
        namespace,
        plural: PLURAL,
        name,
      })) as MigrationObject;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /** Merge patch of the status subresource; with resourceVersion, a 409 means re-read. */
  patchStatus(namespace: string, name: string, body: object): Promise<MigrationObject> {
    return this.mergePatch('status', namespace, name, body);
  }

  patchMigration(namespace: string, name: string, body: object): Promise<MigrationObject> {
    return this.mergePatch('object', namespace, name, body);
  }

  private async mergePatch(
    what: 'object' | 'status',
    namespace: string,
    name: string,
    body: object,
  ): Promise<MigrationObject> {
    const req = {
      group: API_GROUP,
      version: API_VERSION,
      namespace,
      plural: PLURAL,
      name,
      body,
      fieldManager: 'milvus-migrate',
    };
    const opts = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    return (await (what === 'status'
      ? this.custom.patchNamespacedCustomObjectStatus(req, opts)
      : this.custom.patchNamespacedCustomObject(req, opts))) as MigrationObject;
  }

  async getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async getJob(namespace: string, name: string): Promise<V1Job | undefined> {
    try {
      return await this.batch.readNamespacedJob({ namespace, name });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async createJob(job: V1Job): Promise<void> {
    try {
      await this.batch.createNamespacedJob({ namespace: job.metadata!.namespace!, body: job });
    } catch (err) {
      if (statusCode(err) !== 409) throw err; // already there: the next reconcile sees it
    }
  }

  /**
   * Background: the Job goes at once, the garbage collector stops its pods after. Foreground: the
   * Job stays (with a deletionTimestamp) until its pods are gone, so its absence means no writer.
   */
  async deleteJob(
    namespace: string,
    name: string,
    propagationPolicy: 'Background' | 'Foreground' = 'Background',
  ): Promise<void> {
    try {
      await this.batch.deleteNamespacedJob({ namespace, name, propagationPolicy });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  /** The newest pod of a Job (by creation time). */
  async newestPod(namespace: string, jobUid: string): Promise<V1Pod | undefined> {
    return (await this.jobPods(namespace, jobUid))[0];
  }

  /** The pods of a Job, newest first. */
  async jobPods(namespace: string, jobUid: string): Promise<V1Pod[]> {
    const pods = await this.core.listNamespacedPod({
      namespace,
      labelSelector: `batch.kubernetes.io/controller-uid=${jobUid}`,
    });
    return pods.items
      .slice()
      .sort(
        (a, b) =>
          new Date(b.metadata?.creationTimestamp ?? 0).getTime() -
          new Date(a.metadata?.creationTimestamp ?? 0).getTime(),
      );
  }

  async podLog(namespace: string, name: string, tailLines = 50): Promise<string | undefined> {
    try {
      return await this.core.readNamespacedPodLog({ namespace, name, container: 'copy', tailLines });
    } catch (err) {
      const c = statusCode(err);
      if (c === 400 || c === 404) return undefined; // container not started yet / gone
      throw err;
    }
  }

  async event(
    involved: { namespace: string; name: string; uid: string; resourceVersion?: string },
    type: 'Normal' | 'Warning',
    reason: Reason,
    message: string,
  ): Promise<void> {
    const t = new Date();
    await this.core.createNamespacedEvent({
      namespace: involved.namespace,
      body: {
        metadata: {
          name: `${involved.name}.${t.getTime().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`,
          namespace: involved.namespace,
        },
        involvedObject: {
          apiVersion: `${API_GROUP}/${API_VERSION}`,
          kind: 'MilvusMigration',
          name: involved.name,
          namespace: involved.namespace,
          uid: involved.uid,
          ...(involved.resourceVersion ? { resourceVersion: involved.resourceVersion } : {}),
        },
        type,
        reason,
        message: message.slice(0, 1024),
        firstTimestamp: t,
        lastTimestamp: t,
        count: 1,
        source: { component: 'milvus-migrate' },
        reportingComponent: 'milvus-migrate',
        reportingInstance: process.env.HOSTNAME ?? 'milvus-migrate',
      },
    });
  }
}

/**
 * The copy Job of one MilvusMigration: the project's image running `worker`, restricted pod
 * security, credentials only through secretKeyRef / Secret volumes of the migration's namespace.
 */
import { createHash } from 'node:crypto';
import type {
  V1Affinity,
  V1EnvVar,
  V1Job,
  V1ResourceRequirements,
  V1Toleration,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { z } from 'zod';
import {
  API_VERSION_FULL,
  KIND,
  type MigrationSpec,
  type MilvusMigration,
  type ShardPlan,
} from '../api/migration.js';
import { DEFAULT_SECRETS_DIR, USERS_DIR } from '../worker/input.js';
import { formatIndexes, type Stage } from '../worker/protocol.js';
import { syncStateEnv } from './sync-job.js';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGER = 'milvus-migrate';
export const NAME_LABEL = 'migration.milvus.io/name';
export const DEFAULT_IMAGE = 'milvus-migrate:dev';
/** Exit code of a worker whose migration Failed for good (the engine already retried). */
export const WORKER_FAILED_EXIT = 1;

export const STAGE_LABEL = 'migration.milvus.io/stage';
/** On a sharded run's copy Job: which copy attempt of the plan it is (1 = the first). */
export const ATTEMPT_ANNOTATION = 'migration.milvus.io/copy-attempt';
/** On every Job: the metadata.generation of the MilvusMigration it was made from. */
export const GENERATION_ANNOTATION = 'migration.milvus.io/generation';
/** On every Job: specHash() of the spec it was made from. */
export const SPEC_HASH_ANNOTATION = 'migration.milvus.io/spec-hash';
/** On every Job: the resourceVersion of each Secret it reads, as JSON (to tell a Secret changed since). */
export const SECRETS_ANNOTATION = 'migration.milvus.io/secret-versions';

/**
 * Settings of the copy pods chosen by whoever installs the controller (Helm value copyPod, env
 * MM_COPY_POD as JSON), never by the author of a MilvusMigration. Empty = the built-in defaults.
 */
export const copyPodSettings = z
  .object({
    resources: z.record(z.string(), z.unknown()).optional(),
    nodeSelector: z.record(z.string(), z.string()).optional(),
    tolerations: z.array(z.record(z.string(), z.unknown())).optional(),
    affinity: z.record(z.string(), z.unknown()).optional(),
    priorityClassName: z.string().optional(),
    // The controller reads a finished Job's verdict: removing it sooner than that only costs a
    // re-run (which copies nothing), but below a minute it would be the rule.
    ttlSecondsAfterFinished: z.number().int().min(60).nullable().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .strict();
export type CopyPodSettings = z.infer<typeof copyPodSettings>;

/** MM_COPY_POD of the controller's environment (throws on invalid settings: the controller does not start). */
export function copyPodFromEnv(env: Record<string, string | undefined> = process.env): CopyPodSettings {
  const raw = env.MM_COPY_POD;
  if (!raw) return {};
  const r = copyPodSettings.safeParse(JSON.parse(raw));
  if (!r.success) throw new Error(`MM_COPY_POD is not valid copy-pod settings: ${r.error.message}`);
  return r.data;
}

/** What the controller read of a Secret: its version and which keys it has (never the values). */
export interface SecretInfo {
  resourceVersion: string;
  keys: string[];
}

const CREDENTIAL_KEYS = ['username', 'password', 'token'] as const;
const CERT_KEYS = ['ca.crt', 'tls.crt', 'tls.key'] as const;

/**
 * What a run's result depends on: the endpoints, databases, collections and the verification mode.
 * Not suspend, deletionPolicy or parallelism (how, not what, is copied and checked).
 */
export function specHash(spec: MigrationSpec): string {
  // spec.sync too: a new interval or `cutover: true` gets a pod of its own (sync-job.ts). And
  // spec.rbac: roles switched on after a run are applied by a new one (which copies nothing that
  // is there already). Fields left out (undefined) do not change the hash of older objects.
  const { source, target, collections, verify, sync, rbac } = spec;
  return createHash('sha256')
    .update(canonical({ source, target, collections, verify, sync, rbac }))
    .digest('hex')
    .slice(0, 16);
}

/** JSON with object keys sorted, so that equal specs hash equal whatever order their keys came in. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * `<name>-copy` (also the Indexed copy Job of a sharded run), `<name>-plan`, `<name>-finalize`;
 * shortened with a hash so the pods' job-name label stays within 63 characters.
 */
export function jobName(name: string, suffix: 'copy' | 'plan' | 'finalize' = 'copy', max = 63): string {
  const full = `${name}-${suffix}`;
  if (full.length <= max) return full;
  const h = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, 45).replace(/[-.]+$/, '')}-${h}-${suffix}`;
}

/**
 * Settings of the controller's own environment handed on to the copy pods. Only these: the
 * controller's operator chooses them, never the author of a MilvusMigration. MILVUS_MIGRATE_PAGE_BYTES
 * caps the bytes of one copied page, MILVUS_MIGRATE_PAGE_DELAY_MS pauses after each page (to spare a
 * busy source; the e2e tests use both to make copies slow enough to interrupt).
 */
export const WORKER_ENV_PASSTHROUGH = ['MILVUS_MIGRATE_PAGE_BYTES', 'MILVUS_MIGRATE_PAGE_DELAY_MS'] as const;

export function workerEnvFrom(env: Record<string, string | undefined> = process.env): V1EnvVar[] {
  return WORKER_ENV_PASSTHROUGH.filter((n) => env[n]).map((name) => ({ name, value: env[name]! }));
}

/**
 * `secrets`: the Secrets the spec names, as the controller just read them. Only the keys a Secret
 * has are referenced, and none optionally: a pod whose Secret (or key) is gone does not start
 * (CreateContainerConfigError) until it is back, instead of starting without credentials.
 */
export function jobManifest(
  m: MilvusMigration,
  ownedTargets: string[],
  image = DEFAULT_IMAGE,
  extraEnv: V1EnvVar[] = [],
  secrets: Record<string, SecretInfo> = {},
  pod: CopyPodSettings = {},
): V1Job {
  const meta = m.metadata;
  const env: V1EnvVar[] = [
    {
      name: 'MM_MIGRATION',
      value: JSON.stringify({
        apiVersion: API_VERSION_FULL,
        kind: KIND,
        metadata: { name: meta.name, namespace: meta.namespace, uid: meta.uid, generation: meta.generation },
        spec: m.spec,
      }),
    },
    { name: 'MM_OWNED_TARGETS', value: JSON.stringify(ownedTargets) },
    ...syncStateEnv(m.status),
    ...extraEnv,
  ];
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  const versions: Record<string, string> = {};
  for (const side of ['source', 'target'] as const) {
    const ref = m.spec[side].secretRef;
    if (!ref) continue;
    const info = secrets[ref.name];
    if (info) versions[ref.name] = info.resourceVersion;
    const has = (k: string) => info?.keys.includes(k) ?? false;
    for (const key of CREDENTIAL_KEYS.filter(has)) {
      env.push({
        name: `MM_${side.toUpperCase()}_${key.toUpperCase()}`,
        valueFrom: { secretKeyRef: { name: ref.name, key } },
      });
    }
    const certs = CERT_KEYS.filter(has);
    if (!certs.length) continue;
    volumes.push({
      name: `${side}-tls`,
      secret: {
        secretName: ref.name,
        items: certs.map((key) => ({ key, path: key })),
        defaultMode: 0o440,
      },
    });
    mounts.push({ name: `${side}-tls`, mountPath: `${DEFAULT_SECRETS_DIR}/${side}`, readOnly: true });
  }
  // spec.rbac.users: every key of its Secret is a user and its password, read from files (the key
  // names are the user names, not known when the Job is written out).
  const usersRef = m.spec.rbac?.users?.secretRef;
  if (usersRef) {
    const info = secrets[usersRef.name];
    if (info) versions[usersRef.name] = info.resourceVersion;
    volumes.push({ name: 'rbac-users', secret: { secretName: usersRef.name, defaultMode: 0o440 } });
    mounts.push({ name: 'rbac-users', mountPath: `${DEFAULT_SECRETS_DIR}/${USERS_DIR}`, readOnly: true });
  }
  const labels = {
    [MANAGED_BY]: MANAGER,
    'app.kubernetes.io/name': 'milvus-migrate',
    [NAME_LABEL]: meta.name,
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName(meta.name),
      namespace: meta.namespace,
      labels,
      annotations: {
        [GENERATION_ANNOTATION]: String(meta.generation ?? 0),
        [SPEC_HASH_ANNOTATION]: specHash(m.spec),
        [SECRETS_ANNOTATION]: JSON.stringify(versions),
      },
      ownerReferences: [
        {
          apiVersion: API_VERSION_FULL,
          kind: KIND,
          name: meta.name,
          uid: meta.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      backoffLimit: 6,
      // A replacement pod only once the old one has really stopped (not merely "terminating"), so
      // that a killed or deleted copy pod and its successor never write to the target together.
      // (Also the only value Kubernetes allows with a podFailurePolicy.)
      podReplacementPolicy: 'Failed',
      // The engine retries transient errors itself: a Failed verdict (exit 1) is final.
      podFailurePolicy: {
        rules: [
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
          {
            action: 'FailJob',
            onExitCodes: { containerName: 'copy', operator: 'In', values: [WORKER_FAILED_EXIT] },
          },
        ],
      },
      ...(pod.ttlSecondsAfterFinished ? { ttlSecondsAfterFinished: pod.ttlSecondsAfterFinished } : {}),
      template: {
        metadata: {
          // The installer's labels first: ours (the Job's selectors) win a clash.
          labels: { ...pod.labels, ...labels },
          ...(pod.annotations && Object.keys(pod.annotations).length ? { annotations: pod.annotations } : {}),
        },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 10001,
            runAsGroup: 10001,
            fsGroup: 10001,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'copy',
              image,
              imagePullPolicy: 'IfNotPresent',
              args: ['worker'],
              env,
              volumeMounts: mounts,
              securityContext: {
                runAsNonRoot: true,
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
              },
              resources:
                pod.resources && Object.keys(pod.resources).length
                  ? (pod.resources as V1ResourceRequirements)
                  : {
                      requests: { cpu: '100m', memory: '128Mi' },
                      limits: { cpu: '2', memory: '1Gi' },
                    },
            },
          ],
          volumes,
          ...(pod.nodeSelector && Object.keys(pod.nodeSelector).length
            ? { nodeSelector: pod.nodeSelector }
            : {}),
          ...(pod.tolerations?.length ? { tolerations: pod.tolerations as V1Toleration[] } : {}),
          ...(pod.affinity && Object.keys(pod.affinity).length
            ? { affinity: pod.affinity as V1Affinity }
            : {}),
          ...(pod.priorityClassName ? { priorityClassName: pod.priorityClassName } : {}),
        },
      },
    },
  };
}

/**
 * The Indexed copy Job's name: its pods' hostname is `<job>-<index>` (index up to 31), which must
 * stay within 63 characters too. Equal to jobName() except for names of 56-58 characters.
 */
export function shardJobName(name: string): string {
  return jobName(name, 'copy', 60);
}

/** What a stage Job of a sharded run (parallelism > 1) does. */
export type StageJob =
  | { stage: 'plan' }
  | {
      stage: 'copy';
      plan: ShardPlan;
      /** 1 for the first copy Job of the plan; later ones resume (look keys up on the target). */
      attempt: number;
      /** Shards completed by earlier attempts: their pods exit 0 at once. */
      completed: number[];
    }
  | { stage: 'finalize'; plan: ShardPlan };

/**
 * A Job of a sharded run: the copy Job's pod (same image, env, Secrets, TLS, security) with the
 * stage in MM_STAGE. The copy stage is an Indexed Job, one pod per shard (JOB_COMPLETION_INDEX):
 * a pod that dies for any reason but the engine's final verdict fails only its index and is never
 * replaced within the Job (backoffLimitPerIndex 0): the controller starts the next attempt, which
 * resumes, once every pod of this one has stopped.
 */
export function stageJobManifest(
  m: MilvusMigration,
  ownedTargets: string[],
  job: StageJob,
  image = DEFAULT_IMAGE,
  extraEnv: V1EnvVar[] = [],
  secrets: Record<string, SecretInfo> = {},
  pod: CopyPodSettings = {},
): V1Job {
  const env: V1EnvVar[] = [{ name: 'MM_STAGE', value: job.stage satisfies Stage }];
  if (job.stage !== 'plan') env.push({ name: 'MM_SHARD_PLAN', value: JSON.stringify(job.plan) });
  if (job.stage === 'copy') {
    env.push(
      { name: 'MM_SHARD_RESUME', value: String(job.attempt > 1) },
      { name: 'MM_COPY_ATTEMPT', value: String(job.attempt) },
      { name: 'MM_COMPLETED_INDEXES', value: formatIndexes(job.completed) },
    );
  }
  const j = jobManifest(m, ownedTargets, image, [...env, ...extraEnv], secrets, pod);
  const meta = j.metadata!;
  meta.name = job.stage === 'copy' ? shardJobName(m.metadata.name) : jobName(m.metadata.name, job.stage);
  meta.labels = { ...meta.labels, [STAGE_LABEL]: job.stage };
  const tpl = j.spec!.template;
  tpl.metadata!.labels = { ...tpl.metadata!.labels, [STAGE_LABEL]: job.stage };
  if (job.stage === 'copy') {
    meta.annotations = { ...meta.annotations, [ATTEMPT_ANNOTATION]: String(job.attempt) };
    const spec = j.spec!;
    delete spec.backoffLimit;
    spec.completionMode = 'Indexed';
    spec.completions = job.plan.shards;
    spec.parallelism = job.plan.shards;
    spec.backoffLimitPerIndex = 0;
    spec.podFailurePolicy = {
      rules: [
        {
          action: 'FailJob',
          onExitCodes: { containerName: 'copy', operator: 'In', values: [WORKER_FAILED_EXIT] },
        },
        // Evicted or preempted: only this shard fails (not replaced with the same env: a first
        // attempt writes without look-ups); the next attempt resumes it.
        { action: 'FailIndex', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      ],
    };
  }
  return j;
}

/**
 * The MilvusMigration API: one zod schema is the source of truth for the TypeScript types, the
 * runtime validation of user YAML (CLI and controller) and the CRD's OpenAPI schema (crds/).
 * Names here are a contract with users and with the operator: extend, never rename.
 */
import { z } from 'zod';

export const API_GROUP = 'migration.milvus.io';
export const API_VERSION = 'v1alpha1';
export const KIND = 'MilvusMigration';
export const API_VERSION_FULL = `${API_GROUP}/${API_VERSION}`;

/** Milvus collection names: letters, digits, underscores; start with a letter or underscore; ≤ 255. */
const collectionName = z
  .string()
  .min(1)
  .max(255)
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    'must start with a letter or underscore and contain only letters, digits and underscores',
  );

/** host:port, http://host:port or https://host[:port]. */
export const ENDPOINT_PATTERN = /^(https?:\/\/)?[A-Za-z0-9.\-_[\]:]+(:[0-9]{1,5})?\/?$/;

const secretName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a valid Kubernetes Secret name');

const secretRef = z
  .object({
    name: secretName.describe(
      "Name of a Secret in the migration's own namespace with keys username+password or token; optional ca.crt, tls.crt, tls.key.",
    ),
    // An explicit field rather than an unknown one: the API server would silently prune an unknown
    // `namespace` key (clients without strict field validation get no error at all), and the user
    // would think another namespace's Secret was used. Kept, it is refused with a clear reason.
    namespace: z
      .string()
      .max(63)
      .optional()
      .describe(
        "Leave empty. Secrets are only read from the migration's own namespace; any other namespace here is refused (status reason CrossNamespaceSecret).",
      ),
  })
  .strict();

export const connectionSpec = z
  .object({
    endpoint: z
      .string()
      .min(1)
      .regex(ENDPOINT_PATTERN, 'must be host:port, http://host:port or https://host[:port]')
      .describe('Milvus endpoint: host:port, http://host:port or https://host[:port] (TLS).'),
    database: z.string().min(1).max(255).default('default').describe('Database on this cluster.'),
    secretRef: secretRef.optional(),
    tls: z
      .object({
        serverName: z
          .string()
          .optional()
          .describe('Server name to verify in the certificate (SNI), if it differs from the endpoint host.'),
        insecureSkipVerify: z
          .boolean()
          .default(false)
          .describe('Do not verify the server certificate. For tests only.'),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * A collection name, or a pattern of one: `*` any run of characters, `?` one character. Like a
 * name it cannot start with a digit, so the API server already refuses "1x".
 */
const collectionPattern = z
  .string()
  .min(1)
  .max(255)
  .regex(
    /^[A-Za-z_*?][A-Za-z0-9_*?]*$/,
    'must start with a letter or underscore and contain only letters, digits and underscores (or be a pattern of such names with * and ?)',
  );

/**
 * How the target collections are loaded. Replica count and resource groups belong to the target's
 * cluster: the source's (collection.replica.number, collection.resource_groups) are never copied,
 * since a source loaded with 2 replicas would make the load of a single-node target fail.
 */
export const loadSpec = z
  .object({
    replicas: z
      .number()
      .int()
      .min(1)
      .max(100)
      .optional()
      .describe("Replicas to load each target collection with; default: the target's own default (1)."),
    resourceGroups: z
      .array(z.string().min(1).max(255))
      .max(100)
      .optional()
      .describe("Target resource groups to load the replicas into; default: the target's default group."),
  })
  .strict();

export const targetSpec = connectionSpec
  .extend({
    createDatabase: z
      .boolean()
      .optional()
      .describe(
        "Default false. Create spec.target.database when it does not exist, with the source database's properties (database.max.collections and the like; not its replica count, resource groups or write/read denials, which are the target's own). Properties the target did not keep are warnings.",
      ),
    load: loadSpec.optional().describe('How target collections are loaded (replicas, resource groups).'),
  })
  .strict();

export const collectionSpec = z
  .object({
    name: collectionPattern.describe(
      'Collection in the source database, or a pattern (`*` any characters, `?` one; `*` = every collection of the database). A pattern is expanded against the source once, when the migration is planned, and the set is recorded in status.collectionSelection: collections created on the source later do not join a migration under way.',
    ),
    exclude: z
      .array(collectionPattern)
      .max(100)
      .optional()
      .describe('With a pattern name: collections (names or patterns) it leaves out.'),
    targetName: collectionName.optional().describe('Name on the target; defaults to name.'),
    description: z
      .string()
      .max(65535)
      .optional()
      .describe('Description on the target; defaults to the source description.'),
  })
  .strict();

export const VERIFY_MODES = ['count', 'sample', 'full'] as const;
export const DELETION_POLICIES = ['Retain', 'DropIncomplete'] as const;
export type DeletionPolicy = (typeof DELETION_POLICIES)[number];

/** A duration: a whole number with s, m or h, e.g. "30s", "5m", "1h". */
export const DURATION_PATTERN = /^[1-9][0-9]{0,5}(s|m|h)$/;

export const syncSpec = z
  .object({
    interval: z
      .string()
      .regex(DURATION_PATTERN, 'must be a whole number followed by s, m or h, e.g. "5m"')
      .default('5m')
      .describe(
        'Time from the start of one catch-up pass to the start of the next (a pass that takes longer is followed at once).',
      ),
    changedField: z
      .string()
      .min(1)
      .max(255)
      .optional()
      .describe(
        'An integer field the application sets on every insert and update to a value that only grows (e.g. updated_at in epoch milliseconds). Each pass then also upserts the rows whose value is at or above the largest value seen when the last pass started. Without it, a pass adds missing keys and deletes removed ones but does not see rows updated in place.',
      ),
    cutover: z
      .boolean()
      .default(false)
      .describe(
        'Set to true once the application has stopped writing to the source: a final pass runs, the target is verified as spec.verify says, and the migration ends Succeeded with the final pass time (the write downtime) in status.sync.cutoverSeconds.',
      ),
  })
  .strict();

export const migrationSpec = z
  .object({
    source: connectionSpec.describe('The cluster to read from. Only read requests are ever sent to it.'),
    target: targetSpec.describe('The cluster to write to.'),
    collections: z
      .array(collectionSpec)
      .min(1)
      .max(1000)
      .describe('Collections to migrate from the source database.'),
    rbac: z
      .object({
        roles: z
          .boolean()
          .optional()
          .describe(
            "Default false. Create the source's roles (not admin and public) on the target with their privileges in spec.source.database, granted in spec.target.database; the plan lists them. Needs a source user that may list roles and grants.",
          ),
        users: z
          .object({
            secretRef: z
              .object({
                name: secretName.describe(
                  "A Secret in the migration's own namespace: each key is the name of a source user, its value that user's password on the target.",
                ),
              })
              .strict(),
          })
          .strict()
          .optional()
          .describe(
            "Create these source users on the target, with the passwords of this Secret (a source's passwords cannot be read), and give them the roles they have on the source. A user who exists on the target already keeps its password and only gets the roles. Source users without a key are listed in the plan and not created.",
          ),
      })
      .strict()
      .optional()
      .describe('Opt-in migration of access control.'),
    verify: z
      .enum(VERIFY_MODES)
      .default('sample')
      .describe(
        'After the copy: count(*) only, count plus a sample of rows compared field by field, or every row.',
      ),
    parallelism: z
      .number()
      .int()
      .min(1)
      .max(32)
      .default(1)
      .describe(
        'Shards of each large collection copied at once: the key space is split into ranges of equal row counts. More helps while both clusters have spare capacity. ' +
          'In the operator, more than 1 runs one copy pod per shard (an Indexed Job, after a plan Job that creates the targets and computes the ranges, and before a finalize Job that indexes, loads and verifies); the CLI copies the shards in one process.',
      ),
    suspend: z
      .boolean()
      .default(false)
      .describe('Stop the copy and keep what was copied; set back to false to resume.'),
    deletionPolicy: z
      .enum(DELETION_POLICIES)
      .default('Retain')
      .describe(
        'What happens to the target when this MilvusMigration is deleted (its copy Job is always stopped first). ' +
          'Retain: leave every target collection as it is, partly copied ones included. ' +
          'DropIncomplete: drop the target collections this migration created and that did not reach Succeeded; ' +
          'collections that existed before, and succeeded ones, are never dropped. The source is never written.',
      ),
    sync: syncSpec
      .optional()
      .describe(
        'Keep the target following a source that is still written to: after the bulk copy the migration stays Syncing and runs catch-up passes (primary keys compared per key range: missing keys written, removed keys deleted in collections this migration created, changed rows upserted by changedField) until cutover is set. Not for autoID collections whose keys the target regenerates.',
      ),
  })
  .strict();

export const objectMeta = z
  .object({
    name: z.string().min(1).max(253),
    namespace: z.string().min(1).max(63).default('default'),
    uid: z.string().optional(),
    generation: z.number().int().optional(),
    resourceVersion: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .passthrough();

export const PHASES = [
  'Pending',
  'Running',
  'Verifying',
  'Syncing',
  'Succeeded',
  'Failed',
  'Canceled',
] as const;
export type Phase = (typeof PHASES)[number];

export const COLLECTION_PHASES = [
  'Pending',
  'Creating',
  'Copying',
  'Verifying',
  'Syncing',
  'Succeeded',
  'Failed',
  'Canceled',
] as const;
export type CollectionPhase = (typeof COLLECTION_PHASES)[number];

/** Bound on status.errors so the object stays far below etcd's 1.5 MiB limit. */
const MAX_STATUS_ERRORS_BOUND = 20;

export const condition = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
  observedGeneration: z.number().int().optional(),
});

export const errorEntry = z.object({
  time: z.string(),
  collection: z.string().optional(),
  message: z.string(),
});

export const collectionSyncStatus = z
  .object({
    passes: z.number().int().describe('Catch-up passes completed on this collection.'),
    added: z.number().int().describe('Keys the target lacked, written by the last pass.'),
    deleted: z
      .number()
      .int()
      .describe('Keys the source no longer has, deleted on the target by the last pass.'),
    updated: z
      .number()
      .int()
      .describe('Rows at or above the changedField watermark, upserted by the last pass.'),
    passSeconds: z.number().describe('Duration of the last pass.'),
    lastPassStart: z.string().describe('Start of the last complete pass.'),
    watermark: z
      .string()
      .max(32)
      .optional()
      .describe(
        'Largest changedField value on the source when the last pass started (the next pass upserts from it).',
      ),
  })
  .describe('Catch-up passes on this collection (spec.sync).');

export const collectionStatus = z.object({
  name: z.string(),
  targetName: z.string(),
  phase: z.enum(COLLECTION_PHASES),
  sourceEntities: z.number().int().optional().describe('count(*) on the source.'),
  copiedEntities: z
    .number()
    .int()
    .default(0)
    .describe(
      'Rows of this collection on the target that this migration wrote, in this run or an earlier one (a resumed copy starts from what is already there).',
    ),
  foldedEntities: z
    .number()
    .int()
    .optional()
    .describe(
      "Rows count(*) counts on the source that no query returns, so no copy can move them: duplicate primary keys (folded into one row) and Milvus 2.3's unreadable key 2^63-1. Not part of the rows to copy (see warnings).",
    ),
  targetEntities: z.number().int().optional().describe('count(*) on the target after the copy.'),
  repairedEntities: z
    .number()
    .int()
    .optional()
    .describe(
      'Keys the target held more than once or the source lacks, found by a run and repaired (deleted, and written once again from the source) in a collection this migration created.',
    ),
  message: z.string().optional(),
  warnings: z
    .array(z.string())
    .optional()
    .describe('Schema elements the target did not keep, regenerated keys, folded duplicates.'),
  sync: collectionSyncStatus.optional(),
});

export const syncStatus = z
  .object({
    passes: z.number().int().describe('Catch-up passes completed (over every collection).'),
    lastPassStart: z
      .string()
      .optional()
      .describe(
        'Start of the last complete pass: every write to the source before it is on the target. The lag is the time since.',
      ),
    lagSeconds: z
      .number()
      .optional()
      .describe('Seconds from the start of the last complete pass to the last status update.'),
    nextPassAt: z.string().optional().describe('When the next pass starts.'),
    cutoverSeconds: z
      .number()
      .optional()
      .describe(
        'Duration of the final pass at cutover plus its verification: the time writes to the source had to be stopped.',
      ),
    finalPassSeconds: z.number().optional().describe('Duration of the final pass alone.'),
  })
  .describe('Catch-up passes of spec.sync, for the whole migration.');

/** Bound on status.shardPlan.collections[].bounds: spec.parallelism - 1. */
const MAX_SHARDS = 32;

export const shardPlanStatus = z
  .object({
    shards: z
      .number()
      .int()
      .min(1)
      .max(MAX_SHARDS)
      .describe('Shard pods of the copy Job (one key range of each collection each).'),
    attempt: z
      .number()
      .int()
      .min(0)
      .describe(
        'Copy Jobs started for this plan; the first fills fresh targets without look-ups, later ones resume.',
      ),
    completed: z.string().max(256).describe('Shards complete, as a Job\'s completedIndexes, e.g. "0,2-3".'),
    copiedDone: z
      .array(z.number().int())
      .optional()
      .describe('Per collection, rows copied by the completed shards (for progress).'),
    collections: z
      .array(
        z.object({
          name: z.string(),
          targetName: z.string(),
          fresh: z.boolean().describe('The plan created this target collection.'),
          sourceEntities: z.number().int(),
          bounds: z
            .array(z.string())
            .max(MAX_SHARDS - 1)
            .describe('Boundaries of the key ranges ("i:<int64>" or "s:<varchar>"); none = one range.'),
        }),
      )
      .max(1000),
  })
  .describe(
    'A sharded run (spec.parallelism > 1) in progress: the key ranges its plan Job computed once, and which shards are complete. Cleared when the run ends.',
  );

export const collectionSelection = z
  .object({
    from: z
      .string()
      .max(64)
      .describe(
        'Hash of spec.source and spec.collections the set was expanded from; another spec expands again.',
      ),
    time: z.string().max(64).describe('When the patterns were expanded.'),
    names: z
      .array(z.string().max(255))
      .max(1000)
      .describe('Every source collection the patterns of spec.collections matched, in spec order.'),
  })
  .describe(
    'The source collections that the patterns in spec.collections (name `*`, globs, exclude) stood for when the migration was first planned. Kept while the spec stays the same, so the set cannot change under a running migration.',
  );

/** What a sharded run's plan stage hands to its copy and finalize stages (MMPLAN, MM_SHARD_PLAN). */
export const shardPlan = shardPlanStatus.pick({ shards: true, collections: true });

export const targetDatabaseStatus = z
  .object({
    name: z.string().max(255),
    created: z.string().max(64).describe('When this migration created it.'),
    warnings: z
      .array(z.string().max(2048))
      .max(50)
      .optional()
      .describe('Source properties not carried, or not kept by the target.'),
  })
  .describe('The target database this migration created (spec.target.createDatabase).');

export const migrationStatus = z.object({
  phase: z.enum(PHASES).optional(),
  observedGeneration: z.number().int().optional(),
  startTime: z.string().optional(),
  completionTime: z.string().optional(),
  progress: z.string().optional().describe('Copied share of all source rows, e.g. "42%".'),
  rows: z.string().max(64).optional().describe('Rows copied / rows on the source, e.g. "1200/3000".'),
  collectionsDone: z.string().max(32).optional().describe('Collections finished / total, e.g. "1/2".'),
  collections: z.array(collectionStatus).optional(),
  conditions: z.array(condition).optional(),
  lastRerun: z
    .string()
    .max(253)
    .optional()
    .describe(
      'The value of the migration.milvus.io/rerun annotation the controller last started a copy Job for.',
    ),
  errors: z
    .array(errorEntry)
    .max(MAX_STATUS_ERRORS_BOUND)
    .optional()
    .describe('Bounded log of errors, newest last.'),
  shardPlan: shardPlanStatus.optional(),
  sync: syncStatus.optional(),
  ownedTargets: z
    .array(z.string().max(255))
    .max(1000)
    .optional()
    .describe(
      'Target collections this migration created: the ones that did not exist on the target when the controller checked, before the first copy. Only these are resumed into and only these can be dropped by deletionPolicy DropIncomplete. Written by the controller in status, where users who may edit the migration cannot forge it.',
    ),
  verifiedTargets: z
    .array(z.string().max(255))
    .max(1000)
    .optional()
    .describe(
      'Target collections that any run of this migration copied and verified complete. The list only grows: deletionPolicy DropIncomplete never drops one of them, whatever a later run shows. Written by the controller.',
    ),
  collectionSelection: collectionSelection.optional(),
  targetDatabase: targetDatabaseStatus.optional(),
  roles: z
    .object({
      names: z.array(z.string().max(255)).max(1000).describe('Roles created or completed on the target.'),
      warnings: z
        .array(z.string().max(2048))
        .max(100)
        .optional()
        .describe('Grants the target refused or does not list.'),
    })
    .optional()
    .describe('What spec.rbac.roles migrated.'),
  users: z
    .object({
      names: z
        .array(z.string().max(255))
        .max(1000)
        .describe('Users created on the target or given their roles.'),
      warnings: z
        .array(z.string().max(2048))
        .max(100)
        .optional()
        .describe('Users left as they were, and roles the target does not have.'),
    })
    .optional()
    .describe('What spec.rbac.users migrated (never a password).'),
  runSpecHash: z
    .string()
    .max(64)
    .optional()
    .describe(
      "Hash of the spec fields a run's result depends on (source, target, collections, verify, sync, rbac) for the last run that ended. A newer generation that changes none of them is answered by that run (observedGeneration follows); one that changes any gets a run of its own, and observedGeneration stays at the last generation that ran until it ends.",
    ),
});

export const milvusMigration = z.object({
  apiVersion: z.literal(API_VERSION_FULL),
  kind: z.literal(KIND),
  metadata: objectMeta,
  spec: migrationSpec,
  status: migrationStatus.optional(),
});

export type ConnectionSpec = z.infer<typeof connectionSpec>;
export type LoadSpec = z.infer<typeof loadSpec>;
export type CollectionSpec = z.infer<typeof collectionSpec>;
export type MigrationSpec = z.infer<typeof migrationSpec>;
export type MigrationStatus = z.infer<typeof migrationStatus>;
export type CollectionStatus = z.infer<typeof collectionStatus>;
export type Condition = z.infer<typeof condition>;
export type ShardPlanStatus = z.infer<typeof shardPlanStatus>;
export type SyncSpec = z.infer<typeof syncSpec>;
export type SyncStatus = z.infer<typeof syncStatus>;
export type CollectionSyncStatus = z.infer<typeof collectionSyncStatus>;
export type ShardPlan = z.infer<typeof shardPlan>;
export type ErrorEntry = z.infer<typeof errorEntry>;
export type CollectionSelection = z.infer<typeof collectionSelection>;
export type MilvusMigration = z.infer<typeof milvusMigration>;

export const MAX_STATUS_ERRORS = MAX_STATUS_ERRORS_BOUND;

/**
 * Plan before writing: everything that can be checked is checked before the target is touched, and
 * every problem is collected (not just the first), so the plan is also the schema preview users
 * read with `milvus-migrate plan`.
 */

import type { MilvusClient } from '../adapters/milvus/client.js';
import { isNotLoaded, isPermissionDenied, MilvusError } from '../adapters/milvus/errors.js';
import { LoadState } from '../adapters/milvus/proto.js';
import type { CollectionSchema } from '../adapters/milvus/types.js';
import type { MilvusMigration } from '../api/migration.js';
import { errorText, UserError } from '../util/errors.js';
import { functionOutputNotes } from './function-outputs.js';
import { indexProblems } from './indexes.js';
import { firstOversizedJson, jsonLimitApplies, MILVUS_JSON_MAX_BYTES } from './json-size.js';
import { keyLiteral } from './keys.js';
import { sourceTopologyNote, type TargetLoad, targetLoad } from './load-topology.js';
import { planRoles, type RolesPlan } from './roles.js';
import { readFields } from './row-mover.js';
import {
  type CollectionModel,
  type CreateRequest,
  createRequest,
  modelFrom,
  partitionsToCreate,
  targetSchema,
  unsupportedFeatures,
  usedFeatures,
  userFields,
} from './schema.js';
import { type MigrationState, targetKey } from './state.js';
import { type DatabaseToCreate, databaseToCreate, isDatabaseNotFound } from './target-database.js';
import { completeForTarget, uncopyable } from './unreported.js';
import { planUsers, type UsersPlan } from './users.js';
import { atLeast, parseVersion, type ServerVersion, SOURCE_FLOOR } from './versions.js';

export interface CollectionPlan {
  sourceName: string;
  targetName: string;
  description: string;
  model?: CollectionModel;
  targetSchema?: CollectionSchema;
  createRequest?: CreateRequest;
  partitionsToCreate: string[];
  readFields: string[];
  /** How the target is loaded (spec.target.load; never the source's topology). */
  load: TargetLoad;
  /** The target collection exists and was created by this migration: resume into it. */
  resume: boolean;
  sourceLoaded: boolean;
  problems: string[];
  notes: string[];
  /**
   * Status warnings known at plan time (also plan notes): values the source did not report and the
   * plan filled in, function outputs the target recomputes with a provider of its own.
   */
  filled: string[];
}

export interface Plan {
  sourceVersion: ServerVersion;
  targetVersion: ServerVersion;
  collections: CollectionPlan[];
  problems: string[];
  /** The target database to create first (spec.target.createDatabase, when it does not exist). */
  createDatabase?: DatabaseToCreate;
  /** Roles to create on the target (spec.rbac.roles). */
  roles?: RolesPlan;
  /** Users to create on the target (spec.rbac.users). */
  users?: UsersPlan;
}

export function planProblems(p: Plan): string[] {
  return [...p.problems, ...p.collections.flatMap((c) => c.problems.map((x) => `${c.sourceName}: ${x}`))];
}

/** Source version first: an unsupported source is refused before anything else is asked of anyone. */
export async function checkSourceVersion(source: MilvusClient): Promise<ServerVersion> {
  const v = parseVersion(await source.getVersion());
  if (v.kind === 'milvus' && !atLeast(v, SOURCE_FLOOR)) {
    throw new UserError(
      `the source runs Milvus ${v.raw}; the oldest supported source is ${SOURCE_FLOOR}: upgrade the source cluster to ${SOURCE_FLOOR} or newer and run the migration again`,
      'SourceTooOld',
    );
  }
  return v;
}

export async function planMigration(
  m: MilvusMigration,
  source: MilvusClient,
  target: MilvusClient,
  state: MigrationState,
  /** spec.rbac.users: the user names of its Secret (keys), when it is set. */
  userNames?: string[],
): Promise<Plan> {
  const sourceVersion = await checkSourceVersion(source);
  const targetVersion = parseVersion(await target.getVersion());
  const problems: string[] = [];
  if (targetVersion.embedded) {
    // Seen on milvus-lite 2.5.1: a collection created with a full described schema could not be
    // described or written afterwards ("internal error", "collection not found"), and it builds
    // only FLAT/IVF_FLAT/AUTOINDEX, with no partitions or aliases. Not a target until proven.
    problems.push(
      `the target is the embedded Milvus Lite (${targetVersion.raw}), which this version reads as a source but does not write to (collections ${m.spec.collections.map((c) => c.targetName ?? c.name).join(', ')}): use a Milvus server (or milvus-lite 3.x, or Zilliz Cloud) as target`,
    );
    return { sourceVersion, targetVersion, collections: [], problems };
  }

  await checkDatabase(source, 'source', m.spec.source.database, problems);
  let createDatabase: DatabaseToCreate | undefined;
  if (m.spec.target.createDatabase && (await databaseMissing(target, m.spec.target.database))) {
    const props = await source.describeDatabase(m.spec.source.database).catch(() => undefined);
    createDatabase = databaseToCreate(m.spec.target.database, props, sourceVersion.raw);
  } else await checkDatabase(target, 'target', m.spec.target.database, problems);
  if (problems.length) return { sourceVersion, targetVersion, collections: [], problems };

  const sourceCollections = new Set(await source.showCollections());
  // A database still to be created holds no collection.
  const targetCollections = new Set(createDatabase ? [] : await target.showCollections());
  const collections: CollectionPlan[] = [];
  for (const c of m.spec.collections) {
    const targetName = c.targetName ?? c.name;
    const plan: CollectionPlan = {
      sourceName: c.name,
      targetName,
      description: c.description ?? '',
      partitionsToCreate: [],
      readFields: [],
      load: targetLoad(m.spec.target.load),
      resume: false,
      sourceLoaded: false,
      problems: [],
      notes: [],
      filled: [],
    };
    collections.push(plan);
    if (!sourceCollections.has(c.name)) {
      const known = [...sourceCollections].sort().slice(0, 20).join(', ') || 'none';
      plan.problems.push(
        `collection "${c.name}" does not exist in source database "${m.spec.source.database}" (collections there: ${known}): check spec.collections[].name and spec.source.database`,
      );
      continue;
    }
    const desc = await source.describeCollection(c.name);
    const [partitions, indexes, aliases] = await Promise.all([
      source.showPartitions(c.name),
      source.describeIndexes(c.name),
      source.listAliases(c.name),
    ]);
    const completed = completeForTarget(modelFrom(desc, partitions, indexes, aliases), targetVersion);
    const model = completed.model;
    plan.model = model;
    plan.filled = completed.filled;
    plan.notes.push(...completed.filled);
    plan.problems.push(...completed.problems);
    const cannot = uncopyable(model);
    if (cannot.length) {
      plan.problems.push(
        `${cannot.join('; ')}: leave the collection out of spec.collections; nothing was written`,
      );
    }
    plan.description = c.description ?? model.description;
    plan.targetSchema = targetSchema(model, targetName, c.description);
    plan.createRequest = createRequest(model, plan.targetSchema);
    plan.partitionsToCreate = partitionsToCreate(model);
    plan.readFields = readFields(model);

    plan.sourceLoaded = await isLoaded(source, c.name);
    if (!plan.sourceLoaded) {
      plan.problems.push(
        `source collection "${c.name}" is not loaded, so its rows cannot be read: load it on the source (load_collection) and run again`,
      );
    }

    if (plan.sourceLoaded && jsonLimitApplies(sourceVersion, targetVersion)) {
      const big = await firstOversizedJson(source, model, c.name);
      if (big) {
        const where = big.field === '$meta' ? 'its dynamic fields' : `field ${big.field}`;
        plan.problems.push(
          `the row with key ${keyLiteral(big.key)} holds ${big.bytes} bytes of JSON in ${where}; the target (Milvus ${targetVersion.raw}) refuses a JSON value over ${MILVUS_JSON_MAX_BYTES} bytes: shorten that value on the source (or leave the collection out of spec.collections); nothing was written`,
        );
      }
    }

    const topology = sourceTopologyNote(
      model.properties,
      plan.sourceLoaded ? await source.getReplicas(desc.collectionID).catch(() => []) : [],
      m.spec.target.load,
    );
    if (topology) {
      plan.notes.push(topology);
      plan.filled.push(topology);
    }
    plan.problems.push(...indexProblems(model.indexes, userFields(model.schema), targetVersion));
    const fnNotes = functionOutputNotes(model.schema);
    plan.notes.push(...fnNotes.notes, ...fnNotes.warnings);
    plan.filled.push(...fnNotes.warnings);

    const unsupported = unsupportedFeatures(usedFeatures(model), targetVersion);
    if (unsupported.length) {
      plan.problems.push(
        `the target (${targetVersion.raw}) cannot hold: ${unsupported.join('; ')}. Use a newer target; nothing was written`,
      );
    }

    const key = targetKey(m.spec.target.endpoint, m.spec.target.database, targetName);
    if (targetCollections.has(targetName)) {
      if (state.targets[key]) {
        plan.resume = true;
        plan.notes.push(
          `target collection "${targetName}" was created by this migration: resuming, only missing rows are copied`,
        );
      } else {
        plan.problems.push(
          `target collection "${targetName}" already exists in target database "${m.spec.target.database}" and was not created by this migration: choose another targetName or drop it on the target`,
        );
      }
    }
    for (const alias of model.aliases) {
      if (plan.resume) break;
      const owner = await aliasOwner(target, alias);
      if (owner !== undefined) {
        plan.problems.push(
          `alias "${alias}" already exists on the target (it points to "${owner}"): drop or rename that alias on the target, or it cannot be recreated`,
        );
      }
    }
    const pk = userFields(model.schema).find((f) => f.is_primary_key);
    if (pk?.autoID) {
      plan.notes.push(
        `primary key ${pk.name} is autoID: source keys are kept where the target accepts them, otherwise regenerated (the status says which)`,
      );
    }
    if (model.properties.some((p) => p.key === 'collection.ttl.seconds')) {
      plan.notes.push('collection TTL restarts on the target: copied rows get new insert times');
    }
  }
  let roles: RolesPlan | undefined;
  if (m.spec.rbac?.roles) {
    try {
      roles = await planRoles(source, m.spec.source.database, {
        source: sourceVersion,
        target: targetVersion,
      });
    } catch (err) {
      problems.push(
        `spec.rbac.roles: the source's roles cannot be read (${errorText(err)}): grant the source user the privileges to list roles and grants, or leave spec.rbac out`,
      );
    }
  }
  let users: UsersPlan | undefined;
  const usersRef = m.spec.rbac?.users?.secretRef;
  if (usersRef && userNames) {
    try {
      users = await planUsers(source, userNames, usersRef.name);
      problems.push(...users.problems);
    } catch (err) {
      problems.push(
        `spec.rbac.users: the source's users cannot be read (${errorText(err)}): grant the source user the privileges to list users, or leave spec.rbac.users out`,
      );
    }
  }
  return {
    sourceVersion,
    targetVersion,
    collections,
    problems,
    ...(createDatabase ? { createDatabase } : {}),
    ...(roles ? { roles } : {}),
    ...(users ? { users } : {}),
  };
}

/** Whether a database is missing on a server; a user who may not list databases is asked by ShowCollections. */
async function databaseMissing(c: MilvusClient, db: string): Promise<boolean> {
  try {
    return !(await c.listDatabases()).includes(db);
  } catch (err) {
    if (!isPermissionDenied(err)) throw err;
  }
  try {
    await c.showCollections();
    return false;
  } catch (err) {
    if (isDatabaseNotFound(err)) return true;
    throw err;
  }
}

async function checkDatabase(c: MilvusClient, side: string, db: string, problems: string[]): Promise<void> {
  let dbs: string[];
  try {
    dbs = await c.listDatabases();
  } catch (err) {
    // Without the privilege (2.3 also answers so for a database that does not exist), ask
    // ShowCollections in that database instead.
    if (isPermissionDenied(err)) {
      try {
        await c.showCollections();
      } catch (inner) {
        if (
          inner instanceof MilvusError &&
          (inner.milvusCode === 800 || /database not (found|exist)/i.test(inner.message))
        ) {
          problems.push(
            `${side} database "${db}" does not exist (databases there: not listed: the user may not list databases): check spec.${side}.database${side === 'target' ? ' or create the database on the target first (or set spec.target.createDatabase: true)' : ''}`,
          );
          return;
        }
        throw inner;
      }
      return;
    }
    if (err instanceof MilvusError && /unimplemented|not implement/i.test(err.message) && db === 'default')
      return;
    throw err;
  }
  if (!dbs.includes(db)) {
    problems.push(
      `${side} database "${db}" does not exist (databases there: ${dbs.join(', ')}): check spec.${side}.database${side === 'target' ? ' or create the database on the target first (or set spec.target.createDatabase: true)' : ''}`,
    );
  }
}

/** Load state; a read-only user may lack the privilege, then a count(*) tells. */
async function isLoaded(source: MilvusClient, name: string): Promise<boolean> {
  try {
    return (await source.getLoadState(name)) === LoadState.LoadStateLoaded;
  } catch (err) {
    if (!isPermissionDenied(err)) throw err;
  }
  try {
    await source.count(name);
    return true;
  } catch (err) {
    if (isNotLoaded(err)) return false;
    throw err;
  }
}

/** The collection an alias points to on a server, or undefined when no such alias exists. */
async function aliasOwner(c: MilvusClient, alias: string): Promise<string | undefined> {
  try {
    const d = await c.describeCollection(alias);
    // Describing an alias echoes the alias as collection_name; the schema carries the real name.
    return d.schema.name || d.collection_name;
  } catch (err) {
    if (err instanceof MilvusError && !err.grpcCode) return undefined;
    throw err;
  }
}

/**
 * The copy engine: plan → create the target exactly → copy every row once → verify. It knows
 * nothing of Kubernetes; the CLI and the operator's copy pods both run it on the same input.
 */

import { MilvusClient } from '../adapters/milvus/client.js';
import { MilvusError, UserError } from '../adapters/milvus/errors.js';
import { LoadState } from '../adapters/milvus/proto.js';
import { hybridTimestamp } from '../adapters/milvus/types.js';
import { credentialsFor, type MigrationInput } from '../api/input.js';
import type { CollectionStatus, MigrationStatus } from '../api/migration.js';
import { applyPhaseConditions, now, pushError, summarize } from '../api/status.js';
import { type Logger, logger as rootLogger } from '../util/logger.js';
import { type CollectionPlan, type Plan, planMigration, planProblems } from './planner.js';
import type { Page } from './range-reader.js';
import { sleep } from './retry.js';
import { PassthroughMover, type RowMover } from './row-mover.js';
import { type CollectionModel, diffModels, modelFrom, primaryField } from './schema.js';
import { type StateStore, targetKey } from './state.js';
import { compareAll, compareKeys, countBoth, KeySampler } from './verify.js';

export interface EngineOptions {
  state: StateStore;
  mover?: RowMover;
  /** Shards of each collection copied in parallel by the default mover (default spec.parallelism). */
  workers?: number;
  log?: Logger;
  signal?: AbortSignal;
  /** Called with a fresh copy of the status whenever it changes. */
  onStatus?: (s: MigrationStatus) => void;
}

export interface Clients {
  source: MilvusClient;
  target: MilvusClient;
}

export function openClients(input: MigrationInput): Clients {
  const spec = input.migration.spec;
  const source = new MilvusClient({
    side: 'source',
    endpoint: spec.source.endpoint,
    database: spec.source.database,
    credentials: credentialsFor(input, 'source'),
    tls: spec.source.tls,
    readOnly: true,
  });
  const target = new MilvusClient({
    side: 'target',
    endpoint: spec.target.endpoint,
    database: spec.target.database,
    credentials: credentialsFor(input, 'target'),
    tls: spec.target.tls,
  });
  return { source, target };
}

export async function plan(input: MigrationInput, state: StateStore): Promise<Plan> {
  const { source, target } = openClients(input);
  try {
    return await planMigration(input.migration, source, target, await state.load());
  } finally {
    source.close();
    target.close();
  }
}

/** A stable CamelCase reason for an error, for conditions and the troubleshooting docs. */
export function reasonOf(err: unknown): string {
  if (err instanceof UserError) return err.reason;
  if (err instanceof MilvusError) {
    if (err.grpcCode === 16) return 'AuthenticationFailed';
    if (err.grpcCode === 7) return 'PermissionDenied';
    if (err.grpcCode === 14) return 'Unreachable';
    return 'MilvusError';
  }
  return 'InternalError';
}

export function initialStatus(input: MigrationInput): MigrationStatus {
  const status: MigrationStatus = {
    phase: 'Pending',
    observedGeneration: input.migration.metadata.generation,
    collections: input.migration.spec.collections.map((c) => ({
      name: c.name,
      targetName: c.targetName ?? c.name,
      phase: 'Pending',
      copiedEntities: 0,
    })),
    errors: [],
  };
  applyPhaseConditions(
    status,
    'Pending',
    'Planning',
    'checking source, target and collections',
    status.observedGeneration,
  );
  return status;
}

export async function runMigration(input: MigrationInput, opts: EngineOptions): Promise<MigrationStatus> {
  const m = input.migration;
  const log = (opts.log ?? rootLogger).child({ migration: `${m.metadata.namespace}/${m.metadata.name}` });
  const status = initialStatus(input);
  const gen = status.observedGeneration;
  const emit = () => opts.onStatus?.(structuredClone(status));
  const fail = (reason: string, message: string, collection?: string) => {
    pushError(status, message, collection);
    applyPhaseConditions(status, 'Failed', reason, message, gen);
    status.completionTime = now();
    emit();
    return status;
  };
  status.startTime = now();
  emit();

  let clients: Clients;
  try {
    clients = openClients(input);
  } catch (err) {
    return fail(reasonOf(err), errorText(err));
  }
  const { source, target } = clients;
  try {
    let thePlan: Plan;
    try {
      thePlan = await planMigration(m, source, target, await opts.state.load());
    } catch (err) {
      return fail(reasonOf(err), errorText(err));
    }
    const problems = planProblems(thePlan);
    if (problems.length) {
      for (const p of problems) pushError(status, p);
      return fail('PlanRefused', `nothing was written: ${problems.join(' | ')}`);
    }
    log.info({ source: thePlan.sourceVersion.raw, target: thePlan.targetVersion.raw }, 'plan accepted');
    applyPhaseConditions(status, 'Running', 'Copying', 'copying collections', gen);
    emit();

    for (const [i, cp] of thePlan.collections.entries()) {
      const cs = status.collections![i]!;
      const clog = log.child({ collection: cp.sourceName, target: cp.targetName });
      try {
        await migrateCollection(cp, cs, clients, input, opts, clog, () => {
          summarize(status);
          // The top-level phase says Verifying while a collection is being verified.
          const phase = cs.phase === 'Verifying' ? 'Verifying' : 'Running';
          if (status.phase !== phase) {
            applyPhaseConditions(
              status,
              phase,
              phase === 'Verifying' ? 'Verifying' : 'Copying',
              `${phase.toLowerCase()} ${cs.name}`,
              gen,
            );
          }
          emit();
        });
      } catch (err) {
        if (opts.signal?.aborted) {
          cs.phase = 'Canceled';
          cs.message = 'canceled: what was copied stays on the target; run again to resume';
          for (const rest of status.collections!) if (rest.phase === 'Pending') rest.phase = 'Canceled';
          applyPhaseConditions(
            status,
            'Canceled',
            'Canceled',
            'canceled by the user; run again to resume without duplicates',
            gen,
          );
          status.completionTime = now();
          emit();
          return status;
        }
        cs.phase = 'Failed';
        cs.message = errorText(err);
        clog.error({ err: errorText(err) }, 'collection failed');
        pushError(status, cs.message, cs.name);
        emit();
      }
    }
    summarize(status);
    const failed = status.collections!.filter((c) => c.phase === 'Failed');
    if (failed.length) {
      return fail(
        failed.some((c) => /mismatch|differ/i.test(c.message ?? '')) ? 'VerificationFailed' : 'CopyFailed',
        `${failed.length} of ${status.collections!.length} collections failed (${failed.map((c) => c.name).join(', ')}): see errors; run again to complete what is missing`,
      );
    }
    applyPhaseConditions(
      status,
      'Succeeded',
      'Verified',
      `${status.collections!.length} collections copied and verified`,
      gen,
    );
    status.completionTime = now();
    emit();
    return status;
  } finally {
    source.close();
    target.close();
  }
}

async function migrateCollection(
  cp: CollectionPlan,
  cs: CollectionStatus,
  { source, target }: Clients,
  input: MigrationInput,
  opts: EngineOptions,
  log: Logger,
  changed: () => void,
): Promise<void> {
  const model = cp.model!;
  const warnings: string[] = [];
  const spec = input.migration.spec;
  const key = targetKey(spec.target.endpoint, spec.target.database, cp.targetName);

  cs.phase = 'Creating';
  cs.sourceEntities = await source.count(cp.sourceName);
  changed();
  if (!cp.resume) {
    const state = await opts.state.load();
    state.targets[key] = {
      state: 'creating',
      endpoint: spec.target.endpoint,
      database: spec.target.database,
      sourceName: cp.sourceName,
    };
    await opts.state.save(state);
    await target.createCollection(cp.createRequest!);
    state.targets[key]!.state = 'created';
    await opts.state.save(state);
    log.info('target collection created');
  }
  // A collection created by this run is filled before it is indexed and loaded: the target then
  // spends no CPU on index builds and query nodes while rows stream in, and builds each index once.
  // A resumed one is completed first, because finding what is missing needs count(*) and queries.
  const fresh = !cp.resume;
  if (fresh) await ensurePartitions(cp, target);
  else await ensureTargetShape(cp, model, target, log);

  cs.phase = 'Copying';
  const before = fresh ? 0 : await target.count(cp.targetName);
  const resume = before > 0;
  const pk = primaryField(model.schema);
  const regenerateKeys = pk.autoID && !acceptsExplicitKeys(model);
  if (regenerateKeys) {
    warnings.push(
      `primary key ${pk.name} is autoID and the target does not accept given keys: keys were regenerated by the target`,
    );
    if (resume) {
      throw new UserError(
        `target collection "${cp.targetName}" already holds ${before} rows with regenerated keys, so a resumed copy cannot tell which rows are there: drop it on the target and run again`,
        'CannotResume',
      );
    }
  }
  cs.warnings = warnings.length ? warnings : undefined;
  changed();
  const sampler = new KeySampler(1000);
  const folded = new Map<string, number>();
  const mover = opts.mover ?? new PassthroughMover({ workers: opts.workers ?? spec.parallelism });
  log.info({ resume, workers: opts.workers ?? spec.parallelism }, 'copy started');
  const result = await mover.copy({
    source,
    target,
    model,
    sourceName: cp.sourceName,
    targetName: cp.targetName,
    resume,
    regenerateKeys,
    signal: opts.signal,
    readTs: hybridTimestamp(Date.now()),
    log,
    onProgress: (p) => {
      cs.copiedEntities = p.copied;
      changed();
    },
    onPage: (page: Page<unknown>, partition) => {
      sampler.add(page.keys);
      if (page.folded) folded.set(partition ?? '', (folded.get(partition ?? '') ?? 0) + page.folded);
    },
  });
  cs.copiedEntities = result.copied;
  log.info({ copied: result.copied, alreadyThere: result.alreadyThere, folded: result.folded }, 'copy done');
  if (fresh) await ensureTargetShape(cp, model, target, log);
  const kept = await describeTarget(target, cp.targetName, model.aliases);
  const wanted: CollectionModel = {
    ...model,
    name: cp.targetName,
    description: cp.description,
    schema: cp.targetSchema!,
  };
  for (const w of diffModels(wanted, kept)) warnings.push(`target did not keep: ${w}`);
  if (warnings.length) log.warn({ warnings }, 'target did not keep every schema element');

  cs.phase = 'Verifying';
  changed();
  const counts = await countBoth(source, target, model, cp.sourceName, cp.targetName, folded);
  cs.sourceEntities = counts.sourceEntities;
  cs.targetEntities = counts.targetEntities;
  const expected = counts.sourceEntities - result.folded;
  if (result.folded) {
    const dup = result.folded - result.unreadable;
    if (dup)
      warnings.push(
        `${dup} source rows share a primary key with another row: Milvus returns one row per key, so the target holds ${dup} fewer rows than count(*) on the source`,
      );
    if (result.unreadable)
      warnings.push(
        `${result.unreadable} source row(s) with key 9223372036854775807 (2^63-1) are counted by Milvus 2.3 but returned by no query, so no query-based copy can move them`,
      );
  }
  cs.warnings = warnings.length ? warnings : undefined;
  const rerun =
    'run the migration again to copy what is missing (nothing is duplicated), or drop the target collection and run again';
  if (counts.targetEntities !== expected || counts.partitionMismatches.length) {
    throw new Error(
      `count mismatch: source count(*) ${counts.sourceEntities}${result.folded ? ` (${result.folded} folded)` : ''}, expected ${expected} on the target, found ${counts.targetEntities}` +
        `${counts.partitionMismatches.length ? `; ${counts.partitionMismatches.join('; ')}` : ''}: ${rerun}`,
    );
  }
  const mode = spec.verify;
  if (mode !== 'count' && !regenerateKeys) {
    const r =
      mode === 'full'
        ? await compareAll(source, target, model, cp.sourceName, cp.targetName, cp.readFields)
        : await compareKeys(
            source,
            target,
            model,
            cp.sourceName,
            cp.targetName,
            cp.readFields,
            sampler.sample(),
          );
    if (r.differences.length) {
      throw new Error(
        `content mismatch after comparing ${r.compared} rows: ${r.differences.join('; ')}: ${rerun}`,
      );
    }
    log.info({ mode, compared: r.compared }, 'content verified');
    cs.message = `verified: counts match, ${r.compared} rows compared field by field (${mode})`;
  } else {
    cs.message = regenerateKeys
      ? 'verified: counts match (keys were regenerated, rows cannot be matched by key)'
      : 'verified: counts match';
  }
  cs.phase = 'Succeeded';
  changed();
}

/** Partitions, indexes, load and aliases: each created only if missing, so a resumed run completes a half-made target. */
async function ensureTargetShape(
  cp: CollectionPlan,
  model: CollectionModel,
  target: MilvusClient,
  log: Logger,
): Promise<void> {
  const name = cp.targetName;
  await ensurePartitions(cp, target);
  const indexes = await target.describeIndexes(name);
  const indexed = new Set(indexes.map((i) => i.field_name));
  for (const idx of model.indexes) {
    if (!indexed.has(idx.field_name))
      await target.createIndex(name, idx.field_name, idx.index_name, idx.params);
  }
  if ((await target.getLoadState(name)) !== LoadState.LoadStateLoaded) {
    await target.loadCollection(name);
    await waitLoaded(target, name);
  }
  for (const alias of model.aliases) {
    try {
      await target.createAlias(name, alias);
    } catch (err) {
      // Already ours from an earlier run is fine; anything else is reported.
      const d = await target.describeCollection(alias).catch(() => undefined);
      if (!d || d.schema.name !== name) throw err;
    }
  }
  log.debug('target shape ensured');
}

async function ensurePartitions(cp: CollectionPlan, target: MilvusClient): Promise<void> {
  const have = new Set(await target.showPartitions(cp.targetName));
  for (const p of cp.partitionsToCreate) if (!have.has(p)) await target.createPartition(cp.targetName, p);
}

async function waitLoaded(target: MilvusClient, name: string): Promise<void> {
  const deadline = Date.now() + 10 * 60_000;
  while (Date.now() < deadline) {
    if ((await target.getLoadState(name)) === LoadState.LoadStateLoaded) return;
    await sleep(500);
  }
  throw new Error(
    `target collection "${name}" did not finish loading in 10 minutes: check the target's query nodes and memory`,
  );
}

/** What the target holds now, aliases checked one by one (some servers do not list them). */
async function describeTarget(
  target: MilvusClient,
  name: string,
  aliases: string[],
): Promise<CollectionModel> {
  const d = await target.describeCollection(name);
  const [partitions, indexes] = await Promise.all([
    target.showPartitions(name),
    target.describeIndexes(name),
  ]);
  const model = modelFrom(d, partitions, indexes, await target.listAliases(name));
  const listed = new Set(model.aliases);
  for (const a of aliases) {
    if (listed.has(a)) continue;
    const owner = await target.describeCollection(a).catch(() => undefined);
    if (owner && owner.schema.name === name) listed.add(a);
  }
  model.aliases = [...listed];
  return model;
}

/**
 * Whether the target keeps given primary keys of an autoID collection. Servers before 2.6.3 refuse
 * them; 2.6.3+ accept them when the collection has allow_insert_auto_id, a property the target
 * receives from the source like every other. Decided without writing a probe row.
 */
function acceptsExplicitKeys(model: CollectionModel): boolean {
  return (model.properties ?? []).some((p) => p.key === 'allow_insert_auto_id' && p.value === 'true');
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

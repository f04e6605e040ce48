/**
 * The copy engine: plan → create the target exactly → copy every row once → verify. It knows
 * nothing of Kubernetes; the CLI and the operator's copy pods both run it on the same input.
 *
 * One process runs it whole (runMigration). A sharded run (the operator's shard pods) runs the same
 * pieces as stages in separate processes: plan (targets created, key ranges computed once), copy
 * (one key range of every collection per shard), finalize (target shape, verification).
 */

import { MilvusClient } from '../adapters/milvus/client.js';
import { MilvusError, UserError } from '../adapters/milvus/errors.js';
import { LoadState } from '../adapters/milvus/proto.js';
import { hybridTimestamp } from '../adapters/milvus/types.js';
import { credentialsFor, type MigrationInput } from '../api/input.js';
import type { CollectionStatus, MigrationStatus } from '../api/migration.js';
import { applyPhaseConditions, now, pushError, summarize } from '../api/status.js';
import { type Logger, logger as rootLogger } from '../util/logger.js';
import { indexesToCreate } from './indexes.js';
import { type KeyRange, keyToJson, matchAllExpr, rangeExpr } from './keys.js';
import { type CollectionPlan, type Plan, planMigration, planProblems } from './planner.js';
import type { Page } from './range-reader.js';
import { repairSurplus } from './repair.js';
import { retryingReads, sleep } from './retry.js';
import {
  type CopyProgress,
  DEFAULT_MOVER_OPTIONS,
  estimatedPageRows,
  PassthroughMover,
  type RowMover,
} from './row-mover.js';
import { type CollectionModel, diffModels, modelFrom, primaryField } from './schema.js';
import { boundsOf, rangesOf, shardCount, splitBalanced } from './shards.js';
import { type StateStore, targetKey } from './state.js';
import { compareAll, compareKeys, countBoth, foldedOnSource, KeySampler, sampleKeys } from './verify.js';

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
    if (err.kind === 'auth') return 'AuthenticationFailed';
    if (err.kind === 'permission' && err.grpcCode !== undefined) return 'PermissionDenied';
    if (err.kind === 'connect' || err.kind === 'tls' || err.kind === 'unavailable') return 'Unreachable';
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

/** A stage's work on one collection of the plan (the same skeleton runs every stage). */
interface CollectionWork {
  cp: CollectionPlan;
  cs: CollectionStatus;
  /** Position of the collection in the spec (and in a shard plan). */
  at: number;
  clients: Clients;
  input: MigrationInput;
  opts: EngineOptions;
  log: Logger;
  changed: () => void;
}

interface StageDefinition {
  /** Recorded as the status' reason and message when every collection went through. */
  reason: string;
  doneMessage: (collections: number) => string;
  /** The Running condition's reason while collections are worked on. */
  runningReason: string;
  /**
   * count(*) of each collection on the source, asked for every collection right after the plan and
   * before the first row, so that progress has its whole total from the start.
   */
  sourceCount: (cp: CollectionPlan, at: number, clients: Clients) => Promise<number> | number;
  work: (w: CollectionWork) => Promise<void>;
}

/**
 * The skeleton of every stage: open clients, plan (and refuse with every problem before writing),
 * then each collection in turn — one failing does not stop the others — and the verdict.
 */
async function runStage(
  input: MigrationInput,
  opts: EngineOptions,
  stage: StageDefinition,
): Promise<MigrationStatus> {
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
    for (const [i, cp] of thePlan.collections.entries())
      status.collections![i]!.sourceEntities = await stage.sourceCount(cp, i, clients);
    summarize(status);
    applyPhaseConditions(status, 'Running', stage.runningReason, 'copying collections', gen);
    emit();

    for (const [i, cp] of thePlan.collections.entries()) {
      const cs = status.collections![i]!;
      const clog = log.child({ collection: cp.sourceName, target: cp.targetName });
      try {
        await stage.work({
          cp,
          cs,
          at: i,
          clients,
          input,
          opts,
          log: clog,
          changed: () => {
            summarize(status);
            // The top-level phase says Verifying while a collection is being verified.
            const phase = cs.phase === 'Verifying' ? 'Verifying' : 'Running';
            if (status.phase !== phase) {
              applyPhaseConditions(
                status,
                phase,
                phase === 'Verifying' ? 'Verifying' : stage.runningReason,
                `${phase.toLowerCase()} ${cs.name}`,
                gen,
              );
            }
            emit();
          },
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
      stage.reason,
      stage.doneMessage(status.collections!.length),
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

/** The whole migration in one process (the CLI, and the operator with parallelism 1). */
export async function runMigration(input: MigrationInput, opts: EngineOptions): Promise<MigrationStatus> {
  return runStage(input, opts, {
    runningReason: 'Copying',
    reason: 'Verified',
    doneMessage: (n) => `${n} collections copied and verified`,
    sourceCount: (cp, _at, { source }) => source.count(cp.sourceName),
    work: async (w) => {
      const fresh = await prepareCollection(w);
      if (!fresh && (await alreadyComplete(w))) {
        // A finished migration run again changes nothing: verified as configured, not copied.
        await finalizeCollection(w, { shape: false });
        w.cs.message = `already complete, nothing copied; ${w.cs.message}`;
        w.changed();
        return;
      }
      // A fresh target is indexed and loaded while it fills, not after: loading a filled target
      // replays the whole copy from the target's log (most of the time between the copy and a
      // usable target, measured on 2.3.5), loading an empty one takes a few seconds.
      // Best effort: the copy's calls have a retry policy, these have not, so a failure here (a
      // target cut off for a moment) leaves the shape to finalizeCollection, after the copy, as
      // before. A failed copy does not wait for it: closing the clients ends it.
      const shaping = fresh
        ? ensureTargetShape(w.cp, w.cp.model!, w.clients.target, w.log).catch((err: unknown) => {
            w.log.warn(
              { err: errorText(err) },
              'indexing and loading the target while it fills failed: done after the copy',
            );
          })
        : undefined;
      const copy = await copyCollection(w, {
        fresh,
        workers: w.opts.workers ?? w.input.migration.spec.parallelism,
      });
      await shaping;
      await finalizeCollection(w, { shape: fresh, copy });
    },
  });
}

/**
 * What the plan stage of a sharded run found, computed once: every shard works from these
 * boundaries (Milvus 2.3 has no snapshot reads, so boundaries recomputed elsewhere could differ).
 */
export interface ShardPlan {
  /** Number of shards: the most key ranges of any collection. */
  shards: number;
  collections: ShardPlanCollection[];
}

export interface ShardPlanCollection {
  name: string;
  targetName: string;
  /** The plan stage created this target (empty, not indexed): a first copy may skip look-ups. */
  fresh: boolean;
  sourceEntities: number;
  /** n-1 boundaries (keyToJson) of the collection's n key ranges; [] = one range. */
  bounds: string[];
}

export interface PlanStageOptions extends EngineOptions {
  /** Shards wanted per collection (small collections get fewer). */
  shards: number;
}

/**
 * Stage 1 of a sharded run: plan, create the target collections (schema and partitions, as a fresh
 * single-process run does), and split each collection into key ranges once.
 */
export async function runPlanStage(
  input: MigrationInput,
  opts: PlanStageOptions,
): Promise<{ status: MigrationStatus; plan?: ShardPlan }> {
  const collections: ShardPlanCollection[] = [];
  const readTs = hybridTimestamp(Date.now());
  const status = await runStage(input, opts, {
    runningReason: 'Planning',
    reason: 'Planned',
    doneMessage: (n) => `${n} collections planned: targets created, key ranges computed`,
    sourceCount: (cp, _at, { source }) => source.count(cp.sourceName),
    work: async (w) => {
      const fresh = await prepareCollection(w);
      const { cp, clients, log } = w;
      const model = cp.model!;
      const pk = primaryField(model.schema);
      const count = (r: KeyRange) =>
        clients.source.count(cp.sourceName, rangeExpr(pk.name, r) || matchAllExpr(pk), [], readTs);
      const total = await count({});
      // Each shard pod copies with one worker, so a page is the mover's whole page budget.
      const shards = shardCount(
        total,
        opts.shards,
        estimatedPageRows(model, DEFAULT_MOVER_OPTIONS.pageBytes),
      );
      const t0 = Date.now();
      const ranges = shards > 1 ? await splitBalanced({ count, pkType: pk.data_type, total, shards }) : [{}];
      collections[w.at] = {
        name: cp.sourceName,
        targetName: cp.targetName,
        fresh,
        sourceEntities: total,
        bounds: boundsOf(ranges),
      };
      log.info(
        { shards: ranges.length, bounds: boundsOf(ranges), ms: Date.now() - t0 },
        'collection split into shards',
      );
      w.cs.sourceEntities = total;
      w.cs.phase = 'Pending';
      w.cs.message = `planned: ${ranges.length} key range${ranges.length === 1 ? '' : 's'}`;
      w.changed();
    },
  });
  if (status.phase !== 'Succeeded') return { status };
  return {
    status,
    plan: { shards: Math.max(1, ...collections.map((c) => c.bounds.length + 1)), collections },
  };
}

export interface CopyStageOptions extends EngineOptions {
  plan: ShardPlan;
  /** Which shard: range `index` of every collection. */
  index: number;
  /** Not the first copy attempt of this plan: targets may hold rows of this shard already. */
  resume: boolean;
}

function planned(plan: ShardPlan, w: CollectionWork): ShardPlanCollection {
  const pc = plan.collections[w.at];
  if (!pc || pc.name !== w.cp.sourceName || pc.targetName !== w.cp.targetName)
    throw new UserError(
      `the shard plan does not match spec.collections at position ${w.at} (${w.cp.sourceName}): the plan belongs to another spec; run the migration again`,
      'InvalidInput',
    );
  return pc;
}

/**
 * Stage 2 of a sharded run, one shard: key range `index` of every collection (in every partition),
 * with one worker. Fills a fresh target without look-ups on the first attempt; any later attempt
 * completes the target's shape first and writes only the keys missing there.
 */
export async function runCopyStage(input: MigrationInput, opts: CopyStageOptions): Promise<MigrationStatus> {
  return runStage(input, opts, {
    runningReason: 'Copying',
    reason: 'Copied',
    doneMessage: (n) => `shard ${opts.index}: key range ${opts.index} of ${n} collections copied`,
    sourceCount: (_cp, at) => opts.plan.collections[at]?.sourceEntities ?? 0,
    work: async (w) => {
      const pc = planned(opts.plan, w);
      const ranges = rangesOf(pc.bounds);
      w.cs.sourceEntities = pc.sourceEntities;
      const range = ranges[opts.index];
      if (!range) {
        w.cs.phase = 'Succeeded';
        w.cs.message = `no key range for shard ${opts.index} (${ranges.length} range${ranges.length === 1 ? '' : 's'})`;
        w.changed();
        return;
      }
      const fresh = pc.fresh && !opts.resume;
      // Look-ups need the target indexed and loaded; shards of one attempt may do this together.
      if (!fresh) await ensureTargetShape(w.cp, w.cp.model!, w.clients.target, w.log);
      if (!fresh && (await alreadyComplete(w))) {
        w.cs.phase = 'Succeeded';
        w.cs.message = `already complete, nothing copied for key range ${opts.index + 1} of ${ranges.length}`;
        w.changed();
        return;
      }
      await copyCollection(w, { fresh, workers: 1, range });
      w.cs.phase = 'Succeeded';
      w.cs.message = `key range ${opts.index + 1} of ${ranges.length} copied`;
      w.changed();
    },
  });
}

export interface FinalizeStageOptions extends EngineOptions {
  plan: ShardPlan;
}

/** Stage 3 of a sharded run: the target's shape (indexes, load, aliases), then verification. */
export async function runFinalizeStage(
  input: MigrationInput,
  opts: FinalizeStageOptions,
): Promise<MigrationStatus> {
  return runStage(input, opts, {
    runningReason: 'Verifying',
    reason: 'Verified',
    doneMessage: (n) => `${n} collections copied and verified`,
    sourceCount: (_cp, at) => opts.plan.collections[at]?.sourceEntities ?? 0,
    work: async (w) => {
      const pc = planned(opts.plan, w);
      w.cs.sourceEntities = pc.sourceEntities;
      await finalizeCollection(w, { shape: true, ranges: rangesOf(pc.bounds) });
    },
  });
}

/**
 * Creates the target collection unless it is this migration's from an earlier run, and makes its
 * partitions (a fresh one) or completes its whole shape (a resumed one). Returns whether it is fresh.
 */
async function prepareCollection({
  cp,
  cs,
  clients,
  input,
  opts,
  log,
  changed,
}: CollectionWork): Promise<boolean> {
  const { source, target } = clients;
  const spec = input.migration.spec;
  const key = targetKeyOf(input, cp);
  cs.phase = 'Creating';
  cs.sourceEntities ??= await source.count(cp.sourceName);
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
  // A collection created by this run gets its partitions now; a single-process run indexes and
  // loads it while it fills (runMigration), the sharded stages after every shard filled it.
  // A resumed one is completed first, because finding what is missing needs count(*) and queries.
  const fresh = !cp.resume;
  if (fresh) await ensurePartitions(cp, target);
  else await ensureTargetShape(cp, cp.model!, target, log);
  return fresh;
}

/**
 * Whether a resumed target already holds the whole collection, so a re-run copies nothing: the
 * counts on both sides equal those of this migration's last successful verification, or, for keys
 * the target regenerated (which no look-up can match), the target holds exactly count(*) of the
 * source: every row copied once, which is all the first run's verification could check either.
 */
async function alreadyComplete({ cp, cs, clients, input, opts, log }: CollectionWork): Promise<boolean> {
  const targetEntities = await clients.target.count(cp.targetName);
  const sourceEntities = cs.sourceEntities ?? (await clients.source.count(cp.sourceName));
  const v = (await opts.state.load()).targets[targetKeyOf(input, cp)]?.verified;
  const complete =
    (v !== undefined && v.sourceEntities === sourceEntities && v.targetEntities === targetEntities) ||
    (regeneratesKeys(cp.model!) && targetEntities === sourceEntities);
  if (complete) log.info({ sourceEntities, targetEntities }, 'target already complete: nothing to copy');
  return complete;
}

/** Records (or, with `undefined`, forgets) a collection's last successful verification. */
async function recordVerified(
  { cp, input, opts }: CollectionWork,
  counts: { sourceEntities: number; targetEntities: number } | undefined,
): Promise<void> {
  const state = await opts.state.load();
  const record = state.targets[targetKeyOf(input, cp)];
  if (!record || (!counts && !record.verified)) return;
  if (counts) record.verified = { ...counts, at: now() };
  else delete record.verified;
  await opts.state.save(state);
}

interface CopyOutcome {
  result: CopyProgress;
  /** Rows on the target after the copy: those found there when it started plus those it wrote. */
  onTarget: number;
  sampler: KeySampler;
  folded: Map<string, number>;
}

function regeneratesKeys(model: CollectionModel): boolean {
  return primaryField(model.schema).autoID && !acceptsExplicitKeys(model);
}

function regeneratedWarning(model: CollectionModel): string {
  return `primary key ${primaryField(model.schema).name} is autoID and the target does not accept given keys: keys were regenerated by the target`;
}

/** Copies the collection (or one key range of it) into a prepared target. */
async function copyCollection(
  { cp, cs, clients, opts, log, changed }: CollectionWork,
  how: { fresh: boolean; workers: number; range?: KeyRange },
): Promise<CopyOutcome> {
  const { source, target } = clients;
  const model = cp.model!;
  const warnings: string[] = [...cp.filled];
  cs.phase = 'Copying';
  const before = how.fresh ? 0 : await target.count(cp.targetName);
  const resume = before > 0;
  const regenerateKeys = regeneratesKeys(model);
  if (regenerateKeys) {
    warnings.push(regeneratedWarning(model));
    if (resume) {
      // Complete targets never get here (alreadyComplete): this one holds a part, or more rows than
      // the source, and rows with keys the target made up cannot be matched to source rows.
      const source = cs.sourceEntities ?? 0;
      throw new UserError(
        `target collection "${cp.targetName}" holds ${before} rows for the source's ${source}, with keys the target generated (autoID), so the rows ${before < source ? 'still missing' : 'written twice'} cannot be told apart from the others: this copy is incomplete; drop that target collection and run again to copy it whole`,
        'CannotResume',
      );
    }
  }
  cs.warnings = warnings.length ? warnings : undefined;
  // What a resumed target holds counts as done from the first report on.
  if (!how.range) cs.copiedEntities = before;
  changed();
  const sampler = new KeySampler(1000);
  const folded = new Map<string, number>();
  const mover = opts.mover ?? new PassthroughMover({ workers: how.workers });
  log.info(
    {
      resume,
      workers: how.workers,
      ...(how.range ? { lo: keyToJson(how.range.lo), hi: keyToJson(how.range.hi) } : {}),
    },
    'copy started',
  );
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
    // Look-ups of an ambiguous insert need the target indexed and loaded: a fresh target of a
    // single-process run is on its way there already, a shard's is not.
    prepareLookups: () => ensureTargetShape(cp, model, target, log),
    log,
    ...(how.range ? { range: how.range } : {}),
    onProgress: (p) => {
      // A whole collection counts what is on the target (a resumed copy starts from the rows already
      // there, never from 0); a key range of a sharded run counts the rows of its range seen so far.
      cs.copiedEntities = how.range ? p.copied : before + p.copied - p.alreadyThere;
      cs.foldedEntities = p.folded || undefined;
      changed();
    },
    onPage: (page: Page<unknown>, partition) => {
      sampler.add(page.keys);
      if (page.folded) folded.set(partition ?? '', (folded.get(partition ?? '') ?? 0) + page.folded);
    },
  });
  const onTarget = before + result.copied - result.alreadyThere;
  cs.copiedEntities = how.range ? result.copied : onTarget;
  cs.foldedEntities = result.folded || undefined;
  log.info(
    { copied: result.copied, alreadyThere: result.alreadyThere, folded: result.folded, onTarget },
    'copy done',
  );
  return { result, sampler, folded, onTarget };
}

/**
 * After the copy: the target's shape (when `shape`), what it did not keep, counts on both sides and
 * the content per spec.verify. Without the copy's own figures (a sharded run, whose shards copied
 * elsewhere), folded source rows are counted again only when the counts differ, and the sample is
 * drawn from the start of every key range.
 */
async function finalizeCollection(
  w: CollectionWork,
  how: { shape: boolean; copy?: CopyOutcome; ranges?: KeyRange[] },
): Promise<void> {
  const { cp, cs, clients, input, log, changed } = w;
  const { source, target } = clients;
  // Verification reads wait out what the copy's reads wait out (a server gone for a while, rate
  // limits): a blip after a complete copy must not fail it.
  const reads = {
    source: retryingReads(source, `source ${cp.sourceName}`, log, w.opts.signal),
    target: retryingReads(target, `target ${cp.targetName}`, log, w.opts.signal),
  };
  const model = cp.model!;
  const spec = input.migration.spec;
  const regenerateKeys = regeneratesKeys(model);
  const warnings: string[] = [...cp.filled, ...(regenerateKeys ? [regeneratedWarning(model)] : [])];
  if (how.shape) await ensureTargetShape(cp, model, target, log);
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
  let fold = how.copy
    ? { folded: how.copy.result.folded, unreadable: how.copy.result.unreadable, byPartition: how.copy.folded }
    : { folded: 0, unreadable: 0, byPartition: new Map<string, number>() };
  // Counts with the folded rows known so far (fold changes below when the source is walked).
  const recount = () =>
    countBoth(reads.source, reads.target, model, cp.sourceName, cp.targetName, fold.byPartition);
  const tCount = Date.now();
  let counts = await recount();
  log.info(
    { sourceEntities: counts.sourceEntities, targetEntities: counts.targetEntities, ms: Date.now() - tCount },
    'counts verified',
  );
  if (!how.copy && (counts.targetEntities !== counts.sourceEntities || counts.partitionMismatches.length)) {
    // Rows counted on the source that no query returns (duplicate keys, 2^63-1) explain a difference.
    fold = await foldedOnSource(reads.source, model, cp.sourceName);
    if (fold.folded) counts = await recount();
  }
  const expected = counts.sourceEntities - fold.folded;
  if (!regenerateKeys && counts.targetEntities > expected) {
    // More rows than the source accounts for: keys stored twice or keys the source lacks.
    const owned = Boolean((await w.opts.state.load()).targets[targetKeyOf(input, cp)]);
    const r = await repairSurplus({
      ...clients,
      model,
      sourceName: cp.sourceName,
      targetName: cp.targetName,
      readFields: cp.readFields,
      owned,
      log,
    });
    if (r.repaired) {
      cs.repairedEntities = (cs.repairedEntities ?? 0) + r.repaired;
      counts = await recount();
    }
  }
  cs.sourceEntities = counts.sourceEntities;
  cs.targetEntities = counts.targetEntities;
  cs.copiedEntities = how.copy ? how.copy.onTarget : counts.targetEntities;
  cs.foldedEntities = fold.folded || undefined;
  if (fold.folded) {
    const dup = fold.folded - fold.unreadable;
    if (dup)
      warnings.push(
        `${dup} source rows share a primary key with another row: Milvus returns one row per key, so the target holds ${dup} fewer rows than count(*) on the source`,
      );
    if (fold.unreadable)
      warnings.push(
        `${fold.unreadable} source row(s) with key 9223372036854775807 (2^63-1) are counted by Milvus 2.3 but returned by no query, so no query-based copy can move them`,
      );
  }
  cs.warnings = warnings.length ? warnings : undefined;
  const rerun =
    counts.targetEntities < expected
      ? 'run the migration again: it writes only the keys missing on the target'
      : regenerateKeys
        ? `the target regenerated the keys, so surplus rows cannot be told apart by key: stop any other writer, drop the target collection "${cp.targetName}" and run again`
        : 'stop any other writer to the target and run the migration again: it finds rows stored twice or missing on the source key by key and repairs them';
  if (counts.targetEntities !== expected || counts.partitionMismatches.length) {
    await recordVerified(w, undefined);
    throw new Error(
      `count mismatch: source count(*) ${counts.sourceEntities}${fold.folded ? ` (${fold.folded} folded)` : ''}, expected ${expected} on the target, found ${counts.targetEntities}` +
        `${counts.partitionMismatches.length ? `; ${counts.partitionMismatches.join('; ')}` : ''}: ${rerun}`,
    );
  }
  const mode = spec.verify;
  if (mode !== 'count' && !regenerateKeys) {
    const keys = how.copy
      ? how.copy.sampler.sample()
      : await sampleKeys(reads.source, model, cp.sourceName, how.ranges ?? [{}]);
    const r =
      mode === 'full'
        ? await compareAll(reads.source, reads.target, model, cp.sourceName, cp.targetName, cp.readFields)
        : await compareKeys(
            reads.source,
            reads.target,
            model,
            cp.sourceName,
            cp.targetName,
            cp.readFields,
            keys,
          );
    if (r.differences.length) {
      await recordVerified(w, undefined);
      throw new Error(
        `content mismatch after comparing ${r.compared} rows: ${r.differences.join('; ')}: a re-run does not rewrite rows that are already on the target; if the source changed during the copy (Milvus 2.3 has no snapshot reads), keep it quiet, drop the target collection "${cp.targetName}" and run again`,
      );
    }
    log.info({ mode, compared: r.compared }, 'content verified');
    cs.message = `verified: counts match, ${r.compared} rows compared field by field (${mode})`;
  } else {
    cs.message = regenerateKeys
      ? 'verified: counts match (keys were regenerated, rows cannot be matched by key)'
      : 'verified: counts match';
  }
  if (cs.repairedEntities)
    cs.message += `; ${cs.repairedEntities} keys stored twice or missing on the source were repaired`;
  await recordVerified(w, { sourceEntities: counts.sourceEntities, targetEntities: counts.targetEntities });
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
  const t0 = Date.now();
  await ensurePartitions(cp, target);
  for (const idx of indexesToCreate(model.indexes, await target.describeIndexes(name))) {
    try {
      await target.createIndex(name, idx.field_name, idx.index_name, idx.params);
    } catch (err) {
      // Shard pods of one attempt complete the shape together: another one may have been first.
      if (indexesToCreate([idx], await target.describeIndexes(name)).length) throw err;
    }
  }
  const tLoad = Date.now();
  if ((await target.getLoadState(name)) !== LoadState.LoadStateLoaded) {
    await target.loadCollection(name);
    await waitLoaded(target, name);
  }
  const tAliases = Date.now();
  for (const alias of model.aliases) {
    try {
      await target.createAlias(name, alias);
    } catch (err) {
      // Already ours from an earlier run is fine; anything else is reported.
      const d = await target.describeCollection(alias).catch(() => undefined);
      if (!d || d.schema.name !== name) throw err;
    }
  }
  log.info(
    { indexMs: tLoad - t0, loadMs: tAliases - tLoad, aliasMs: Date.now() - tAliases },
    'target shape ensured',
  );
}

async function ensurePartitions(cp: CollectionPlan, target: MilvusClient): Promise<void> {
  const have = new Set(await target.showPartitions(cp.targetName));
  for (const p of cp.partitionsToCreate) {
    if (have.has(p)) continue;
    try {
      await target.createPartition(cp.targetName, p);
    } catch (err) {
      if (!(await target.showPartitions(cp.targetName)).includes(p)) throw err;
    }
  }
}

async function waitLoaded(target: MilvusClient, name: string): Promise<void> {
  const deadline = Date.now() + 10 * 60_000;
  while (Date.now() < deadline) {
    if ((await target.getLoadState(name)) === LoadState.LoadStateLoaded) return;
    await sleep(200);
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

function targetKeyOf(input: MigrationInput, cp: CollectionPlan): string {
  const spec = input.migration.spec;
  return targetKey(spec.target.endpoint, spec.target.database, cp.targetName);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

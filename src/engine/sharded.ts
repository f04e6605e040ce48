/**
 * A sharded run (the operator's shard pods) as three stages in separate processes: plan (targets
 * created, key ranges computed once), copy (one key range of every collection per shard),
 * finalize (target shape, verification).
 */
import { hybridTimestamp } from '../adapters/milvus/types.js';
import type { MigrationInput } from '../api/input.js';
import type { MigrationStatus, ShardPlan } from '../api/migration.js';
import { UserError } from '../util/errors.js';
import { alreadyComplete, copyCollection, prepareCollection } from './collection.js';
import { finalizeCollection } from './finalize.js';
import { decodedFetch, RangeReader } from './range-reader.js';
import { DEFAULT_MOVER_OPTIONS, estimatedPageRows } from './row-mover.js';
import { primaryField } from './schema.js';
import { boundsOf, rangesOf, shardCount, splitScope } from './shards.js';
import { type CollectionWork, type EngineOptions, runStage } from './stage.js';
import { ensureTargetShape } from './target-shape.js';

/**
 * What the plan stage of a sharded run found, computed once: every shard works from these
 * boundaries (Milvus 2.3 has no snapshot reads, so boundaries recomputed elsewhere could differ).
 * Its one definition is the status schema (status.shardPlan), which it travels in.
 */
export type { ShardPlan };
export type ShardPlanCollection = ShardPlan['collections'][number];

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
      // Keys only, at the run's one read timestamp: counts of key ranges and a key to start from.
      const reader = new RangeReader(
        clients.source,
        decodedFetch(clients.source, pk),
        cp.sourceName,
        pk,
        [pk.name],
        [],
        {
          pageBytes: DEFAULT_MOVER_OPTIONS.pageBytes,
          estimatedRowBytes: 16,
          guaranteeTs: readTs,
        },
      );
      const total = await reader.count({});
      // Each shard pod copies with one worker, so a page is the mover's whole page budget.
      const shards = shardCount(
        total,
        opts.shards,
        estimatedPageRows(model, DEFAULT_MOVER_OPTIONS.pageBytes),
      );
      const t0 = Date.now();
      const { ranges, probes } =
        shards > 1
          ? await splitScope(reader, { pkType: pk.data_type, total, shards })
          : { ranges: [{}], probes: 0 };
      collections[w.at] = {
        name: cp.sourceName,
        targetName: cp.targetName,
        fresh,
        sourceEntities: total,
        bounds: boundsOf(ranges),
      };
      log.info(
        { shards: ranges.length, bounds: boundsOf(ranges), probes, ms: Date.now() - t0 },
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
      // No fill-in pass here: a shortfall after shard pods that all reported their ranges copied
      // points at the plan or the controller, and a re-run (which resumes every shard) is the
      // better next step than one pod walking the whole collection.
      await finalizeCollection(w, { shape: true, ranges: rangesOf(pc.bounds) });
    },
  });
}

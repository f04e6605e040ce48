/** The target collection's shape beyond its schema: partitions, indexes, load state, aliases. */
import type { MilvusClient } from '../adapters/milvus/client.js';
import { LoadState } from '../adapters/milvus/proto.js';
import type { Logger } from '../util/logger.js';
import { indexesToCreate } from './indexes.js';
import type { CollectionPlan } from './planner.js';
import { sleep } from './retry.js';
import { type CollectionModel, modelFrom } from './schema.js';

/** Partitions, indexes, load and aliases: each created only if missing, so a resumed run completes a half-made target. */
export async function ensureTargetShape(
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
    await target.loadCollection(name, cp.load);
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

export async function ensurePartitions(cp: CollectionPlan, target: MilvusClient): Promise<void> {
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
export async function describeTarget(
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

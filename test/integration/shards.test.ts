/**
 * A sharded run's stages on real Milvus 2.3.5 servers, in this process: the plan creates the target
 * and computes key ranges once; each copy stage copies exactly its range of every partition; a
 * shard copied again in resume mode writes nothing twice; the finalize stage indexes, loads and
 * verifies, and the target then holds every source key exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import type { MigrationInput } from '../../src/api/input.js';
import { milvusMigration, type ShardPlan } from '../../src/api/migration.js';
import { primaryKeys } from '../../src/engine/columns.js';
import { rangeExpr } from '../../src/engine/keys.js';
import { MemoryStateStore } from '../../src/engine/state.js';
import { rng, vector } from '../support/fixtures.js';
import { type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import { admin, type CollectionDef, createCollection, indexAndLoad, insertRows } from '../support/rows.js';

// Small pages, so that a few thousand rows are worth three shards (read when the engine loads).
process.env.MILVUS_MIGRATE_PAGE_BYTES = '4000';
const engine = await import('../../src/engine/engine.js');

const ROWS = 3000;
const DEF: CollectionDef = {
  name: 'sharded',
  fields: [
    { name: 'id', type: 'Int64', primary: true },
    { name: 'tag', type: 'VarChar', maxLength: 64 },
    { name: 'vec', type: 'FloatVector', dim: 8 },
  ],
};
const PARTS = ['_default', 'p_two'];

let src: MilvusTestServer;
let dst: MilvusTestServer;
let srcAdmin: MilvusClient;
let dstAdmin: MilvusClient;
let sourceKeys: string[] = [];

const AUTO: CollectionDef = {
  name: 'sharded_auto',
  fields: [
    { name: 'id', type: 'Int64', primary: true, autoID: true },
    { name: 'vec', type: 'FloatVector', dim: 8 },
  ],
};

function input(targetName: string, source = DEF.name): MigrationInput {
  return {
    migration: milvusMigration.parse({
      apiVersion: 'migration.milvus.io/v1alpha1',
      kind: 'MilvusMigration',
      metadata: { name: 'shards', namespace: 'test' },
      spec: {
        source: { endpoint: src.endpoint },
        target: { endpoint: dst.endpoint },
        collections: [{ name: source, targetName }],
        verify: 'sample',
        parallelism: 3,
      },
    }),
    secrets: [],
  };
}

async function keysOf(c: MilvusClient, name: string, expr = 'id >= -9223372036854775807'): Promise<string[]> {
  const res = await c.query({ collection_name: name, expr, output_fields: ['id'], params: { limit: 16384 } });
  return primaryKeys(res.fields_data, 'id')
    .map(String)
    .sort((a, b) => Number(a) - Number(b));
}

/** Rows on a target that is neither indexed nor loaded (count(*) needs it loaded): flushed statistics. */
async function storedRows(name: string): Promise<number> {
  await dstAdmin.call('Flush', { db_name: 'default', collection_names: [name] });
  const r = await dstAdmin.call<{ stats: { key: string; value: string }[] }>('GetCollectionStatistics', {
    db_name: 'default',
    collection_name: name,
  });
  return Number(r.stats.find((kv) => kv.key === 'row_count')?.value ?? 0);
}

beforeAll(async () => {
  [src, dst] = await Promise.all([
    startMilvus({ kind: 'milvus-2.3.5', name: 'shards-src' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'shards-dst' }),
  ]);
  srcAdmin = admin(src.endpoint);
  dstAdmin = admin(dst.endpoint);
  await createCollection(srcAdmin, DEF);
  await srcAdmin.createPartition(DEF.name, 'p_two');
  const r = rng(5);
  const rows = Array.from({ length: ROWS }, (_v, i) => ({
    id: ((i * 7919) % 100_003) - 50_000,
    tag: `t${i}`,
    vec: vector(r, 8),
  }));
  // Both partitions hold keys all over the key space: every shard has rows in each.
  await insertRows(
    srcAdmin,
    DEF,
    rows.filter((_r, i) => i % 3 !== 0),
    PARTS[0],
  );
  await insertRows(
    srcAdmin,
    DEF,
    rows.filter((_r, i) => i % 3 === 0),
    PARTS[1],
  );
  await indexAndLoad(srcAdmin, DEF.name, 'vec');
  await createCollection(srcAdmin, AUTO);
  await insertRows(
    srcAdmin,
    AUTO,
    Array.from({ length: ROWS }, () => ({ vec: vector(r, 8) })),
  );
  await indexAndLoad(srcAdmin, AUTO.name, 'vec');
  sourceKeys = await keysOf(srcAdmin, DEF.name);
  expect(sourceKeys.length).toBe(ROWS);
}, 300_000);

afterAll(async () => {
  srcAdmin?.close();
  dstAdmin?.close();
  await Promise.all([src?.stop(), dst?.stop()]);
});

describe('a sharded run, stage by stage, on Milvus 2.3.5', () => {
  let plan: ShardPlan;
  const target = 'sharded_copy';
  const opts = () => ({ state: new MemoryStateStore() });
  const owned = () =>
    new MemoryStateStore({
      targets: {
        [`${dst.endpoint}/default/${target}`]: {
          state: 'created',
          endpoint: dst.endpoint,
          database: 'default',
          sourceName: DEF.name,
        },
      },
    });

  it('plan: creates the target (partitions, no index, not loaded) and three key ranges of about equal counts', async () => {
    const r = await engine.runPlanStage(input(target), { ...opts(), shards: 3 });
    expect(r.status.phase, JSON.stringify(r.status.errors)).toBe('Succeeded');
    plan = r.plan!;
    expect(plan.shards).toBe(3);
    const pc = plan.collections[0]!;
    expect(pc).toMatchObject({ name: DEF.name, targetName: target, fresh: true, sourceEntities: ROWS });
    expect(pc.bounds).toHaveLength(2);
    expect(pc.bounds.every((b) => b.startsWith('i:'))).toBe(true);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
    expect((await dstAdmin.showPartitions(target)).sort()).toEqual(PARTS);
    expect(await dstAdmin.describeIndexes(target).catch(() => [])).toEqual([]);
    // Ranges of about a third each.
    const ranges = [
      { hi: BigInt(pc.bounds[0]!.slice(2)) },
      { lo: BigInt(pc.bounds[0]!.slice(2)), hi: BigInt(pc.bounds[1]!.slice(2)) },
      { lo: BigInt(pc.bounds[1]!.slice(2)) },
    ];
    for (const rg of ranges) {
      const n = (await keysOf(srcAdmin, DEF.name, rangeExpr('id', rg))).length;
      expect(Math.abs(n - ROWS / 3)).toBeLessThan(ROWS * 0.06);
    }
  });

  it('copy, first attempt: shard 0 writes exactly its key range (both partitions), without look-ups', async () => {
    const s = await engine.runCopyStage(input(target), { state: owned(), plan, index: 0, resume: false });
    expect(s.phase, JSON.stringify(s.errors)).toBe('Succeeded');
    const lo = plan.collections[0]!.bounds[0]!;
    const inRange = await keysOf(srcAdmin, DEF.name, rangeExpr('id', { hi: BigInt(lo.slice(2)) }));
    expect(s.collections?.[0]?.copiedEntities).toBe(inRange.length);
    // Statistics follow a flush with a short delay.
    let stored = 0;
    for (let i = 0; i < 40 && stored !== inRange.length; i++) {
      stored = await storedRows(target);
      if (stored !== inRange.length) await new Promise((r) => setTimeout(r, 500));
    }
    expect(stored).toBe(inRange.length);
  });

  it('copy, later attempts: resume mode completes the target shape and writes only what is missing', async () => {
    // Shard 1 once, then again (as after a pod killed at its very end): nothing written twice.
    for (let i = 0; i < 2; i++) {
      const s = await engine.runCopyStage(input(target), { state: owned(), plan, index: 1, resume: true });
      expect(s.phase, JSON.stringify(s.errors)).toBe('Succeeded');
    }
    // Shard 0 again in resume mode: all there already.
    const again = await engine.runCopyStage(input(target), { state: owned(), plan, index: 0, resume: true });
    expect(again.phase).toBe('Succeeded');
    expect((await dstAdmin.describeIndexes(target)).map((i) => i.field_name)).toEqual(['vec']);
    const b = plan.collections[0]!.bounds.map((x) => BigInt(x.slice(2)));
    const want = await keysOf(srcAdmin, DEF.name, rangeExpr('id', { hi: b[1]! }));
    expect(await keysOf(dstAdmin, target)).toEqual(want);
    expect(await dstAdmin.count(target)).toBe(want.length);
  });

  it('a shard index past the last range of a collection copies nothing of it', async () => {
    const s = await engine.runCopyStage(input(target), { state: owned(), plan, index: 5, resume: true });
    expect(s.phase).toBe('Succeeded');
    expect(s.collections?.[0]?.copiedEntities).toBe(0);
    expect(s.collections?.[0]?.message).toMatch(/no key range for shard 5/);
  });

  it('finalize refuses an incomplete target (count mismatch), then verifies the complete one', async () => {
    const early = await engine.runFinalizeStage(input(target), { state: owned(), plan });
    expect(early.phase).toBe('Failed');
    expect(early.conditions?.find((c) => c.type === 'Stalled')?.reason).toBe('VerificationFailed');
    expect(early.collections?.[0]?.message).toMatch(/count mismatch/);
    const last = await engine.runCopyStage(input(target), { state: owned(), plan, index: 2, resume: true });
    expect(last.phase).toBe('Succeeded');
    const s = await engine.runFinalizeStage(input(target), { state: owned(), plan });
    expect(s.phase, JSON.stringify(s.errors)).toBe('Succeeded');
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'True',
      reason: 'Verified',
    });
    expect(s.collections?.[0]).toMatchObject({
      phase: 'Succeeded',
      sourceEntities: ROWS,
      targetEntities: ROWS,
      copiedEntities: ROWS,
    });
    expect(s.collections?.[0]?.message).toMatch(/rows compared field by field \(sample\)/);
    expect(await keysOf(dstAdmin, target)).toEqual(sourceKeys);
    for (const p of PARTS) {
      const n = await dstAdmin.count(target, 'id >= -9223372036854775807', [p]);
      expect(n).toBe(await srcAdmin.count(DEF.name, 'id >= -9223372036854775807', [p]));
    }
  });

  it('three shards at once fill a fresh target exactly once; two resumed at once add nothing', async () => {
    const t2 = 'sharded_parallel';
    const r = await engine.runPlanStage(input(t2), { state: new MemoryStateStore(), shards: 3 });
    expect(r.status.phase).toBe('Succeeded');
    const st = () =>
      new MemoryStateStore({
        targets: {
          [`${dst.endpoint}/default/${t2}`]: {
            state: 'created',
            endpoint: dst.endpoint,
            database: 'default',
            sourceName: DEF.name,
          },
        },
      });
    const shards = await Promise.all(
      [0, 1, 2].map((index) =>
        engine.runCopyStage(input(t2), { state: st(), plan: r.plan!, index, resume: false }),
      ),
    );
    expect(shards.map((s) => s.phase)).toEqual(['Succeeded', 'Succeeded', 'Succeeded']);
    expect(shards.reduce((n, s) => n + (s.collections?.[0]?.copiedEntities ?? 0), 0)).toBe(ROWS);
    // Two shards of a next attempt at once on the unindexed target: both complete its shape
    // (index, load) together without tripping over each other, and write nothing twice.
    const again = await Promise.all(
      [1, 2].map((index) =>
        engine.runCopyStage(input(t2), { state: st(), plan: r.plan!, index, resume: true }),
      ),
    );
    expect(
      again.map((s) => s.phase),
      JSON.stringify(again.map((s) => s.errors)),
    ).toEqual(['Succeeded', 'Succeeded']);
    expect(await dstAdmin.count(t2)).toBe(ROWS);
    const f = await engine.runFinalizeStage(input(t2), { state: st(), plan: r.plan! });
    expect(f.phase, JSON.stringify(f.errors)).toBe('Succeeded');
    expect(await keysOf(dstAdmin, t2)).toEqual(sourceKeys);
  });

  it('a finished sharded run of an autoID collection (keys regenerated) re-runs as a no-op', async () => {
    const t3 = 'sharded_auto_copy';
    const st = (created: boolean) =>
      new MemoryStateStore({
        targets: created
          ? {
              [`${dst.endpoint}/default/${t3}`]: {
                state: 'created',
                endpoint: dst.endpoint,
                database: 'default',
                sourceName: AUTO.name,
              },
            }
          : {},
      });
    for (const [attempt, created] of [
      [1, false],
      [2, true],
    ] as const) {
      // Each pass plans again, as a re-run's new plan Job does; the second finds the target complete.
      const r = await engine.runPlanStage(input(t3, AUTO.name), { state: st(created), shards: 3 });
      expect(r.status.phase, JSON.stringify(r.status.errors)).toBe('Succeeded');
      expect(r.plan!.collections[0]!.bounds.length).toBe(2);
      const shards = await Promise.all(
        [0, 1, 2].map((index) =>
          engine.runCopyStage(input(t3, AUTO.name), { state: st(true), plan: r.plan!, index, resume: false }),
        ),
      );
      expect(
        shards.map((s) => s.phase),
        JSON.stringify(shards.map((s) => s.errors)),
      ).toEqual(['Succeeded', 'Succeeded', 'Succeeded']);
      if (attempt === 2)
        for (const s of shards)
          expect(s.collections![0]!.message).toMatch(/^already complete, nothing copied/);
      const f = await engine.runFinalizeStage(input(t3, AUTO.name), { state: st(true), plan: r.plan! });
      expect(f.phase, JSON.stringify(f.errors)).toBe('Succeeded');
      expect(await dstAdmin.count(t3)).toBe(ROWS);
    }
  });
});

/**
 * Regressions of issue 12, each the smallest case of a failure seen from outside on real servers:
 * - an empty array read from Milvus 2.3.5 and written back as it came killed the 2.3.5 target;
 * - milvus-lite → 2.3.5: lite describes HNSW/IVF indexes without their build parameters and VarChar
 *   arrays without max_length, and the target refused them after the rows were copied;
 * - re-running a Succeeded migration with an autoID collection (keys regenerated) failed and
 *   advised dropping the complete target.
 * Rows are compared through the official Node SDK (test/support/compare.ts), not the engine's code.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import { ensureBuilt, migrationYaml, runCli, yamlFile } from '../support/cli.js';
import { sdkRows } from '../support/compare.js';
import { type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import { admin, type CollectionDef, createCollection, indexAndLoad, insertRows } from '../support/rows.js';

let src: MilvusTestServer;
let dst: MilvusTestServer;
let lite: MilvusTestServer;
let srcAdmin: MilvusClient;
let dstAdmin: MilvusClient;
let liteAdmin: MilvusClient;
const stateDir = mkdtempSync(path.join(tmpdir(), 'mm-regress-'));

const ARRAYS: CollectionDef = {
  name: 'empty_arrays',
  fields: [
    { name: 'pk', type: 'Int64', primary: true },
    { name: 'tags', type: 'Array', elementType: 'VarChar', maxCapacity: 8, maxLength: 16 },
    { name: 'nums', type: 'Array', elementType: 'Int64', maxCapacity: 16 },
    { name: 'small', type: 'Array', elementType: 'Int8', maxCapacity: 4 },
    { name: 'flags', type: 'Array', elementType: 'Bool', maxCapacity: 4 },
    { name: 'fl', type: 'Array', elementType: 'Float', maxCapacity: 4 },
    { name: 'db', type: 'Array', elementType: 'Double', maxCapacity: 4 },
    { name: 'vec', type: 'FloatVector', dim: 4 },
  ],
};

/** Every array empty in some rows, at full capacity in others. */
function arrayRows(n: number) {
  return Array.from({ length: n }, (_v, i) => ({
    pk: i,
    tags: i % 2 ? [] : Array.from({ length: 8 }, (_x, j) => `é${j}`.repeat(1 + (j % 3))),
    nums: i % 3 ? [] : Array.from({ length: 16 }, (_x, j) => String(BigInt(j) * 576460752303423488n - 1n)),
    small: i % 4 ? [] : [-128, 127, 0, -1],
    flags: i % 5 ? [] : [true, false],
    fl: i % 2 ? [-0, 1.5e-45] : [],
    db: i % 7 ? [] : [Number.MAX_VALUE, -Number.MAX_VALUE],
    vec: [i, -i, 0.5, 1],
  }));
}

const LITE_INDEXED = (name: string, index: Record<string, string>) => ({
  def: {
    name,
    dynamic: true,
    fields: [
      { name: 'id', type: 'Int64', primary: true },
      { name: 'tags', type: 'Array', elementType: 'VarChar', maxCapacity: 4, maxLength: 32 },
      { name: 'vec', type: 'FloatVector', dim: 8 },
    ],
  } satisfies CollectionDef,
  index,
});
// Build parameters flattened, as pymilvus sends them: lite then describes the index without them.
const LITE_CASES = [
  LITE_INDEXED('lite_hnsw', {
    index_type: 'HNSW',
    metric_type: 'L2',
    M: '8',
    efConstruction: '64',
  }),
  LITE_INDEXED('lite_ivf', { index_type: 'IVF_FLAT', metric_type: 'IP', nlist: '16' }),
];

const AUTO: CollectionDef = {
  name: 'acc_autoid',
  dynamic: true,
  fields: [
    { name: 'pk', type: 'Int64', primary: true, autoID: true },
    { name: 'txt', type: 'VarChar', maxLength: 64 },
    { name: 'vec', type: 'FloatVector', dim: 4 },
  ],
};

beforeAll(async () => {
  ensureBuilt();
  [src, dst, lite] = await Promise.all([
    startMilvus({ kind: 'milvus-2.3.5', name: 'regress-src' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'regress-dst' }),
    startMilvus({ kind: 'milvus-lite', name: 'regress-lite' }),
  ]);
  srcAdmin = admin(src.endpoint);
  dstAdmin = admin(dst.endpoint);
  liteAdmin = admin(lite.endpoint);
  await createCollection(srcAdmin, ARRAYS);
  await insertRows(srcAdmin, ARRAYS, arrayRows(300));
  await indexAndLoad(srcAdmin, ARRAYS.name, 'vec');
  await createCollection(srcAdmin, AUTO);
  await insertRows(
    srcAdmin,
    AUTO,
    Array.from({ length: 2000 }, (_v, i) => ({ txt: `row ${i}`, vec: [i, 1, 2, 3], n: i })),
  );
  await indexAndLoad(srcAdmin, AUTO.name, 'vec');
  for (const { def, index } of LITE_CASES) {
    await createCollection(liteAdmin, def);
    await insertRows(
      liteAdmin,
      def,
      Array.from({ length: 500 }, (_v, i) => ({
        id: i,
        tags: i % 2 ? [] : ['ü'.repeat(16), 'b'],
        vec: Array.from({ length: 8 }, (_x, j) => Math.sin(i + j)),
        extra: { i },
      })),
    );
    await indexAndLoad(liteAdmin, def.name, 'vec', index);
  }
}, 600_000);

afterAll(async () => {
  for (const c of [srcAdmin, dstAdmin, liteAdmin]) c?.close();
  await Promise.all([src?.stop(), dst?.stop(), lite?.stop()]);
});

async function run(name: string, source: string, collections: { name: string; targetName?: string }[]) {
  const file = yamlFile(migrationYaml({ name, source, target: dst.endpoint, collections }));
  const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
  return { res, status: JSON.parse(res.stdout || '{}') };
}

async function expectSameRows(source: string, collection: string, targetName: string, pk: string) {
  const [s, t] = await Promise.all([
    sdkRows({ endpoint: source }, collection, pk, { intKey: true }),
    sdkRows({ endpoint: dst.endpoint }, targetName, pk, { intKey: true }),
  ]);
  expect(t.size).toBe(s.size);
  for (const [k, row] of s) expect(t.get(k), `row ${k}`).toEqual(row);
}

describe('issue 12 regressions', () => {
  it('empty and full-capacity arrays of every element type: 2.3.5 → 2.3.5, target alive, rows equal', async () => {
    const { res, status } = await run('arrays', src.endpoint, [{ name: ARRAYS.name }]);
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    expect(status.collections[0].targetEntities).toBe(300);
    await expectSameRows(src.endpoint, ARRAYS.name, ARRAYS.name, 'pk');
    expect(await dstAdmin.count(ARRAYS.name, 'array_length(tags) == 0')).toBe(150);
  });

  it('milvus-lite → 2.3.5: HNSW/IVF without build parameters and VarChar arrays without max_length', async () => {
    const names = LITE_CASES.map((c) => c.def.name);
    const planFile = yamlFile(
      migrationYaml({
        name: 'from-lite',
        source: lite.endpoint,
        target: dst.endpoint,
        collections: names.map((name) => ({ name })),
      }),
    );
    const plan = await runCli(['plan', '-f', planFile, '--state-dir', stateDir]);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    // The plan states each value it fills in.
    expect(plan.stdout).toMatch(/does not report M, created with M=30/);
    expect(plan.stdout).toMatch(/does not report efConstruction, created with efConstruction=360/);
    expect(plan.stdout).toMatch(/does not report nlist, created with nlist=128/);
    expect(plan.stdout).toMatch(
      /field tags: the source does not report the max_length of its VarChar elements/,
    );

    const { res, status } = await run(
      'from-lite',
      lite.endpoint,
      names.map((name) => ({ name })),
    );
    expect(res.code, res.stdout.slice(-3000) + res.stderr.slice(-3000)).toBe(0);
    for (const c of status.collections) {
      expect(c.phase).toBe('Succeeded');
      expect((c.warnings ?? []).join('\n')).toMatch(/the source does not report/);
    }
    for (const name of names) {
      await expectSameRows(lite.endpoint, name, name, 'id');
      const idx = (await dstAdmin.describeIndexes(name))[0]!;
      expect(idx.params.map((p) => p.key)).toEqual(
        expect.arrayContaining(name === 'lite_hnsw' ? ['M', 'efConstruction'] : ['nlist']),
      );
      expect(await dstAdmin.getLoadState(name)).toBe(3);
    }
  });

  it('a finished migration with an autoID collection re-runs as a no-op, also without local records', async () => {
    const collections = [{ name: AUTO.name }, { name: ARRAYS.name, targetName: 'arrays_again' }];
    const first = await run('rerun', src.endpoint, collections);
    expect(first.res.code, first.res.stderr.slice(-3000)).toBe(0);
    const second = await run('rerun', src.endpoint, collections);
    expect(second.res.code, second.res.stdout.slice(-3000)).toBe(0);
    expect(second.status.phase).toBe('Succeeded');
    for (const c of second.status.collections) expect(c.message).toMatch(/^already complete, nothing copied/);
    expect(await dstAdmin.count(AUTO.name)).toBe(2000);

    // The operator's copy pods keep no local record: the counts alone must tell a complete
    // regenerated-key target from an incomplete one.
    const stateFile = path.join(stateDir, 'default_rerun.json');
    const state = JSON.parse(readFileSync(stateFile, 'utf8'));
    for (const t of Object.values(state.targets) as { verified?: unknown }[]) delete t.verified;
    writeFileSync(stateFile, JSON.stringify(state));
    const third = await run('rerun', src.endpoint, collections);
    expect(third.res.code, third.res.stdout.slice(-3000)).toBe(0);
    expect(third.status.collections[0].message).toMatch(/^already complete/);
    expect(await dstAdmin.count(AUTO.name)).toBe(2000);
    expect(await dstAdmin.count('arrays_again')).toBe(300);
  });
});

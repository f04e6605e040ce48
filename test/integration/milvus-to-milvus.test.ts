/**
 * Milvus 2.3.5 (authentication on) → Milvus 2.3.5, through the CLI as a user runs it: every schema
 * element and every row compared independently (rows read back with the official SDK), counts,
 * re-runs that change nothing, kill -9 and resume, and a source user that can only read.
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import type { MigrationStatus } from '../../src/api/migration.js';
import type { RowMover } from '../../src/engine/row-mover.js';
import { ensureBuilt, migrationYaml, runCli, secretYaml, startCli, yamlFile } from '../support/cli.js';
import { aliasTarget, schemaOf, sdkRows } from '../support/compare.js';
import {
  BIG_ROWS,
  EMPTY,
  EXTREME_KEYS,
  INT64_EXTREME,
  PARTITION_KEY,
  seedBigRows,
  seedEmpty,
  seedInt64Extreme,
  seedPartitionKey,
  seedVarcharTricky,
  VARCHAR_TRICKY,
} from '../support/fixtures.js';
import { createReadOnlyUser } from '../support/milvus-admin.js';
import { type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import { admin } from '../support/rows.js';

let src: MilvusTestServer;
let dst: MilvusTestServer;
let srcAdmin: MilvusClient;
let dstAdmin: MilvusClient;
const stateDir = mkdtempSync(path.join(tmpdir(), 'mm-state-'));
const srcSecret = () => secretYaml('src-milvus', { username: 'root', password: 'Milvus' });

beforeAll(async () => {
  ensureBuilt();
  [src, dst] = await Promise.all([
    startMilvus({ kind: 'milvus-2.3.5', auth: true, name: 'm2m-src' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'm2m-dst' }),
  ]);
  console.log(`source ${src.endpoint} ${src.version} (auth on); target ${dst.endpoint} ${dst.version}`);
  srcAdmin = admin(src.endpoint, { username: 'root', password: 'Milvus' });
  dstAdmin = admin(dst.endpoint);
  await Promise.all([
    seedVarcharTricky(srcAdmin),
    seedInt64Extreme(srcAdmin),
    seedPartitionKey(srcAdmin),
    seedEmpty(srcAdmin),
    seedBigRows(srcAdmin),
  ]);
}, 600_000);

afterAll(async () => {
  srcAdmin?.close();
  dstAdmin?.close();
  await Promise.all([src?.stop(), dst?.stop()]);
});

function yamlFor(
  name: string,
  collections: { name: string; targetName?: string; description?: string }[],
  verify = 'full',
): string {
  return yamlFile(
    `${srcSecret()}---\n${migrationYaml({ name, source: src.endpoint, target: dst.endpoint, sourceSecret: 'src-milvus', collections, verify })}`,
  );
}

async function expectSameRows(sourceName: string, targetName: string, pk: string, exclude: string[] = []) {
  const intKey = pk === 'id';
  const [s, t] = await Promise.all([
    sdkRows({ endpoint: src.endpoint, username: 'root', password: 'Milvus' }, sourceName, pk, {
      exclude,
      intKey,
    }),
    sdkRows({ endpoint: dst.endpoint }, targetName, pk, { exclude, intKey }),
  ]);
  expect(t.size).toBe(s.size);
  for (const [k, row] of s) expect(t.get(k), `row ${k}`).toEqual(row);
  return s.size;
}

describe('Milvus 2.3.5 → Milvus 2.3.5', () => {
  it('copies tricky collections exactly: schema, partitions, indexes, aliases, every row', async () => {
    const file = yamlFor('m2m', [
      { name: VARCHAR_TRICKY.name, targetName: 'varchar_copy', description: 'moved from on-prem' },
      { name: INT64_EXTREME.name },
      { name: PARTITION_KEY.name },
      { name: EMPTY.name },
      { name: BIG_ROWS.name },
    ]);
    const plan = await runCli(['plan', '-f', file, '--state-dir', stateDir]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('collection varchar_tricky -> varchar_copy');
    expect(plan.stdout).toContain('vec_hnsw on vec');
    expect(plan.stdout).toContain('aliases       varchar_alias');
    expect(await dstAdmin.showCollections()).toEqual([]); // plan writes nothing

    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    expect(res.stderr).not.toContain('Milvus"'); // no password in logs
    const status = JSON.parse(res.stdout);
    expect(status.phase).toBe('Succeeded');
    expect(status.conditions.find((c: { type: string }) => c.type === 'Ready').status).toBe('True');
    const byName = Object.fromEntries(status.collections.map((c: { name: string }) => [c.name, c]));

    // varchar_tricky: renamed, description overridden, everything else identical.
    const want = await schemaOf(srcAdmin, VARCHAR_TRICKY.name);
    const got = await schemaOf(dstAdmin, 'varchar_copy');
    expect(got).toEqual({ ...want, description: 'moved from on-prem' });
    expect(await aliasTarget(dstAdmin, 'varchar_alias')).toBe('varchar_copy');
    const n = await expectSameRows(VARCHAR_TRICKY.name, 'varchar_copy', 'pk');
    expect(byName.varchar_tricky.targetEntities).toBe(n);
    expect(byName.varchar_tricky.sourceEntities).toBe(n);
    for (const p of ['_default', 'p_one', 'p_empty']) {
      expect(await dstAdmin.count('varchar_copy', '', [p]), `partition ${p}`).toBe(
        await srcAdmin.count(VARCHAR_TRICKY.name, '', [p]),
      );
    }
    expect(await dstAdmin.count('varchar_copy', '', ['p_empty'])).toBe(0);

    // int64_extreme: duplicates folded and the unreadable 2^63-1 explained, not "mismatched".
    expect(await schemaOf(dstAdmin, INT64_EXTREME.name)).toEqual(
      await schemaOf(srcAdmin, INT64_EXTREME.name),
    );
    await expectSameRows(INT64_EXTREME.name, INT64_EXTREME.name, 'id');
    const ix = byName.int64_extreme;
    expect(ix.sourceEntities - ix.targetEntities).toBe(6);
    // ... and accounted: the 6 rows no query returns are not rows to copy, so Succeeded reads 100 %.
    expect(ix.foldedEntities).toBe(6);
    expect(status.progress).toBe('100%');
    const [copied, total] = status.rows.split('/').map(Number);
    expect(copied).toBe(total);
    expect(ix.warnings.join(' ')).toMatch(/5 source rows share a primary key/);
    expect(ix.warnings.join(' ')).toMatch(/9223372036854775807/);

    // partition key + autoID: same schema, target routes rows, keys regenerated and said so.
    expect(await schemaOf(dstAdmin, PARTITION_KEY.name)).toEqual(
      await schemaOf(srcAdmin, PARTITION_KEY.name),
    );
    expect(byName.partition_key_auto.targetEntities).toBe(1500);
    expect(byName.partition_key_auto.warnings.join(' ')).toMatch(/regenerated/);
    const tenants = await dstAdmin.count(PARTITION_KEY.name, 'tenant == "tenant-3"');
    expect(tenants).toBe(await srcAdmin.count(PARTITION_KEY.name, 'tenant == "tenant-3"'));

    expect(byName.empty_coll.targetEntities).toBe(0);
    expect(await schemaOf(dstAdmin, EMPTY.name)).toEqual(await schemaOf(srcAdmin, EMPTY.name));

    expect(byName.big_rows.targetEntities).toBe(1200);
    expect(await dstAdmin.count(BIG_ROWS.name, 'id >= 600')).toBe(600);
  }, 600_000);

  it('progress: every total known before the first row; a resumed copy starts from the rows already there and never falls; 100 % at Succeeded', async () => {
    const { loadInputFiles } = await import('../../src/api/input.js');
    const { runMigration } = await import('../../src/engine/engine.js');
    const { PassthroughMover } = await import('../../src/engine/row-mover.js');
    const { FileStateStore } = await import('../../src/engine/state.js');
    const file = yamlFor(
      'progress',
      [
        { name: INT64_EXTREME.name, targetName: 'int64_progress' },
        { name: BIG_ROWS.name, targetName: 'big_progress' },
      ],
      'count',
    );
    const input = loadInputFiles([file]);
    const state = new FileStateStore(stateDir, 'default', 'progress');
    const mover = () => new PassthroughMover({ pageBytes: 4000 });
    // First run: canceled after a few pages of the first collection.
    const abort = new AbortController();
    const first: MigrationStatus[] = [];
    const canceled = await runMigration(input, {
      state,
      mover: mover(),
      signal: abort.signal,
      onStatus: (st) => {
        first.push(st);
        if ((st.collections?.[0]?.copiedEntities ?? 0) >= 300) abort.abort(new Error('test'));
      },
    });
    expect(canceled.phase).toBe('Canceled');
    // The first status with a row copied already knew every collection's source count.
    const firstRow = first.find((st) => st.collections?.some((c) => c.copiedEntities > 0))!;
    expect(firstRow.collections!.map((c) => c.sourceEntities)).toEqual([
      await srcAdmin.count(INT64_EXTREME.name),
      await srcAdmin.count(BIG_ROWS.name),
    ]);
    // A fresh target is neither indexed nor loaded during the copy: its statistics after a flush
    // (which reach them a moment later).
    let on = 0;
    for (let i = 0; i < 40 && on === 0; i++) {
      await dstAdmin.call('Flush', { db_name: 'default', collection_names: ['int64_progress'] });
      const stats = await dstAdmin.call<{ stats: { key: string; value: string }[] }>(
        'GetCollectionStatistics',
        {
          db_name: 'default',
          collection_name: 'int64_progress',
        },
      );
      on = Number(stats.stats.find((kv) => kv.key === 'row_count')?.value ?? 0);
      if (on === 0) await new Promise((r) => setTimeout(r, 500));
    }
    expect(on).toBeGreaterThan(0);
    // Resumed: the collection's figure starts from what the target holds, and never falls.
    const second: MigrationStatus[] = [];
    const done = await runMigration(input, { state, mover: mover(), onStatus: (st) => second.push(st) });
    expect(done.phase, JSON.stringify(done.errors)).toBe('Succeeded');
    const seen = second
      .map((st) => st.collections![0]!)
      .filter((c) => c.phase === 'Copying' || c.phase === 'Verifying' || c.phase === 'Succeeded')
      .map((c) => c.copiedEntities);
    console.log(
      `[progress] canceled with ${on} rows on the target; resumed run reported ${seen.slice(0, 5).join(', ')} … ${seen.at(-1)}`,
    );
    expect(seen[0]).toBeGreaterThanOrEqual(on);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
    const pcts = second.map((st) => Number.parseInt(st.progress ?? '0', 10));
    for (let i = 1; i < pcts.length; i++) expect(pcts[i]).toBeGreaterThanOrEqual(pcts[i - 1]!);
    expect(done.progress).toBe('100%');
    expect(done.collections![0]).toMatchObject({ foldedEntities: 6 });
    await expectSameRows(INT64_EXTREME.name, 'int64_progress', 'id');
  }, 300_000);

  it('a target that loses rows it acknowledged: one fill-in pass in the same run, Succeeded, every row once', async () => {
    // milvus-lite restarted mid-copy lost a page it had acknowledged (CI): the copy wrote every page,
    // then count(*) came up short. Here the target loses rows the same way, deterministically: the
    // rows are deleted on it right after the copy, before verification.
    const { loadInputFiles } = await import('../../src/api/input.js');
    const { runMigration } = await import('../../src/engine/engine.js');
    const { PassthroughMover } = await import('../../src/engine/row-mover.js');
    const { FileStateStore } = await import('../../src/engine/state.js');
    const input = loadInputFiles([
      yamlFor('lossy', [{ name: INT64_EXTREME.name, targetName: 'int64_lossy' }]),
    ]);
    const inner = new PassthroughMover({ pageBytes: 4000 });
    // Keys at the extremes (not -2^63, which 2.3 cannot parse as a literal).
    const lost = EXTREME_KEYS.filter((k) => k !== -(2n ** 63n));
    let copies = 0;
    const mover: RowMover = {
      copy: async (job) => {
        const r = await inner.copy(job);
        if (copies++ === 0) await dstAdmin.deleteKeys('int64_lossy', `id in [${lost.join(',')}]`);
        return r;
      },
    };
    const done = await runMigration(input, {
      state: new FileStateStore(stateDir, 'default', 'lossy'),
      mover,
    });
    expect(done.phase, JSON.stringify(done.errors)).toBe('Succeeded');
    expect(copies).toBe(2);
    const c = done.collections![0]!;
    expect(c.warnings?.join('\n')).toMatch(
      new RegExp(`target held ${lost.length} rows fewer than the source .* wrote the ${lost.length} missing`),
    );
    expect(c.message).toMatch(
      /verified: counts match, \d+ rows compared .*; 8 missing rows written by a fill-in pass/,
    );
    await expectSameRows(INT64_EXTREME.name, 'int64_lossy', 'id');
  }, 300_000);

  it('re-running a Succeeded migration changes nothing', async () => {
    const file = yamlFor('m2m', [
      { name: VARCHAR_TRICKY.name, targetName: 'varchar_copy', description: 'moved from on-prem' },
      { name: INT64_EXTREME.name },
    ]);
    const before = await dstAdmin.count('varchar_copy');
    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
    expect(JSON.parse(res.stdout).phase).toBe('Succeeded');
    expect(await dstAdmin.count('varchar_copy')).toBe(before);
    expect(res.stderr).not.toMatch(/target collection created/);
  });

  it('refuses a target collection it did not create, and writes nothing', async () => {
    const res = await runCli([
      'run',
      '-f',
      yamlFor('other', [{ name: INT64_EXTREME.name }]),
      '--state-dir',
      stateDir,
      '--output',
      'json',
    ]);
    expect(res.code).toBe(1);
    const status = JSON.parse(res.stdout);
    expect(status.phase).toBe('Failed');
    expect(status.errors.map((e: { message: string }) => e.message).join(' ')).toMatch(
      /already exists .* not created by this migration/,
    );
  });

  it('finishes with every row exactly once after kill -9 mid-copy', async () => {
    // The source's alias already points to varchar_copy on the target (first test): free it, or the
    // plan rightly refuses to take it over.
    await dstAdmin.call('DropAlias', { db_name: 'default', alias: 'varchar_alias' });
    const file = yamlFor('killed', [{ name: VARCHAR_TRICKY.name, targetName: 'varchar_killed' }]);
    const env = { MILVUS_MIGRATE_PAGE_BYTES: '40000', LOG_LEVEL: 'debug' };
    for (let kill = 0; kill < 2; kill++) {
      // The second run copies in shards: resuming must not care how the first one split the work.
      const workers = kill === 0 ? [] : ['--workers', '3'];
      const child = startCli(['run', '-f', file, '--state-dir', stateDir, ...workers], env);
      const closed = new Promise((r) => child.on('close', r));
      let pages = 0;
      let log = '';
      child.stderr.on('data', (d: Buffer) => {
        log += d.toString();
        pages += (d.toString().match(/page copied/g) ?? []).length;
        if (pages >= 3 + kill * 5) child.kill('SIGKILL');
      });
      const code = await closed;
      // Killed (null exit code) after some pages, not ended on its own.
      expect(code, log.slice(-3000)).toBeNull();
    }
    const partial = await dstAdmin.count('varchar_killed');
    const total = await srcAdmin.count(VARCHAR_TRICKY.name);
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(total);
    const res = await runCli(
      ['run', '-f', file, '--state-dir', stateDir, '--output', 'json', '--workers', '2'],
      { env },
    );
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
    expect(res.stderr).toMatch(/collection split into shards/);
    expect(await dstAdmin.count('varchar_killed')).toBe(total);
    await expectSameRows(VARCHAR_TRICKY.name, 'varchar_killed', 'pk');
  }, 600_000);

  it('copies in parallel shards (extreme int64 keys, duplicates) with the same rows as one worker', async () => {
    const file = yamlFor('sharded', [{ name: INT64_EXTREME.name, targetName: 'int64_sharded' }]);
    const res = await runCli(
      ['run', '-f', file, '--state-dir', stateDir, '--output', 'json', '--workers', '4'],
      { env: { MILVUS_MIGRATE_PAGE_BYTES: '4000', LOG_LEVEL: 'debug' } },
    );
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
    const split = res.stderr.split('\n').find((l) => l.includes('collection split into shards'));
    expect(JSON.parse(split!).shards).toHaveLength(4);
    const status = JSON.parse(res.stdout);
    expect(status.phase).toBe('Succeeded');
    await expectSameRows(INT64_EXTREME.name, 'int64_sharded', 'id');
  }, 300_000);

  it('cancels on SIGINT with the status Canceled, and a re-run completes without duplicates', async () => {
    const file = yamlFor('canceled', [{ name: INT64_EXTREME.name, targetName: 'int64_canceled' }]);
    const child = startCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json'], {
      MILVUS_MIGRATE_PAGE_BYTES: '4000',
      LOG_LEVEL: 'debug',
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const closed = new Promise<number | null>((r) => child.on('close', r));
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      if (!sent && /page copied/.test(d.toString())) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(await closed).toBe(130);
    const status = JSON.parse(out);
    expect(status.phase).toBe('Canceled');
    expect(status.conditions.find((c: { type: string }) => c.type === 'Ready').status).toBe('False');
    expect(status.collections[0].copiedEntities).toBeGreaterThan(0);
    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
    await expectSameRows(INT64_EXTREME.name, 'int64_canceled', 'id');
  }, 300_000);

  it('needs nothing but read privileges on the source', async () => {
    const ro = await createReadOnlyUser(src, { user: 'reader', password: 'Reader-Pass-1' });
    const file = yamlFile(
      `${secretYaml('ro', { username: ro.username, password: ro.password })}---\n${migrationYaml({ name: 'ro', source: src.endpoint, target: dst.endpoint, sourceSecret: 'ro', collections: [{ name: INT64_EXTREME.name, targetName: 'int64_ro' }] })}`,
    );
    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
    expect(res.stderr + res.stdout).not.toContain('Reader-Pass-1');
    await expectSameRows(INT64_EXTREME.name, 'int64_ro', 'id');
    // The same user really cannot write: the privileges are read-only.
    const roClient = admin(src.endpoint, { username: ro.username, password: ro.password });
    await expect(roClient.dropCollection(INT64_EXTREME.name)).rejects.toThrow(/denied|privilege/i);
    roClient.close();
  });
});

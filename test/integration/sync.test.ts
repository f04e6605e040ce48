/**
 * `milvus-migrate sync` on a source that keeps changing, as a user runs it: rows inserted, deleted
 * and updated (through the changed field) on the source while the bulk copy runs and between
 * catch-up passes, a stop with Ctrl-C, more writes, then `sync --cutover`; the independent differ
 * must then find the target equal to the source. Milvus 2.3.5 → 2.3.5 and milvus-lite → milvus-lite.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import { inExpr } from '../../src/engine/keys.js';
import { ensureBuilt, migrationYaml, runCli, startCli, yamlFile } from '../support/cli.js';
import { diffCollection } from '../support/differ.js';
import { rng, vector } from '../support/fixtures.js';
import { type MilvusKind, type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import {
  admin,
  type CollectionDef,
  columns,
  createCollection,
  indexAndLoad,
  insertRows,
  type Row,
} from '../support/rows.js';

const ITEMS: CollectionDef = {
  name: 'sync_items',
  fields: [
    { name: 'id', type: 'Int64', primary: true },
    { name: 'vec', type: 'FloatVector', dim: 8 },
    { name: 'label', type: 'VarChar', maxLength: 64 },
    { name: 'tags', type: 'Array', elementType: 'Int64', maxCapacity: 8 },
    { name: 'updated_at', type: 'Int64' },
  ],
};

const AUTO: CollectionDef = {
  name: 'sync_auto',
  fields: [
    { name: 'id', type: 'Int64', primary: true, autoID: true },
    { name: 'vec', type: 'FloatVector', dim: 8 },
  ],
};

// Small pages with a pause between them: the bulk copy of 6000 rows takes several seconds, long
// enough to write to the source while it runs.
const ENV = { MILVUS_MIGRATE_PAGE_BYTES: String(16 * 1024), MILVUS_MIGRATE_PAGE_DELAY_MS: '80' };

/** The application: every write stamps updated_at with a value that only grows. */
class Writer {
  private stamp = BigInt(Date.now()) * 1000n;
  private next = 1_000_000;
  private readonly r = rng(17);
  constructor(private readonly c: MilvusClient) {}

  row(id: number, version: number): Row {
    this.stamp += 1n;
    return {
      id: BigInt(id),
      vec: vector(this.r, 8),
      label: `item ${id} v${version}`,
      tags: [BigInt(id), BigInt(version)],
      updated_at: this.stamp,
    };
  }

  async seed(n: number): Promise<void> {
    const rows = Array.from({ length: n }, (_v, i) => this.row(i, 0));
    await insertRows(
      this.c,
      ITEMS,
      rows.filter((_r, i) => i % 5 !== 0),
    );
    await insertRows(
      this.c,
      ITEMS,
      rows.filter((_r, i) => i % 5 === 0),
      'p1',
    );
  }

  /** New keys, removed keys, and rows updated in place (same key, new stamp). */
  async churn(version: number, existing: number[]): Promise<void> {
    const fresh = Array.from({ length: 40 }, () => this.row(this.next++, version));
    await insertRows(this.c, ITEMS, fresh.slice(0, 30));
    await insertRows(this.c, ITEMS, fresh.slice(30), 'p1');
    const gone = existing.slice(0, 25);
    await this.c.deleteKeys(ITEMS.name, inExpr('id', gone.map(BigInt)));
    // Updated rows stay in their partition: ids ≡ 0 (mod 5) live in p1.
    const updated = existing.slice(25, 60).map((id) => this.row(id, version));
    for (const p of [undefined, 'p1'] as const) {
      const rows = updated.filter((r) => (Number(r.id) % 5 === 0) === (p === 'p1'));
      if (!rows.length) continue;
      await this.c.upsert({
        collection_name: ITEMS.name,
        ...(p ? { partition_name: p } : {}),
        fields_data: columns(ITEMS, rows),
        num_rows: rows.length,
      });
    }
  }
}

/** Waits for the child's stderr to match, or fails with what it wrote. */
function waitFor(read: () => string, re: RegExp, ms: number): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (re.test(read())) return resolve();
      if (Date.now() - t0 > ms)
        return reject(new Error(`timed out waiting for ${re}:\n${read().slice(-3000)}`));
      setTimeout(tick, 200);
    };
    tick();
  });
}

/** `verify` is the cutover's verification: full compares every row, sample the final pass's spread of keys. */
function pairTest(kind: MilvusKind, verify: 'full' | 'sample') {
  let src: MilvusTestServer;
  let dst: MilvusTestServer;
  let srcAdmin: MilvusClient;
  const stateDir = mkdtempSync(path.join(tmpdir(), 'mm-sync-state-'));

  beforeAll(async () => {
    ensureBuilt();
    [src, dst] = await Promise.all([
      startMilvus({ kind, name: `sync-src-${kind}` }),
      startMilvus({ kind, name: `sync-dst-${kind}` }),
    ]);
    srcAdmin = admin(src.endpoint);
    await createCollection(srcAdmin, ITEMS);
    await srcAdmin.createPartition(ITEMS.name, 'p1');
    await createCollection(srcAdmin, AUTO);
    await insertRows(srcAdmin, AUTO, [{ vec: vector(rng(1), 8) }]);
    await indexAndLoad(srcAdmin, AUTO.name, 'vec');
  }, 600_000);

  afterAll(async () => {
    srcAdmin?.close();
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  const yaml = (collections: { name: string }[], sync: string) =>
    yamlFile(
      migrationYaml({
        name: `sync-${kind}`,
        source: src.endpoint,
        target: dst.endpoint,
        collections,
        verify,
        extraSpec: `  sync: ${sync}\n`,
      }),
    );

  it('refuses autoID collections whose keys the target regenerates, writing nothing', async () => {
    const res = await runCli([
      'sync',
      '-f',
      yaml([{ name: AUTO.name }], '{interval: 5s}'),
      '--state-dir',
      mkdtempSync(path.join(tmpdir(), 'mm-sync-auto-')),
    ]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/primary key id is autoID and the target generates new keys/);
    expect(await admin(dst.endpoint).showCollections()).not.toContain(AUTO.name);
  }, 120_000);

  it('"run" refuses a migration with spec.sync and names the sync command, writing nothing', async () => {
    const res = await runCli([
      'run',
      '-f',
      yaml([{ name: ITEMS.name }], '{interval: 5s}'),
      '--state-dir',
      mkdtempSync(path.join(tmpdir(), 'mm-sync-run-')),
    ]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/spec.sync is set: .*"milvus-migrate sync"/);
    expect(await admin(dst.endpoint).showCollections()).not.toContain(ITEMS.name);
  }, 120_000);

  it('inserts, deletes and updates during the copy and between passes, then cutover: target == source', async () => {
    const w = new Writer(srcAdmin);
    await w.seed(10000);
    await indexAndLoad(srcAdmin, ITEMS.name, 'vec');
    const file = yaml([{ name: ITEMS.name }], '{interval: 3s, changedField: updated_at}');

    const child = startCli(['sync', '-f', file, '--state-dir', stateDir, '--output', 'json'], ENV);
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));

    // During the bulk copy.
    await waitFor(() => stderr, /copy started/, 120_000);
    await w.churn(1, [
      100,
      101,
      102,
      103,
      104,
      105,
      106,
      107,
      108,
      109,
      110,
      111,
      112,
      113,
      114,
      115,
      116,
      117,
      118,
      119,
      120,
      121,
      122,
      123,
      124,
      ...range(5000, 5035),
    ]);
    expect(stderr, 'the writes must land while the copy runs').not.toMatch(/bulk copy done/);
    await waitFor(() => stderr, /pass 1 done/, 180_000);
    // Between passes: more of each, including rows written by the first churn.
    await w.churn(2, [...range(200, 225), 1_000_001, 1_000_002, ...range(5030, 5063)]);
    await waitFor(() => stderr, /pass 3 done/, 120_000);
    child.kill('SIGINT');
    expect(await exited, stderr.slice(-3000)).toBe(0);
    const stopped = JSON.parse(stdout);
    expect(stopped.phase).toBe('Syncing');
    const cs = stopped.collections[0];
    expect(cs.phase).toBe('Syncing');
    expect(cs.sync.passes).toBeGreaterThanOrEqual(3);
    expect(stopped.sync.passes).toBeGreaterThanOrEqual(3);
    // What the first passes did: the churns' inserts, deletes and updates.
    const passLines = stderr.match(/sync_items: \+\d+ -\d+ ~\d+/g) ?? [];
    console.log(`${kind}: passes ${passLines.join(' | ')}`);
    const sum = (i: number) =>
      passLines.reduce((n, l) => n + Number(l.match(/[+\-~](\d+)/g)![i]!.slice(1)), 0);
    expect(sum(1), 'deleted by the passes').toBeGreaterThanOrEqual(25);
    expect(sum(2), 'updated by the passes').toBeGreaterThanOrEqual(35);

    // After the stop, the application's last writes; then it stops and the cutover runs.
    await w.churn(3, [...range(300, 325), 1_000_041, ...range(400, 434)]);
    const cut = await runCli(['sync', '-f', file, '--state-dir', stateDir, '--cutover', '--output', 'json'], {
      env: ENV,
    });
    expect(cut.code, cut.stderr.slice(-3000)).toBe(0);
    const done = JSON.parse(cut.stdout);
    expect(done.phase).toBe('Succeeded');
    expect(done.conditions.find((c: { type: string }) => c.type === 'Ready').reason).toBe('CutOver');
    expect(done.sync.cutoverSeconds).toBeGreaterThan(0);
    console.log(
      `${kind}: cutover ${done.sync.cutoverSeconds} s (final pass ${done.sync.finalPassSeconds} s); last pass ${JSON.stringify(done.collections[0].sync)}`,
    );
    expect(done.collections[0].sync.added).toBeGreaterThanOrEqual(40);
    expect(done.collections[0].sync.deleted).toBeGreaterThanOrEqual(25);
    expect(done.collections[0].sync.updated).toBeGreaterThanOrEqual(35);
    expect(done.collections[0].message).toMatch(
      new RegExp(`^cut over: counts match, \\d+ rows compared field by field \\(${verify}\\)`),
    );
    if (verify === 'sample')
      expect(Number(done.collections[0].message.match(/(\d+) rows/)[1])).toBeGreaterThan(900);

    const d = await diffCollection({
      source: { endpoint: src.endpoint, kind },
      target: { endpoint: dst.endpoint, kind },
      sourceName: ITEMS.name,
      targetName: ITEMS.name,
      regeneratedKeys: false,
      warnings: done.collections[0].warnings ?? [],
    });
    expect(d.differences).toEqual([]);
    expect(d.targetRows).toBe(d.sourceRows);
    expect(d.sourceRows).toBe(10000 + 3 * 40 - 3 * 25);
  }, 900_000);
}

function range(a: number, b: number): number[] {
  return Array.from({ length: Math.max(0, b - a) }, (_v, i) => a + i);
}

describe('sync: Milvus 2.3.5 → Milvus 2.3.5', () => pairTest('milvus-2.3.5', 'full'));
describe('sync: milvus-lite → milvus-lite', () => pairTest('milvus-lite', 'sample'));

/**
 * Finding F6 of the generated corpus (seed 201, collection 1, Milvus 2.3.5 → 2.3.5): a source whose
 * rows share primary keys answers a multi-row query with its Array column shifted against the keys,
 * in about one read of five (the order segment results arrive in decides). The copy wrote such a
 * page as it came and its sample verification passed: one row in five of the collection held
 * another row's array on the target, silently.
 *
 * The smallest hand-made collections (duplicates, empty arrays, a partition key, flushed and
 * growing segments, 20 rows) did not reproduce it, so the generated collection itself is the case.
 * The reads are checked against single-key reads (a one-row reply cannot be misaligned) many times
 * over, so the test fails on the engine before the fix with a probability of about 99 %; the copy is
 * then compared with the independent differ.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import { hybridTimestamp } from '../../src/adapters/milvus/types.js';
import { decodeColumn } from '../../src/adapters/milvus/wire.js';
import { readsArrays } from '../../src/engine/duplicates.js';
import { inExpr, type Key } from '../../src/engine/keys.js';
import { RangeReader, rawFetch } from '../../src/engine/range-reader.js';
import { ensureCorpusVenv, generate, type Manifest } from '../corpus/corpus.js';
import { ensureBuilt, migrationYaml, runCli, yamlFile } from '../support/cli.js';
import { diffCollection } from '../support/differ.js';
import { type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import { admin } from '../support/rows.js';

let src: MilvusTestServer;
let dst: MilvusTestServer;
let srcAdmin: MilvusClient;
let m: Manifest;

beforeAll(async () => {
  ensureBuilt();
  await ensureCorpusVenv();
  [src, dst] = await Promise.all([
    startMilvus({ kind: 'milvus-2.3.5', name: 'dups-src' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'dups-dst' }),
  ]);
  srcAdmin = admin(src.endpoint);
  [m] = (await generate({
    server: src,
    sourceKind: 'milvus-2.3.5',
    targetKinds: ['milvus-2.3.5'],
    seed: 201,
    first: 1,
    collections: 1,
    rows: 300,
    prefix: 'm',
  })) as [Manifest];
}, 600_000);

afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
});

/** Each Array cell of a query reply, by key, as JSON. */
function arrayCells(
  fields: ReturnType<typeof decodeColumn>[],
  pk: string,
  array: string,
): Map<string, string> {
  const keyCol = fields.find((f) => f.field_name === pk)!.scalars!;
  const keys = (keyCol.string_data?.data ?? keyCol.long_data?.data ?? []).map(String);
  const cells = fields.find((f) => f.field_name === array)?.scalars?.array_data?.data ?? [];
  return new Map(keys.map((k, i) => [k, JSON.stringify(cells[i]?.long_data?.data ?? [])]));
}

describe('a source with duplicated keys and an Array field (F6)', () => {
  it('every page the copy reads holds each row with its own array, read after read', async () => {
    expect(m.rows.duplicates.length).toBeGreaterThan(0);
    const collection = m.name;
    const described = await srcAdmin.describeCollection(collection);
    const fields = described.schema.fields.filter((f) => f.name !== '$meta');
    const pk = fields.find((f) => f.is_primary_key)!;
    const array = fields.find((f) => f.name === 's1_arr_int64')!;
    const output = fields.map((f) => f.name);
    expect(readsArrays(fields, output)).toBe(true);

    // As the copy reads: at one timestamp, not Strong (which waits for a time tick per call).
    const guaranteeTs = hybridTimestamp(Date.now());
    // The truth: every key read alone.
    const keysReply = await srcAdmin.query({
      collection_name: collection,
      expr: `${pk.name} >= ""`,
      output_fields: [pk.name],
      params: { limit: 16384 },
    });
    const keys = keysReply.fields_data[0]!.scalars!.string_data!.data as Key[];
    const truth = new Map<string, string>();
    for (const k of keys) {
      const one = await srcAdmin.query({
        collection_name: collection,
        expr: inExpr(pk.name, [k]),
        output_fields: [pk.name, array.name],
        params: { limit: 1 },
        guaranteeTs,
      });
      for (const [key, cell] of arrayCells(one.fields_data, pk.name, array.name)) truth.set(key, cell);
    }
    expect(truth.size).toBe(m.rows.liveKeys);

    // The copy's read path, twenty times over.
    let misaligned = 0;
    for (let round = 0; round < 20; round++) {
      const reader = new RangeReader(srcAdmin, rawFetch(srcAdmin, pk), collection, pk, output, [], {
        pageBytes: 16 * 1024 * 1024,
        estimatedRowBytes: 4096,
        isolateDuplicates: readsArrays(fields, output),
        guaranteeTs,
      });
      const seen = new Set<string>();
      for await (const page of reader.pages()) {
        for (const [key, cell] of arrayCells(page.data.map(decodeColumn), pk.name, array.name)) {
          seen.add(key);
          if (truth.get(key) !== cell) misaligned++;
        }
      }
      expect(seen.size).toBe(truth.size);
    }
    expect(misaligned).toBe(0);
  }, 600_000);

  it('is copied 2.3.5 → 2.3.5 row for row (independent differ), with a full verification', async () => {
    const file = yamlFile(
      migrationYaml({
        name: 'dups',
        source: src.endpoint,
        target: dst.endpoint,
        verify: 'full',
        collections: [{ name: m.name }],
      }),
    );
    const stateDir = mkdtempSync(path.join(tmpdir(), 'mm-dups-'));
    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '-o', 'json']);
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    const status = JSON.parse(res.stdout);
    expect(status.collections[0].phase).toBe('Succeeded');
    const d = await diffCollection({
      source: { endpoint: src.endpoint, kind: 'milvus-2.3.5' },
      target: { endpoint: dst.endpoint, kind: 'milvus-2.3.5' },
      sourceName: m.name,
      targetName: m.name,
      regeneratedKeys: false,
      warnings: status.collections[0].warnings ?? [],
    });
    expect(d.differences).toEqual([]);
    expect(d.targetRows).toBe(m.rows.liveKeys);
  }, 600_000);
});

/**
 * milvus-lite, an independent server that does not sort query results and holds what Milvus 2.3
 * cannot (nullable, defaults, BM25, sparse, several vector fields): Milvus 2.3.5 → lite and
 * lite → lite, every schema element and every row compared.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import { ensureBuilt, migrationYaml, runCli, secretYaml, yamlFile } from '../support/cli.js';
import { aliasTarget, schemaOf, sdk, sdkRows } from '../support/compare.js';
import {
  INT64_EXTREME,
  LITE_RICH,
  seedInt64Extreme,
  seedLiteRich,
  seedVarcharTricky,
  VARCHAR_TRICKY,
} from '../support/fixtures.js';
import { type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import { admin } from '../support/rows.js';

let m235: MilvusTestServer;
let liteSrc: MilvusTestServer;
let liteDst: MilvusTestServer;
let m235Admin: MilvusClient;
let liteSrcAdmin: MilvusClient;
let liteDstAdmin: MilvusClient;
const stateDir = mkdtempSync(path.join(tmpdir(), 'mm-state-'));

beforeAll(async () => {
  ensureBuilt();
  [m235, liteSrc, liteDst] = await Promise.all([
    startMilvus({ kind: 'milvus-2.3.5', auth: true, name: 'lite-m235' }),
    startMilvus({ kind: 'milvus-lite', name: 'lite-src' }),
    startMilvus({ kind: 'milvus-lite', name: 'lite-dst' }),
  ]);
  console.log(
    `Milvus ${m235.endpoint} ${m235.version}; lite source ${liteSrc.endpoint} ${liteSrc.version}; lite target ${liteDst.endpoint} ${liteDst.version}`,
  );
  m235Admin = admin(m235.endpoint, { username: 'root', password: 'Milvus' });
  liteSrcAdmin = admin(liteSrc.endpoint);
  liteDstAdmin = admin(liteDst.endpoint);
  await Promise.all([
    seedVarcharTricky(m235Admin, 2000),
    seedInt64Extreme(m235Admin, 300),
    seedLiteRich(liteSrcAdmin),
  ]);
}, 600_000);

afterAll(async () => {
  for (const c of [m235Admin, liteSrcAdmin, liteDstAdmin]) c?.close();
  await Promise.all([m235?.stop(), liteSrc?.stop(), liteDst?.stop()]);
});

describe('milvus-lite', () => {
  it('Milvus 2.3.5 → lite: every row, and what lite did not keep is reported', async () => {
    const file = yamlFile(
      `${secretYaml('src', { username: 'root', password: 'Milvus' })}---\n${migrationYaml({ name: 'to-lite', source: m235.endpoint, target: liteDst.endpoint, sourceSecret: 'src', collections: [{ name: VARCHAR_TRICKY.name }] })}`,
    );
    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    const c = JSON.parse(res.stdout).collections[0];
    expect(c.phase).toBe('Succeeded');
    // lite silently drops these: the status must say so, never silently.
    const warnings = (c.warnings ?? []).join('\n');
    expect(warnings).toMatch(/description/);
    expect(warnings).toMatch(/shard count/);
    expect(warnings).toMatch(/index on vec is named/);
    console.log(`what milvus-lite did not keep (2.3.5 -> lite):\n  ${c.warnings.join('\n  ')}`);

    expect(warnings).toMatch(/field pk: description/);
    expect(warnings).toMatch(/field tags: type parameter max_length=32 was not kept/);
    const want = await schemaOf(m235Admin, VARCHAR_TRICKY.name);
    const got = await schemaOf(liteDstAdmin, VARCHAR_TRICKY.name);
    // Apart from what the warnings name (field descriptions, the element length of an array),
    // the fields are identical.
    type F = { description: string; name: string; type_params: { key: string }[] };
    const strip = (fs: unknown) =>
      (fs as F[]).map((f) => ({
        ...f,
        description: '',
        type_params: f.name === 'tags' ? f.type_params.filter((p) => p.key !== 'max_length') : f.type_params,
      }));
    expect(strip(got.fields)).toEqual(strip(want.fields));
    expect(got.partitions).toEqual(want.partitions);
    expect(got.enable_dynamic_field).toBe(true);
    expect(await aliasTarget(liteDstAdmin, 'varchar_alias')).toBe(VARCHAR_TRICKY.name);
    const [s, t] = await Promise.all([
      sdkRows({ endpoint: m235.endpoint, username: 'root', password: 'Milvus' }, VARCHAR_TRICKY.name, 'pk'),
      sdkRows({ endpoint: liteDst.endpoint }, VARCHAR_TRICKY.name, 'pk'),
    ]);
    expect(t.size).toBe(s.size);
    for (const [k, row] of s) expect(t.get(k), `row ${k}`).toEqual(row);
    for (const p of ['_default', 'p_one', 'p_empty']) {
      expect(await liteDstAdmin.count(VARCHAR_TRICKY.name, 'pk >= ""', [p]), p).toBe(
        await m235Admin.count(VARCHAR_TRICKY.name, '', [p]),
      );
    }
  });

  it('refuses a schema lite cannot hold (BinaryVector), writing nothing', async () => {
    const before = await liteDstAdmin.showCollections();
    const file = yamlFile(
      `${secretYaml('src', { username: 'root', password: 'Milvus' })}---\n${migrationYaml({ name: 'bin-to-lite', source: m235.endpoint, target: liteDst.endpoint, sourceSecret: 'src', collections: [{ name: INT64_EXTREME.name }] })}`,
    );
    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/cannot hold: field bv: BinaryVector/);
    expect(await liteDstAdmin.showCollections()).toEqual(before);
  });

  it('lite → lite: nullable, defaults, BM25 (recomputed), sparse and several vector fields', async () => {
    const file = yamlFile(
      migrationYaml({
        name: 'lite-lite',
        source: liteSrc.endpoint,
        target: liteDst.endpoint,
        collections: [{ name: LITE_RICH.name, targetName: 'rich_copy' }],
      }),
    );
    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    const c = JSON.parse(res.stdout).collections[0];
    expect(c.targetEntities).toBe(800);

    const want = await schemaOf(liteSrcAdmin, LITE_RICH.name);
    const got = await schemaOf(liteDstAdmin, 'rich_copy');
    expect(got).toEqual(want);
    expect(await aliasTarget(liteDstAdmin, 'lite_rich_alias')).toBe('rich_copy');

    const [s, t] = await Promise.all([
      sdkRows({ endpoint: liteSrc.endpoint }, LITE_RICH.name, 'id', { intKey: true, exclude: ['sparse'] }),
      sdkRows({ endpoint: liteDst.endpoint }, 'rich_copy', 'id', { intKey: true, exclude: ['sparse'] }),
    ]);
    expect(t.size).toBe(800);
    for (const [k, row] of s) expect(t.get(k), `row ${k}`).toEqual(row);
    expect(await liteDstAdmin.count('rich_copy', 'maybe is null')).toBe(
      await liteSrcAdmin.count(LITE_RICH.name, 'maybe is null'),
    );
    expect(await liteDstAdmin.count('rich_copy', 'id >= -9223372036854775807', ['recent'])).toBe(400);

    // The target computed BM25 itself: a full-text search finds what it finds on the source.
    const search = async (endpoint: string, name: string) => {
      const client = sdk({ endpoint });
      const r = await client.search({
        collection_name: name,
        data: ['migration'],
        anns_field: 'sparse',
        limit: 5,
        metric_type: 'BM25',
        output_fields: ['text'],
      } as never);
      await client.closeConnection();
      expect(r.status.reason).toBe('');
      return r.results as unknown as Record<string, unknown>[];
    };
    const found = await search(liteDst.endpoint, 'rich_copy');
    const onSource = await search(liteSrc.endpoint, LITE_RICH.name);
    expect(found.length).toBeGreaterThan(0);
    for (const h of found) expect(String(h.text)).toContain('migration');
    // Many documents tie on score: which five of them come back depends on the order rows were
    // stored, so the scores (the same BM25 statistics on both sides) are compared, not the texts.
    const scores = (hits: Record<string, unknown>[]) => hits.map((h) => Number(h.score).toFixed(4));
    expect(scores(found)).toEqual(scores(onSource));
  });
});

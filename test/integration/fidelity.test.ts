/**
 * Issue 16, collections carried whole: every index of every field, by name. What the servers here
 * hold, found by trying: the embedded Milvus Lite 2.5.1 keeps several indexes on one field
 * (INVERTED beside Trie on a VarChar, two on a vector); Milvus 2.3.5 and milvus-lite 3.2.2 keep one
 * per field and no index on JSON at all, so a source with several is refused in the plan for them,
 * naming the indexes, and nothing is written. Named indexes (one per field) arrive with their names
 * and parameters on Milvus 2.3.5, compared by the independent differ. Collection patterns
 * (`name: "pat_*"` with exclude) through the CLI: the set recorded by the first run is kept by the
 * next while the migration is unfinished, and expanded again once it succeeded. Geometry and
 * Timestamptz between milvus-lite 3.2.2 servers (which hold both), row for row by the differ.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import { ensureBuilt, migrationYaml, runCli, secretYaml, yamlFile } from '../support/cli.js';
import { diffCollection } from '../support/differ.js';
import { LITE_RICH, rng, seedLiteRich, vector } from '../support/fixtures.js';
import { type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import {
  admin,
  type CollectionDef,
  columns,
  createCollection,
  indexAndLoad,
  insertRows,
} from '../support/rows.js';

let embedded: MilvusTestServer;
let m235: MilvusTestServer;
let lite: MilvusTestServer;
let src: MilvusClient;
let m235Admin: MilvusClient;
let liteAdmin: MilvusClient;
const stateDir = mkdtempSync(path.join(tmpdir(), 'mm-state-'));

const def = (name: string): CollectionDef => ({
  name,
  fields: [
    { name: 'id', type: 'Int64', primary: true },
    { name: 'v', type: 'FloatVector', dim: 4 },
    { name: 't', type: 'VarChar', maxLength: 64 },
  ],
});
const TWO_ON_T = def('two_on_t');
const NAMED = def('named_idx');
const NAMED_INVERTED = def('named_inverted');

async function seed(c: MilvusClient, d: CollectionDef, n: number): Promise<void> {
  await createCollection(c, d);
  const r = rng(16);
  await insertRows(
    c,
    d,
    Array.from({ length: n }, (_, i) => ({ id: i, v: vector(r, 4), t: `text ${i}` })),
  );
}

const kv = (o: Record<string, string>) => Object.entries(o).map(([key, value]) => ({ key, value }));

beforeAll(async () => {
  ensureBuilt();
  [embedded, m235, lite] = await Promise.all([
    startMilvus({ kind: 'milvus-lite-2.5.1', name: 'fid-embedded' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'fid-m235' }),
    startMilvus({ kind: 'milvus-lite', name: 'fid-lite' }),
  ]);
  src = admin(embedded.endpoint);
  m235Admin = admin(m235.endpoint);
  liteAdmin = admin(lite.endpoint);

  await seed(src, TWO_ON_T, 30);
  await src.createIndex(TWO_ON_T.name, 't', 't_inv', kv({ index_type: 'INVERTED' }));
  await src.createIndex(TWO_ON_T.name, 't', 't_trie', kv({ index_type: 'Trie' }));
  await indexAndLoad(
    src,
    TWO_ON_T.name,
    'v',
    { index_type: 'FLAT', metric_type: 'L2', params: '{}' },
    'v_flat',
  );

  await seed(src, NAMED, 50);
  await src.createIndex(NAMED.name, 't', 'by_text', kv({ index_type: 'Trie' }));
  await indexAndLoad(
    src,
    NAMED.name,
    'v',
    { index_type: 'IVF_FLAT', metric_type: 'L2', params: '{"nlist":8}' },
    'by_vector',
  );

  await seed(src, NAMED_INVERTED, 40);
  await src.createIndex(NAMED_INVERTED.name, 't', 'by_text', kv({ index_type: 'INVERTED' }));
  await indexAndLoad(
    src,
    NAMED_INVERTED.name,
    'v',
    { index_type: 'FLAT', metric_type: 'L2', params: '{}' },
    'by_vector',
  );
}, 600_000);

afterAll(async () => {
  for (const c of [src, m235Admin, liteAdmin]) c?.close();
  await Promise.all([embedded?.stop(), m235?.stop(), lite?.stop()]);
});

describe('every index of every field', () => {
  it('the source really holds two indexes on one field (embedded Milvus Lite 2.5.1)', async () => {
    const described = await src.describeIndexes(TWO_ON_T.name);
    expect(
      described
        .filter((i) => i.field_name === 't')
        .map((i) => i.index_name)
        .sort(),
    ).toEqual(['t_inv', 't_trie']);
  });

  for (const target of ['milvus-2.3.5', 'milvus-lite'] as const) {
    it(`refuses two indexes on one field for a ${target} target, naming them, writing nothing`, async () => {
      const server = target === 'milvus-lite' ? lite : m235;
      const client = target === 'milvus-lite' ? liteAdmin : m235Admin;
      const file = yamlFile(
        migrationYaml({
          name: `two-idx-${target}`,
          source: embedded.endpoint,
          target: server.endpoint,
          collections: [{ name: TWO_ON_T.name }],
        }),
      );
      const plan = await runCli(['plan', '-f', file, '--state-dir', stateDir]);
      expect(plan.code, plan.stderr.slice(-2000)).toBe(1);
      expect(plan.stdout).toMatch(/field t has 2 indexes \(t_inv, t_trie\)/);
      const run = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
      expect(run.code).toBe(1);
      expect(await client.showCollections()).not.toContain(TWO_ON_T.name);
    });
  }

  it('named indexes arrive with names and parameters on Milvus 2.3.5; a second run creates nothing', async () => {
    const file = yamlFile(
      migrationYaml({
        name: 'named-idx',
        source: embedded.endpoint,
        target: m235.endpoint,
        collections: [{ name: NAMED.name }],
      }),
    );
    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    const c = JSON.parse(res.stdout).collections[0];
    const got = await m235Admin.describeIndexes(NAMED.name);
    expect(got.map((i) => `${i.field_name}:${i.index_name}`).sort()).toEqual(['t:by_text', 'v:by_vector']);
    const diff = await diffCollection({
      source: { endpoint: embedded.endpoint, kind: 'milvus-lite-2.5.1' },
      target: { endpoint: m235.endpoint, kind: 'milvus-2.3.5' },
      sourceName: NAMED.name,
      targetName: NAMED.name,
      regeneratedKeys: false,
      warnings: c.warnings ?? [],
    });
    expect(diff.differences).toEqual([]);
    expect(diff.targetRows).toBe(50);

    const again = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(again.code, again.stderr.slice(-3000)).toBe(0);
    expect((await m235Admin.describeIndexes(NAMED.name)).length).toBe(2);
  });

  it('refuses index types a target does not build (Trie on milvus-lite, INVERTED on 2.3.5) before writing', async () => {
    for (const [name, server, re] of [
      [NAMED.name, lite, /index by_text on t is of type TRIE; milvus_lite-3\.2\.2 builds only INVERTED/],
      [NAMED_INVERTED.name, m235, /index by_text on t is INVERTED, which needs Milvus 2\.4\.0 or newer/],
    ] as const) {
      const file = yamlFile(
        migrationYaml({
          name: `type-${name}`,
          source: embedded.endpoint,
          target: server.endpoint,
          collections: [{ name, targetName: 'never_made' }],
        }),
      );
      const plan = await runCli(['plan', '-f', file, '--state-dir', stateDir]);
      expect(plan.code, plan.stderr.slice(-2000)).toBe(1);
      expect(plan.stdout).toMatch(re);
    }
    expect(await liteAdmin.showCollections()).not.toContain('never_made');
    expect(await m235Admin.showCollections()).not.toContain('never_made');
  });

  it('milvus-lite renames indexes after their fields: reported, and a resumed run does not create them again', async () => {
    const file = yamlFile(
      migrationYaml({
        name: 'named-idx-lite',
        source: embedded.endpoint,
        target: lite.endpoint,
        collections: [{ name: NAMED_INVERTED.name }],
      }),
    );
    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    const warnings = (JSON.parse(res.stdout).collections[0].warnings ?? []).join('\n');
    expect(warnings).toMatch(/index on t is named "t" instead of "by_text"/);
    expect(warnings).toMatch(/index on v is named "v" instead of "by_vector"/);
    const again = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(again.code, again.stderr.slice(-3000)).toBe(0);
    expect((await liteAdmin.describeIndexes(NAMED_INVERTED.name)).length).toBe(2);
  });
});

describe('collection patterns (name "*" / globs with exclude), expanded once', () => {
  const pat = (name: string) => def(name);
  const load = (name: string) =>
    indexAndLoad(src, name, 'v', { index_type: 'FLAT', metric_type: 'L2', params: '{}' }, `${name}_v`);

  it('a run expands the pattern, keeps the set while the migration is unfinished, and expands again after success', async () => {
    for (const n of ['pat_a', 'pat_b', 'pat_skip']) await seed(src, pat(n), 20);
    for (const n of ['pat_a', 'pat_b', 'pat_skip']) await load(n);
    // A pat_b on the target that this migration did not create: the first run is refused in the
    // plan, after the set was recorded.
    await createCollection(liteAdmin, pat('pat_b'));
    const file = yamlFile(
      migrationYaml({
        name: 'patterns',
        source: embedded.endpoint,
        target: lite.endpoint,
        collections: [{ name: 'pat_*' }],
        extraSpec: '',
      }).replace('- {name: pat_*}', '- {name: "pat_*", exclude: [pat_skip]}'),
    );
    const plan = await runCli(['plan', '-f', file, '--state-dir', stateDir, '-o', 'json']);
    const planned = JSON.parse(plan.stdout);
    expect(planned.collections.map((c: { source: string }) => c.source)).toEqual(['pat_a', 'pat_b']);

    const first = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(first.code).toBe(1);
    const s1 = JSON.parse(first.stdout);
    expect(s1.collectionSelection.names).toEqual(['pat_a', 'pat_b']);
    expect(JSON.stringify(s1.errors)).toMatch(/target collection \\"pat_b\\" already exists/);

    // A new matching collection on the source does not join the migration under way.
    await seed(src, pat('pat_c'), 20);
    await load('pat_c');
    await liteAdmin.dropCollection('pat_b');
    const second = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(second.code, second.stderr.slice(-3000)).toBe(0);
    const s2 = JSON.parse(second.stdout);
    expect(s2.collections.map((c: { name: string }) => c.name)).toEqual(['pat_a', 'pat_b']);
    expect(s2.collectionSelection).toEqual(s1.collectionSelection);
    expect(await liteAdmin.showCollections()).not.toContain('pat_c');

    // Succeeded: the next run expands again and takes pat_c in; pat_skip stays excluded.
    const third = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(third.code, third.stderr.slice(-3000)).toBe(0);
    const s3 = JSON.parse(third.stdout);
    expect(s3.collectionSelection.names).toEqual(['pat_a', 'pat_b', 'pat_c']);
    expect(await liteAdmin.showCollections()).not.toContain('pat_skip');
    for (const n of ['pat_a', 'pat_b', 'pat_c']) {
      const d = await diffCollection({
        source: { endpoint: embedded.endpoint, kind: 'milvus-lite-2.5.1' },
        target: { endpoint: lite.endpoint, kind: 'milvus-lite' },
        sourceName: n,
        targetName: n,
        regeneratedKeys: false,
        warnings: s3.collections.find((c: { name: string }) => c.name === n)?.warnings ?? [],
      });
      expect(d.differences, n).toEqual([]);
      expect(d.targetRows).toBe(20);
    }
  });

  it('a pattern that matches nothing is refused before anything is written', async () => {
    const file = yamlFile(
      migrationYaml({
        name: 'no-match',
        source: embedded.endpoint,
        target: lite.endpoint,
        collections: [{ name: 'nothing_*' }],
      }).replace('- {name: nothing_*}', '- {name: "nothing_*"}'),
    );
    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /pattern "nothing_\*" matches no collection in source database "default" \(collections there: .*named_idx/,
    );
  });
});

describe('target database and load topology', () => {
  const SRC_DB = 'props_src';
  const DB_PROPS = {
    'database.max.collections': '50',
    'database.replica.number': '2',
    'database.force.deny.writing': 'false',
  };
  let srcDb: MilvusClient;

  beforeAll(async () => {
    await liteAdmin.createDatabase(SRC_DB, kv(DB_PROPS));
    srcDb = admin(lite.endpoint, { database: SRC_DB });
    const d: CollectionDef = {
      ...def('topo'),
      properties: { 'collection.replica.number': '2', 'collection.ttl.seconds': '0' },
    };
    await seed(srcDb, d, 25);
    await indexAndLoad(srcDb, 'topo', 'v', { index_type: 'FLAT', metric_type: 'L2', params: '{}' }, 'topo_v');
  }, 120_000);
  afterAll(() => srcDb?.close());

  const yaml = (name: string, target: MilvusTestServer, db: string, extra: string) =>
    yamlFile(
      migrationYaml({
        name,
        source: lite.endpoint,
        sourceDb: SRC_DB,
        target: target.endpoint,
        targetDb: db,
        collections: [{ name: 'topo' }],
      }).replace(
        `target: {endpoint: "${target.endpoint}", database: ${db}}`,
        `target: {endpoint: "${target.endpoint}", database: ${db}, ${extra}}`,
      ),
    );

  it('without createDatabase a missing target database is refused, saying how to fix it', async () => {
    const res = await runCli([
      'plan',
      '-f',
      yaml('no-db', lite, 'props_missing', 'load: {replicas: 1}'),
      '--state-dir',
      stateDir,
    ]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(
      /target database "props_missing" does not exist .*set spec\.target\.createDatabase: true/,
    );
  });

  it("createDatabase on milvus-lite: created with the source properties that are not the target's own; replicas are the target's", async () => {
    const file = yaml('mkdb-lite', lite, 'props_dst', 'createDatabase: true, load: {replicas: 1}');
    const plan = await runCli(['plan', '-f', file, '--state-dir', stateDir]);
    expect(plan.code, plan.stdout).toBe(0);
    expect(plan.stdout).toMatch(
      /target database "props_dst" does not exist and is created .* with the source's properties database\.max\.collections=50/,
    );
    expect(plan.stdout).toMatch(
      /not carried .*database\.replica\.number=2, database\.force\.deny\.writing=false/,
    );
    expect(plan.stdout).toMatch(
      /load topology: the source has .*collection\.replica\.number=2.*the target loads with 1 replica/,
    );
    expect(await liteAdmin.listDatabases()).not.toContain('props_dst');

    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    const s = JSON.parse(res.stdout);
    expect(s.targetDatabase.name).toBe('props_dst');
    expect(s.targetDatabase.warnings.join('\n')).toMatch(/not carried/);
    expect(await liteAdmin.describeDatabase('props_dst')).toEqual([
      { key: 'database.max.collections', value: '50' },
    ]);
    const dst = admin(lite.endpoint, { database: 'props_dst' });
    try {
      const props = (await dst.describeCollection('topo')).properties;
      expect(props.map((p) => p.key)).not.toContain('collection.replica.number');
      expect(props).toContainEqual({ key: 'collection.ttl.seconds', value: '0' });
      expect(await dst.getLoadState('topo')).toBe(3);
    } finally {
      dst.close();
    }
    const d = await diffCollection({
      source: { endpoint: lite.endpoint, kind: 'milvus-lite', database: SRC_DB },
      target: { endpoint: lite.endpoint, kind: 'milvus-lite', database: 'props_dst' },
      sourceName: 'topo',
      targetName: 'topo',
      regeneratedKeys: false,
      warnings: s.collections[0].warnings ?? [],
    });
    expect(d.differences).toEqual([]);
    expect(d.knownLosses.join('\n')).toMatch(/collection\.replica\.number/);
  });

  it('createDatabase on Milvus 2.3.5 (no DescribeDatabase): created, and the unverifiable properties are said', async () => {
    const res = await runCli([
      'run',
      '-f',
      yaml('mkdb-235', m235, 'props_m235', 'createDatabase: true'),
      '--state-dir',
      stateDir,
      '--output',
      'json',
    ]);
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    const s = JSON.parse(res.stdout);
    expect(await m235Admin.listDatabases()).toContain('props_m235');
    expect(s.targetDatabase.warnings.join('\n')).toMatch(
      /does not report database properties .*database\.max\.collections could not be checked/,
    );
    expect(s.collections[0].targetEntities).toBe(25);
  });
});

describe('function outputs the target recomputes', () => {
  it('the plan names every function output the target recomputes (BM25 on milvus-lite 3.2.2)', async () => {
    await liteAdmin.createDatabase('fn_src', []);
    const fnDb = admin(lite.endpoint, { database: 'fn_src' });
    try {
      await seedLiteRich(fnDb, 50);
    } finally {
      fnDb.close();
    }
    const file = yamlFile(
      migrationYaml({
        name: 'fn-plan',
        source: lite.endpoint,
        sourceDb: 'fn_src',
        target: lite.endpoint,
        collections: [{ name: LITE_RICH.name }],
      }),
    );
    const plan = await runCli(['plan', '-f', file, '--state-dir', stateDir, '-o', 'json']);
    expect(plan.code, plan.stdout).toBe(0);
    const notes = JSON.parse(plan.stdout).collections[0].notes.join('\n');
    expect(notes).toMatch(
      /function \w+ \(BM25\): sparse is not copied; the target recomputes it from text with the same analyzer/,
    );
  });
});

describe('spec.rbac.roles (opt-in)', () => {
  // Roles need authentication on (2.3.5 answers "fail to get authorization" without it).
  const root = { username: 'root', password: 'Milvus' };
  let source: MilvusTestServer;
  let target: MilvusTestServer;
  let sourceAdmin: MilvusClient;
  let targetAdmin: MilvusClient;

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startMilvus({ kind: 'milvus-2.3.5', auth: true, name: 'fid-rbac-src' }),
      startMilvus({ kind: 'milvus-2.3.5', auth: true, name: 'fid-rbac-dst' }),
    ]);
    sourceAdmin = admin(source.endpoint, root);
    targetAdmin = admin(target.endpoint, root);
    await seed(sourceAdmin, def('rbac_coll'), 10);
    await indexAndLoad(sourceAdmin, 'rbac_coll', 'v');
    await sourceAdmin.createRole('reader_role');
    for (const g of [
      { object: 'Collection', objectName: '*', database: 'default', privilege: 'Query' },
      { object: 'Collection', objectName: 'rbac_coll', database: 'default', privilege: 'Search' },
      { object: 'Global', objectName: '*', database: 'default', privilege: 'DescribeCollection' },
    ])
      await sourceAdmin.grant('reader_role', g);
    await sourceAdmin.createDatabase('rbac_other', []);
    await sourceAdmin.grant('reader_role', {
      object: 'Collection',
      objectName: '*',
      database: 'rbac_other',
      privilege: 'Insert',
    });
  }, 300_000);
  afterAll(async () => {
    sourceAdmin?.close();
    targetAdmin?.close();
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('Milvus 2.3.5 → 2.3.5: the plan lists the roles; the run creates them with their privileges in the target database', async () => {
    const file = yamlFile(
      `${secretYaml('root', root)}---\n${migrationYaml({
        name: 'rbac',
        source: source.endpoint,
        target: target.endpoint,
        sourceSecret: 'root',
        targetSecret: 'root',
        collections: [{ name: 'rbac_coll' }],
        extraSpec: '  rbac: {roles: true}',
      })}`,
    );
    const plan = await runCli(['plan', '-f', file, '--state-dir', stateDir]);
    expect(plan.code, plan.stdout).toBe(0);
    // SelectGrant answers for the database the client is in: the Insert granted in rbac_other is
    // not this migration's and is not seen.
    expect(plan.stdout).toMatch(
      /role reader_role is created on the target with Query on Collection \*, Search on Collection rbac_coll, DescribeCollection on Global \*/,
    );
    expect(await targetAdmin.selectRoles()).not.toContain('reader_role');

    const res = await runCli(['run', '-f', file, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    const s = JSON.parse(res.stdout);
    expect(s.roles.names).toEqual(['reader_role']);
    expect(s.roles.warnings ?? []).toEqual([]);
    const key = (g: { object: string; objectName: string; database: string; privilege: string }) =>
      `${g.object}|${g.objectName}|${g.database}|${g.privilege}`;
    const want = (await sourceAdmin.selectGrants('reader_role'))
      .filter((g) => g.database === 'default')
      .map(key)
      .sort();
    const got = (await targetAdmin.selectGrants('reader_role')).map(key).sort();
    expect(got).toEqual(want);
    expect(want).toHaveLength(3);
  });

  it('spec.rbac.users: source users created with the passwords of a Secret and their source roles; a key that is no source user is refused first', async () => {
    await sourceAdmin.createUser('ana', 'source-only-pw');
    await sourceAdmin.createUser('ben', 'source-only-pw');
    await sourceAdmin.addUserToRole('ana', 'reader_role');
    const file = (users: Record<string, string>) =>
      yamlFile(
        `${secretYaml('root', root)}---\n${secretYaml('people', users)}---\n${migrationYaml({
          name: 'rbac',
          source: source.endpoint,
          target: target.endpoint,
          sourceSecret: 'root',
          targetSecret: 'root',
          collections: [{ name: 'rbac_coll' }],
          extraSpec: '  rbac: {roles: true, users: {secretRef: {name: people}}}',
        })}`,
      );
    const typo = await runCli(['plan', '-f', file({ anna: 'target-pw-1' }), '--state-dir', stateDir]);
    expect(typo.code).toBe(1);
    expect(typo.stdout).toMatch(/Secret "people" has a key "anna", but the source has no such user/);
    expect(await targetAdmin.listUsers()).not.toContain('anna');

    const ok = file({ ana: 'target-pw-1' });
    const plan = await runCli(['plan', '-f', ok, '--state-dir', stateDir]);
    expect(plan.code, plan.stdout).toBe(0);
    expect(plan.stdout).toMatch(
      /user ana is created on the target with the password in Secret "people" and roles reader_role/,
    );
    expect(plan.stdout).toMatch(/source users not created \(no key for them in Secret "people"\): ben/);
    const res = await runCli(['run', '-f', ok, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    expect(JSON.parse(res.stdout).users).toEqual({ names: ['ana'] });
    // Never a password in what the run printed.
    expect(`${res.stdout}${res.stderr}`).not.toContain('target-pw-1');
    expect(await targetAdmin.userRoles('ana')).toEqual(expect.arrayContaining(['reader_role']));
    expect(await targetAdmin.listUsers()).not.toContain('ben');
    // ana logs in on the target with the Secret's password, and reads what reader_role allows.
    const ana = admin(target.endpoint, { username: 'ana', password: 'target-pw-1' });
    try {
      expect(await ana.count('rbac_coll')).toBe(10);
    } finally {
      ana.close();
    }
    // A re-run leaves the password alone and says so.
    const again = await runCli([
      'run',
      '-f',
      file({ ana: 'another-pw-2' }),
      '--state-dir',
      stateDir,
      '--output',
      'json',
    ]);
    expect(again.code, again.stderr.slice(-3000)).toBe(0);
    expect(JSON.parse(again.stdout).users.warnings.join()).toMatch(/ana was on the target already/);
    const still = admin(target.endpoint, { username: 'ana', password: 'target-pw-1' });
    try {
      expect(await still.count('rbac_coll')).toBe(10);
    } finally {
      still.close();
    }
  });
});

describe('Geometry and Timestamptz (milvus-lite 3.2.2, which holds both)', () => {
  const GEO: CollectionDef = {
    name: 'geo_time',
    fields: [
      { name: 'id', type: 'Int64', primary: true },
      { name: 'v', type: 'FloatVector', dim: 4 },
      { name: 'g', type: 'Geometry', nullable: true },
      { name: 'at', type: 'Timestamptz' },
      { name: 'seen', type: 'Timestamptz', nullable: true },
    ],
  };
  const ROWS = 240;
  // Edge values by construction: the calendar's ends, before 1970, microsecond fractions, offsets
  // that move the instant across a day, coordinates with 17 significant digits and negatives.
  const instants = [
    '0001-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999999Z',
    '1969-12-31T23:59:59.999999Z',
    '1970-01-01T00:00:00Z',
    '2024-02-29T12:00:00.000001+05:30',
    '2023-11-15T06:13:20.123456+08:00',
    '2000-01-01T00:00:00-12:00',
  ];
  const shapes = (i: number) =>
    i % 3 === 0
      ? `POINT (${(i * 0.1 + 1e-12).toPrecision(17)} -${(i / 7).toPrecision(17)})`
      : `POLYGON ((0 0, ${i} 0, ${i} ${i}, 0 0))`;
  const srcDb = 'geo_src';
  let srcAdmin: MilvusClient;

  beforeAll(async () => {
    await liteAdmin.createDatabase(srcDb, []);
    srcAdmin = admin(lite.endpoint, { database: srcDb });
    await createCollection(srcAdmin, GEO);
    const r = rng(61);
    await insertRows(
      srcAdmin,
      GEO,
      Array.from({ length: ROWS }, (_, i) => ({
        id: i,
        v: vector(r, 4),
        g: i % 5 === 4 ? null : shapes(i),
        at: instants[i % instants.length],
        seen: i % 4 === 1 ? null : instants[(i + 3) % instants.length],
      })),
    );
    await indexAndLoad(srcAdmin, GEO.name, 'v', { index_type: 'FLAT', metric_type: 'L2', params: '{}' }, 'v');
  }, 120_000);
  afterAll(() => srcAdmin?.close());

  const file = (name: string, target: MilvusTestServer) =>
    yamlFile(
      migrationYaml({
        name,
        source: lite.endpoint,
        sourceDb: srcDb,
        target: target.endpoint,
        collections: [{ name: GEO.name }],
      }),
    );
  const diff = async (warnings: string[]) =>
    diffCollection({
      source: { endpoint: lite.endpoint, kind: 'milvus-lite', database: srcDb },
      target: { endpoint: lite.endpoint, kind: 'milvus-lite' },
      sourceName: GEO.name,
      targetName: GEO.name,
      regeneratedKeys: false,
      warnings,
    });

  it('copied, and equal to the source by the independent differ; a resumed run writes the missing rows only', async () => {
    const f = file('geo-lite', lite);
    const res = await runCli(['run', '-f', f, '--state-dir', stateDir, '--output', 'json']);
    expect(res.code, `${res.stdout.slice(-3000)}\n${res.stderr.slice(-2000)}`).toBe(0);
    const first = await diff(JSON.parse(res.stdout).collections[0].warnings ?? []);
    expect(first.differences).toEqual([]);
    expect(first.targetRows).toBe(ROWS);

    // Rows lost on the target: the re-run reads pages of the source and writes the missing rows
    // of each, so the Geometry and Timestamptz columns are cut row by row.
    await liteAdmin.call('Delete', {
      db_name: 'default',
      collection_name: GEO.name,
      expr: 'id >= 100 and id < 160',
    });
    expect(await liteAdmin.count(GEO.name)).toBe(ROWS - 60);
    const again = await runCli(['run', '-f', f, '--state-dir', stateDir, '--output', 'json']);
    expect(again.code, again.stderr.slice(-3000)).toBe(0);
    const second = await diff(JSON.parse(again.stdout).collections[0].warnings ?? []);
    expect(second.differences).toEqual([]);
    expect(second.targetRows).toBe(ROWS);

    // The differ sees these columns: one microsecond later and other coordinates on one row of the
    // target are differences.
    const r = rng(5);
    await liteAdmin.call('Upsert', {
      db_name: 'default',
      collection_name: GEO.name,
      fields_data: columns(GEO, [
        { id: 3, v: vector(r, 4), g: 'POINT (0.3 -0.4)', at: '1970-01-01T00:00:00.000001Z', seen: null },
      ]),
      num_rows: 1,
    });
    const broken = await diff([]);
    expect(broken.differences.join('\n')).toMatch(/field at: source us:0, target us:1/);
    expect(broken.differences.join('\n')).toMatch(/field g: source wkt:"POINT \(0\.30000000000100002 /);
  });

  it('a Milvus 2.3.5 target is refused before anything is written, naming the versions needed', async () => {
    const plan = await runCli(['plan', '-f', file('geo-m235', m235), '--state-dir', stateDir]);
    expect(plan.code, plan.stderr.slice(-2000)).toBe(1);
    expect(plan.stdout).toMatch(/Geometry.*2\.6\.4/);
    expect(plan.stdout).toMatch(/Timestamptz.*2\.6\.6/);
    expect(await m235Admin.showCollections()).not.toContain(GEO.name);
  });
});

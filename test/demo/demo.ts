/**
 * The README's first command (`npm run demo`): two local Milvus 2.3.5 servers (the source with
 * authentication on), a seeded source, `milvus-migrate plan`, then `milvus-migrate run` with live
 * progress and the verification result. Everything is stopped afterwards.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, ensureBuilt, migrationYaml, secretYaml } from '../support/cli.js';
import { rng, vector } from '../support/fixtures.js';
import { REPO_ROOT, startMilvus } from '../support/milvus-server.js';
import { admin, type CollectionDef, createCollection, indexAndLoad, insertRows } from '../support/rows.js';

const ROWS = Number(process.env.DEMO_ROWS ?? 50_000);

const PRODUCTS: CollectionDef = {
  name: 'products',
  description: 'demo catalogue',
  fields: [
    { name: 'sku', type: 'VarChar', primary: true, maxLength: 64 },
    { name: 'embedding', type: 'FloatVector', dim: 128 },
    { name: 'price', type: 'Double' },
    { name: 'attrs', type: 'JSON' },
  ],
  dynamic: true,
  shards: 2,
};

function say(s: string): void {
  process.stdout.write(`\n\x1b[1m== ${s}\x1b[0m\n`);
}

async function main(): Promise<void> {
  ensureBuilt();
  say('starting a source (Milvus 2.3.5, authentication on) and a target (Milvus 2.3.5)');
  const [src, dst] = await Promise.all([
    startMilvus({ kind: 'milvus-2.3.5', auth: true, name: 'demo-source' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'demo-target' }),
  ]);
  try {
    process.stdout.write(
      `source ${src.endpoint} (${src.version}), target ${dst.endpoint} (${dst.version})\n`,
    );
    say(
      `seeding ${ROWS} rows into source collection "products" (partitions: _default, archive; alias: catalogue)`,
    );
    const c = admin(src.endpoint, { username: 'root', password: 'Milvus' });
    await createCollection(c, PRODUCTS);
    await c.createPartition('products', 'archive');
    const r = rng(7);
    for (let i = 0; i < ROWS; i += 5000) {
      const rows = Array.from({ length: Math.min(5000, ROWS - i) }, (_v, j) => ({
        sku: `sku-${String(i + j).padStart(7, '0')}${(i + j) % 97 === 0 ? '"special\'' : ''}`,
        embedding: vector(r, 128),
        price: Math.round(r() * 10_000) / 100,
        attrs: { color: ['red', 'green', 'blue'][(i + j) % 3], size: (i + j) % 10 },
        ...((i + j) % 4 === 0 ? { promo: true } : {}),
      }));
      await insertRows(c, PRODUCTS, rows, i >= ROWS * 0.8 ? 'archive' : undefined);
    }
    await indexAndLoad(
      c,
      'products',
      'embedding',
      { index_type: 'IVF_FLAT', metric_type: 'L2', params: '{"nlist":128}' },
      'embedding_ivf',
    );
    await c.createAlias('products', 'catalogue');
    c.close();

    const dir = path.join(REPO_ROOT, '.cache', 'demo');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'migration.yaml');
    writeFileSync(
      file,
      `${secretYaml('src-milvus', { username: 'root', password: 'Milvus' })}---\n${migrationYaml({
        name: 'demo',
        source: src.endpoint,
        target: dst.endpoint,
        sourceSecret: 'src-milvus',
        verify: 'sample',
        collections: [{ name: 'products', targetName: 'products_v2', description: 'moved from on-prem' }],
      })}`,
    );
    const stateDir = path.join(dir, `state-${Date.now()}`);
    say(`milvus-migrate plan -f ${path.relative(process.cwd(), file)}`);
    spawnSync(process.execPath, [CLI, 'plan', '-f', file, '--state-dir', stateDir], { stdio: 'inherit' });
    say(`milvus-migrate run -f ${path.relative(process.cwd(), file)}`);
    const run = spawnSync(process.execPath, [CLI, 'run', '-f', file, '--state-dir', stateDir], {
      stdio: 'inherit',
    });
    say(run.status === 0 ? 'demo migration Succeeded' : `demo migration ended with exit code ${run.status}`);
    process.exitCode = run.status ?? 1;
  } finally {
    await Promise.all([src.stop(), dst.stop()]);
  }
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

/**
 * Runs the differential corpus on more seeds than CI does, and prints every failure with its seed.
 *
 *   npm run fuzz -- --seeds 20 [--seed 1000] [--pair milvus-2.3.5:milvus-lite ...] [--collections 4]
 *                   [--rows 300] [--only 3] [--exclude empty_array,tuned_index] [--rerun] [--workers 3]
 *                   [--json out.json]
 *
 * --seed is the first seed (default: random, printed); --pair may repeat (default: every pair);
 * --only N regenerates only the collection of index N of each seed (to reproduce one case);
 * --exclude switches off named generator features (see FEATURES in generate.py), e.g. to get past
 * a known engine defect and find further ones; --rerun runs each cleanly copied collection's
 * migration again (it must succeed and change nothing); --workers N copies with `run --workers N`
 * and pages of 4,000 bytes, so that even small collections are split into shards (shards.ts).
 * The build (dist/) is used as is: `npm run build`.
 * Exit code 1 when any collection failed.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { ensureBuilt } from '../support/cli.js';
import { ALL_PAIRS, CORPUS_KINDS, type CorpusKind, runCorpus, Servers } from './corpus.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1' },
    seed: { type: 'string' },
    pair: { type: 'string', multiple: true },
    collections: { type: 'string', default: '4' },
    rows: { type: 'string', default: '300' },
    only: { type: 'string' },
    exclude: { type: 'string', default: '' },
    rerun: { type: 'boolean', default: false },
    workers: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});

const pairs: [CorpusKind, CorpusKind][] = values.pair?.length
  ? values.pair.map((p) => {
      const [a, b] = p.split(':');
      if (!CORPUS_KINDS.includes(a as CorpusKind) || !CORPUS_KINDS.includes(b as CorpusKind)) {
        console.error(`--pair ${p}: each side must be one of ${CORPUS_KINDS.join(', ')}`);
        process.exit(2);
      }
      return [a as CorpusKind, b as CorpusKind];
    })
  : ALL_PAIRS;
const first = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 1_000_000);
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => first + i);
console.log(`fuzz: seeds ${seeds[0]}..${seeds.at(-1)}, pairs ${pairs.map((p) => p.join(':')).join(' ')}`);

// The SDK starts a connection in its constructor; against a server that just died that promise
// may reject unobserved. Such a case is already reported as failed: do not end the whole run.
process.on('unhandledRejection', (e) =>
  console.error(`fuzz: unobserved rejection: ${(e as Error)?.message ?? e}`),
);
ensureBuilt();
const servers = new Servers();
const started = Date.now();
let results: Awaited<ReturnType<typeof runCorpus>> = [];
try {
  results = await runCorpus(
    {
      pairs,
      seeds,
      collectionsPerSeed: Number(values.collections),
      rows: Number(values.rows),
      only: values.only !== undefined ? Number(values.only) : undefined,
      exclude: values.exclude ? values.exclude.split(',') : [],
      log: (l) => console.log(l),
      verbose: true,
      rerun: values.rerun,
      workers: Number(values.workers),
    },
    servers,
  );
} finally {
  await servers.stopAll();
}

const byPair = new Map<string, { copied: number; refused: number; failed: number }>();
for (const r of results) {
  const c = byPair.get(r.pair) ?? { copied: 0, refused: 0, failed: 0 };
  c[r.outcome]++;
  byPair.set(r.pair, c);
}
console.log(`\nfuzz: ${results.length} collections in ${Math.round((Date.now() - started) / 1000)} s`);
for (const [pair, c] of byPair)
  console.log(`  ${pair.padEnd(28)} copied ${c.copied}, refused ${c.refused}, failed ${c.failed}`);
const failed = results.filter((r) => r.outcome === 'failed');
if (failed.length) {
  console.log(`\nfailures (${failed.length}):`);
  for (const f of failed)
    console.log(
      `  ${f.pair} ${f.name} seed=${f.seed} index=${f.index}: ${f.differences[0]?.slice(0, 300)}\n    ${f.reproduce}`,
    );
}
if (values.json) fs.writeFileSync(values.json, JSON.stringify(results, null, 1));
process.exit(failed.length ? 1 : 0);

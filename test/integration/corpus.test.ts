/**
 * The generated differential corpus (issue 12) on every server pair, with fixed seeds: collections
 * nobody here wrote by hand (test/corpus/generate.py: hypothesis + pymilvus), migrated with the real
 * CLI, one run per collection, and compared with the independent differ (test/support/differ.ts):
 * every schema element and every row, floats by bits. A collection whose schema a target cannot
 * hold must be refused with nothing written. A failure names the seed and the command that
 * reproduces it (`npm run fuzz -- …`); more seeds: `npm run fuzz -- --seeds N`.
 *
 * Then the fixed regression cases: the smallest collection of each defect the corpus found
 * (generate.py CASES) and the generated collections that showed the others, by seed. Each failed
 * on the engine before its fix (empty arrays F0, key literals F1, lite's unreported index and
 * array parameters, the embedded Milvus Lite F2, NaN payloads F3/F4, JSON over 64 KiB F5); F6
 * (Array values shifted around duplicated keys) has its own file, duplicates.test.ts.
 *
 * Budget: under 5 minutes on 2 cores (measured: 212 s for the whole file, servers included) (CORPUS_SEEDS and CORPUS_COLLECTIONS pick the load; the
 * collections hold up to CORPUS_ROWS rows plus duplicates, with every edge value).
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALL_PAIRS,
  type CaseResult,
  type CorpusKind,
  ensureCorpusVenv,
  generate,
  generateCase,
  type Manifest,
  runCase,
  Servers,
} from '../corpus/corpus.js';
import { ensureBuilt } from '../support/cli.js';
import { diffCollection } from '../support/differ.js';
import { SDK_CHANNEL_OPTIONS } from '../support/sdk-channel.js';

const SEEDS = (process.env.CORPUS_SEEDS ?? '11,12').split(',').map(Number);
const COLLECTIONS = Number(process.env.CORPUS_COLLECTIONS ?? 2);
const ROWS = Number(process.env.CORPUS_ROWS ?? 120);

const servers = new Servers();
const stateDir = mkdtempSync(path.join(tmpdir(), 'mm-corpus-state-'));
const corpus = new Map<CorpusKind, Manifest[]>();

beforeAll(async () => {
  ensureBuilt();
  await ensureCorpusVenv();
  // Every server at once (they start in seconds), then the corpus of each source kind once: the
  // same collections go to both target kinds.
  await Promise.all([
    servers.get('milvus-2.3.5', 'source'),
    servers.get('milvus-lite', 'source'),
    servers.get('milvus-2.3.5', 'target'),
    servers.get('milvus-lite', 'target'),
  ]);
  for (const sourceKind of ['milvus-2.3.5', 'milvus-lite'] as const) {
    const all: Manifest[] = [];
    for (const seed of SEEDS) {
      all.push(
        ...(await generate({
          server: await servers.get(sourceKind, 'source'),
          sourceKind,
          targetKinds: ['milvus-2.3.5', 'milvus-lite'],
          seed,
          collections: COLLECTIONS,
          rows: ROWS,
          prefix: sourceKind === 'milvus-lite' ? 'l' : 'm',
        })),
      );
    }
    corpus.set(sourceKind, all);
  }
}, 600_000);

afterAll(async () => {
  await servers.stopAll();
});

function explain(results: CaseResult[]): string {
  return results
    .filter((r) => r.outcome === 'failed')
    .map(
      (r) =>
        `${r.pair} ${r.name} (seed ${r.seed}):\n  ${r.differences.join('\n  ')}\n  reproduce: ${r.reproduce}`,
    )
    .join('\n');
}

describe('differential corpus, fixed seeds', () => {
  for (const [source, target] of ALL_PAIRS) {
    it(`${source} → ${target}: every generated collection copied identically or refused`, async () => {
      const results: CaseResult[] = [];
      for (const manifest of corpus.get(source) ?? []) {
        // Every autoID collection is run twice: a finished migration must re-run as a no-op.
        const rerun = manifest.pk.autoID;
        results.push(
          await runCase({ servers, source, target, manifest, stateDir, cliTimeoutMs: 120_000, rerun }),
        );
      }
      const summary = results.map((r) => `${r.outcome} ${r.name} rows=${r.rows}`).join(', ');
      console.log(`${source} → ${target}: ${summary}`);
      expect(results.length).toBe(SEEDS.length * COLLECTIONS);
      expect(explain(results)).toBe('');
    }, 600_000);
  }
});

/** The smallest case of each defect found, on the pair where it was found. */
const REGRESSIONS: { name: string; source: CorpusKind; target: CorpusKind; why: string; rerun?: boolean }[] =
  [
    {
      name: 'autoid_rerun',
      source: 'milvus-2.3.5',
      target: 'milvus-2.3.5',
      why: 'a finished autoID copy re-runs',
      rerun: true,
    },
    {
      name: 'autoid_rerun',
      source: 'milvus-lite',
      target: 'milvus-lite',
      why: 'the same on lite',
      rerun: true,
    },
    {
      name: 'empty_array',
      source: 'milvus-2.3.5',
      target: 'milvus-2.3.5',
      why: 'F0: [] kills a 2.3.5 target',
    },
    {
      name: 'fold_in_default',
      source: 'milvus-2.3.5',
      target: 'milvus-2.3.5',
      why: 'F7: a duplicated key in _default beside named partitions failed the count check',
    },
    { name: 'empty_array', source: 'milvus-2.3.5', target: 'milvus-lite', why: 'F0 into lite' },
    {
      name: 'nan_double',
      source: 'milvus-2.3.5',
      target: 'milvus-lite',
      why: 'NaN, ±Inf, -0.0 in Double/Float',
    },
    {
      name: 'nan_double',
      source: 'milvus-2.3.5',
      target: 'milvus-2.3.5',
      why: 'NaN, ±Inf, -0.0 between 2.3.5',
    },
    {
      name: 'control_char_key',
      source: 'milvus-lite',
      target: 'milvus-lite',
      why: 'F1: \\f in a key literal',
    },
    {
      name: 'lite_hnsw',
      source: 'milvus-lite',
      target: 'milvus-2.3.5',
      why: 'HNSW without M/efConstruction',
    },
    { name: 'lite_ivf', source: 'milvus-lite', target: 'milvus-2.3.5', why: 'IVF_FLAT without nlist' },
    {
      name: 'lite_varchar_array',
      source: 'milvus-lite',
      target: 'milvus-2.3.5',
      why: 'no element max_length',
    },
    {
      name: 'lite_ivf',
      source: 'milvus-lite-2.5.1',
      target: 'milvus-lite',
      why: 'F2: the embedded Milvus Lite as a source (no GetVersion)',
    },
    {
      name: 'lite_ivf',
      source: 'milvus-lite',
      target: 'milvus-lite-2.5.1',
      why: 'F2: the embedded Milvus Lite as a target is refused in the plan',
    },
  ];

describe('corpus regressions (smallest cases of what the corpus found)', () => {
  REGRESSIONS.forEach((r, i) => {
    it(`${r.name}: ${r.source} → ${r.target} (${r.why})`, async () => {
      const prefix = `r${i}_`;
      const manifest = await generateCase({
        server: await servers.get(r.source, 'source'),
        sourceKind: r.source,
        name: r.name,
        prefix,
      });
      const result = await runCase({
        servers,
        source: r.source,
        target: r.target,
        manifest,
        stateDir,
        cliTimeoutMs: 120_000,
        rerun: r.rerun,
      });
      expect(explain([result])).toBe('');
      expect(['copied', 'refused']).toContain(result.outcome);
    }, 300_000);
  });
});

/**
 * Defects the smallest hand-made case did not reproduce: the generated collection itself, by seed
 * (the generator's output depends on the target kinds it was asked for, so they are part of it).
 */
const SEEDED: {
  seed: number;
  index: number;
  source: CorpusKind;
  target: CorpusKind;
  exclude?: string[];
  why: string;
}[] = [
  {
    seed: 100,
    index: 1,
    source: 'milvus-2.3.5',
    target: 'milvus-lite',
    why: 'F3: a Double NaN arrives as Go NaN',
  },
  {
    seed: 101,
    index: 3,
    source: 'milvus-2.3.5',
    target: 'milvus-2.3.5',
    exclude: ['empty_array'],
    why: 'F4: NaN bits differ after the copy',
  },
  {
    seed: 200,
    index: 0,
    source: 'milvus-lite',
    target: 'milvus-2.3.5',
    why: 'F5: a dynamic row of 94 KB, over what 2.3.5 takes: refused in plan, nothing written',
  },
];
// F6 (seed 201 #1 and seed 110 #3): Milvus 2.3.5 shifts Array values against the keys in a reply
// that folded a duplicated key; fixed by reading duplicated keys alone (src/engine/duplicates.ts),
// kept as its own regression test in test/integration/duplicates.test.ts (which fails ~99 % before).
describe('corpus seeded regressions (generated collections that failed before their fix)', () => {
  for (const r of SEEDED) {
    it(`seed ${r.seed} #${r.index}: ${r.source} → ${r.target} (${r.why})`, async () => {
      const [manifest] = await generate({
        server: await servers.get(r.source, 'source'),
        sourceKind: r.source,
        targetKinds: [r.target],
        seed: r.seed,
        collections: 1,
        first: r.index,
        rows: 300,
        // The names of the long run: F3 reproduces under m100_1 and not under another name.
        prefix: r.source === 'milvus-lite' ? 'l' : 'm',
        exclude: r.exclude,
      });
      const result = await runCase({
        servers,
        source: r.source,
        target: r.target,
        manifest: manifest!,
        stateDir,
      });
      expect(explain([result])).toBe('');
    }, 300_000);
  }
});

describe('the differ can fail', () => {
  it('reports a row changed on the target after a clean copy (lite → lite)', async () => {
    const manifest = await generateCase({
      server: await servers.get('milvus-lite', 'source'),
      sourceKind: 'milvus-lite',
      name: 'lite_hnsw',
      prefix: 'tamper_',
    });
    const clean = await runCase({
      servers,
      source: 'milvus-lite',
      target: 'milvus-lite',
      manifest,
      stateDir,
    });
    expect(explain([clean])).toBe('');
    // Change one component of a vector on the target: 1.0 becomes -0.0.
    const dst = await servers.get('milvus-lite', 'target');
    const sdk = new MilvusClient({
      address: dst.endpoint,
      logLevel: 'error',
      channelOptions: SDK_CHANNEL_OPTIONS,
    });
    try {
      await sdk.delete({ collection_name: manifest.name, filter: 'pk in [1]' });
      await sdk.insert({ collection_name: manifest.name, data: [{ pk: 1, v0: [0.5, -0] }] });
    } finally {
      await sdk.closeConnection();
    }
    const src = await servers.get('milvus-lite', 'source');
    const d = await diffCollection({
      source: { endpoint: src.endpoint, kind: 'milvus-lite' },
      target: { endpoint: dst.endpoint, kind: 'milvus-lite' },
      sourceName: manifest.name,
      targetName: manifest.name,
      regeneratedKeys: false,
      warnings: [],
    });
    expect(d.differences.join('\n')).toMatch(
      /row pk="1" field v0: source f32:3f000000,f32:3f800000, target f32:3f000000,f32:80000000/,
    );
  }, 300_000);
});

/**
 * `npm run bench:sync`: what a catch-up pass costs against the bulk copy, and what the cutover's
 * write downtime is, on two Milvus 2.3.5 servers.
 *
 *   npx tsx bench/sync.ts --rows 200000 --dim 128 --churn 2000 [--verify sample|count|full]
 *
 * Seeds ROWS rows (Int64 key, DIM-d float vector, updated_at), then through the engine (runSync):
 * the bulk copy (timed), a quiet pass (nothing changed), a pass after CHURN inserts + CHURN/2
 * deletes + CHURN updates on the source, a quiet pass without changedField (keys only), and the
 * cutover (final pass + full verification, timed). Figures are printed as one JSON line.
 */
import { MilvusClient } from '../src/adapters/milvus/client.js';
import { encode } from '../src/adapters/milvus/proto.js';
import type { MigrationInput } from '../src/api/input.js';
import { milvusMigration } from '../src/api/migration.js';
import { inExpr } from '../src/engine/keys.js';
import { MemoryStateStore } from '../src/engine/state.js';
import { runSync } from '../src/engine/sync-run.js';
import { logger } from '../src/util/logger.js';
import { startMilvus } from '../test/support/milvus-server.js';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const ROWS = arg('rows', 200_000);
const DIM = arg('dim', 128);
const CHURN = arg('churn', 2000);
const vi = process.argv.indexOf('--verify');
/** spec.verify at cutover: the cutover's downtime is the final pass plus this verification. */
const VERIFY = vi > 0 ? process.argv[vi + 1]! : 'sample';
const NAME = 'sync_bench';
const say = (s: string) => process.stderr.write(`[bench:sync] ${s}\n`);

let stamp = BigInt(Date.now()) * 1000n;
function columns(ids: number[]) {
  const vec: number[] = [];
  for (let i = 0; i < ids.length * DIM; i++) vec.push(Math.fround(Math.random()));
  return [
    { field_name: 'id', type: 5, scalars: { long_data: { data: ids.map(String) } } },
    { field_name: 'vec', type: 101, vectors: { dim: String(DIM), float_vector: { data: vec } } },
    {
      field_name: 'updated_at',
      type: 5,
      scalars: { long_data: { data: ids.map(() => String(++stamp)) } },
    },
  ];
}

async function write(c: MilvusClient, ids: number[], how: 'insert' | 'upsert') {
  for (let i = 0; i < ids.length; i += 2000) {
    const chunk = ids.slice(i, i + 2000);
    const req = { collection_name: NAME, fields_data: columns(chunk), num_rows: chunk.length };
    // biome-ignore lint/suspicious/noExplicitAny: plain wire objects
    if (how === 'insert') await c.insert(req as any);
    // biome-ignore lint/suspicious/noExplicitAny: plain wire objects
    else await c.upsert(req as any);
  }
}

async function main() {
  logger.level = process.env.LOG_LEVEL ?? 'warn';
  const [src, dst] = await Promise.all([
    startMilvus({ kind: 'milvus-2.3.5', name: 'syncbench-src' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'syncbench-dst' }),
  ]);
  const stopAll = () => Promise.allSettled([src.stop(), dst.stop()]);
  process.on('SIGINT', () => void stopAll().finally(() => process.exit(130)));
  try {
    const c = new MilvusClient({
      side: 'bench',
      endpoint: src.endpoint,
      database: 'default',
      timeoutMs: 600_000,
    });
    await c.createCollection({
      collection_name: NAME,
      schema: encode('schema.CollectionSchema', {
        name: NAME,
        description: '',
        fields: [
          { name: 'id', data_type: 5, is_primary_key: true, type_params: [] },
          { name: 'vec', data_type: 101, type_params: [{ key: 'dim', value: String(DIM) }] },
          { name: 'updated_at', data_type: 5, type_params: [] },
        ],
      }),
      shards_num: 1,
      consistency_level: 2,
      properties: [],
    });
    const t0 = Date.now();
    await write(
      c,
      Array.from({ length: ROWS }, (_v, i) => i),
      'insert',
    );
    await c.createIndex(NAME, 'vec', '', [
      { key: 'index_type', value: 'FLAT' },
      { key: 'metric_type', value: 'L2' },
      { key: 'params', value: '{}' },
    ]);
    await c.loadCollection(NAME);
    while ((await c.getLoadState(NAME)) !== 3) await new Promise((r) => setTimeout(r, 500));
    say(`seeded ${ROWS} rows x ${DIM}-d in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    const migration = (changedField: boolean, cutover = false) =>
      milvusMigration.parse({
        apiVersion: 'migration.milvus.io/v1alpha1',
        kind: 'MilvusMigration',
        metadata: { name: 'bench', namespace: 'default' },
        spec: {
          source: { endpoint: src.endpoint },
          target: { endpoint: dst.endpoint },
          collections: [{ name: NAME }],
          verify: cutover ? VERIFY : 'count',
          sync: { interval: '1h', cutover, ...(changedField ? { changedField: 'updated_at' } : {}) },
        },
      });
    const state = new MemoryStateStore();
    const onePass = async (changedField: boolean) => {
      const stop = new AbortController();
      let copyMs: number | undefined;
      const started = Date.now();
      let ms = 0;
      let outcome = {};
      const input: MigrationInput = { migration: migration(changedField), secrets: [] };
      await runSync(input, {
        state,
        stop: stop.signal,
        cutover: () => false,
        onStatus: (s) => {
          if (s.phase === 'Syncing' && copyMs === undefined) copyMs = Date.now() - started;
        },
        onPass: (_s, passes) => {
          ms = passes[0]!.outcome.ms;
          outcome = passes[0]!.outcome;
          stop.abort();
        },
      });
      return { copyMs, passMs: ms, outcome };
    };

    const first = await onePass(true);
    say(`bulk copy ${first.copyMs} ms; first pass ${first.passMs} ms ${JSON.stringify(first.outcome)}`);
    const quiet = await onePass(true);
    say(`quiet pass ${quiet.passMs} ms`);
    const keysOnly = await onePass(false);
    say(`quiet pass without changedField ${keysOnly.passMs} ms`);
    await write(
      c,
      Array.from({ length: CHURN }, (_v, i) => ROWS + i),
      'insert',
    );
    const gone = Array.from({ length: CHURN / 2 }, (_v, i) => i * 7);
    for (let i = 0; i < gone.length; i += 1000)
      await c.deleteKeys(NAME, inExpr('id', gone.slice(i, i + 1000).map(BigInt)));
    await write(
      c,
      Array.from({ length: CHURN }, (_v, i) => 1 + i * 7),
      'upsert',
    );
    const churned = await onePass(true);
    say(`pass after churn ${churned.passMs} ms ${JSON.stringify(churned.outcome)}`);
    // The application's last writes, then the cutover.
    await write(
      c,
      Array.from({ length: CHURN }, (_v, i) => 3 + i * 7),
      'upsert',
    );
    const done = await runSync(
      { migration: migration(true, true), secrets: [] },
      {
        state,
        cutover: () => true,
      },
    );
    say(`cutover: ${JSON.stringify(done.sync)} phase ${done.phase}`);
    process.stdout.write(
      `${JSON.stringify({
        rows: ROWS,
        dim: DIM,
        churn: CHURN,
        verify: VERIFY,
        copyMs: first.copyMs,
        quietPassMs: quiet.passMs,
        keysOnlyPassMs: keysOnly.passMs,
        churnPassMs: churned.passMs,
        churnOutcome: churned.outcome,
        cutover: done.sync,
        phase: done.phase,
      })}\n`,
    );
    c.close();
  } finally {
    await stopAll();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

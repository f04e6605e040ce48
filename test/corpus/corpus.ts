/**
 * The differential corpus: generated collections (test/corpus/generate.py) migrated with the real
 * CLI through a server pair and compared with the independent differ (test/support/differ.ts).
 * Shared by test/integration/corpus.test.ts (fixed seeds, CI) and test/corpus/fuzz.ts (many seeds).
 *
 * One CLI run per collection, so that a refusal or a failure is that collection's alone. Whether a
 * schema fits a target kind is decided here from the generator's manifest, independently of the
 * engine's planner: a collection that does not fit must be refused by the run with nothing
 * written on the target; one that fits must arrive identical (apart from the known losses the
 * status warns about).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { type CliResult, migrationYaml, startCli, yamlFile } from '../support/cli.js';
import { diffCollection } from '../support/differ.js';
import { type MilvusKind, type MilvusTestServer, REPO_ROOT, startMilvus } from '../support/milvus-server.js';
import { SDK_CHANNEL_OPTIONS } from '../support/sdk-channel.js';

const execFileP = promisify(execFile);

/**
 * The server kinds a corpus runs on (the ones the generator knows how to fill). milvus-lite 2.5.1
 * is here for its regression cases and for `npm run fuzz --pair`; it is in no CI pair while the
 * engine refuses it before planning (finding F2).
 */
export const CORPUS_KINDS = ['milvus-2.3.5', 'milvus-lite', 'milvus-lite-2.5.1'] as const;
export type CorpusKind = (typeof CORPUS_KINDS)[number];
export const ALL_PAIRS: [CorpusKind, CorpusKind][] = [
  ['milvus-2.3.5', 'milvus-2.3.5'],
  ['milvus-2.3.5', 'milvus-lite'],
  ['milvus-lite', 'milvus-lite'],
  ['milvus-lite', 'milvus-2.3.5'],
];

export interface Manifest {
  name: string;
  seed: number;
  index: number;
  /** A fixed regression case of generate.py instead of a seeded collection. */
  case?: string;
  sourceKind: string;
  features: string[];
  excluded: string[];
  pk: { name: string; type: string; autoID: boolean };
  fields: { name: string; type: string; element: string | null; nullable: boolean }[];
  indexes: { field: string; index_type: string; params: Record<string, unknown> }[];
  rows: { inserted: number; duplicates: string[]; deleted: string[]; liveKeys: number; liveRows: number };
}

export interface CaseResult {
  pair: string;
  seed: number;
  index: number;
  name: string;
  /** copied: migrated and identical; refused: did not fit and was refused with nothing written. */
  outcome: 'copied' | 'refused' | 'failed';
  differences: string[];
  knownLosses: string[];
  rows: number;
  /** How to reproduce this one collection. */
  reproduce: string;
  /** With workers: the key ranges of each split the run logged (none: too few rows to split). */
  shards?: number[];
}

const VENV_PYTHON = path.join(REPO_ROOT, '.cache', 'venv', 'corpus', 'bin', 'python');
const GENERATOR = path.join(REPO_ROOT, 'test', 'corpus', 'generate.py');

/** Installs the corpus venv (hypothesis + pymilvus) when missing; quick when its stamp matches. */
export async function ensureCorpusVenv(): Promise<void> {
  if (fs.existsSync(VENV_PYTHON) && process.env.MILVUS_TEST_NO_INSTALL === '1') return;
  await execFileP('bash', [path.join(REPO_ROOT, 'test', 'setup', 'milvus', 'install.sh'), 'corpus'], {
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** Writes one fixed regression case (generate.py CASES) on a source server. */
export async function generateCase(o: {
  server: MilvusTestServer;
  sourceKind: CorpusKind;
  name: string;
  prefix: string;
}): Promise<Manifest> {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mm-corpus-')), 'manifest.json');
  const args = [GENERATOR, '--uri', `http://${o.server.endpoint}`, '--source-kind', o.sourceKind];
  args.push('--target-kinds', '', '--case', o.name, '--prefix', o.prefix, '--out', out);
  try {
    await execFileP(VENV_PYTHON, args, { maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`generate.py --case ${o.name} failed: ${(err.stderr ?? err.message).slice(-3000)}`);
  }
  return (JSON.parse(fs.readFileSync(out, 'utf8')) as Manifest[])[0]!;
}

/** Runs the generator on a source server and returns its manifest. */
export async function generate(o: {
  server: MilvusTestServer;
  sourceKind: CorpusKind;
  targetKinds: string[];
  seed: number;
  collections: number;
  first?: number;
  rows: number;
  prefix: string;
  exclude?: string[];
}): Promise<Manifest[]> {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mm-corpus-')), 'manifest.json');
  const args = [
    GENERATOR,
    '--uri',
    `http://${o.server.endpoint}`,
    '--source-kind',
    o.sourceKind,
    '--target-kinds',
    o.targetKinds.join(','),
    '--seed',
    String(o.seed),
    '--collections',
    String(o.collections),
    '--first',
    String(o.first ?? 0),
    '--rows',
    String(o.rows),
    '--prefix',
    o.prefix,
    '--out',
    out,
  ];
  if (o.exclude?.length) args.push('--exclude', o.exclude.join(','));
  try {
    await execFileP(VENV_PYTHON, args, { maxBuffer: 64 * 1024 * 1024, timeout: 600_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`generate.py (seed ${o.seed}) failed: ${(err.stderr ?? err.message).slice(-3000)}`);
  }
  return JSON.parse(fs.readFileSync(out, 'utf8')) as Manifest[];
}

/**
 * Why a collection cannot live on a target kind (empty: it fits). From what each server was
 * seen to hold (docs of the reference and the generator's checks), not from the engine.
 */
export function misfits(m: Manifest, targetKind: string): string[] {
  const f = new Set(m.features);
  const out: string[] = [];
  if (targetKind === 'milvus-2.3.5') {
    for (const x of ['nullable', 'default', 'sparse', 'bm25', 'multi_vector']) if (f.has(x)) out.push(x);
  }
  if (targetKind.startsWith('milvus-lite') && f.has('binary_vector')) out.push('binary_vector');
  // The engine reads the embedded Milvus Lite but refuses it as a target (finding F2: collections
  // it created there could not be described or written).
  if (targetKind === 'milvus-lite-2.5.1') out.push('embedded Milvus Lite as target');
  return out;
}

/**
 * What a source kind does not report that a target needs, so the engine may either fill it (with
 * a warning) or refuse it in plan, nothing written (issue 12 allows both; a failure after the copy
 * is never right): milvus-lite reports no index build parameters and no VarChar element length,
 * and stores JSON longer than Milvus takes (finding F5).
 */
export function mayRefuse(m: Manifest, targetKind: string): string[] {
  if (!m.sourceKind.startsWith('milvus-lite') || targetKind !== 'milvus-2.3.5') return [];
  // json_over_64k: a JSON value or dynamic row near or over Milvus' 64 KiB (lite has no limit).
  return m.features.filter((x) => x === 'tuned_index' || x === 'varchar_array' || x === 'json_over_64k');
}

/** Servers by role, restarted when one died (a crash is a finding, not the end of the corpus). */
export class Servers {
  private readonly live = new Map<string, MilvusTestServer>();
  async get(kind: CorpusKind, role: 'source' | 'target'): Promise<MilvusTestServer> {
    const key = `${role}:${kind}`;
    const s = this.live.get(key);
    if (s && (await portOpen(s.port))) return s;
    if (s) await s.stop();
    const started = await startMilvus({ kind: kind as MilvusKind, name: `corpus-${role}-${kind}` });
    this.live.set(key, started);
    return started;
  }
  /** Whether a server still accepts connections (the 2.3.5 wrapper outlives a crashed milvus). */
  async alive(kind: CorpusKind, role: 'source' | 'target'): Promise<boolean> {
    const s = this.live.get(`${role}:${kind}`);
    return s ? portOpen(s.port) : false;
  }
  async stopAll(): Promise<void> {
    await Promise.all([...this.live.values()].map((s) => s.stop()));
    this.live.clear();
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(2000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * Runs the CLI while watching the target: when the target stops accepting connections the run is
 * stopped at once (the engine would retry for minutes against a closed port, issue 12), and the
 * death is reported.
 */
async function runWatched(
  args: string[],
  targetPort: number,
  timeoutMs: number,
  env: Record<string, string> = {},
): Promise<CliResult & { targetDied: boolean }> {
  // Every reply through the pooled receive path (grpc-replies.ts): the pages of generated
  // collections are small, and the differ is what proves that reused memory held no stale bytes.
  const child = startCli(args, { LOG_LEVEL: 'warn', MILVUS_MIGRATE_POOLED_REPLY_MIN: '1', ...env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let targetDied = false;
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  let finished = false;
  void closed.then(() => (finished = true));
  while (!finished) {
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
    if (finished) break;
    if (Date.now() > deadline || !(await portOpen(targetPort))) {
      targetDied = Date.now() <= deadline;
      child.kill('SIGKILL');
      break;
    }
  }
  const code = await closed;
  return { code, stdout, stderr, targetDied };
}

/** The number of key ranges of every 'collection split into shards' line in a run's log. */
function splitsIn(log: string): number[] {
  const splits: number[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('collection split into shards')) continue;
    try {
      splits.push((JSON.parse(line) as { shards: unknown[] }).shards.length);
    } catch {
      // not a log line of ours
    }
  }
  return splits;
}

async function collectionsOn(endpoint: string): Promise<string[]> {
  const c = new MilvusClient({ address: endpoint, logLevel: 'error', channelOptions: SDK_CHANNEL_OPTIONS });
  try {
    const r = await c.showCollections();
    return r.data.map((x) => x.name).sort();
  } finally {
    await c.closeConnection();
  }
}

/** Migrates one generated collection with the CLI and checks the outcome; never throws. */
export async function runCase(o: {
  servers: Servers;
  source: CorpusKind;
  target: CorpusKind;
  manifest: Manifest;
  stateDir: string;
  cliTimeoutMs?: number;
  /** After a clean copy, run the same migration again: it must succeed and change nothing. */
  rerun?: boolean;
  /** `run --workers N` with pages small enough that a few hundred rows split into N shards. */
  workers?: number;
}): Promise<CaseResult> {
  const m = o.manifest;
  const pair = `${o.source}:${o.target}`;
  const base: CaseResult = {
    pair,
    seed: m.seed,
    index: m.index,
    name: m.name,
    outcome: 'failed',
    differences: [],
    knownLosses: [],
    rows: 0,
    reproduce: m.case
      ? `the fixed case ${m.case} of test/integration/corpus.test.ts (generate.py --case ${m.case})`
      : `npm run fuzz -- --pair ${pair} --seed ${m.seed} --seeds 1 --only ${m.index}${m.excluded.length ? ` --exclude ${m.excluded.join(',')}` : ''}${(o.workers ?? 1) > 1 ? ` --workers ${o.workers}` : ''}`,
  };
  try {
    const src = await o.servers.get(o.source, 'source');
    const dst = await o.servers.get(o.target, 'target');
    const before = await collectionsOn(dst.endpoint);
    const file = yamlFile(
      migrationYaml({
        name: `corpus-${m.name.replace(/_/g, '-')}`,
        source: src.endpoint,
        target: dst.endpoint,
        collections: [{ name: m.name }],
      }),
    );
    const sharded = (o.workers ?? 1) > 1;
    const run = (stateDir: string) =>
      runWatched(
        [
          'run',
          '-f',
          file,
          '--state-dir',
          stateDir,
          '--output',
          'json',
          ...(sharded ? ['--workers', String(o.workers)] : []),
        ],
        dst.port,
        o.cliTimeoutMs ?? 180_000,
        // info: the split's log lines say whether the collection was copied in shards at all.
        sharded ? { MILVUS_MIGRATE_PAGE_BYTES: '4000', LOG_LEVEL: 'info' } : {},
      );
    const res = await run(o.stateDir);
    if (sharded) base.shards = splitsIn(res.stderr);
    const targetDied = res.targetDied || !(await o.servers.alive(o.target, 'target'));
    let status: { phase?: string; collections?: { phase: string; warnings?: string[]; message?: string }[] } =
      {};
    try {
      status = JSON.parse(res.stdout);
    } catch {
      // not JSON: reported below with the output's tail
    }
    const col = status.collections?.[0];
    const tail = `exit ${res.code}; ${col?.message ?? ''} ${(res.stdout + res.stderr).slice(-1500)}`.trim();
    if (targetDied) {
      // The Go panic and the first frames of the milvus code under it.
      const lines = dst.logTail(400).split('\n');
      const at = lines.findIndex((l) => /^panic:|fatal error|SIGSEGV/.test(l));
      const log =
        at < 0
          ? lines.slice(-5)
          : lines
              .slice(at, at + 40)
              .filter((l) => /panic|signal|milvus-io\/milvus\/internal/.test(l))
              .slice(0, 6);
      base.differences.push(
        `the target server died during the run (${tail})\n    server log: ${log.join('\n    ')}`,
      );
      return base;
    }
    const misfit = misfits(m, o.target);
    const refusable = mayRefuse(m, o.target);
    if (misfit.length || (refusable.length && res.code !== 0 && col?.phase !== 'Succeeded')) {
      // Must be refused before anything is written.
      const after = await collectionsOn(dst.endpoint);
      const written = after.filter((n) => !before.includes(n));
      if (res.code !== 1)
        base.differences.push(`expected a refusal (${[...misfit, ...refusable].join(', ')}), got ${tail}`);
      if (written.length)
        base.differences.push(`not copied, yet the target now holds ${written.join(', ')}: ${tail}`);
      if (!`${res.stdout}${res.stderr}`.includes(m.name))
        base.differences.push(`the refusal does not name ${m.name}: ${tail}`);
      if (!base.differences.length) {
        base.outcome = 'refused';
        base.knownLosses = [`refused: ${[...misfit, ...refusable].join(', ')}`];
      }
      return base;
    }
    if (res.code !== 0 || col?.phase !== 'Succeeded') {
      base.differences.push(`run did not succeed: ${tail}`);
      return base;
    }
    const diff = (warnings: string[]) =>
      diffCollection({
        source: { endpoint: src.endpoint, kind: o.source },
        target: { endpoint: dst.endpoint, kind: o.target },
        sourceName: m.name,
        targetName: m.name,
        regeneratedKeys: m.pk.autoID,
        warnings,
      });
    const d = await diff(col.warnings ?? []);
    base.differences.push(...d.differences);
    // No fault here: a copy that came up short is a defect, even when its fill-in pass mended it.
    const filledIn = (col.warnings ?? []).filter((w) => /fill-in pass/.test(w));
    base.differences.push(...filledIn.map((w) => `the copy came up short without any fault: ${w}`));
    base.knownLosses = d.knownLosses;
    base.rows = d.targetRows;
    if (d.sourceRows !== m.rows.liveKeys)
      base.differences.push(
        `the source holds ${d.sourceRows} keys, the generator expected ${m.rows.liveKeys}`,
      );
    if (o.rerun && !base.differences.length) {
      // A finished migration run again must succeed and change nothing (the user's second `run`,
      // from the same state directory). Without that state the target is not known to be this
      // migration's own: the plan must refuse it, and again nothing may change.
      for (const owned of [true, false]) {
        const how = owned ? 'with the same state' : 'without state';
        const again = await run(
          owned ? o.stateDir : fs.mkdtempSync(path.join(os.tmpdir(), 'mm-corpus-rerun-')),
        );
        let st: typeof status & { conditions?: { type: string; reason?: string }[] } = {};
        try {
          st = JSON.parse(again.stdout);
        } catch {
          // reported below
        }
        const c2 = st.collections?.[0];
        const text = `exit ${again.code}; ${c2?.message ?? ''} ${(again.stdout + again.stderr).slice(-1500)}`;
        if (owned && (again.code !== 0 || c2?.phase !== 'Succeeded'))
          base.differences.push(`the re-run ${how} did not succeed: ${text}`);
        const ready = st.conditions?.find((c) => c.type === 'Ready');
        if (!owned && (again.code !== 1 || ready?.reason !== 'PlanRefused'))
          base.differences.push(`the re-run ${how} was not refused as another's target: ${text}`);
        const d2 = await diff([...(col.warnings ?? []), ...(c2?.warnings ?? [])]);
        base.differences.push(...d2.differences.map((x) => `after the re-run ${how}: ${x}`));
        if (d2.targetRows !== d.targetRows)
          base.differences.push(
            `after the re-run ${how}: ${d2.targetRows} target rows, before it ${d.targetRows}`,
          );
        if (base.differences.length) break;
      }
    }
    if (!base.differences.length) base.outcome = 'copied';
  } catch (e) {
    base.differences.push(`harness error: ${(e as Error).stack ?? e}`);
  }
  return base;
}

export interface CorpusOptions {
  pairs: [CorpusKind, CorpusKind][];
  seeds: number[];
  collectionsPerSeed: number;
  rows: number;
  only?: number;
  exclude?: string[];
  log?: (line: string) => void;
  /** Log the accepted known losses and refusal reasons too. */
  verbose?: boolean;
  /** Run every cleanly copied collection's migration a second time (must change nothing). */
  rerun?: boolean;
  /** Copy with `run --workers N` (key ranges split by shards.ts), pages small enough to split. */
  workers?: number;
}

/**
 * Generates every seed once per source kind (with the target kinds of the chosen pairs in mind)
 * and runs every collection through every chosen pair.
 */
export async function runCorpus(o: CorpusOptions, servers: Servers): Promise<CaseResult[]> {
  const log = o.log ?? (() => {});
  await ensureCorpusVenv();
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-corpus-state-'));
  const results: CaseResult[] = [];
  const sources = [...new Set(o.pairs.map((p) => p[0]))];
  for (const seed of o.seeds) {
    for (const sourceKind of sources) {
      const targets = o.pairs.filter((p) => p[0] === sourceKind).map((p) => p[1]);
      const src = await servers.get(sourceKind, 'source');
      let manifests: Manifest[];
      try {
        manifests = await generate({
          server: src,
          sourceKind,
          targetKinds: targets,
          seed,
          collections: o.only !== undefined ? 1 : o.collectionsPerSeed,
          first: o.only ?? 0,
          rows: o.rows,
          prefix: sourceKind === 'milvus-lite' ? 'l' : 'm',
          exclude: o.exclude,
        });
      } catch (e) {
        results.push({
          pair: `${sourceKind}:*`,
          seed,
          index: -1,
          name: '(generator)',
          outcome: 'failed',
          differences: [(e as Error).message],
          knownLosses: [],
          rows: 0,
          reproduce: `seed ${seed}`,
        });
        continue;
      }
      for (const target of targets) {
        for (const m of manifests) {
          const r = await runCase({
            servers,
            source: sourceKind,
            target,
            manifest: m,
            stateDir,
            rerun: o.rerun,
            workers: o.workers,
          });
          results.push(r);
          log(
            `${r.outcome.padEnd(7)} ${r.pair} ${r.name} seed=${r.seed} rows=${r.rows}${r.shards ? ` shards=${r.shards.join('+') || 'none'}` : ''} [${m.features.join(' ')}]${r.differences.length ? `\n    ${r.differences.join('\n    ')}\n    reproduce: ${r.reproduce}` : ''}`,
          );
        }
      }
    }
  }
  return results;
}

/**
 * `npm run bench` (issue 7, item 4): copy throughput between two local Milvus 2.3.5 servers.
 *
 *   npm run bench -- [--rows 200000] [--dim 768] [--workers 4] [--skip naive,engine-n]
 *                    [--json FILE] [--cli dist/cli/main.js] [--page-mb 16] [--insert-mb 24]
 *
 * Starts a source and a target server (test/support/milvus-server.ts), seeds the source with
 * deterministic rows (pk Int64, vec FloatVector(dim), tag VarChar(64); flushed, FLAT index,
 * loaded), then measures, each in its own process and each into a fresh target collection that is
 * verified with count(*) and dropped afterwards:
 *   read ceiling, write ceiling, the naive SDK copy, the engine (CLI) with 1 and with N workers.
 * Prints a table and the ratios against the issue's targets. See docs/performance.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MilvusClient } from '../src/adapters/milvus/client.js';
import { encode } from '../src/adapters/milvus/proto.js';
import { migrationYaml } from '../test/support/cli.js';
import { type MilvusTestServer, REPO_ROOT, startMilvus } from '../test/support/milvus-server.js';
import {
  cpuBetween,
  killCurrent,
  loadAvg,
  measureProcess,
  type ProcessFigures,
  serverCpu,
} from './measure.js';
import type { PathConfig, PathResult } from './paths.js';
import { peerCommand, peerSucceeded } from './peer.js';
import { insertRequestBytes, PK, payloadBytes, selfCheck, TAG, TAG_MAX, VEC } from './wire.js';

const PATHS = ['read', 'write', 'naive', 'peer', 'engine-1', 'engine-n'] as const;
type PathName = (typeof PATHS)[number];
/** The paths compared by their time to a usable target, run in alternating rounds. */
const CONTENDERS: readonly PathName[] = ['peer', 'engine-1', 'engine-n'];

const { values: argv } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    dim: { type: 'string', default: '768' },
    workers: { type: 'string', default: '4' },
    skip: { type: 'string', default: '' },
    json: { type: 'string' },
    cli: { type: 'string', default: path.join(REPO_ROOT, 'dist', 'cli', 'main.js') },
    'page-mb': { type: 'string', default: '16' },
    'insert-mb': { type: 'string', default: '24' },
    'in-flight': { type: 'string', default: '2' },
    'target-state': { type: 'string', default: 'empty' },
    'wait-for': { type: 'string' },
    peer: { type: 'string' },
    'peer-buffer': { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '2' },
    compare: { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', default: false },
  },
});

if (argv.help) {
  process.stdout.write(
    'npm run bench -- [--rows N] [--dim D] [--workers N] [--skip read,write,naive,engine-1,engine-n]\n' +
      '                 [--json FILE] [--cli PATH] [--page-mb 16] [--insert-mb 24] [--in-flight 2]\n' +
      '                 [--target-state empty|loaded] [--wait-for FILE]\n' +
      '                 [--peer PATH] [--peer-buffer 2000] [--rounds 2] [--compare LABEL=CLI ...]\n',
  );
  process.exit(0);
}

const ROWS = Number(argv.rows);
const DIM = Number(argv.dim);
const WORKERS = Number(argv.workers);
const MAIN_CLI = path.resolve(argv.cli);
const CLI = MAIN_CLI;
const SKIP = new Set(argv.skip.split(',').filter(Boolean));
const PEER = argv.peer ? path.resolve(argv.peer) : undefined;
const PEER_BUFFER = Number(argv['peer-buffer']);
const ROUNDS = Number(argv.rounds);
/** Other engine builds measured in the same rounds as engine paths of their own (`--compare LABEL=PATH`). */
const COMPARE = (argv.compare ?? []).map((x) => {
  const m = /^([\w.-]+)=(.+)$/.exec(x);
  if (!m) throw new Error(`--compare ${x}: expected LABEL=PATH to a dist/cli/main.js`);
  const cli = path.resolve(m[2]!);
  if (!fs.existsSync(cli)) throw new Error(`--compare ${x}: no such file`);
  return { tag: m[1]!, cli };
});
type Build = (typeof COMPARE)[number] | undefined;
if (!(ROUNDS >= 1 && PEER_BUFFER >= 1)) throw new Error('--rounds and --peer-buffer must be positive');
if (PEER && !fs.existsSync(PEER))
  throw new Error(`--peer ${PEER}: no such file (see docs/performance.md, "The peer")`);
for (const s of SKIP)
  if (!(PATHS as readonly string[]).includes(s))
    throw new Error(`--skip: unknown path ${s} (${PATHS.join(', ')})`);
if (!(ROWS > 0 && DIM > 0 && WORKERS >= 1)) throw new Error('--rows, --dim and --workers must be positive');

const SOURCE = 'bench_src';
/** Bytes per row on the wire, roughly: for sizing pages and requests only. */
const ROW_WIRE = 8 + 4 * DIM + 40 + 8;
const READ_ROWS = Math.max(1, Math.min(16384, Math.floor((Number(argv['page-mb']) * 1e6) / ROW_WIRE)));
const WRITE_ROWS = Math.max(1, Math.floor((Number(argv['insert-mb']) * 1e6) / ROW_WIRE));
const IN_FLIGHT = Number(argv['in-flight']);
/**
 * How the bench prepares the targets of the ceilings and the naive path: 'empty' (no index, not
 * loaded: filled first, indexed and loaded after the timed copy, as the engine does with a fresh
 * target) or 'loaded' (FLAT index and loaded before the copy, so the target's query node consumes
 * every insert while the copy runs).
 */
const TARGET_STATE = argv['target-state'];
if (TARGET_STATE !== 'empty' && TARGET_STATE !== 'loaded') throw new Error('--target-state: empty or loaded');

const say = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const out = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Row {
  path: PathName;
  label: string;
  /** Which round (contenders run in alternating rounds); medians carry the number of rounds. */
  round?: number;
  rounds?: number;
  /** An engine build given with --compare (its label); undefined: the measured build (--cli). */
  build?: string;
  rows?: number;
  mb?: number;
  wallS?: number;
  /** What the wall time covers: 'copy loop' (timed in the process) or from the engine's log. */
  window?: string;
  processS?: number;
  rowsPerS?: number;
  mbPerS?: number;
  cpuS?: number;
  cpuSPerGb?: number;
  /** CPU inside the copy window only (without start-up, target creation, verification). */
  windowCpuS?: number;
  windowCpuSPerGb?: number;
  peakRssMb?: number;
  serverCpuS?: Record<string, number>;
  /** CPU the rest of the machine used meanwhile (machine busy − copy − servers). */
  otherCpuS?: number;
  load1?: number;
  /** The source's loaded segments (id:rows) when the path started and ended. */
  sourceSegments?: { before: string[]; after: string[] };
  verified?: string;
  /** The bench's steps to a usable target after the process ended (flush, index, load, count), s. */
  finishSteps?: Record<string, number>;
  finishS?: number;
  /** Time to a usable target: the whole process plus finishS. */
  usableS?: number;
  /** Seconds waited before the path until both servers were idle, and whether they got there. */
  idleWaitS?: number;
  idle?: boolean;
  /** What happened when, seconds from the process start (the engine's log; the bench's steps). */
  timeline?: string;
  error?: string;
  /** Where the output of a failed path was kept. */
  logs?: string;
  skipped?: string;
  usage?: string;
}

// ---- servers and cleanup -----------------------------------------------------------------------

const servers: MilvusTestServer[] = [];
let stopping = false;

async function stopAll(): Promise<void> {
  await Promise.allSettled(servers.map((s) => s.stop()));
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    say(`${sig}: stopping the copy process and the servers`);
    killCurrent();
    void stopAll().finally(() => process.exit(130));
  });
}

/** The servers as the measurement sees them: 'src' and 'dst'. */
function serverRefs() {
  return servers.map((s) => ({ name: s.name === 'bench-source' ? 'src' : 'dst', pids: () => s.pids() }));
}

function admin(s: MilvusTestServer): MilvusClient {
  return new MilvusClient({ endpoint: s.endpoint, database: 'default', side: 'bench', timeoutMs: 600_000 });
}

// ---- collections -------------------------------------------------------------------------------

async function createBenchCollection(c: MilvusClient, name: string): Promise<void> {
  const schema = {
    name,
    description: 'milvus-migrate bench',
    fields: [
      { name: PK, data_type: 5, is_primary_key: true, autoID: false, type_params: [] },
      { name: VEC, data_type: 101, type_params: [{ key: 'dim', value: String(DIM) }] },
      { name: TAG, data_type: 21, type_params: [{ key: 'max_length', value: String(TAG_MAX) }] },
    ],
    enable_dynamic_field: false,
  };
  await c.createCollection({
    collection_name: name,
    schema: encode('schema.CollectionSchema', schema),
    shards_num: 1,
    consistency_level: 2, // Bounded, the server default
    properties: [],
  });
}

async function waitFor(what: string, ms: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await sleep(100);
  }
  throw new Error(`${what}: not done after ${ms / 1000} s`);
}

/** FLAT index on the vector, then load; waits until the index covers every flushed row and the load is done. */
async function indexAndLoad(c: MilvusClient, name: string): Promise<void> {
  await c.createIndex(name, VEC, 'vec_flat', [
    { key: 'index_type', value: 'FLAT' },
    { key: 'metric_type', value: 'L2' },
    { key: 'params', value: '{}' },
  ]);
  await waitFor(`index of ${name}`, 20 * 60_000, async () => {
    const [d] = await c.describeIndexes(name);
    return d !== undefined && d.state === 3 && d.indexed_rows === d.total_rows;
  });
  await c.loadCollection(name);
  await waitFor(`load of ${name}`, 20 * 60_000, async () => (await c.getLoadState(name)) === 3);
}

async function flush(c: MilvusClient, name: string): Promise<void> {
  const r = await c.call<{
    coll_segIDs: Record<string, { data: string[] }>;
    coll_flush_ts: Record<string, string>;
  }>('Flush', { db_name: 'default', collection_names: [name] });
  const segmentIDs = r.coll_segIDs[name]?.data ?? [];
  const flushTs = r.coll_flush_ts[name] ?? '0';
  await waitFor(`flush of ${name}`, 10 * 60_000, async () => {
    const s = await c.call<{ flushed: boolean }>('GetFlushState', {
      segmentIDs,
      flush_ts: flushTs,
      db_name: 'default',
      collection_name: name,
    });
    return s.flushed;
  });
}

/** The source's loaded segments as `id:rows`, sorted (to see compaction and handoff between paths). */
async function querySegments(c: MilvusClient, name: string): Promise<string[]> {
  const r = await c.call<{ infos: { segmentID: string; num_rows: string }[] }>('GetQuerySegmentInfo', {
    dbName: 'default',
    collectionName: name,
  });
  return r.infos.map((i) => `${i.segmentID}:${i.num_rows}`).sort();
}

/**
 * Compacts the source and waits until the compacted segments are indexed and loaded and the loaded
 * segment set is stable and holds every row: a quiet, steady source, as a real one would be, and
 * no background compaction or handoff during the measurements.
 */
async function settle(c: MilvusClient, name: string): Promise<string[]> {
  const d = await c.describeCollection(name);
  const collectionID = (d as unknown as { collectionID: string }).collectionID;
  // Milvus keeps merging in the background after a manual round: repeat compact → indexed →
  // loaded segments stable for 10 s, until a whole round leaves the loaded segments as they were.
  let prev = await querySegments(c, name);
  let segs = prev;
  for (let round = 0; round < 8; round++) {
    const m = await c.call<{ compactionID: string }>('ManualCompaction', { collectionID });
    await waitFor(`compaction of ${name}`, 20 * 60_000, async () => {
      const st = await c.call<{ state: number }>('GetCompactionState', { compactionID: m.compactionID });
      return st.state === 2; // Completed
    });
    await waitFor(`index of ${name} after compaction`, 20 * 60_000, async () => {
      const [x] = await c.describeIndexes(name);
      return x !== undefined && x.state === 3 && x.indexed_rows === x.total_rows;
    });
    let last = '';
    let stableSince = Date.now();
    await waitFor(`a stable set of loaded segments of ${name}`, 10 * 60_000, async () => {
      segs = await querySegments(c, name);
      const rows = segs.reduce((t, x) => t + Number(x.split(':')[1]), 0);
      const key = segs.join(',');
      if (key !== last || rows !== ROWS) {
        last = key;
        stableSince = Date.now();
        return false;
      }
      return Date.now() - stableSince >= 10_000;
    });
    if (segs.join() === prev.join()) break;
    prev = segs;
  }
  return segs;
}

/**
 * Seeding a large source takes long (1M rows: ~12 min, mostly compaction settling) and may share
 * the machine with other work; the measurements need it quiet. --wait-for FILE seeds, then waits
 * until FILE exists before measuring.
 */
async function waitForFile(file: string): Promise<void> {
  say(`seeded; waiting for ${file} to exist before measuring (touch it when the machine is quiet)`);
  while (!fs.existsSync(file) && !stopping) await sleep(2000);
  say(`${file} exists: measuring, load average ${loadAvg()}`);
}

async function seed(src: MilvusTestServer): Promise<number> {
  const c = admin(src);
  const t0 = Date.now();
  await createBenchCollection(c, SOURCE);
  const starts: number[] = [];
  for (let s = 0; s < ROWS; s += WRITE_ROWS) starts.push(s);
  let next = 0;
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      while (next < starts.length) {
        const start = starts[next++]!;
        const req = insertRequestBytes(SOURCE, start, Math.min(WRITE_ROWS, ROWS - start), DIM);
        await c.raw<Buffer, Buffer>(
          '/milvus.proto.milvus.MilvusService/Insert',
          (b) => b,
          (b) => b,
          req,
          600_000,
        );
      }
    }),
  );
  const tInsert = Date.now();
  await flush(c, SOURCE);
  await indexAndLoad(c, SOURCE);
  const tLoaded = Date.now();
  const segs = await settle(c, SOURCE);
  const n = await c.count(SOURCE); // Strong
  c.close();
  say(
    `seeded ${n} rows: insert ${((tInsert - t0) / 1000).toFixed(1)} s, flush + index + load ${((tLoaded - tInsert) / 1000).toFixed(1)} s, compaction until the loaded segments are stable ${((Date.now() - tLoaded) / 1000).toFixed(1)} s; loaded segments (id:rows) ${segs.join(' ')}`,
  );
  if (n !== ROWS) throw new Error(`source count(*) is ${n}, expected ${ROWS}`);
  return n;
}

// ---- the measured paths ------------------------------------------------------------------------

const TIMEOUT_MS = Math.max(30 * 60_000, ROWS * 10); // generous: the naive path is slow

function finish(row: Row, f: ProcessFigures, gb: number): void {
  row.processS = (f.endMs - f.startMs) / 1000;
  row.cpuS = f.cpuUserS + f.cpuSysS;
  row.cpuSPerGb = row.cpuS / gb;
  row.peakRssMb = f.peakRssMb;
  row.serverCpuS = f.serverCpuS;
  row.otherCpuS = Math.max(
    0,
    f.machineCpuS - row.cpuS - Object.values(f.serverCpuS).reduce((a, b) => a + b, 0),
  );
  row.usage = f.source;
}

function rates(row: Row, rows: number, mb: number, wallS: number): void {
  row.rows = rows;
  row.mb = mb;
  row.wallS = wallS;
  row.rowsPerS = rows / wallS;
  row.mbPerS = mb / wallS;
}

/**
 * Makes the target usable the same way after every path, timed: flush, a FLAT index on the vector
 * unless the path made one, wait until it covers every flushed row, load unless loaded, and a
 * Strong count(*), which must equal `expected`. The engine has already indexed and loaded its
 * target (so its index and load steps are short); the peer and the ceilings have not.
 */
async function finishTarget(dst: MilvusTestServer, name: string, expected: number, row: Row): Promise<void> {
  const c = admin(dst);
  const steps: Record<string, number> = {};
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      steps[what] = (Date.now() - t0) / 1000;
    }
  };
  try {
    await step('flush', () => flush(c, name));
    await step('index', async () => {
      if (!(await c.describeIndexes(name)).length)
        await c.createIndex(name, VEC, 'vec_flat', [
          { key: 'index_type', value: 'FLAT' },
          { key: 'metric_type', value: 'L2' },
          { key: 'params', value: '{}' },
        ]);
      await waitFor(`index of ${name}`, 20 * 60_000, async () => {
        const [d] = await c.describeIndexes(name);
        return d !== undefined && d.state === 3 && d.indexed_rows === d.total_rows;
      });
    });
    await step('load', async () => {
      if ((await c.getLoadState(name)) === 3) return;
      await c.loadCollection(name);
      await waitFor(`load of ${name}`, 20 * 60_000, async () => (await c.getLoadState(name)) === 3);
    });
    const n = await step('count', () => c.count(name)); // Strong: sees every acknowledged insert
    row.verified = `${n}`;
    if (n !== expected) row.error = `target count(*) ${n} != source ${expected}`;
  } finally {
    c.close();
    row.finishSteps = steps;
    row.finishS = Object.values(steps).reduce((a, b) => a + b, 0);
    if (row.processS !== undefined) row.usableS = row.processS + row.finishS;
  }
}

/** The bench's finishing steps as timeline text, after `fromS`. */
function finishTimeline(row: Row, fromS: number): string {
  let t = fromS;
  const parts = Object.entries(row.finishSteps ?? {}).map(([k, v]) => {
    t += v;
    return `${k} ${v.toFixed(1)}`;
  });
  return `bench: ${parts.join(', ')} -> usable ${t.toFixed(1)}`;
}

/** Drops every collection on the target: each path starts on an empty server. */
async function emptyTarget(dst: MilvusTestServer): Promise<void> {
  const c = admin(dst);
  try {
    for (const n of await c.showCollections()) await c.dropCollection(n);
  } finally {
    c.close();
  }
}

/** CPU seconds both servers have used so far. */
function serversCpu(): number {
  return serverRefs().reduce((t, s) => t + serverCpu(s), 0);
}

/** What both servers use per second when nothing runs, measured after seeding. */
let idleCpuPerS = 0;

/**
 * Waits (at most 2 minutes) until both servers have been idle for 3 s in a row: using at most
 * their idle CPU as measured after seeding plus 5 % of a core. Returns the seconds waited.
 */
async function waitIdle(row: Row): Promise<void> {
  const t0 = Date.now();
  let prev = serversCpu();
  let quiet = 0;
  while (Date.now() - t0 < 120_000 && quiet < 3 && !stopping) {
    await sleep(1000);
    const now = serversCpu();
    quiet = now - prev <= idleCpuPerS * 1.2 + 0.05 ? quiet + 1 : 0;
    prev = now;
  }
  row.idleWaitS = (Date.now() - t0) / 1000;
  row.idle = quiet >= 3;
}

async function measureIdle(): Promise<void> {
  await sleep(3000);
  const a = serversCpu();
  await sleep(5000);
  idleCpuPerS = (serversCpu() - a) / 5;
}

async function dropTarget(dst: MilvusTestServer, name: string): Promise<void> {
  const c = admin(dst);
  try {
    if ((await c.showCollections()).includes(name)) await c.dropCollection(name);
  } finally {
    c.close();
  }
}

async function runPath(
  p: 'read' | 'write' | 'naive',
  src: MilvusTestServer,
  dst: MilvusTestServer,
  bytes: number,
): Promise<Row> {
  const label = {
    read: 'read ceiling (raw Query)',
    write: 'write ceiling (raw Insert)',
    naive: 'naive (SDK)',
  }[p];
  const row: Row = { path: p, label, load1: os.loadavg()[0] };
  const target = `bench_dst_${p}`;
  if (p !== 'read') {
    const c = admin(dst);
    await createBenchCollection(c, target);
    if (TARGET_STATE === 'loaded') await indexAndLoad(c, target);
    c.close();
  }
  const cfg: PathConfig = {
    path: p,
    source: src.endpoint,
    target: dst.endpoint,
    sourceCollection: SOURCE,
    targetCollection: target,
    rows: ROWS,
    dim: DIM,
    readRows: READ_ROWS,
    writeRows: WRITE_ROWS,
    inFlight: IN_FLIGHT,
  };
  say(`${label}: running`);
  const f = await measureProcess(
    ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'paths.ts'), JSON.stringify(cfg)],
    {
      servers: serverRefs(),
      timeoutMs: TIMEOUT_MS,
      cwd: REPO_ROOT,
    },
  );
  finish(row, f, bytes / 1e9);
  const line = f.stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  let r: PathResult | undefined;
  if (f.code !== 0 || !line) {
    row.error = `exit ${f.code ?? f.signal}: ${lastLines(f.stderr, 3)}`;
    row.logs = keepLogs(p, f);
  } else {
    r = JSON.parse(line.slice('BENCH_RESULT '.length)) as PathResult;
    rates(row, r.rows, bytes / 1e6, (r.endMs - r.startMs) / 1000);
    row.window = 'copy loop';
    row.windowCpuS = r.windowCpuUs / 1e6;
    row.windowCpuSPerGb = row.windowCpuS / (bytes / 1e9);
    if (r.rows !== ROWS) row.error = `moved ${r.rows} rows, expected ${ROWS}`;
    if (p === 'read') row.verified = `${r.rows} read`;
  }
  if (p !== 'read') {
    if (!row.error && r) {
      await finishTarget(dst, target, ROWS, row);
      row.timeline = `copy loop ${((r.startMs - f.startMs) / 1000).toFixed(1)}-${((r.endMs - f.startMs) / 1000).toFixed(1)}, exit ${row.processS!.toFixed(1)} | ${finishTimeline(row, row.processS!)}`;
    }
    await dropTarget(dst, target);
  }
  say(`${label}: ${describe(row)}`);
  return row;
}

/**
 * Starts a server, once more if it dies during start: ports are free when picked, but servers of
 * other checkouts on the same machine (their own port claims) can take one before Milvus binds it.
 */
async function start(name: string): Promise<MilvusTestServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      const server = await startMilvus({ kind: 'milvus-2.3.5', name });
      servers.push(server); // stopped on exit, Ctrl-C or failure
      return server;
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (attempt >= 3 || stopping) throw err;
      say(
        `${name} did not start (${msg.split('\n')[0]}${/address already in use/.test(msg) ? '; a port was taken meanwhile' : ''}): trying again`,
      );
    }
  }
}

function cliHasWorkers(cli = CLI): boolean {
  const help = spawnSync(process.execPath, [cli, 'run', '--help'], { encoding: 'utf8' });
  return /--workers\b/.test(help.stdout + help.stderr);
}

interface LogLine {
  time?: number;
  msg?: string;
}

/**
 * The copy window from the engine's own log: from "copy started" (or, for builds before it was
 * logged, "target shape ensured" when it comes before the copy) to the last "copy done".
 */
function engineWindow(stderr: string): { startMs?: number; endMs?: number } {
  let started: number | undefined;
  let shaped: number | undefined;
  let created: number | undefined;
  let endMs: number | undefined;
  for (const l of stderr.split('\n')) {
    if (!l.startsWith('{')) continue;
    let j: LogLine;
    try {
      j = JSON.parse(l) as LogLine;
    } catch {
      continue;
    }
    if (j.time === undefined) continue;
    if (j.msg === 'copy started') started ??= j.time;
    if (j.msg === 'target shape ensured' && endMs === undefined) shaped ??= j.time;
    if (j.msg === 'target collection created') created ??= j.time;
    if (j.msg === 'copy done') endMs = j.time;
  }
  const startMs = started ?? shaped ?? created;
  if (startMs === undefined || endMs === undefined || startMs >= endMs) return {};
  return { startMs, endMs };
}

/** The engine's log lines that mark its stages, in the order they come. */
const STAGES: [msg: string, label: string][] = [
  ['plan accepted', 'planned'],
  ['target collection created', 'created'],
  ['copy started', 'copy'],
  ['copy done', 'copied'],
  ['target shape ensured', 'indexed+loaded'],
  ['counts verified', 'counted'],
  ['content verified', 'compared'],
];

/** `planned 0.9, created 1.0, copy 1.1, copied 21.0, …`: seconds from the process start. */
function engineTimeline(stderr: string, startMs: number): string {
  const at = new Map<string, number>();
  for (const l of stderr.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      const j = JSON.parse(l) as LogLine;
      if (j.time === undefined || !j.msg) continue;
      // The first of each; "copy done" and the stages after it: the last (one per worker or range).
      if (!at.has(j.msg) || j.msg === 'copy done') at.set(j.msg, j.time);
    } catch {
      // not a log line
    }
  }
  return STAGES.filter(([m]) => at.has(m))
    .map(([m, label]) => `${label} ${((at.get(m)! - startMs) / 1000).toFixed(1)}`)
    .join(', ');
}

async function runPeer(dst: MilvusTestServer, src: MilvusTestServer, bytes: number): Promise<Row> {
  const row: Row = {
    path: 'peer',
    label: `peer (milvus-migration, bufferSize ${PEER_BUFFER})`,
    load1: os.loadavg()[0],
  };
  if (!PEER) {
    row.skipped = 'no --peer PATH (see docs/performance.md, "The peer")';
    return row;
  }
  const target = 'bench_peer';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-bench-peer-'));
  const args = peerCommand(PEER, dir, {
    source: src.endpoint,
    target: dst.endpoint,
    sourceCollection: SOURCE,
    targetCollection: target,
    bufferSize: PEER_BUFFER,
  });
  say(`${row.label}: running ${args.join(' ')}`);
  const f = await measureProcess(args, {
    servers: serverRefs(),
    timeoutMs: TIMEOUT_MS,
    cwd: dir,
    native: true,
  });
  finish(row, f, bytes / 1e9);
  if (f.code !== 0 || !peerSucceeded(f.stdout + f.stderr)) {
    row.error = `exit ${f.code ?? f.signal}, no "Migration Success!": ${lastLines(f.stdout + f.stderr, 3)}`;
  } else {
    row.window = 'process';
    rates(row, ROWS, bytes / 1e6, row.processS!);
    await finishTarget(dst, target, ROWS, row);
    row.timeline = `exit ${row.processS!.toFixed(1)} | ${finishTimeline(row, row.processS!)}`;
  }
  if (row.error) row.logs = keepLogs('peer', f);
  await dropTarget(dst, target);
  fs.rmSync(dir, { recursive: true, force: true });
  say(`${row.label}: ${describe(row)}`);
  return row;
}

async function runEngine(
  p: 'engine-1' | 'engine-n',
  src: MilvusTestServer,
  dst: MilvusTestServer,
  bytes: number,
  hasWorkers: boolean,
  build?: Build,
): Promise<Row> {
  const CLI = build?.cli ?? MAIN_CLI;
  const workers = p === 'engine-1' ? 1 : WORKERS;
  const label = `engine (${workers} worker${workers > 1 ? 's' : ''})${build ? ` [${build.tag}]` : ''}`;
  const row: Row = { path: p, label, load1: os.loadavg()[0], build: build?.tag };
  if (p === 'engine-n' && !hasWorkers) {
    row.skipped = `${path.relative(REPO_ROOT, CLI)} has no --workers flag (run --help): not measured`;
    return row;
  }
  const target = `bench_engine_w${workers}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-bench-engine-'));
  const file = path.join(dir, 'migration.yaml');
  fs.writeFileSync(
    file,
    migrationYaml({
      name: `bench-w${workers}`,
      source: src.endpoint,
      target: dst.endpoint,
      verify: 'count',
      collections: [{ name: SOURCE, targetName: target }],
    }),
  );
  const args = [CLI, 'run', '-f', file, '-o', 'json', '--state-dir', path.join(dir, 'state')];
  if (hasWorkers) args.push('--workers', String(workers));
  say(`${label}: running ${path.relative(REPO_ROOT, CLI)} run ${args.slice(2).join(' ')}`);
  const f = await measureProcess(args, {
    servers: serverRefs(),
    timeoutMs: TIMEOUT_MS,
    cwd: REPO_ROOT,
    // debug: the "target shape ensured" line marks the start of the copy
    env: { LOG_LEVEL: 'debug' },
  });
  finish(row, f, bytes / 1e9);
  let status: {
    phase?: string;
    collections?: {
      copiedEntities?: number;
      targetEntities?: number;
      message?: string;
      warnings?: string[];
    }[];
  } = {};
  try {
    status = JSON.parse(f.stdout) as typeof status;
  } catch {
    // not JSON: reported below
  }
  const copied = status.collections?.[0]?.copiedEntities;
  if (f.code !== 0 || status.phase !== 'Succeeded' || copied === undefined) {
    row.error = `exit ${f.code ?? f.signal}, phase ${status.phase ?? '?'}: ${status.collections?.[0]?.message ?? lastLines(f.stderr, 3)}`;
  } else {
    const w = engineWindow(f.stderr);
    const start = w.startMs ?? f.startMs;
    const end = w.endMs ?? f.endMs;
    row.window = w.startMs && w.endMs ? 'engine log' : 'process';
    rates(row, copied, bytes / 1e6, (end - start) / 1000);
    row.windowCpuS = cpuBetween(f.samples, start, end);
    if (row.windowCpuS !== undefined) row.windowCpuSPerGb = row.windowCpuS / (bytes / 1e9);
    await finishTarget(dst, target, ROWS, row);
    row.timeline = `${engineTimeline(f.stderr, f.startMs)}, exit ${row.processS!.toFixed(1)} | ${finishTimeline(row, row.processS!)}`;
    if (copied !== ROWS) {
      const c = status.collections?.[0];
      row.error = `engine says Succeeded but copied ${copied} rows of ${ROWS} (target count(*) ${row.verified}; engine's targetEntities ${c?.targetEntities}, warnings: ${(c?.warnings ?? []).join(' / ') || 'none'})`;
    }
  }
  if (row.error) row.logs = keepLogs(p, f);
  await dropTarget(dst, target);
  fs.rmSync(dir, { recursive: true, force: true });
  say(`${label}: ${describe(row)}`);
  return row;
}

/** Keeps the output of a failed path under .cache/bench-logs for a look afterwards. */
function keepLogs(p: string, f: ProcessFigures): string {
  const dir = path.join(REPO_ROOT, '.cache', 'bench-logs');
  fs.mkdirSync(dir, { recursive: true });
  const base = path.join(dir, `${p}-${new Date(f.startMs).toISOString().replace(/[:.]/g, '-')}`);
  fs.writeFileSync(`${base}.stdout`, f.stdout);
  fs.writeFileSync(`${base}.stderr`, f.stderr);
  return `${path.relative(REPO_ROOT, base)}.{stdout,stderr}`;
}

function lastLines(s: string, n: number): string {
  return s.trim().split('\n').slice(-n).join(' | ').slice(0, 600);
}

function describe(r: Row): string {
  if (r.skipped) return `skipped: ${r.skipped}`;
  if (r.error) return `ERROR ${r.error}${r.logs ? ` (output kept in ${r.logs})` : ''}`;
  return `${r.rows} rows in ${r.wallS?.toFixed(1)} s, ${r.mbPerS?.toFixed(1)} MB/s, ${r.cpuSPerGb?.toFixed(1)} CPU-s/GB, ${r.peakRssMb?.toFixed(0)} MB RSS`;
}

// ---- report -------------------------------------------------------------------------------------

function fmt(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

function table(rows: Row[], serverNames: string[]): string {
  const head = [
    'path',
    'rows',
    'MB',
    'wall s',
    'rows/s',
    'MB/s',
    'CPU s',
    'CPU s/GB',
    'copy CPU s/GB',
    'peak RSS MB',
    ...serverNames.map((n) => `${n} CPU s`),
    'other CPU s',
    'process s',
    'load1',
    'verified',
  ];
  const body = rows.map((r) => {
    if (r.skipped) return [r.label, `skipped: ${r.skipped}`];
    return [
      r.label,
      r.rows === undefined ? '-' : String(r.rows),
      fmt(r.mb, 0),
      fmt(r.wallS, 1),
      fmt(r.rowsPerS, 0),
      fmt(r.mbPerS, 1),
      fmt(r.cpuS, 1),
      fmt(r.cpuSPerGb, 1),
      fmt(r.windowCpuSPerGb, 1),
      fmt(r.peakRssMb, 0),
      ...serverNames.map((n) => fmt(r.serverCpuS?.[n], 1)),
      fmt(r.otherCpuS, 1),
      fmt(r.processS, 1),
      fmt(r.load1, 2),
      r.error ? `ERROR (${r.verified ?? '?'}), see below` : (r.verified ?? '-'),
    ];
  });
  const full = body.filter((b) => b.length === head.length);
  const width = head.map((h, i) => Math.max(h.length, ...full.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.length === head.length
      ? cells.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ')
      : `${cells[0]!.padEnd(width[0]!)}  ${cells[1]}`;
  return [line(head), width.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1]! + v[m]!) / 2;
}

const MEDIAN_FIELDS = [
  'wallS',
  'processS',
  'rowsPerS',
  'mbPerS',
  'cpuS',
  'cpuSPerGb',
  'windowCpuS',
  'windowCpuSPerGb',
  'peakRssMb',
  'otherCpuS',
  'finishS',
  'usableS',
  'load1',
] as const;

/** One row per path: a path run in rounds becomes the median of its good rounds, figure by figure. */
function medians(rows: Row[]): Row[] {
  const out: Row[] = [];
  const builds = [undefined, ...COMPARE.map((c) => c.tag)];
  for (const [p, b] of PATHS.flatMap((x) => builds.map((t) => [x, t] as const))) {
    const all = rows.filter((r) => r.path === p && r.build === b);
    if (!all.length) continue;
    if (all.every((r) => r.round === undefined)) {
      out.push(...all);
      continue;
    }
    const good = all.filter((r) => !r.error && !r.skipped);
    if (!good.length) {
      out.push({ ...all[0]!, label: all[0]!.label.replace(/ #\d+$/, '') });
      continue;
    }
    const m: Row = { ...good[0]!, label: good[0]!.label.replace(/ #\d+$/, ''), round: undefined };
    m.rounds = good.length;
    for (const f of MEDIAN_FIELDS) m[f] = median(good.flatMap((r) => (r[f] === undefined ? [] : [r[f]!])));
    m.serverCpuS = Object.fromEntries(
      Object.keys(good[0]!.serverCpuS ?? {}).map((k) => [
        k,
        median(good.map((r) => r.serverCpuS?.[k] ?? 0))!,
      ]),
    );
    if (good.length < all.length) m.error = `${all.length - good.length} of ${all.length} rounds failed`;
    out.push(m);
  }
  return out;
}

/** Time to a usable target per path (medians of the rounds), with what the client spent. */
function usableTable(rows: Row[]): string {
  const head = [
    'path',
    'rounds',
    'usable s',
    'process s',
    'finish s',
    'client CPU s',
    'peak RSS MB',
    'src CPU s',
    'dst CPU s',
    'other CPU s',
  ];
  const body = rows
    .filter((r) => r.usableS !== undefined)
    .map((r) => [
      r.label,
      String(r.rounds ?? 1),
      fmt(r.usableS, 1),
      fmt(r.processS, 1),
      fmt(r.finishS, 1),
      fmt(r.cpuS, 1),
      fmt(r.peakRssMb, 0),
      fmt(r.serverCpuS?.src, 1),
      fmt(r.serverCpuS?.dst, 1),
      fmt(r.otherCpuS, 1),
    ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ');
  return [line(head), width.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

interface Ratio {
  what: string;
  value?: number;
  target: string;
  met?: boolean;
  note?: string;
}

function ratios(rows: Row[]): Ratio[] {
  const ok = (p: PathName) => {
    const r = rows.find((x) => x.path === p && x.build === undefined);
    return r && !r.error && !r.skipped && r.mbPerS !== undefined ? r : undefined;
  };
  const naive = ok('naive');
  const e1 = ok('engine-1');
  const en = ok('engine-n');
  const read = ok('read');
  const write = ok('write');
  const engines = [e1, en].filter((r): r is Row => r !== undefined);
  const best = engines.sort((a, b) => b.mbPerS! - a.mbPerS!)[0];
  const ceiling = read && write ? Math.min(read.mbPerS!, write.mbPerS!) : undefined;
  const out: Ratio[] = [];
  const r = (what: string, a: Row | undefined, b: number | undefined, min: number, target: string) => {
    const value = a && b ? a.mbPerS! / b : undefined;
    out.push({ what, value, target, met: value === undefined ? undefined : value >= min });
  };
  r('engine(1) / naive', e1, naive?.mbPerS, 15, '>= 15x');
  r(`engine(${WORKERS}) / naive`, en, naive?.mbPerS, 15, '>= 15x');
  r(
    `engine(best${best ? `: ${best.label}` : ''}) / min(read ceiling, write ceiling)`,
    best,
    ceiling,
    0.9,
    '>= 0.90',
  );
  r(`engine(${WORKERS}) / engine(1)`, en, e1?.mbPerS, 1, '>= 1.00 (never slower)');
  const peer = rows.find((x) => x.path === 'peer' && !x.error && !x.skipped && x.usableS !== undefined);
  for (const e of engines) {
    const v = peer && e.usableS !== undefined ? e.usableS / peer.usableS! : undefined;
    out.push({
      what: `${e.label} / peer: time to a usable target`,
      value: v,
      target: '<= 0.80',
      met: v === undefined ? undefined : v <= 0.8,
    });
    const c = peer && e.cpuS !== undefined ? e.cpuS / peer.cpuS! : undefined;
    out.push({
      what: `${e.label} / peer: client CPU s`,
      value: c,
      target: '<= 1.20',
      met: c === undefined ? undefined : c <= 1.2,
    });
  }
  for (const other of rows.filter((x) => x.build !== undefined && x.usableS !== undefined && !x.error)) {
    const mine = ok(other.path);
    const v = mine?.usableS !== undefined ? mine.usableS / other.usableS! : undefined;
    out.push({
      what: `${mine?.label ?? other.path} / ${other.label}: time to a usable target`,
      value: v,
      target: 'none (comparison)',
    });
    const c = mine?.cpuS !== undefined ? mine.cpuS / other.cpuS! : undefined;
    out.push({
      what: `${mine?.label ?? other.path} / ${other.label}: client CPU s`,
      value: c,
      target: 'none (comparison)',
    });
  }
  if (e1?.usableS !== undefined && en?.usableS !== undefined) {
    const v = en.usableS / e1.usableS;
    out.push({
      what: `engine(${WORKERS}) / engine(1): time to a usable target`,
      value: v,
      target: '<= 1.00 (never slower)',
      met: v <= 1,
    });
  }
  for (const e of engines.sort((a, b) => a.path.localeCompare(b.path))) {
    out.push({
      what: `${e.label} CPU s/GB (whole process)`,
      value: e.cpuSPerGb,
      target: '<= 2',
      met: e.cpuSPerGb! <= 2,
    });
    if (e.windowCpuSPerGb !== undefined)
      out.push({
        what: `${e.label} CPU s/GB (copy window only)`,
        value: e.windowCpuSPerGb,
        target: '<= 2',
        met: e.windowCpuSPerGb <= 2,
      });
    out.push({
      what: `${e.label} peak RSS MB`,
      value: e.peakRssMb,
      target: '<= 300',
      met: e.peakRssMb! <= 300,
    });
  }
  return out;
}

function ratioText(rs: Ratio[]): string {
  const w = Math.max(...rs.map((r) => r.what.length));
  return rs
    .map(
      (r) =>
        `${r.what.padEnd(w)}  ${fmt(r.value, 2).padStart(8)}   target ${r.target.padEnd(22)} ${r.target.startsWith('none') ? '' : r.met === undefined ? 'n/a (a path is missing or failed)' : r.met ? 'met' : 'NOT met'}`,
    )
    .join('\n');
}

/** Which build the CLI is: branch@commit of the tree it was built in, and when it was built. */
function buildOf(cli: string): string {
  const built = `built ${fs.statSync(cli).mtime.toISOString().slice(0, 19)}Z`;
  try {
    const git = (...a: string[]) =>
      execFileSync('git', ['-C', path.dirname(cli), ...a], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    const top = git('rev-parse', '--show-toplevel');
    if (path.join(top, 'dist', 'cli', 'main.js') !== cli) return `${built}, not the dist/ of a checkout`;
    const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'src')
      ? '+uncommitted src/ changes'
      : '';
    return `${git('rev-parse', '--abbrev-ref', 'HEAD')}@${git('rev-parse', '--short', 'HEAD')}${dirty}, ${built}`;
  } catch {
    return built;
  }
}

// ---- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  selfCheck();
  const t0 = Date.now();
  if (!fs.existsSync(CLI)) {
    if (CLI !== path.join(REPO_ROOT, 'dist', 'cli', 'main.js')) throw new Error(`--cli ${CLI}: no such file`);
    say('building dist/ (npm run build)');
    execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 2, 2] });
  }
  const hasWorkers = cliHasWorkers();
  const bytes = payloadBytes(ROWS, DIM);
  const uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  const header = [
    `milvus-migrate bench  ${new Date().toISOString()}`,
    `data: ${ROWS} rows x (pk Int64, vec FloatVector(${DIM}), tag VarChar(${TAG_MAX})) = ${(bytes / 1e6).toFixed(1)} MB of column data (MB = 1e6 bytes: 8 + 4*dim + tag bytes per row, the same for every path)`,
    `machine: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}; uptime: ${uptime}`,
    `engine: ${path.relative(REPO_ROOT, CLI) || CLI} (${buildOf(CLI)}), --workers ${hasWorkers ? `supported, N = ${WORKERS}` : 'not supported by this build'}`,
    `ceilings: read pages ${READ_ROWS} rows, inserts ${WRITE_ROWS} rows per request, ${IN_FLIGHT} in flight; naive: SDK queryIterator batchSize ${READ_ROWS}; write and naive targets ${TARGET_STATE === 'empty' ? 'empty (no index, not loaded) during the copy, indexed and loaded afterwards' : 'indexed and loaded before the copy'}`,
  ];
  for (const h of header) say(h);

  say('installing / checking the Milvus 2.3.5 venv (test/setup/milvus/install.sh)');
  execFileSync('bash', [path.join(REPO_ROOT, 'test/setup/milvus/install.sh'), 'milvus-2.3.5'], {
    stdio: ['ignore', 2, 2],
  });
  const [src, dst] = await Promise.all([start('bench-source'), start('bench-target')]);
  say(`source ${src.endpoint} (${src.version}), target ${dst.endpoint} (${dst.version})`);
  const rows: Row[] = [];
  try {
    await seed(src);
    if (argv['wait-for']) {
      await waitForFile(argv['wait-for']);
      // The build may have changed while we waited: the table is of this one.
      header[3] = `engine: ${path.relative(REPO_ROOT, CLI) || CLI} (${buildOf(CLI)}) when the measuring began, --workers N = ${WORKERS}`;
      say(header[3]);
    }
    await measureIdle();
    say(`servers idle: ${idleCpuPerS.toFixed(2)} CPU-s per s together`);
    const contenders: [PathName, Build][] = CONTENDERS.filter((p) => !SKIP.has(p)).flatMap((p) =>
      p === 'peer' ? [[p, undefined]] : [[p, undefined], ...COMPARE.map((b): [PathName, Build] => [p, b])],
    );
    const plan: [PathName, number | undefined, Build][] = PATHS.filter(
      (p) => !CONTENDERS.includes(p) || SKIP.has(p),
    ).map((p) => [p, undefined, undefined]);
    // Alternating order: peer, engine-1, engine-n, then engine-n, engine-1, peer, …
    for (let r = 1; r <= ROUNDS; r++)
      for (const [p, b] of r % 2 ? contenders : [...contenders].reverse())
        plan.push([p, ROUNDS > 1 ? r : undefined, b]);
    for (const [p, round, build] of plan) {
      if (stopping) break;
      if (SKIP.has(p)) {
        rows.push({ path: p, label: p, skipped: '--skip' });
        continue;
      }
      try {
        await emptyTarget(dst);
        const idle: Row = { path: p, label: p };
        await waitIdle(idle);
        const a = admin(src);
        const before = await querySegments(a, SOURCE);
        const row =
          p === 'engine-1' || p === 'engine-n'
            ? await runEngine(p, src, dst, bytes, build ? cliHasWorkers(build.cli) : hasWorkers, build)
            : p === 'peer'
              ? await runPeer(dst, src, bytes)
              : await runPath(p, src, dst, bytes);
        row.idleWaitS = idle.idleWaitS;
        row.idle = idle.idle;
        if (round !== undefined) {
          row.round = round;
          row.label = `${row.label} #${round}`;
        }
        row.sourceSegments = { before, after: await querySegments(a, SOURCE) };
        a.close();
        if (row.sourceSegments.before.join() !== row.sourceSegments.after.join())
          say(
            `${row.label}: the source's loaded segments changed during the path: ${JSON.stringify(row.sourceSegments)}`,
          );
        if (!row.idle && !row.skipped)
          say(`${row.label}: the servers were not idle after ${row.idleWaitS} s of waiting; measured anyway`);
        rows.push(row);
      } catch (err) {
        rows.push({ path: p, label: p, round, error: err instanceof Error ? err.message : String(err) });
      }
    }
  } finally {
    await stopAll();
  }
  const med = medians(rows);
  const rs = ratios(med);
  out('');
  for (const h of header) out(h);
  out(`load average at the end: ${loadAvg()}; total bench time ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  out('');
  out(table(rows, ['src', 'dst']));
  out('');
  out(
    'wall s: the copy window (copy loop timed inside the process; engine: from its "copy started" log line, or "target shape ensured" in older builds, to its last "copy done"); process s: the whole process.',
  );
  out(
    `CPU s, CPU s/GB, peak RSS: the whole copy process (getrusage at exit, start-up included); copy CPU s/GB: its CPU inside the copy window only; src/dst CPU s: the servers over the whole process lifetime; other CPU s: everything else on the machine meanwhile (the machine has ${os.cpus().length} cores x process s of CPU).`,
  );
  const cores = os.cpus().length;
  for (const r of rows) {
    if (r.otherCpuS === undefined || !r.processS) continue;
    const share = r.otherCpuS / (cores * r.processS);
    if (share > 0.15)
      out(
        `note: other work on the machine took ${(share * 100).toFixed(0)} % of the ${cores} cores during "${r.label}": its figures are depressed by it`,
      );
  }
  for (const r of rows.filter((x) => x.error))
    out(`ERROR in ${r.label}: ${r.error}${r.logs ? ` (output kept in ${r.logs})` : ''}`);
  out('');
  out(
    `time to a usable target${ROUNDS > 1 ? ` (medians of ${ROUNDS} alternating rounds; each path on an emptied, idle target)` : ''}: the whole process, then the bench's same steps for every path: flush, FLAT index unless there is one (waited until it covers every row), load unless loaded, Strong count(*)`,
  );
  out(usableTable(med));
  out('');
  out('timelines (seconds from the process start):');
  for (const r of rows.filter((x) => x.timeline))
    out(
      `  ${r.label}: ${r.timeline}${r.idleWaitS !== undefined ? ` [waited ${r.idleWaitS.toFixed(0)} s for idle servers${r.idle ? '' : ', not reached'}]` : ''}`,
    );
  out('');
  out(ratioText(rs));
  if (argv.json) {
    fs.writeFileSync(
      argv.json,
      `${JSON.stringify(
        {
          header,
          config: {
            rows: ROWS,
            dim: DIM,
            workers: WORKERS,
            readRows: READ_ROWS,
            writeRows: WRITE_ROWS,
            inFlight: IN_FLIGHT,
            payloadBytes: bytes,
            cli: CLI,
          },
          results: rows,
          ratios: rs,
        },
        null,
        2,
      )}\n`,
    );
    say(`JSON written to ${argv.json}`);
  }
  if (rows.some((r) => r.error)) process.exitCode = 1;
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  await stopAll();
  process.exit(1);
});

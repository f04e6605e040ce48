/**
 * Runs one measured path in its own process and fills its Row: the ceilings and the naive copy
 * (paths.ts), the peer (peer.ts) and the engine's CLI; the engine's copy window and timeline are
 * read from its log.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrationYaml } from '../test/support/cli.js';
import { type MilvusTestServer, REPO_ROOT } from '../test/support/milvus-server.js';
import {
  type Build,
  CLI,
  DIM,
  IN_FLIGHT,
  KEEP_LOGS,
  MAIN_CLI,
  PEER,
  PEER_BUFFER,
  READ_ROWS,
  ROWS,
  type Row,
  SOURCE,
  say,
  TARGET_STATE,
  WORKERS,
  WRITE_ROWS,
} from './config.js';
import {
  admin,
  createBenchCollection,
  dropTarget,
  finishTarget,
  indexAndLoad,
  serverRefs,
} from './fixtures.js';
import { cpuBetween, measureProcess, type ProcessFigures } from './measure.js';
import type { PathConfig, PathResult } from './paths.js';
import { peerCommand, peerSucceeded } from './peer.js';

// ---- the measured paths ------------------------------------------------------------------------

export const TIMEOUT_MS = Math.max(30 * 60_000, ROWS * 10); // generous: the naive path is slow

export function finish(row: Row, f: ProcessFigures, gb: number): void {
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

export function rates(row: Row, rows: number, mb: number, wallS: number): void {
  row.rows = rows;
  row.mb = mb;
  row.wallS = wallS;
  row.rowsPerS = rows / wallS;
  row.mbPerS = mb / wallS;
}

/** The bench's finishing steps as timeline text, after `fromS`. */
export function finishTimeline(row: Row, fromS: number): string {
  let t = fromS;
  const parts = Object.entries(row.finishSteps ?? {}).map(([k, v]) => {
    t += v;
    return `${k} ${v.toFixed(1)}`;
  });
  return `bench: ${parts.join(', ')} -> usable ${t.toFixed(1)}`;
}

export async function runPath(
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

export function cliHasWorkers(cli = CLI): boolean {
  const help = spawnSync(process.execPath, [cli, 'run', '--help'], { encoding: 'utf8' });
  return /--workers\b/.test(help.stdout + help.stderr);
}

export interface LogLine {
  time?: number;
  msg?: string;
}

/**
 * The copy window from the engine's own log: from "copy started" (or, for builds before it was
 * logged, "target shape ensured" when it comes before the copy) to the last "copy done".
 */
export function engineWindow(stderr: string): { startMs?: number; endMs?: number } {
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
export const STAGES: [msg: string, label: string][] = [
  ['plan accepted', 'planned'],
  ['target collection created', 'created'],
  ['copy started', 'copy'],
  ['copy done', 'copied'],
  ['target shape ensured', 'indexed+loaded'],
  ['counts verified', 'counted'],
  ['content verified', 'compared'],
];

/** `planned 0.9, created 1.0, copy 1.1, copied 21.0, …`: seconds from the process start. */
export function engineTimeline(stderr: string, startMs: number): string {
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
  // In the order they happened: a fresh target is indexed and loaded while it is filled.
  return STAGES.filter(([m]) => at.has(m))
    .sort(([a], [b]) => at.get(a)! - at.get(b)!)
    .map(([m, label]) => `${label} ${((at.get(m)! - startMs) / 1000).toFixed(1)}`)
    .join(', ');
}

export async function runPeer(dst: MilvusTestServer, src: MilvusTestServer, bytes: number): Promise<Row> {
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

export async function runEngine(
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
  if (row.error || KEEP_LOGS) row.logs = keepLogs(p, f);
  await dropTarget(dst, target);
  fs.rmSync(dir, { recursive: true, force: true });
  say(`${label}: ${describe(row)}`);
  return row;
}

/** Keeps the output of a failed path (of every engine run with --keep-logs) under .cache/bench-logs. */
export function keepLogs(p: string, f: ProcessFigures): string {
  const dir = path.join(REPO_ROOT, '.cache', 'bench-logs');
  fs.mkdirSync(dir, { recursive: true });
  const base = path.join(dir, `${p}-${new Date(f.startMs).toISOString().replace(/[:.]/g, '-')}`);
  fs.writeFileSync(`${base}.stdout`, f.stdout);
  fs.writeFileSync(`${base}.stderr`, f.stderr);
  return `${path.relative(REPO_ROOT, base)}.{stdout,stderr}`;
}

export function lastLines(s: string, n: number): string {
  return s.trim().split('\n').slice(-n).join(' | ').slice(0, 600);
}

export function describe(r: Row): string {
  if (r.skipped) return `skipped: ${r.skipped}`;
  if (r.error) return `ERROR ${r.error}${r.logs ? ` (output kept in ${r.logs})` : ''}`;
  return `${r.rows} rows in ${r.wallS?.toFixed(1)} s, ${r.mbPerS?.toFixed(1)} MB/s, ${r.cpuSPerGb?.toFixed(1)} CPU-s/GB, ${r.peakRssMb?.toFixed(0)} MB RSS${r.logs ? ` (output kept in ${r.logs})` : ''}`;
}

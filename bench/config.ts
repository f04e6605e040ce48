/**
 * The bench's configuration (command line, data set, request sizes), the Row every path reports,
 * and the small helpers every part uses. See main.ts and docs/performance.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/support/milvus-server.js';

export const PATHS = ['read', 'write', 'naive', 'peer', 'engine-1', 'engine-n'] as const;
export type PathName = (typeof PATHS)[number];
/** The paths compared by their time to a usable target, run in alternating rounds. */
export const CONTENDERS: readonly PathName[] = ['peer', 'engine-1', 'engine-n'];

export const { values: argv } = parseArgs({
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
    'cpu-prof': { type: 'string' },
    peer: { type: 'string' },
    'peer-buffer': { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '2' },
    compare: { type: 'string', multiple: true, default: [] },
    'keep-logs': { type: 'boolean', default: false },
    latency: { type: 'string', default: '0' },
    help: { type: 'boolean', default: false },
  },
});

if (argv.help) {
  process.stdout.write(
    'npm run bench -- [--rows N] [--dim D] [--workers N] [--skip read,write,naive,engine-1,engine-n]\n' +
      '                 [--json FILE] [--cli PATH] [--page-mb 16] [--insert-mb 24] [--in-flight 2]\n' +
      '                 [--target-state empty|loaded] [--wait-for FILE] [--cpu-prof DIR]\n' +
      '                 [--peer PATH] [--peer-buffer 2000] [--rounds 2] [--compare LABEL=CLI ...] [--keep-logs]\n' +
      '                 [--latency MS]\n',
  );
  process.exit(0);
}

export const ROWS = Number(argv.rows);
export const DIM = Number(argv.dim);
export const WORKERS = Number(argv.workers);
export const MAIN_CLI = path.resolve(argv.cli);
export const CLI = MAIN_CLI;
export const SKIP = new Set(argv.skip.split(',').filter(Boolean));
export const PEER = argv.peer ? path.resolve(argv.peer) : undefined;
export const PEER_BUFFER = Number(argv['peer-buffer']);
export const ROUNDS = Number(argv.rounds);
/**
 * Round-trip time added between every measured process and both servers (`--latency MS`, through
 * Toxiproxy, half each way): a copy pod reaching its servers over a network, not over loopback.
 */
export const LATENCY_MS = Number(argv.latency);
/** Keep every engine run's output under .cache/bench-logs (not only a failed one's). */
export const KEEP_LOGS = argv['keep-logs'];
/** Where every measured Node process writes a V8 CPU profile (`--cpu-prof DIR`), if anywhere. */
export const CPU_PROF_DIR = argv['cpu-prof'] ? path.resolve(argv['cpu-prof']) : undefined;
/** Other engine builds measured in the same rounds as engine paths of their own (`--compare LABEL=PATH`). */
export const COMPARE = (argv.compare ?? []).map((x) => {
  const m = /^([\w.-]+)=(.+)$/.exec(x);
  if (!m) throw new Error(`--compare ${x}: expected LABEL=PATH to a dist/cli/main.js`);
  const cli = path.resolve(m[2]!);
  if (!fs.existsSync(cli)) throw new Error(`--compare ${x}: no such file`);
  return { tag: m[1]!, cli };
});
export type Build = (typeof COMPARE)[number] | undefined;
if (!(ROUNDS >= 1 && PEER_BUFFER >= 1)) throw new Error('--rounds and --peer-buffer must be positive');
if (!(LATENCY_MS >= 0)) throw new Error('--latency: milliseconds of round trip, 0 or more');
if (PEER && !fs.existsSync(PEER))
  throw new Error(`--peer ${PEER}: no such file (see docs/performance.md, "The peer")`);
for (const s of SKIP)
  if (!(PATHS as readonly string[]).includes(s))
    throw new Error(`--skip: unknown path ${s} (${PATHS.join(', ')})`);
if (!(ROWS > 0 && DIM > 0 && WORKERS >= 1)) throw new Error('--rows, --dim and --workers must be positive');

export const SOURCE = 'bench_src';
/** Bytes per row on the wire, roughly: for sizing pages and requests only. */
export const ROW_WIRE = 8 + 4 * DIM + 40 + 8;
export const READ_ROWS = Math.max(1, Math.min(16384, Math.floor((Number(argv['page-mb']) * 1e6) / ROW_WIRE)));
export const WRITE_ROWS = Math.max(1, Math.floor((Number(argv['insert-mb']) * 1e6) / ROW_WIRE));
export const IN_FLIGHT = Number(argv['in-flight']);
/**
 * How the bench prepares the targets of the ceilings and the naive path: 'empty' (no index, not
 * loaded: filled first, indexed and loaded after the timed copy, as the engine does with a fresh
 * target) or 'loaded' (FLAT index and loaded before the copy, so the target's query node consumes
 * every insert while the copy runs).
 */
export const TARGET_STATE = argv['target-state'];
if (TARGET_STATE !== 'empty' && TARGET_STATE !== 'loaded') throw new Error('--target-state: empty or loaded');

export const say = (s: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
export const out = (s: string) => process.stdout.write(`${s}\n`);
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Row {
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

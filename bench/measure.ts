/**
 * Runs one copy process and measures it.
 *
 * CPU and peak RSS come from the process itself: a preload (`node --import data:…`, nothing added to
 * the measured program) writes `process.resourceUsage()` (getrusage: user + system CPU of every
 * thread, ru_maxrss = peak RSS, the kernel's VmHWM) to a file when the process exits. While it
 * runs, /proc/<pid>/stat and /proc/<pid>/status are polled as well, as a fallback for a process
 * that dies by a signal. The preload also samples the CPU time every 100 ms, so that the CPU spent
 * inside a window of the process's life (the copy, without start-up and verification) can be read
 * off afterwards: cpuBetween(). The servers' CPU over the same span is read from /proc for their process
 * groups, to show who used the two cores.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CPU_PROF_DIR } from './config.js';

const PRELOAD = `import fs from 'node:fs';
const f = process.env.BENCH_USAGE_FILE;
if (f) {
  const samples = [];
  const take = () => {
    const u = process.resourceUsage();
    samples.push([Date.now(), u.userCPUTime + u.systemCPUTime]);
  };
  take();
  setInterval(take, 100).unref();
  process.on('exit', () => {
    take();
    const u = process.resourceUsage();
    fs.writeFileSync(f, JSON.stringify({ userUs: u.userCPUTime, sysUs: u.systemCPUTime, maxRssKb: u.maxRSS, samples }));
  });
}`;
const PRELOAD_URL = `data:text/javascript,${encodeURIComponent(PRELOAD)}`;

/**
 * A program that is not Node (the peer, a Go binary) runs under this wrapper: it waits for the
 * program and writes the program's getrusage (RUSAGE_CHILDREN: user + system CPU of every thread,
 * ru_maxrss) in the preload's format. Python's own start-up is not in those figures.
 */
const NATIVE_WRAPPER = `import json, resource, subprocess, sys
r = subprocess.run(sys.argv[2:])
u = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({'userUs': u.ru_utime * 1e6, 'sysUs': u.ru_stime * 1e6, 'maxRssKb': u.ru_maxrss, 'samples': []}, open(sys.argv[1], 'w'))
sys.exit(r.returncode if r.returncode >= 0 else 128 - r.returncode)`;

const TICK = 100; // USER_HZ: /proc times are in clock ticks of 1/100 s on Linux

export interface ProcessFigures {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  startMs: number;
  endMs: number;
  /** CPU seconds (user + system) of the copy process, whole life. */
  cpuUserS: number;
  cpuSysS: number;
  peakRssMb: number;
  /** 'rusage' (from the preload) or 'proc' (polled, fallback). */
  source: 'rusage' | 'proc';
  /** CPU seconds of each server's process group over the same span. */
  serverCpuS: Record<string, number>;
  /** CPU seconds the whole machine was busy over the same span (every process, every core). */
  machineCpuS: number;
  /** [epoch ms, CPU µs] every 100 ms (rusage only). */
  samples: [number, number][];
}

/** CPU seconds the process spent between two instants, interpolated from its samples. */
export function cpuBetween(samples: [number, number][], fromMs: number, toMs: number): number | undefined {
  if (samples.length < 2) return undefined;
  const at = (t: number): number => {
    let prev = samples[0]!;
    if (t <= prev[0]) return prev[1];
    for (const s of samples) {
      if (s[0] >= t) return prev[1] + ((s[1] - prev[1]) * (t - prev[0])) / Math.max(1, s[0] - prev[0]);
      prev = s;
    }
    return prev[1];
  };
  return (at(toMs) - at(fromMs)) / 1e6;
}

export interface ServerRef {
  name: string;
  pids(): number[];
}

/** utime + stime of a pid in seconds (0 when gone). */
function procCpu(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after comm: state(0) … utime(11) stime(12) cutime(13) cstime(14)
    return (Number(rest[11]) + Number(rest[12])) / TICK;
  } catch {
    return 0;
  }
}

function procHwmKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of a server's processes. Processes that ended in between are not counted; the
 * servers' processes live as long as the server.
 */
/** CPU seconds the whole machine has been busy (all cores, /proc/stat), to show interference. */
export function machineBusyCpu(): number {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / TICK;
  } catch {
    return 0;
  }
}

export function serverCpu(s: ServerRef): number {
  return s.pids().reduce((t, p) => t + procCpu(p), 0);
}

let current: ReturnType<typeof spawn> | undefined;

/** Kills the copy process running now, with everything it started (on Ctrl-C). */
export function killCurrent(): void {
  const pid = current?.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    current?.kill('SIGKILL');
  }
}

/** Node's own CPU profiler for a measured process (`--cpu-prof DIR`): a .cpuprofile per process. */
function cpuProfFlags(): string[] {
  return CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [];
}

/**
 * Runs `node args…` (or, with `native`, the program args[0] with args[1…]) and measures it. The
 * process gets a process group of its own, so that Ctrl-C and the timeout end all of it.
 */
export async function measureProcess(
  args: string[],
  opts: {
    env?: Record<string, string>;
    servers: ServerRef[];
    timeoutMs: number;
    cwd: string;
    native?: boolean;
  },
): Promise<ProcessFigures> {
  const usageFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mm-bench-')), 'usage.json');
  const server0 = Object.fromEntries(opts.servers.map((s) => [s.name, serverCpu(s)]));
  const machine0 = machineBusyCpu();
  const startMs = Date.now();
  const [cmd, cmdArgs] = opts.native
    ? ['python3', ['-c', NATIVE_WRAPPER, usageFile, ...args]]
    : [process.execPath, [...cpuProfFlags(), '--import', PRELOAD_URL, ...args]];
  const child = spawn(cmd, cmdArgs, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env, BENCH_USAGE_FILE: usageFile },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  current = child;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let polledCpu = 0;
  let polledHwm = 0;
  const poll = setInterval(() => {
    if (child.pid === undefined) return;
    polledCpu = Math.max(polledCpu, procCpu(child.pid));
    polledHwm = Math.max(polledHwm, procHwmKb(child.pid));
  }, 200);
  const timer = setTimeout(killCurrent, opts.timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve({ code: c, signal: s }));
    },
  );
  const endMs = Date.now();
  clearInterval(poll);
  clearTimeout(timer);
  current = undefined;
  const machineCpuS = machineBusyCpu() - machine0;
  const serverCpuS = Object.fromEntries(
    opts.servers.map((s) => [s.name, serverCpu(s) - (server0[s.name] ?? 0)]),
  );
  let figures: Pick<ProcessFigures, 'cpuUserS' | 'cpuSysS' | 'peakRssMb' | 'source' | 'samples'>;
  try {
    const u = JSON.parse(fs.readFileSync(usageFile, 'utf8')) as {
      userUs: number;
      sysUs: number;
      maxRssKb: number;
      samples: [number, number][];
    };
    figures = {
      cpuUserS: u.userUs / 1e6,
      cpuSysS: u.sysUs / 1e6,
      peakRssMb: u.maxRssKb / 1024,
      source: 'rusage',
      samples: u.samples,
    };
  } catch {
    figures = { cpuUserS: polledCpu, cpuSysS: 0, peakRssMb: polledHwm / 1024, source: 'proc', samples: [] };
  }
  fs.rmSync(path.dirname(usageFile), { recursive: true, force: true });
  return { code, signal, stdout, stderr, startMs, endMs, ...figures, serverCpuS, machineCpuS };
}

export function loadAvg(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

/**
 * What a bench run prints: the table of every run, the medians per path, the time to a usable
 * target, and the ratios against the targets of issues 7 and 15.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { COMPARE, PATHS, type PathName, type Row, WORKERS } from './config.js';

// ---- report -------------------------------------------------------------------------------------

export function fmt(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

export function table(rows: Row[], serverNames: string[]): string {
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

export function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1]! + v[m]!) / 2;
}

export const MEDIAN_FIELDS = [
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
export function medians(rows: Row[]): Row[] {
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
export function usableTable(rows: Row[]): string {
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

export interface Ratio {
  what: string;
  value?: number;
  target: string;
  met?: boolean;
  note?: string;
}

export function ratios(rows: Row[]): Ratio[] {
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

export function ratioText(rs: Ratio[]): string {
  const w = Math.max(...rs.map((r) => r.what.length));
  return rs
    .map(
      (r) =>
        `${r.what.padEnd(w)}  ${fmt(r.value, 2).padStart(8)}   target ${r.target.padEnd(22)} ${r.target.startsWith('none') ? '' : r.met === undefined ? 'n/a (a path is missing or failed)' : r.met ? 'met' : 'NOT met'}`,
    )
    .join('\n');
}

/** Which build the CLI is: branch@commit of the tree it was built in, and when it was built. */
export function buildOf(cli: string): string {
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

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MigrationStatus } from '../../src/api/migration.js';
import { statusReporter } from '../../src/worker/reporter.js';

const at = (phase: MigrationStatus['phase'], rows: string): MigrationStatus => ({ phase, rows });

describe("the copy pod's status reporter", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes a new phase at once, counts at most every interval, and the newest held-back count when it ends', () => {
    const lines: string[] = [];
    const r = statusReporter(
      (s) => lines.push(`${s.phase} ${s.rows}`),
      2000,
      () => Date.now(),
    );
    r.report(at('Pending', '0/0'));
    vi.advanceTimersByTime(100);
    r.report(at('Running', '0/300')); // phase changed: not held back
    vi.advanceTimersByTime(100);
    r.report(at('Running', '10/300'));
    r.report(at('Running', '20/300'));
    expect(lines).toEqual(['Pending 0/0', 'Running 0/300']);
    // Nothing else reported: the held-back newest count is written when the interval ends.
    vi.advanceTimersByTime(1899);
    expect(lines.length).toBe(2);
    vi.advanceTimersByTime(1);
    expect(lines).toEqual(['Pending 0/0', 'Running 0/300', 'Running 20/300']);
    vi.advanceTimersByTime(5000);
    expect(lines.length).toBe(3);
    r.report(at('Running', '30/300')); // the interval is over: at once
    expect(lines.at(-1)).toBe('Running 30/300');
  });

  it('close() drops a held-back report (the worker writes its final status itself); now() ignores the throttle', () => {
    const lines: string[] = [];
    const r = statusReporter(
      (s) => lines.push(`${s.phase} ${s.rows}`),
      2000,
      () => Date.now(),
    );
    r.report(at('Running', '1/3'));
    r.report(at('Running', '2/3'));
    r.now(at('Syncing', '3/3'));
    r.report(at('Syncing', '3/3'));
    r.close();
    vi.advanceTimersByTime(10_000);
    expect(lines).toEqual(['Running 1/3', 'Syncing 3/3']);
  });
});

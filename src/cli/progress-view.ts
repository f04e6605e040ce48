/**
 * Live progress on a terminal: one line per collection with rows, %, rate and ETA, redrawn in
 * place. Off a terminal it is silent; the structured log carries progress instead.
 */
import type { MigrationStatus } from '../api/migration.js';

interface Sample {
  t: number;
  rows: number;
}

export class ProgressView {
  private lines = 0;
  private readonly history = new Map<string, Sample[]>();
  private last: MigrationStatus | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

  get enabled(): boolean {
    return Boolean(this.out.isTTY);
  }

  start(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => this.draw(), 500);
    this.timer.unref();
  }

  update(s: MigrationStatus): void {
    this.last = s;
    const t = Date.now();
    for (const c of s.collections ?? []) {
      const h = this.history.get(c.name) ?? [];
      h.push({ t, rows: c.copiedEntities });
      while (h.length > 2 && t - h[0]!.t > 10_000) h.shift();
      this.history.set(c.name, h);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.draw();
  }

  private draw(): void {
    if (!this.enabled || !this.last) return;
    const rows = (this.last.collections ?? []).map((c) => {
      const total = c.sourceEntities;
      const pct = total
        ? Math.min(100, Math.floor((c.copiedEntities * 100) / total))
        : c.phase === 'Succeeded'
          ? 100
          : 0;
      const h = this.history.get(c.name) ?? [];
      const first = h[0];
      const lastS = h[h.length - 1];
      const rate =
        first && lastS && lastS.t > first.t ? ((lastS.rows - first.rows) * 1000) / (lastS.t - first.t) : 0;
      const eta = rate > 0 && total ? Math.max(0, (total - c.copiedEntities) / rate) : undefined;
      return `${c.name.padEnd(24)} ${c.phase.padEnd(10)} ${`${c.copiedEntities}/${total ?? '?'}`.padStart(21)} ${`${pct}%`.padStart(4)} ${`${Math.round(rate)} rows/s`.padStart(14)}  ETA ${eta === undefined ? '-' : formatSeconds(eta)}`;
    });
    const header = `migration ${this.last.phase ?? ''} ${this.last.progress ?? ''}`;
    const text = [header, ...rows];
    if (this.lines) this.out.write(`\x1b[${this.lines}A`);
    for (const l of text) this.out.write(`\x1b[2K${l}\n`);
    this.lines = text.length;
  }
}

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

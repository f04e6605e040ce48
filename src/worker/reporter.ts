/**
 * How often a copy pod writes its status. The controller shows the newest MMSTATUS line of the
 * log, so a report held back by the throttle must still be written when the interval ends (else a
 * quiet stretch after a burst shows stale counts), and a change of phase is written at once (else
 * `kubectl get mmig` says Pending while rows are being copied).
 */
import type { MigrationStatus } from '../api/migration.js';

export interface StatusReporter {
  /** A new status: written now, or as the newest one when the throttle interval ends. */
  report(s: MigrationStatus): void;
  /** Writes now, whatever the throttle says (a finished pass, the final status). */
  now(s: MigrationStatus): void;
  /** Drops a held-back report (the caller writes the final status itself). */
  close(): void;
}

export function statusReporter(
  write: (s: MigrationStatus) => void,
  throttleMs: number,
  clock: () => number = Date.now,
): StatusReporter {
  let last = Number.NEGATIVE_INFINITY;
  let lastPhase: string | undefined;
  let held: MigrationStatus | undefined;
  let timer: NodeJS.Timeout | undefined;
  const out = (s: MigrationStatus) => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    held = undefined;
    last = clock();
    lastPhase = s.phase;
    write(s);
  };
  return {
    report(s) {
      const since = clock() - last;
      if (s.phase !== lastPhase || since >= throttleMs) return out(s);
      held = s;
      // unref: a held report never keeps a finished worker alive.
      timer ??= setTimeout(() => held && out(held), throttleMs - since).unref();
    },
    now: out,
    close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      held = undefined;
    },
  };
}

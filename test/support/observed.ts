/** What decide() observes about one MilvusMigration, for the controller's table tests. */
import type { Observed } from '../../src/controller/decide.js';

/** The clock of every observation (ms since the epoch). */
export const NOW = 1_800_000_000_000;

/** A healthy migration `books` in `ns1` that owns its target; `over` and `m` change any part. */
export function observed(over: Partial<Observed> = {}, m: Partial<Observed['migration']> = {}): Observed {
  return {
    migration: {
      name: 'books',
      namespace: 'ns1',
      uid: 'uid-1',
      generation: 1,
      deleting: false,
      suspend: false,
      status: {},
      ownedTargets: ['books'],
      finalizer: true,
      deletionPolicy: 'Retain',
      ...m,
    },
    missingSecrets: [],
    now: NOW,
    lastProgressPatch: 0,
    ...over,
  };
}

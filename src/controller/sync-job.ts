/**
 * spec.sync in the operator: one copy pod runs the bulk copy and the catch-up passes
 * (engine/sync-run.ts) and reports them in its status; a pod that replaces it (a new spec, such as
 * `cutover: true`, or a retry) starts from what the status says: which targets were copied
 * already, and each one's changedField watermark.
 */
import type { V1EnvVar } from '@kubernetes/client-node';
import type { MigrationStatus } from '../api/migration.js';

/** MM_SYNC_STATE for a new copy pod, or nothing before any collection was copied. */
export function syncStateEnv(status: MigrationStatus | undefined): V1EnvVar[] {
  const state: Record<string, { copied: boolean; watermark?: string }> = {};
  for (const c of status?.collections ?? []) {
    // A collection is Syncing (or has passes) only once its bulk copy completed.
    if (c.phase !== 'Syncing' && !c.sync) continue;
    state[c.targetName] = {
      copied: true,
      ...(c.sync?.watermark !== undefined ? { watermark: c.sync.watermark } : {}),
    };
  }
  return Object.keys(state).length ? [{ name: 'MM_SYNC_STATE', value: JSON.stringify(state) }] : [];
}

/** Passes completed and seconds since the start of the last complete one, for the metrics. */
export function syncFigures(
  status: MigrationStatus | undefined,
  now: number,
): { syncPasses?: number; lagSeconds?: number } {
  const s = status?.sync;
  if (!s || status?.phase !== 'Syncing') return {};
  return {
    syncPasses: s.passes,
    ...(s.lastPassStart ? { lagSeconds: Math.max(0, (now - Date.parse(s.lastPassStart)) / 1000) } : {}),
  };
}

/**
 * How a copy pod talks to the controller, which reads its log (pods get no API access):
 * `MMSTATUS {json}` lines (a MigrationStatus), and for a sharded run's plan stage one
 * `MMPLAN {json}` line (a ShardPlan); both are checked against the status schema when read back.
 * Also the pod's stage names and the index lists of an Indexed Job ("0,2-4").
 */
import { type MigrationStatus, migrationStatus, type ShardPlan, shardPlan } from '../api/migration.js';
import { UserError } from '../util/errors.js';

export const STATUS_PREFIX = 'MMSTATUS ';
/** The plan stage's result: one line `MMPLAN {json}` (a ShardPlan) before its last MMSTATUS. */
export const PLAN_PREFIX = 'MMPLAN ';
/** Stages of a sharded run (env MM_STAGE); unset = the whole migration in this pod. */
export const STAGES = ['plan', 'copy', 'finalize'] as const;
export type Stage = (typeof STAGES)[number];

/** The MMSTATUS line for a status: one line of JSON. */
export function statusLine(s: MigrationStatus): string {
  return `${STATUS_PREFIX}${JSON.stringify(s)}`;
}

/** The last MMSTATUS status in a log text, if any. */
export function lastStatusIn(log: string): MigrationStatus | undefined {
  return lastTagged(
    log,
    (line) => {
      const at = line.indexOf(STATUS_PREFIX);
      return at < 0 ? undefined : line.slice(at + STATUS_PREFIX.length);
    },
    // Checked like every other input crossing a process boundary: a line that is not a status
    // (cut, or from another version) is passed over for an earlier one.
    (v) => migrationStatus.parse(v),
  );
}

/** The last MMPLAN plan in a log text, if any. */
export function lastPlanIn(log: string): ShardPlan | undefined {
  return lastTagged(
    log,
    (line) => (line.startsWith(PLAN_PREFIX) ? line.slice(PLAN_PREFIX.length) : undefined),
    parseShardPlan,
  );
}

/** The newest line whose JSON (what `payload` finds in it) `parse` accepts. */
function lastTagged<T>(
  log: string,
  payload: (line: string) => string | undefined,
  parse: (v: unknown) => T,
): T | undefined {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const json = payload(lines[i]!);
    if (json === undefined) continue;
    try {
      return parse(JSON.parse(json));
    } catch {
      // A line cut by tailLines or a partial write: look further back.
    }
  }
  return undefined;
}

/** A ShardPlan from JSON, checked field by field (it crosses process boundaries). */
export function parseShardPlan(v: unknown): ShardPlan {
  // The status schema of a plan is its one definition; bounds must also read back as keys.
  const r = shardPlan.safeParse(v);
  if (!r.success || !r.data.collections.every((c) => c.bounds.every((b) => /^[is]:/.test(b))))
    throw new UserError('the shard plan is not a valid plan (MM_SHARD_PLAN)', 'InvalidInput');
  return r.data;
}

/** Indexes "0,2-4" (a Job's status.completedIndexes) as a set. */
export function parseIndexes(s: string | undefined): Set<number> {
  const out = new Set<number>();
  for (const part of (s ?? '').split(',')) {
    const t = part.trim();
    if (!t) continue;
    const [a, b] = t.split('-').map(Number) as [number, number | undefined];
    for (let i = a; i <= (b ?? a); i++) out.add(i);
  }
  return out;
}

/** A set of indexes as "0,2-4". */
export function formatIndexes(set: Iterable<number>): string {
  const xs = [...new Set(set)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < xs.length; ) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    parts.push(i === j ? `${xs[i]}` : `${xs[i]}-${xs[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

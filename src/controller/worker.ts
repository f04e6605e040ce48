/**
 * `milvus-migrate worker`: what the operator's copy pod runs. Everything comes from the Job: the
 * MilvusMigration (env MM_MIGRATION), the credentials (env MM_SOURCE_* / MM_TARGET_*, from the
 * Secret through secretKeyRef), TLS files (Secret volumes) and the target collections this
 * migration owns (env MM_OWNED_TARGETS). Pods get no API access, so progress goes to stdout as
 * `MMSTATUS {json}` lines that the controller reads from the pod log.
 *
 * With spec.parallelism > 1 the same worker runs one stage of a sharded run (env MM_STAGE): `plan`
 * (prints the ShardPlan as one `MMPLAN {json}` line), `copy` (shard JOB_COMPLETION_INDEX of the
 * plan in MM_SHARD_PLAN; MM_SHARD_RESUME, MM_COMPLETED_INDEXES) or `finalize`.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { formatZodError, type MigrationInput, type SecretObject } from '../api/input.js';
import { type MigrationStatus, milvusMigration, type ShardPlan, shardPlan } from '../api/migration.js';
import { applyPhaseConditions, now, pushError } from '../api/status.js';
import { runCopyStage, runFinalizeStage, runMigration, runPlanStage } from '../engine/engine.js';
import { FixedStateStore } from '../engine/state.js';
import { errorText, reasonOf, UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';

export const STATUS_PREFIX = 'MMSTATUS ';
/** The plan stage's result: one line `MMPLAN {json}` (a ShardPlan) before its last MMSTATUS. */
export const PLAN_PREFIX = 'MMPLAN ';
/** Stages of a sharded run (env MM_STAGE); unset = the whole migration in this pod. */
export const STAGES = ['plan', 'copy', 'finalize'] as const;
export type Stage = (typeof STAGES)[number];
export const DEFAULT_SECRETS_DIR = '/etc/milvus-migrate';
const CERT_FILES = ['ca.crt', 'tls.crt', 'tls.key'];

type Env = Record<string, string | undefined>;

/** The engine input from the pod's environment and mounted files. Throws UserError. */
export function workerInput(env: Env = process.env, secretsDir = DEFAULT_SECRETS_DIR): MigrationInput {
  const raw = env.MM_MIGRATION;
  if (!raw) throw new UserError('MM_MIGRATION is not set: the worker runs in copy pods only', 'InvalidInput');
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new UserError('MM_MIGRATION is not JSON', 'InvalidInput');
  }
  const parsed = milvusMigration.safeParse(value);
  if (!parsed.success) throw new UserError(formatZodError(parsed.error, value), 'InvalidSpec');
  const migration = parsed.data;
  const secrets: SecretObject[] = [];
  for (const side of ['source', 'target'] as const) {
    const ref = migration.spec[side].secretRef;
    if (!ref) continue;
    const data: Record<string, Buffer> = {};
    const prefix = `MM_${side.toUpperCase()}_`;
    for (const key of ['username', 'password', 'token']) {
      const v = env[prefix + key.toUpperCase()];
      if (v !== undefined) data[key] = Buffer.from(v, 'utf8');
    }
    for (const f of CERT_FILES) {
      const p = path.join(secretsDir, side, f);
      if (existsSync(p)) data[f] = readFileSync(p);
    }
    // Both sides may name the same Secret: the first entry wins in credentialsFor, and both hold
    // the same data then.
    secrets.push({ name: ref.name, namespace: migration.metadata.namespace, data });
  }
  return { migration, secrets };
}

export function ownedTargets(env: Env = process.env): string[] {
  const raw = env.MM_OWNED_TARGETS;
  if (!raw) return [];
  const v = JSON.parse(raw) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new UserError('MM_OWNED_TARGETS must be a JSON array of collection names', 'InvalidInput');
  return v;
}

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
    (v) => v as MigrationStatus,
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

export interface WorkerResult {
  status: MigrationStatus;
  exitCode: number;
}

/** Runs the migration; writes MMSTATUS lines (throttled) to `write`. */
export async function runWorker(opts: {
  env?: Env;
  secretsDir?: string;
  signal?: AbortSignal;
  write?: (line: string) => void;
  throttleMs?: number;
}): Promise<WorkerResult> {
  const env = opts.env ?? process.env;
  const write = opts.write ?? ((l: string) => process.stdout.write(`${l}\n`));
  const throttle = opts.throttleMs ?? 2000;
  let status: MigrationStatus;
  try {
    const input = workerInput(env, opts.secretsDir);
    const t = input.migration.spec.target;
    const state = new FixedStateStore(t.endpoint, t.database, ownedTargets(env));
    let last = 0;
    const common = {
      state,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onStatus: (s: MigrationStatus) => {
        if (Date.now() - last >= throttle) {
          last = Date.now();
          write(statusLine(s));
        }
      },
    };
    const stage = env.MM_STAGE;
    if (stage === undefined || stage === '') {
      status = await runMigration(input, common);
    } else if (stage === 'plan') {
      const r = await runPlanStage(input, { ...common, shards: input.migration.spec.parallelism });
      if (r.plan) write(`${PLAN_PREFIX}${JSON.stringify(r.plan)}`);
      status = r.status;
    } else if (stage === 'copy' || stage === 'finalize') {
      let plan: ShardPlan;
      try {
        plan = parseShardPlan(JSON.parse(env.MM_SHARD_PLAN ?? ''));
      } catch {
        throw new UserError(
          'MM_SHARD_PLAN is not a shard plan: the copy and finalize stages need one',
          'InvalidInput',
        );
      }
      if (stage === 'finalize') {
        status = await runFinalizeStage(input, { ...common, plan });
      } else {
        const index = /^\d+$/.test(env.JOB_COMPLETION_INDEX ?? '') ? Number(env.JOB_COMPLETION_INDEX) : -1;
        if (index < 0)
          throw new UserError(
            'JOB_COMPLETION_INDEX is not set: a copy stage runs in an Indexed Job',
            'InvalidInput',
          );
        if (parseIndexes(env.MM_COMPLETED_INDEXES).has(index)) {
          logger.info({ index }, 'this shard was completed by an earlier attempt: nothing to do');
          status = { phase: 'Succeeded', errors: [] };
          applyPhaseConditions(status, 'Succeeded', 'Copied', `shard ${index} was complete already`);
        } else {
          status = await runCopyStage(input, {
            ...common,
            plan,
            index,
            resume: env.MM_SHARD_RESUME === 'true',
          });
        }
      }
    } else {
      throw new UserError(`MM_STAGE "${stage}" is not one of ${STAGES.join(', ')}`, 'InvalidInput');
    }
  } catch (err) {
    logger.error({ reason: reasonOf(err) }, errorText(err));
    status = { phase: 'Failed', startTime: now(), completionTime: now(), errors: [] };
    pushError(status, errorText(err));
    applyPhaseConditions(status, 'Failed', reasonOf(err), errorText(err));
  }
  write(statusLine(status));
  const exitCode = status.phase === 'Succeeded' ? 0 : status.phase === 'Canceled' ? 130 : 1;
  return { status, exitCode };
}

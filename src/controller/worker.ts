/**
 * `milvus-migrate worker`: what the operator's copy pod runs. Everything comes from the Job: the
 * MilvusMigration (env MM_MIGRATION), the credentials (env MM_SOURCE_* / MM_TARGET_*, from the
 * Secret through secretKeyRef), TLS files (Secret volumes) and the target collections this
 * migration owns (env MM_OWNED_TARGETS). Pods get no API access, so progress goes to stdout as
 * `MMSTATUS {json}` lines that the controller reads from the pod log.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../adapters/milvus/errors.js';
import { formatZodError, type MigrationInput, type SecretObject } from '../api/input.js';
import { type MigrationStatus, milvusMigration } from '../api/migration.js';
import { applyPhaseConditions, now, pushError } from '../api/status.js';
import { errorText, reasonOf, runMigration } from '../engine/engine.js';
import { FixedStateStore } from '../engine/state.js';
import { logger } from '../util/logger.js';

export const STATUS_PREFIX = 'MMSTATUS ';
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
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    const at = line.indexOf(STATUS_PREFIX);
    if (at < 0) continue;
    try {
      return JSON.parse(line.slice(at + STATUS_PREFIX.length)) as MigrationStatus;
    } catch {
      // A line cut by tailLines or a partial write: look further back.
    }
  }
  return undefined;
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
    status = await runMigration(input, {
      state,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onStatus: (s) => {
        if (Date.now() - last >= throttle) {
          last = Date.now();
          write(statusLine(s));
        }
      },
    });
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

/**
 * The copy pod's input: the MilvusMigration (env MM_MIGRATION), the credentials (env MM_SOURCE_* /
 * MM_TARGET_*, from the Secret through secretKeyRef), TLS files (Secret volumes), spec.rbac.users'
 * passwords (its Secret as a volume, one file per user) and the target collections this migration
 * owns (env MM_OWNED_TARGETS).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { formatZodError, type MigrationInput, type SecretObject } from '../api/input.js';
import { milvusMigration } from '../api/migration.js';
import { UserError } from '../util/errors.js';

export const DEFAULT_SECRETS_DIR = '/etc/milvus-migrate';
/** Where spec.rbac.users' Secret is mounted below the secrets dir: one file per user. */
export const USERS_DIR = 'rbac-users';
const CERT_FILES = ['ca.crt', 'tls.crt', 'tls.key'];

export type Env = Record<string, string | undefined>;

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
  const usersRef = migration.spec.rbac?.users?.secretRef;
  if (usersRef) {
    const dir = path.join(secretsDir, USERS_DIR);
    const data: Record<string, Buffer> = {};
    // A Secret volume also holds ..data and the timestamped dir it links to: only the key files.
    if (existsSync(dir))
      for (const f of readdirSync(dir)) if (!f.startsWith('..')) data[f] = readFileSync(path.join(dir, f));
    secrets.push({ name: usersRef.name, namespace: migration.metadata.namespace, data });
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

/** MM_SYNC_STATE (spec.sync): per target collection, whether its bulk copy is done and its watermark. */
export function syncState(env: Env = process.env): Record<string, { copied: boolean; watermark?: string }> {
  const raw = env.MM_SYNC_STATE;
  if (!raw) return {};
  const v = JSON.parse(raw) as unknown;
  const ok =
    v !== null &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    Object.values(v).every(
      (r) =>
        r !== null &&
        typeof r === 'object' &&
        typeof (r as { copied?: unknown }).copied === 'boolean' &&
        ['string', 'undefined'].includes(typeof (r as { watermark?: unknown }).watermark),
    );
  if (!ok)
    throw new UserError(
      'MM_SYNC_STATE must be a JSON object of target collection → {copied, watermark}',
      'InvalidInput',
    );
  return v as Record<string, { copied: boolean; watermark?: string }>;
}

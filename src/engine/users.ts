/**
 * spec.rbac.users (opt-in): source users created on the target with passwords from a Secret (a
 * source's passwords cannot be read), each given the roles it has on the source. The Secret names
 * the users: a key that is no source user is refused in the plan (a typo would otherwise create an
 * account nobody asked for), and source users without a key are listed as not created. A user that
 * exists on the target already keeps its password: only its roles are added. Built-in `root` is
 * never touched.
 */
import type { MilvusClient } from '../adapters/milvus/client.js';
import { isNetworkFailure } from '../adapters/milvus/errors.js';
import { errorText } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { idempotentWrites } from './roles.js';

export interface UserToCreate {
  name: string;
  /** Roles it has on the source (public, which every user has, left out). */
  roles: string[];
}

export interface UsersPlan {
  users: UserToCreate[];
  notes: string[];
  problems: string[];
}

const BUILT_IN_USERS = new Set(['root']);

/** What the run will create: the Secret's users, with their source roles. */
export async function planUsers(
  source: MilvusClient,
  names: string[],
  secretName: string,
): Promise<UsersPlan> {
  const onSource = new Set(await source.listUsers());
  const users: UserToCreate[] = [];
  const notes: string[] = [];
  const problems: string[] = [];
  for (const name of [...names].sort()) {
    if (BUILT_IN_USERS.has(name)) {
      problems.push(
        `spec.rbac.users: Secret "${secretName}" has a key for "${name}", the built-in user, which is never migrated: remove that key`,
      );
      continue;
    }
    if (!onSource.has(name)) {
      problems.push(
        `spec.rbac.users: Secret "${secretName}" has a key "${name}", but the source has no such user (it has ${[...onSource].sort().join(', ') || 'none'}): remove the key or correct its name`,
      );
      continue;
    }
    const roles = ((await source.userRoles(name)) ?? []).filter((r) => r !== 'public').sort();
    users.push({ name, roles });
    notes.push(
      `user ${name} is created on the target with the password in Secret "${secretName}"${roles.length ? ` and roles ${roles.join(', ')}` : ' (no roles besides public)'}`,
    );
  }
  const left = [...onSource].filter((u) => !BUILT_IN_USERS.has(u) && !names.includes(u)).sort();
  if (left.length)
    notes.push(`source users not created (no key for them in Secret "${secretName}"): ${left.join(', ')}`);
  return { users, notes, problems };
}

/**
 * Creates the users that are missing and adds their roles (adding twice is harmless); returns
 * warnings for users that existed already and roles the target does not have.
 */
export async function applyUsers(
  target: MilvusClient,
  plan: UsersPlan,
  passwords: Map<string, string>,
  log: Logger,
): Promise<string[]> {
  const warnings: string[] = [];
  const again = idempotentWrites(log);
  const existing = new Set(await target.listUsers());
  const roles = new Set(await target.selectRoles());
  for (const u of plan.users) {
    if (existing.has(u.name))
      warnings.push(
        `user ${u.name} was on the target already (from an earlier run or made there): its password was left as it was; roles added`,
      );
    else await target.createUser(u.name, passwords.get(u.name)!);
    for (const role of u.roles) {
      if (!roles.has(role)) {
        warnings.push(
          `user ${u.name}: role ${role} does not exist on the target (set spec.rbac.roles: true to create the source's roles)`,
        );
        continue;
      }
      try {
        await again(`adding user ${u.name} to role ${role}`, () => target.addUserToRole(u.name, role));
      } catch (err) {
        if (isNetworkFailure(err)) throw err; // still cut after the retries (idempotentWrites)
        warnings.push(`user ${u.name}: the target refused role ${role}: ${errorText(err)}`);
      }
    }
  }
  return warnings;
}

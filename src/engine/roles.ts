/**
 * spec.rbac.roles (opt-in): the source's roles and their privileges in the source database are
 * created on the target, in the target database. Built-in roles (admin, public) exist everywhere
 * and are left alone; privileges granted in other databases are not this migration's and are left
 * out (the plan says so). The source's own privilege groups (Milvus 2.5+) are created first, so
 * that grants of them work; a target without privilege groups gets none (the plan says so). Users
 * are created by users.ts (spec.rbac.users). A grant the target refuses (a privilege or privilege
 * group it does not know) is a warning, not a failed migration: the data is what is being moved.
 */
import type { Grant, MilvusClient } from '../adapters/milvus/client.js';
import { isNetworkFailure } from '../adapters/milvus/errors.js';
import { errorText } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { retrying } from './retry.js';
import { atLeast, type ServerVersion } from './versions.js';

const BUILT_IN = new Set(['admin', 'public']);

export interface RoleToCreate {
  name: string;
  grants: Grant[];
}

export interface PrivilegeGroup {
  name: string;
  privileges: string[];
}

export interface RolesPlan {
  roles: RoleToCreate[];
  /** The source's own privilege groups (Milvus 2.5+), created on the target before the grants. */
  groups: PrivilegeGroup[];
  notes: string[];
}

/** Milvus 2.5's built-in privilege groups: on every 2.5+ server, never created. */
const BUILT_IN_GROUPS = new Set(
  ['Cluster', 'Database', 'Collection'].flatMap((l) =>
    ['ReadOnly', 'ReadWrite', 'Admin'].map((k) => `${l}${k}`),
  ),
);
export const PRIVILEGE_GROUPS_SINCE = '2.5.0';

/**
 * Grants and group members are set, not added: sending one again is harmless, so a cut connection
 * is retried for as long as a restarting server is waited for. What stays cut fails the step (a
 * warning would leave the privilege out of a Succeeded run); a refusal is the target's answer.
 */
export function idempotentWrites(log: Logger) {
  return <T>(what: string, fn: () => Promise<T>): Promise<T> =>
    retrying(fn, { forMs: 0, retryIf: isNetworkFailure, log, what: `${what} on the target` });
}

const grantText = (g: Grant) => `${g.privilege} on ${g.object} ${g.objectName}`;

/**
 * What the plan will create: the source's own privilege groups (when both servers have them) and
 * every non-built-in source role with its grants in `sourceDb`.
 */
export async function planRoles(
  source: MilvusClient,
  sourceDb: string,
  versions: { source: ServerVersion; target: ServerVersion },
): Promise<RolesPlan> {
  const roles: RoleToCreate[] = [];
  const notes: string[] = [];
  let groups: PrivilegeGroup[] = [];
  if (versions.source.kind === 'milvus' && atLeast(versions.source, PRIVILEGE_GROUPS_SINCE)) {
    groups = (await source.listPrivilegeGroups()).filter((g) => !BUILT_IN_GROUPS.has(g.name));
    groups.sort((a, b) => a.name.localeCompare(b.name));
    const targetHas =
      versions.target.kind !== 'milvus-lite' && atLeast(versions.target, PRIVILEGE_GROUPS_SINCE);
    for (const g of groups)
      notes.push(
        targetHas
          ? `privilege group ${g.name} is created on the target with ${g.privileges.join(', ') || 'no privileges'}`
          : `privilege group ${g.name} is not created: the target (${versions.target.raw}) has no privilege groups (Milvus ${PRIVILEGE_GROUPS_SINCE}+); grants of it will be warnings`,
      );
    if (!targetHas) groups = [];
  }
  for (const name of (await source.selectRoles()).filter((r) => !BUILT_IN.has(r)).sort()) {
    const all = await source.selectGrants(name);
    const grants = all.filter((g) => g.database === sourceDb || g.database === '*');
    const elsewhere = all.length - grants.length;
    roles.push({ name, grants });
    notes.push(
      `role ${name} is created on the target with ${grants.length ? grants.map(grantText).join(', ') : 'no privileges'}${elsewhere ? ` (${elsewhere} privilege(s) in other databases left out)` : ''}`,
    );
  }
  if (!roles.length) notes.push('spec.rbac.roles: the source has no roles besides admin and public');
  return { roles, groups, notes };
}

/**
 * Creates the roles that are missing and grants their privileges in `targetDb` (granting twice is
 * harmless); returns warnings for what the target refused or does not show afterwards.
 */
export async function applyRoles(
  target: MilvusClient,
  plan: RolesPlan,
  sourceDb: string,
  targetDb: string,
  log: Logger,
): Promise<string[]> {
  const warnings: string[] = [];
  const again = idempotentWrites(log);
  if (plan.groups.length) {
    const have = new Map((await target.listPrivilegeGroups()).map((g) => [g.name, new Set(g.privileges)]));
    for (const g of plan.groups) {
      if (!have.has(g.name)) await target.createPrivilegeGroup(g.name);
      const missing = g.privileges.filter((p) => !have.get(g.name)?.has(p));
      if (!missing.length) continue;
      try {
        await again(`adding privileges to group ${g.name}`, () =>
          target.addPrivilegesToGroup(g.name, missing),
        );
      } catch (err) {
        if (isNetworkFailure(err)) throw err;
        warnings.push(
          `privilege group ${g.name}: the target refused ${missing.join(', ')}: ${errorText(err)}`,
        );
      }
    }
  }
  const existing = new Set(await target.selectRoles());
  for (const role of plan.roles) {
    if (!existing.has(role.name)) await target.createRole(role.name);
    for (const g of role.grants) {
      const onTarget = { ...g, database: g.database === sourceDb ? targetDb : g.database };
      try {
        await again(`granting ${grantText(g)} to role ${role.name}`, () => target.grant(role.name, onTarget));
      } catch (err) {
        if (isNetworkFailure(err)) throw err; // still cut after the retries (idempotentWrites)
        warnings.push(`role ${role.name}: the target refused ${grantText(g)}: ${errorText(err)}`);
      }
    }
    const have = new Set(
      (await target.selectGrants(role.name)).map((x) => `${x.object}|${x.objectName}|${x.privilege}`),
    );
    for (const g of role.grants)
      if (!have.has(`${g.object}|${g.objectName}|${g.privilege}`))
        warnings.push(`role ${role.name}: ${grantText(g)} is not listed on the target`);
  }
  return [...new Set(warnings)];
}

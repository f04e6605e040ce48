/**
 * spec.rbac.roles (opt-in): the source's roles and their privileges in the source database are
 * created on the target, in the target database. Built-in roles (admin, public) exist everywhere
 * and are left alone; privileges granted in other databases are not this migration's and are left
 * out (the plan says so). Users are created by users.ts (spec.rbac.users). A grant the
 * target refuses (a privilege or privilege group it does not know) is a warning, not a failed
 * migration: the data is what is being moved.
 */
import type { Grant, MilvusClient } from '../adapters/milvus/client.js';
import { errorText } from '../util/errors.js';

const BUILT_IN = new Set(['admin', 'public']);

export interface RoleToCreate {
  name: string;
  grants: Grant[];
}

export interface RolesPlan {
  roles: RoleToCreate[];
  notes: string[];
}

const grantText = (g: Grant) => `${g.privilege} on ${g.object} ${g.objectName}`;

/** What the plan will create: every non-built-in source role with its grants in `sourceDb`. */
export async function planRoles(source: MilvusClient, sourceDb: string): Promise<RolesPlan> {
  const roles: RoleToCreate[] = [];
  const notes: string[] = [];
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
  return { roles, notes };
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
): Promise<string[]> {
  const warnings: string[] = [];
  const existing = new Set(await target.selectRoles());
  for (const role of plan.roles) {
    if (!existing.has(role.name)) await target.createRole(role.name);
    for (const g of role.grants) {
      const onTarget = { ...g, database: g.database === sourceDb ? targetDb : g.database };
      try {
        await target.grant(role.name, onTarget);
      } catch (err) {
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

/**
 * Load topology (replica count, resource groups) belongs to each cluster: copying the source's
 * collection.replica.number / collection.resource_groups would make a single-node target fail to
 * load a collection that a 2-replica source serves, after the whole copy. So they are never
 * copied; the target loads with spec.target.load (or its own default), and the plan shows what
 * the source had.
 */
import type { KeyValue } from '../adapters/milvus/types.js';
import type { LoadSpec } from '../api/migration.js';

export const LOAD_TOPOLOGY_PROPERTIES: ReadonlySet<string> = new Set([
  'collection.replica.number',
  'collection.resource_groups',
]);

export function withoutLoadTopology(props: KeyValue[] | undefined): KeyValue[] {
  return (props ?? []).filter((p) => !LOAD_TOPOLOGY_PROPERTIES.has(p.key));
}

/** What LoadCollection is sent on the target. */
export interface TargetLoad {
  replicaNumber?: number;
  resourceGroups?: string[];
}

export function targetLoad(spec: LoadSpec | undefined): TargetLoad {
  return {
    ...(spec?.replicas ? { replicaNumber: spec.replicas } : {}),
    ...(spec?.resourceGroups?.length ? { resourceGroups: spec.resourceGroups } : {}),
  };
}

function describeLoad(l: TargetLoad): string {
  const r = l.replicaNumber
    ? `${l.replicaNumber} replica${l.replicaNumber > 1 ? 's' : ''}`
    : "the target's default replica count";
  const g = l.resourceGroups?.length
    ? `resource groups ${l.resourceGroups.join(', ')}`
    : 'its default resource group';
  return `${r} in ${g}`;
}

/**
 * One sentence when the source's topology is not the default one (several replicas, resource
 * groups other than the default, or topology properties), saying what the target does instead;
 * undefined otherwise. `replicas`: the source's GetReplicas answer ([] when it would not say).
 */
export function sourceTopologyNote(
  props: KeyValue[] | undefined,
  replicas: { resource_group_name: string }[],
  spec: LoadSpec | undefined,
): string | undefined {
  const topo = (props ?? []).filter((p) => LOAD_TOPOLOGY_PROPERTIES.has(p.key));
  const groups = [...new Set(replicas.map((r) => r.resource_group_name).filter(Boolean))].sort();
  const nonDefaultGroups = groups.filter((g) => g !== '__default_resource_group');
  if (!topo.length && replicas.length <= 1 && !nonDefaultGroups.length) return undefined;
  const had: string[] = [];
  if (replicas.length)
    had.push(
      `loaded with ${replicas.length} replica${replicas.length > 1 ? 's' : ''}${groups.length ? ` in ${groups.join(', ')}` : ''}`,
    );
  if (topo.length) had.push(`properties ${topo.map((p) => `${p.key}=${p.value}`).join(', ')}`);
  return `load topology: the source has ${had.join('; ')}, which is not copied (replicas and resource groups are the target's own); the target loads with ${describeLoad(targetLoad(spec))}: set spec.target.load to choose`;
}

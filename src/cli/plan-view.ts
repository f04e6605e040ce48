/** The schema preview: what `milvus-migrate plan` shows, as text for people or as JSON. */
import { CONSISTENCY_NAMES, DATA_TYPE_NAMES, FUNCTION_TYPE_NAMES } from '../adapters/milvus/proto.js';
import type { FieldSchema, KeyValue } from '../adapters/milvus/types.js';
import { withoutLoadTopology } from '../engine/load-topology.js';
import type { CollectionPlan, Plan } from '../engine/planner.js';
import { planProblems } from '../engine/planner.js';
import { partitionKeyField, userFields } from '../engine/schema.js';

function kv(list: KeyValue[] | undefined): string {
  return (list ?? []).map((p) => `${p.key}=${p.value}`).join(' ');
}

function fieldView(f: FieldSchema) {
  const dv = f.default_value
    ? Object.entries(f.default_value).find(
        ([, v]) => v !== null && v !== undefined && v !== 0 && v !== '' && v !== false,
      )
    : undefined;
  return {
    name: f.name,
    type: DATA_TYPE_NAMES[f.data_type] ?? String(f.data_type),
    ...(f.element_type ? { elementType: DATA_TYPE_NAMES[f.element_type] } : {}),
    params: Object.fromEntries(f.type_params.map((p) => [p.key, p.value])),
    primaryKey: f.is_primary_key || undefined,
    autoID: f.autoID || undefined,
    partitionKey: f.is_partition_key || undefined,
    clusteringKey: f.is_clustering_key || undefined,
    nullable: f.nullable || undefined,
    defaultValue: f.default_value ? (dv ? dv[1] : JSON.stringify(f.default_value)) : undefined,
    functionOutput: f.is_function_output || undefined,
    description: f.description || undefined,
  };
}

export function collectionView(c: CollectionPlan) {
  const m = c.model;
  const pkey = m ? partitionKeyField(m.schema) : undefined;
  return {
    source: c.sourceName,
    target: c.targetName,
    description: c.description,
    resume: c.resume || undefined,
    ...(m
      ? {
          fields: userFields(c.targetSchema ?? m.schema).map(fieldView),
          dynamicField: m.schema.enable_dynamic_field,
          partitionKey: pkey ? { field: pkey.name, numPartitions: m.numPartitions } : null,
          functions: (m.schema.functions ?? []).map((f) => ({
            name: f.name,
            type: FUNCTION_TYPE_NAMES[f.type] ?? f.type,
            input: f.input_field_names,
            output: f.output_field_names,
            params: Object.fromEntries(f.params.map((p) => [p.key, p.value])),
          })),
          partitions: m.partitions,
          indexes: m.indexes.map((i) => ({
            name: i.index_name,
            field: i.field_name,
            params: Object.fromEntries(i.params.map((p) => [p.key, p.value])),
          })),
          aliases: m.aliases,
          properties: Object.fromEntries(m.properties.map((p) => [p.key, p.value])),
          consistencyLevel: CONSISTENCY_NAMES[m.consistencyLevel],
          shards: m.shardsNum,
        }
      : {}),
    notes: c.notes,
    problems: c.problems,
  };
}

export function planJson(p: Plan) {
  return {
    source: { version: p.sourceVersion.raw },
    target: { version: p.targetVersion.raw },
    ...(p.createDatabase ? { createDatabase: p.createDatabase } : {}),
    ...(p.roles ? { roles: p.roles } : {}),
    ...(p.users ? { users: { users: p.users.users, notes: p.users.notes } } : {}),
    collections: p.collections.map(collectionView),
    problems: planProblems(p),
    ok: planProblems(p).length === 0,
  };
}

export function planText(p: Plan, source: string, target: string): string {
  const out: string[] = [];
  out.push(`source  ${source}  (${p.sourceVersion.raw})`);
  out.push(`target  ${target}  (${p.targetVersion.raw})`);
  for (const n of [...(p.createDatabase?.notes ?? []), ...(p.roles?.notes ?? []), ...(p.users?.notes ?? [])])
    out.push(`note    ${n}`);
  for (const problem of p.problems) out.push(`PROBLEM ${problem}`);
  for (const c of p.collections) {
    const v = collectionView(c);
    const m = c.model;
    out.push('');
    out.push(`collection ${c.sourceName} -> ${c.targetName}${c.resume ? '  (resume)' : ''}`);
    out.push(`  description   ${JSON.stringify(c.description)}`);
    if (m) {
      out.push('  fields');
      for (const f of v.fields ?? []) {
        const flags = [
          f.primaryKey && 'primary key',
          f.autoID && 'autoID',
          f.partitionKey && 'partition key',
          f.clusteringKey && 'clustering key',
          f.nullable && 'nullable',
          f.defaultValue !== undefined && `default ${JSON.stringify(f.defaultValue)}`,
          f.functionOutput && 'function output',
        ].filter(Boolean);
        const params = Object.entries(f.params).map(([k, val]) => `${k}=${val}`);
        out.push(
          `    ${f.name.padEnd(18)} ${(f.type + (f.elementType ? `<${f.elementType}>` : '')).padEnd(18)} ${[...params, ...flags].join(', ')}${f.description ? `  "${f.description}"` : ''}`,
        );
      }
      out.push(`  dynamic field ${m.schema.enable_dynamic_field ? 'on' : 'off'}`);
      out.push(
        `  partition key ${v.partitionKey ? `${v.partitionKey.field} (num_partitions ${v.partitionKey.numPartitions})` : 'none'}`,
      );
      for (const f of v.functions ?? [])
        out.push(
          `  function      ${f.name} ${f.type}: ${f.input.join(',')} -> ${f.output.join(',')} ${JSON.stringify(f.params)}`,
        );
      out.push(`  partitions    ${m.partitions.join(', ')}`);
      for (const i of m.indexes)
        out.push(`  index         ${i.index_name} on ${i.field_name}: ${kv(i.params)}`);
      if (!m.indexes.length) out.push('  indexes       none');
      out.push(`  aliases       ${m.aliases.join(', ') || 'none'}`);
      out.push(`  properties    ${kv(withoutLoadTopology(m.properties)) || 'none'}`);
      out.push(`  consistency   ${CONSISTENCY_NAMES[m.consistencyLevel]}, shards ${m.shardsNum}`);
    }
    for (const n of c.notes) out.push(`  note          ${n}`);
    for (const pr of c.problems) out.push(`  PROBLEM       ${pr}`);
  }
  const problems = planProblems(p);
  out.push('');
  out.push(
    problems.length
      ? `${problems.length} problem(s): the migration would be refused; nothing was written.`
      : 'plan OK: nothing was written.',
  );
  return out.join('\n');
}

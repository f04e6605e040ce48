/**
 * Load topology and target databases (issue 16): the source's replicas and resource groups are
 * never copied (a 2-replica source would break the load of a single-node target); the plan says
 * what the source had and what the target does. A created database gets the source's properties
 * except the target's own (replicas, resource groups, write/read denials).
 */
import { describe, expect, it } from 'vitest';
import { sourceTopologyNote, targetLoad, withoutLoadTopology } from '../../src/engine/load-topology.js';
import { type CollectionModel, createRequest, diffModels } from '../../src/engine/schema.js';
import { databaseNotKept, databaseToCreate } from '../../src/engine/target-database.js';

const kv = (o: Record<string, string>) => Object.entries(o).map(([key, value]) => ({ key, value }));

const model = (properties: Record<string, string>): CollectionModel =>
  ({
    name: 'c',
    description: '',
    schema: {
      name: 'c',
      description: '',
      fields: [],
      enable_dynamic_field: false,
      properties: [],
      functions: [],
    },
    shardsNum: 1,
    consistencyLevel: 2,
    properties: kv(properties),
    numPartitions: 0,
    partitions: ['_default'],
    indexes: [],
    aliases: [],
  }) as unknown as CollectionModel;

describe('load topology', () => {
  const m = model({
    'collection.replica.number': '2',
    'collection.resource_groups': 'rg1,rg2',
    'collection.ttl.seconds': '60',
  });

  it('is not in the create request, and its absence on the target is not a difference', () => {
    const req = createRequest(m, m.schema);
    expect(req.properties).toEqual(kv({ 'collection.ttl.seconds': '60' }));
    const got = { ...m, properties: kv({ 'collection.ttl.seconds': '60' }) };
    expect(diffModels(m, got)).toEqual([]);
    expect(withoutLoadTopology(undefined)).toEqual([]);
  });

  it('the plan says what the source had and how the target loads', () => {
    const note = sourceTopologyNote(
      m.properties,
      [{ resource_group_name: 'rg1' }, { resource_group_name: 'rg2' }],
      { replicas: 1 },
    );
    expect(note).toBe(
      "load topology: the source has loaded with 2 replicas in rg1, rg2; properties collection.replica.number=2, collection.resource_groups=rg1,rg2, which is not copied (replicas and resource groups are the target's own); the target loads with 1 replica in its default resource group: set spec.target.load to choose",
    );
    expect(
      sourceTopologyNote([], [{ resource_group_name: '__default_resource_group' }], undefined),
    ).toBeUndefined();
    expect(sourceTopologyNote([], [], undefined)).toBeUndefined();
    expect(sourceTopologyNote([], [{ resource_group_name: 'gpu' }], { resourceGroups: ['rg_a'] })).toMatch(
      /loaded with 1 replica in gpu.*loads with the target's default replica count in resource groups rg_a/,
    );
  });

  it('spec.target.load becomes the LoadCollection request, nothing when unset', () => {
    expect(targetLoad(undefined)).toEqual({});
    expect(targetLoad({ replicas: 2, resourceGroups: ['a'] })).toEqual({
      replicaNumber: 2,
      resourceGroups: ['a'],
    });
  });
});

describe('target database', () => {
  it("carries the source properties that are not the target cluster's own", () => {
    const d = databaseToCreate(
      'dst',
      kv({
        'database.max.collections': '50',
        'database.replica.number': '3',
        'database.resource_groups': 'rg',
        'database.force.deny.writing': 'true',
        'database.force.deny.reading': 'false',
      }),
      'v2.5.4',
    );
    expect(d.properties).toEqual(kv({ 'database.max.collections': '50' }));
    expect(d.notes[1]).toMatch(
      /not carried .*database\.replica\.number=3, database\.resource_groups=rg, database\.force\.deny\.writing=true/,
    );
    expect(databaseToCreate('dst', undefined, 'v2.3.5-lite').notes[0]).toMatch(
      /does not report database properties/,
    );
  });

  it('reports what the target did not keep, or that it cannot tell', () => {
    const want = kv({ 'database.max.collections': '50', 'database.diskQuota.mb': '10' });
    expect(databaseNotKept(want, kv({ 'database.max.collections': '50' }), 'd')).toEqual([
      'target database "d": property database.diskQuota.mb=10 was not kept',
    ]);
    expect(
      databaseNotKept(want, kv({ 'database.max.collections': '5', 'database.diskQuota.mb': '10' }), 'd'),
    ).toEqual(['target database "d": property database.max.collections is 5 instead of 50']);
    expect(databaseNotKept(want, undefined, 'd')[0]).toMatch(/could not be checked/);
    expect(databaseNotKept([], undefined, 'd')).toEqual([]);
  });
});

/**
 * Every index of every field (issue 16): several indexes per field are told apart by name, JSON path
 * indexes by path; a target that renames indexes (milvus-lite 3.2.2 names each after its field, as
 * seen on the real server) is matched by field so a resumed run creates nothing twice. The wire
 * test runs JSON path indexes through the official protobuf types (DescribeIndexResponse in,
 * CreateIndexRequest out), since no server installable here holds one.
 */
import { describe, expect, it } from 'vitest';
import { EMBEDDED_LITE_VERSION } from '../../src/adapters/milvus/client.js';
import { DataType, decode, encode } from '../../src/adapters/milvus/proto.js';
import type { FieldSchema, IndexDescription } from '../../src/adapters/milvus/types.js';
import {
  diffIndexes,
  indexesToCreate,
  indexProblems,
  JSON_PATH_INDEX_SINCE,
  pairIndexes,
} from '../../src/engine/indexes.js';
import { parseVersion } from '../../src/engine/versions.js';

const m235 = parseVersion('v2.3.5-lite');
const m26 = parseVersion('v2.6.4');
const m25 = parseVersion('v2.5.14');
const lite = parseVersion('milvus_lite-3.2.2');
const embedded = parseVersion(EMBEDDED_LITE_VERSION);

function idx(index_name: string, field_name: string, params: Record<string, string>): IndexDescription {
  return {
    index_name,
    field_name,
    params: Object.entries(params).map(([key, value]) => ({ key, value })),
    state: 3,
    indexed_rows: '0',
    total_rows: '0',
  };
}

function field(name: string, data_type: number): FieldSchema {
  return { name, data_type } as unknown as FieldSchema;
}

const fields = [field('id', DataType.Int64!), field('j', DataType.JSON!), field('t', DataType.VarChar!)];
const jsonA = idx('j_a', 'j', { index_type: 'INVERTED', json_path: 'j["a"]', json_cast_type: 'varchar' });
const jsonB = idx('j_b', 'j', { index_type: 'INVERTED', json_path: 'j["b"]["c"]', json_cast_type: 'double' });
const vec = idx('v_hnsw', 'v', { index_type: 'HNSW', metric_type: 'L2', params: '{"M":8}' });

describe('pairing indexes', () => {
  it('creates every JSON path index of one field, and none that the target already has', () => {
    expect(indexesToCreate([vec, jsonA, jsonB], [])).toEqual([vec, jsonA, jsonB]);
    expect(indexesToCreate([vec, jsonA, jsonB], [jsonA])).toEqual([vec, jsonB]);
    expect(indexesToCreate([vec, jsonA, jsonB], [vec, jsonB, jsonA])).toEqual([]);
  });

  it('matches an index a target renamed after its field (milvus-lite 3.2.2), so a resume creates nothing', () => {
    // What lite describes after CreateIndex(field v, name v_hnsw): name "v", no build parameters.
    const asLiteKeeps = idx('v', 'v', { index_type: 'HNSW', metric_type: 'L2' });
    expect(indexesToCreate([vec], [asLiteKeeps])).toEqual([]);
    const out: string[] = [];
    diffIndexes([vec], [asLiteKeeps], diffParams, out);
    expect(out).toEqual([
      'index on v is named "v" instead of "v_hnsw"',
      'index v_hnsw: parameter params={"M":8} was not kept',
    ]);
  });

  it('does not take one JSON path index for another of the same field', () => {
    const renamed = idx('j', 'j', { index_type: 'INVERTED', json_path: 'j["a"]', json_cast_type: 'varchar' });
    const p = pairIndexes([jsonA, jsonB], [renamed]);
    expect(p.pairs).toEqual([[jsonA, renamed]]);
    expect(p.missing).toEqual([jsonB]);
    const out: string[] = [];
    diffIndexes([jsonA, jsonB], [renamed], diffParams, out);
    expect(out).toContain('index j_b on j (j["b"]["c"]) is missing');
  });

  it('reports a second index on a field that the target lacks (it used to be keyed by field and missed)', () => {
    const inv = idx('t_inv', 't', { index_type: 'INVERTED' });
    const trie = idx('t_trie', 't', { index_type: 'Trie' });
    const out: string[] = [];
    diffIndexes([inv, trie], [inv], diffParams, out);
    expect(out).toEqual(['index t_trie on t is missing']);
  });
});

describe('what a target can hold', () => {
  it('refuses several indexes on one non-JSON field on every server target (data coordinator refuses them)', () => {
    // Described so by the embedded Milvus Lite 2.5.1, the one server here that keeps them.
    const inv = idx('t_inv', 't', { index_type: 'INVERTED', max_length: '64' });
    const trie = idx('t_trie', 't', { index_type: 'Trie', max_length: '64' });
    for (const target of [m235, lite, m26]) {
      const p = indexProblems([inv, trie], fields, target).filter((x) => /indexes \(/.test(x));
      expect(p).toHaveLength(1);
      expect(p[0]).toMatch(
        /^field t has 2 indexes \(t_inv, t_trie\); .*drop all but one of them on the source/,
      );
    }
  });

  it(`admits JSON path indexes on Milvus ${JSON_PATH_INDEX_SINCE}+, refuses them on older targets and milvus-lite`, () => {
    expect(indexProblems([jsonA, jsonB], fields, m26)).toEqual([]);
    expect(indexProblems([jsonA, jsonB], fields, m25)[0]).toMatch(
      /index j_a on JSON path j\["a"\] of j needs Milvus 2\.6\.0 or newer on the target \(it runs v2\.5\.14\)/,
    );
    expect(indexProblems([jsonA], fields, m235).join('\n')).toMatch(/needs Milvus 2\.6\.0 or newer/);
    expect(indexProblems([jsonA], fields, lite).join('\n')).toMatch(/holds no index on JSON values/);
    expect(indexProblems([jsonA], fields, embedded)[0]).toMatch(/holds no index on JSON values/);
  });

  it('refuses scalar index types the target does not build (both seen failing after the copy)', () => {
    const trie = idx('by_text', 't', { index_type: 'Trie' });
    const inv = idx('by_text', 't', { index_type: 'INVERTED' });
    expect(indexProblems([trie], fields, lite)).toEqual([
      'index by_text on t is of type TRIE; milvus_lite-3.2.2 builds only INVERTED indexes on scalar fields: change that index on the source to INVERTED, or use a Milvus target',
    ]);
    expect(indexProblems([inv], fields, lite)).toEqual([]);
    expect(indexProblems([inv], fields, m235)[0]).toMatch(/INVERTED, which needs Milvus 2\.4\.0 or newer/);
    expect(indexProblems([inv, vec], fields, m25)).toEqual([]);
    // Vector index types are the server's business (HNSW on lite is fine).
    expect(indexProblems([vec], [...fields, field('v', DataType.FloatVector!)], lite)).toEqual([]);
  });

  it('has no problem with one index per field', () => {
    expect(indexProblems([vec, idx('t', 't', { index_type: 'Trie' })], fields, m235)).toEqual([]);
  });
});

describe('on the wire (official protobuf definitions)', () => {
  it('JSON path indexes go from DescribeIndexResponse into CreateIndexRequest unchanged', () => {
    const described = encode('DescribeIndexResponse', {
      status: {},
      index_descriptions: [vec, jsonA, jsonB],
    });
    const got = decode<{ index_descriptions: IndexDescription[] }>('DescribeIndexResponse', described);
    const toCreate = indexesToCreate(got.index_descriptions, []);
    expect(toCreate.map((i) => i.index_name)).toEqual(['v_hnsw', 'j_a', 'j_b']);
    for (const [k, i] of toCreate.entries()) {
      // What MilvusClient.createIndex sends.
      const req = encode('CreateIndexRequest', {
        db_name: 'default',
        collection_name: 'c',
        field_name: i.field_name,
        index_name: i.index_name,
        extra_params: i.params,
      });
      const back = decode<{ field_name: string; index_name: string; extra_params: unknown[] }>(
        'CreateIndexRequest',
        req,
      );
      const want = [vec, jsonA, jsonB][k]!;
      expect(back.field_name).toBe(want.field_name);
      expect(back.index_name).toBe(want.index_name);
      expect(back.extra_params).toEqual(want.params);
    }
  });
});

function diffParams(
  what: string,
  want: { key: string; value: string }[],
  got: { key: string; value: string }[],
  out: string[],
) {
  const g = new Map(got.map((p) => [p.key, p.value]));
  for (const p of want) if (!g.has(p.key)) out.push(`${what} ${p.key}=${p.value} was not kept`);
}

/**
 * The CRD in crds/ is generated from the zod schema (src/api/crd.ts): it must be current, structural
 * (what the API server requires for pruning, defaulting and CEL) and carry the validation, defaults
 * and printer columns users rely on. The API server's own verdict is in test/e2e/cluster.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import type { StructuralSchema } from '../../src/api/crd.js';
import { buildCrd, CRD_FILE, CRD_NAME, structuralSchemaOf } from '../../src/api/crd.js';
import { CRD_HEADER, renderCrdYaml } from '../../src/api/generate-crd.js';
import { API_GROUP, API_VERSION, KIND } from '../../src/api/migration.js';
import { REPO_ROOT } from '../support/milvus-server.js';

interface CrdShape {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; shortNames: string[]; categories: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: object };
      additionalPrinterColumns: { name: string; type: string; jsonPath: string; priority?: number }[];
      schema: { openAPIV3Schema: StructuralSchema };
    }[];
  };
}

const crd = buildCrd() as unknown as CrdShape;
const version = crd.spec.versions[0]!;
const root = version.schema.openAPIV3Schema;
const spec = root.properties!.spec!;
const status = root.properties!.status!;
const conn = spec.properties!.source!;

const TYPES = ['object', 'array', 'string', 'integer', 'number', 'boolean'];
/** Everything JSONSchemaProps allows that this project may emit; anything else is a mistake. */
const ALLOWED = new Set([
  'type',
  'description',
  'title',
  'format',
  'nullable',
  'default',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'properties',
  'required',
  'items',
  'additionalProperties',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);

/** Independent check of the structural-schema rules (apiextensions "Specifying a structural schema"). */
function structuralProblems(node: unknown, at: string, out: string[] = []): string[] {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) {
    out.push(`${at}: not a schema object`);
    return out;
  }
  const n = node as Record<string, unknown>;
  for (const key of Object.keys(n)) if (!ALLOWED.has(key)) out.push(`${at}: forbidden keyword ${key}`);
  if (!TYPES.includes(n.type as string)) out.push(`${at}: no type (got ${JSON.stringify(n.type)})`);
  if (n.additionalProperties !== undefined) {
    if (typeof n.additionalProperties !== 'object') out.push(`${at}: additionalProperties must be a schema`);
    if (n.properties) out.push(`${at}: properties together with additionalProperties`);
  }
  if (n.type === 'array' && !n.items) out.push(`${at}: array without items`);
  if (n.type !== 'object' && (n.properties || n.required)) out.push(`${at}: properties on a ${n.type}`);
  if (n.type !== 'array' && n.items) out.push(`${at}: items on a ${n.type}`);
  const props = (n.properties ?? {}) as Record<string, unknown>;
  for (const r of (n.required as string[] | undefined) ?? []) {
    if (!(r in props)) out.push(`${at}: required ${r} is not a property`);
  }
  for (const [k, v] of Object.entries(props)) structuralProblems(v, `${at}.${k}`, out);
  if (n.items) structuralProblems(n.items, `${at}[*]`, out);
  if (typeof n.additionalProperties === 'object' && n.additionalProperties) {
    structuralProblems(n.additionalProperties, `${at}{*}`, out);
  }
  return out;
}

describe('the committed CRD', () => {
  it('is current with src/api/migration.ts', () => {
    const file = path.join(REPO_ROOT, CRD_FILE);
    const committed = readFileSync(file, 'utf8');
    expect(
      parse(committed),
      `${CRD_FILE} differs from buildCrd(): run npm run gen:crd and commit the result`,
    ).toEqual(buildCrd());
    expect(committed, `${CRD_FILE} is not exactly what the generator writes: run npm run gen:crd`).toBe(
      renderCrdYaml(),
    );
    expect(committed.startsWith(CRD_HEADER)).toBe(true);
    expect(committed).toContain('generated from src/api/migration.ts by npm run gen:crd; do not edit');
  });
});

describe('buildCrd()', () => {
  it('names, scope, version and status subresource', () => {
    expect(crd.metadata.name).toBe(CRD_NAME);
    expect(CRD_NAME).toBe('milvusmigrations.migration.milvus.io');
    expect(crd.spec.group).toBe(API_GROUP);
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toMatchObject({ kind: KIND, plural: 'milvusmigrations', shortNames: ['mmig'] });
    expect(crd.spec.names.categories).toEqual(['milvus']);
    expect(crd.spec.versions).toHaveLength(1);
    expect(version).toMatchObject({ name: API_VERSION, served: true, storage: true });
    expect(version.subresources).toEqual({ status: {} });
  });

  it('has a structural schema: a type on every node, no forbidden keywords', () => {
    expect(structuralProblems(root, '')).toEqual([]);
    const text = JSON.stringify(root);
    for (const word of [
      '$schema',
      '$ref',
      '$defs',
      'anyOf',
      'oneOf',
      'allOf',
      '"not"',
      'additionalProperties',
    ]) {
      expect(text, word).not.toContain(word);
    }
    expect(text).not.toContain('9007199254740991'); // zod's safe-integer bounds are noise for int64
  });

  it('describes only spec (required) and status at the root; metadata is the API server’s', () => {
    expect(Object.keys(root.properties!)).toEqual(['spec', 'status']);
    expect(root.required).toEqual(['spec']);
    expect(root['x-kubernetes-preserve-unknown-fields']).toBeUndefined();
    expect(spec.description).toBeTruthy();
    expect(status.description).toBeTruthy();
  });

  it('keeps defaults, and fields with defaults are not required', () => {
    expect(spec.required).toEqual(['source', 'target', 'collections']);
    expect(spec.properties!.verify).toMatchObject({
      type: 'string',
      default: 'sample',
      enum: ['count', 'sample', 'full'],
    });
    expect(spec.properties!.suspend).toMatchObject({ type: 'boolean', default: false });
    expect(spec.properties!.deletionPolicy).toMatchObject({
      type: 'string',
      default: 'Retain',
      enum: ['Retain', 'DropIncomplete'],
    });
    expect(spec.properties!.deletionPolicy!.description).toMatch(
      /DropIncomplete: drop the target collections/,
    );
    // Kept (not pruned) so that the controller can refuse it with a reason the user sees.
    expect(conn.properties!.secretRef!.properties!.namespace).toMatchObject({ type: 'string' });
    expect(conn.properties!.database).toMatchObject({
      type: 'string',
      default: 'default',
      minLength: 1,
      maxLength: 255,
    });
    expect(conn.required).toEqual(['endpoint']);
    expect(conn.properties!.tls!.properties!.insecureSkipVerify).toMatchObject({ default: false });
    expect(status.properties!.collections!.items!.properties!.copiedEntities).toMatchObject({
      type: 'integer',
      format: 'int64',
      default: 0,
    });
  });

  it('keeps patterns, enums and bounds', () => {
    const endpoint = conn.properties!.endpoint!;
    expect(endpoint.pattern).toBeDefined();
    expect(new RegExp(endpoint.pattern!).test('10.88.0.1:19530')).toBe(true);
    expect(new RegExp(endpoint.pattern!).test('https://milvus.example.com')).toBe(true);
    expect(new RegExp(endpoint.pattern!).test('not a host!')).toBe(false);
    expect(conn.properties!.secretRef!.properties!.name).toMatchObject({
      minLength: 1,
      maxLength: 253,
      pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
    });
    const collections = spec.properties!.collections!;
    expect(collections).toMatchObject({ type: 'array', minItems: 1, maxItems: 1000 });
    expect(collections.items!.required).toEqual(['name']);
    expect(collections.items!.properties!.name).toMatchObject({
      minLength: 1,
      maxLength: 255,
      // A name or a pattern of names (*, ?); input.ts checks a plain name strictly.
      pattern: '^[A-Za-z_*?][A-Za-z0-9_*?]*$',
    });
    expect(status.properties!.phase!.enum).toEqual([
      'Pending',
      'Running',
      'Verifying',
      'Syncing',
      'Succeeded',
      'Failed',
      'Canceled',
    ]);
    expect(status.properties!.conditions!.items!.properties!.status!.enum).toEqual([
      'True',
      'False',
      'Unknown',
    ]);
  });

  it('makes source, target and collections immutable by CEL; suspend and verify stay mutable', () => {
    for (const field of ['source', 'target', 'collections']) {
      expect(spec.properties![field]!['x-kubernetes-validations'], field).toEqual([
        {
          rule: 'self == oldSelf',
          message: `spec.${field} cannot change once a migration exists; create a new MilvusMigration`,
        },
      ]);
    }
    for (const field of ['suspend', 'verify', 'deletionPolicy']) {
      expect(spec.properties![field]!['x-kubernetes-validations'], field).toBeUndefined();
    }
    expect(spec['x-kubernetes-validations']).toBeUndefined();
  });

  it('prints phase, progress, rows, sync lag and age; source, target and collections with -o wide', () => {
    const cols = version.additionalPrinterColumns;
    const normal = cols.filter((c) => !c.priority).map((c) => [c.name.toUpperCase(), c.jsonPath, c.type]);
    const wide = cols.filter((c) => c.priority === 1).map((c) => [c.name.toUpperCase(), c.jsonPath]);
    expect(normal).toEqual([
      ['PHASE', '.status.phase', 'string'],
      ['PROGRESS', '.status.progress', 'string'],
      ['ROWS', '.status.rows', 'string'],
      // Empty unless spec.sync: the age of the last complete pass's start.
      ['LAG', '.status.sync.lastPassStart', 'date'],
      ['AGE', '.metadata.creationTimestamp', 'date'],
    ]);
    expect(wide).toEqual([
      ['SOURCE', '.spec.source.endpoint'],
      ['TARGET', '.spec.target.endpoint'],
      ['COLLECTIONS', '.status.collectionsDone'],
    ]);
  });
});

describe('structuralSchemaOf() on shapes the current API does not use yet', () => {
  it('turns nullable, literal unions and records into structural equivalents', () => {
    expect(structuralSchemaOf(z.string().max(3).nullable())).toEqual({
      type: 'string',
      maxLength: 3,
      nullable: true,
    });
    expect(structuralSchemaOf(z.union([z.literal('a'), z.literal('b')]))).toEqual({
      type: 'string',
      enum: ['a', 'b'],
    });
    expect(structuralSchemaOf(z.record(z.string(), z.number().int()))).toEqual({
      type: 'object',
      additionalProperties: { type: 'integer', format: 'int64' },
    });
    expect(structuralSchemaOf(z.object({ a: z.number().min(0) }).passthrough())).toEqual({
      type: 'object',
      properties: { a: { type: 'number', minimum: 0 } },
      required: ['a'],
      'x-kubernetes-preserve-unknown-fields': true,
    });
    expect(
      structuralSchemaOf(z.object({ k: z.string() }).meta({ 'x-kubernetes-map-type': 'atomic' })),
    ).toMatchObject({ type: 'object', 'x-kubernetes-map-type': 'atomic' });
  });

  it('refuses what has no structural equivalent, naming the path', () => {
    expect(() =>
      structuralSchemaOf(z.object({ x: z.union([z.string(), z.object({ a: z.string() })]) })),
    ).toThrow(/CRD schema at \.x: anyOf/);
    expect(() => structuralSchemaOf(z.object({ t: z.tuple([z.string(), z.number()]) }))).toThrow(
      /\.t\[\*\]: anyOf/,
    );
    expect(() => structuralSchemaOf(z.object({ u: z.unknown() }))).toThrow(/\.u: every node needs/);
  });
});

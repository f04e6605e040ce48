/**
 * The MilvusMigration CustomResourceDefinition, derived from the zod schema in ./migration.ts (the
 * single source of truth): zod 4's JSON Schema export (OpenAPI 3.0 flavour, input side so that
 * defaults are present and defaulted fields are optional) is rewritten into a Kubernetes
 * *structural* schema — a type on every node, no $ref / $schema / additionalProperties:false, no
 * anyOf/oneOf the API server could not prune or default — and the API server's own rules are added
 * on top: CEL immutability rules, printer columns, the status subresource.
 *
 * Anything the converter cannot express structurally throws, naming the path, instead of silently
 * producing a looser schema. `npm run gen:crd` writes the result to crds/ (src/api/generate-crd.ts).
 */
import { z } from 'zod';
import { API_GROUP, API_VERSION, KIND, milvusMigration } from './migration.js';

export const PLURAL = 'milvusmigrations';
export const SINGULAR = 'milvusmigration';
export const LIST_KIND = `${KIND}List`;
export const CRD_NAME = `${PLURAL}.${API_GROUP}`;
export const SHORT_NAMES = ['mmig'];
/** `kubectl get milvus` lists every kind of the project; not in `all` (that is for built-in kinds). */
export const CATEGORIES = ['milvus'];
/** The generated file, relative to the repository root. */
export const CRD_FILE = `crds/${CRD_NAME}.yaml`;

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps this project emits. */
export interface StructuralSchema {
  type: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  title?: string;
  format?: string;
  nullable?: boolean;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  properties?: Record<string, StructuralSchema>;
  required?: string[];
  items?: StructuralSchema;
  additionalProperties?: StructuralSchema;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
}

export interface ValidationRule {
  rule: string;
  message: string;
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

type Json = Record<string, unknown>;

/** Keywords copied as they are (after the type-specific handling below). */
const COPIED = [
  'description',
  'title',
  'default',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'multipleOf',
  'nullable',
] as const;

/** Keywords that carry no validation for Kubernetes and are dropped. */
const DROPPED = new Set([
  '$schema',
  '$id',
  'id',
  'examples',
  'example',
  'readOnly',
  'writeOnly',
  'deprecated',
]);

/** String formats the API server knows (k8s.io/kube-openapi/pkg/validation/strfmt); others dropped. */
const K8S_FORMATS = new Set([
  'bsonobjectid',
  'uri',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'cidr',
  'mac',
  'uuid',
  'uuid3',
  'uuid4',
  'uuid5',
  'isbn',
  'isbn10',
  'isbn13',
  'creditcard',
  'ssn',
  'hexcolor',
  'rgbcolor',
  'byte',
  'password',
  'date',
  'duration',
  'datetime',
  'date-time',
  'int32',
  'int64',
]);

const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

class Converter {
  constructor(private readonly defs: Record<string, Json>) {}

  convert(node: Json, path: string, refs: string[] = []): StructuralSchema {
    const fail = (why: string): never => {
      throw new Error(`CRD schema at ${path || '<root>'}: ${why}`);
    };

    if (typeof node.$ref === 'string') {
      const ref = node.$ref;
      if (refs.includes(ref)) fail(`recursive schema (${ref}) cannot be expressed in a structural schema`);
      const name = ref.replace(/^#\/(\$defs|definitions)\//, '');
      const target = this.defs[name];
      if (!target) fail(`unresolvable $ref ${ref}`);
      const { $ref: _ref, ...rest } = node;
      return this.convert({ ...target, ...rest }, path, [...refs, ref]);
    }

    // Unions: only the shapes with a structural equivalent.
    for (const key of ['anyOf', 'oneOf'] as const) {
      const branches = node[key];
      if (!Array.isArray(branches)) continue;
      const { [key]: _u, ...rest } = node;
      const nonNull = (branches as Json[]).filter((b) => b.type !== 'null' && !isNullEnum(b));
      const nullable = nonNull.length < branches.length || rest.nullable === true;
      if (nonNull.length === 1) {
        return this.convert({ ...nonNull[0], ...rest, ...(nullable ? { nullable: true } : {}) }, path, refs);
      }
      // A union of enums/consts of one scalar type (e.g. z.union([z.literal('a'), z.literal('b')])).
      const values = nonNull.map((b) => (b.const !== undefined ? [b.const] : b.enum));
      const types = new Set(nonNull.map((b) => b.type ?? typeof (b.const ?? (b.enum as unknown[])?.[0])));
      if (values.every(Array.isArray) && types.size === 1) {
        const [type] = [...types];
        return this.convert(
          {
            ...rest,
            type,
            enum: (values as unknown[][]).flat(),
            ...(nullable ? { nullable: true } : {}),
          },
          path,
          refs,
        );
      }
      fail(`${key} of different shapes has no structural equivalent; use one object with optional fields`);
    }
    if (Array.isArray(node.allOf)) {
      const { allOf, ...rest } = node;
      if (allOf.length !== 1) fail('allOf with several members (an intersection) is not supported');
      return this.convert({ ...(allOf[0] as Json), ...rest }, path, refs);
    }
    if (node.not !== undefined) fail('"not" is not supported');

    let type = node.type;
    if (Array.isArray(type)) {
      const nonNull = type.filter((t) => t !== 'null');
      if (nonNull.length !== 1) fail(`a node must have exactly one type, got ${JSON.stringify(type)}`);
      type = nonNull[0];
    }
    if (type === undefined && node.const !== undefined) type = jsonType(node.const);
    if (type === undefined && Array.isArray(node.enum) && node.enum.length > 0) type = jsonType(node.enum[0]);
    if (typeof type !== 'string' || !TYPES.has(type)) {
      fail(
        `every node needs one of the types ${[...TYPES].join(', ')} (got ${JSON.stringify(type)}); ` +
          'z.any()/z.unknown() need an explicit x-kubernetes-preserve-unknown-fields in .meta()',
      );
    }

    const out = { type } as StructuralSchema;
    const bag = out as unknown as Json; // for keywords copied by name
    const handled = new Set<string>(['type', ...DROPPED]);
    for (const key of COPIED) {
      handled.add(key);
      if (node[key] !== undefined) bag[key] = node[key];
    }
    if (node.const !== undefined) {
      handled.add('const');
      out.enum = [node.const];
    }
    if (Array.isArray(node.type) && node.type.includes('null')) out.nullable = true;

    // Number bounds: zod writes ±Number.MAX_SAFE_INTEGER for .int(); Kubernetes integers are int64.
    for (const key of ['minimum', 'maximum'] as const) {
      handled.add(key);
      const v = node[key];
      if (typeof v === 'number' && !(type === 'integer' && Math.abs(v) === Number.MAX_SAFE_INTEGER))
        out[key] = v;
    }
    for (const [key, bound] of [
      ['exclusiveMinimum', 'minimum'],
      ['exclusiveMaximum', 'maximum'],
    ] as const) {
      handled.add(key);
      const v = node[key];
      if (typeof v === 'boolean') out[key] = v;
      else if (typeof v === 'number') {
        out[bound] = v;
        out[key] = true;
      }
    }
    handled.add('format');
    if (type === 'integer') out.format = node.format === 'int32' ? 'int32' : 'int64';
    else if (typeof node.format === 'string' && K8S_FORMATS.has(node.format)) out.format = node.format;
    if (type === 'number' && typeof node.format === 'string' && ['float', 'double'].includes(node.format)) {
      out.format = node.format;
    }

    if (type === 'object') {
      for (const key of ['properties', 'required', 'additionalProperties', 'propertyNames']) handled.add(key);
      const props = node.properties as Record<string, Json> | undefined;
      const extra = node.additionalProperties;
      if (props && Object.keys(props).length > 0) {
        out.properties = {};
        for (const [name, child] of Object.entries(props)) {
          out.properties[name] = this.convert(child, `${path}.${name}`, refs);
        }
        if (Array.isArray(node.required) && node.required.length > 0) out.required = [...node.required];
        // additionalProperties:false is the default with pruning (and `kubectl apply` refuses unknown
        // fields by server-side field validation); a schema next to properties is not allowed.
        if (extra !== undefined && extra !== false && !isEmptySchema(extra)) {
          fail('properties together with additionalProperties is not allowed in a structural schema');
        }
        if (isEmptySchema(extra)) out['x-kubernetes-preserve-unknown-fields'] = true;
      } else if (extra && typeof extra === 'object' && !isEmptySchema(extra)) {
        out.additionalProperties = this.convert(extra as Json, `${path}[*]`, refs);
      } else {
        // A free-form object (z.record(z.string(), z.unknown()), passthrough without fields).
        out['x-kubernetes-preserve-unknown-fields'] = true;
      }
    } else {
      for (const key of ['properties', 'additionalProperties', 'required']) {
        if (node[key] !== undefined && type !== 'array') fail(`"${key}" on a ${type} node`);
      }
    }

    if (type === 'array') {
      for (const key of ['items', 'prefixItems', 'uniqueItems']) handled.add(key);
      if (node.prefixItems !== undefined || Array.isArray(node.items)) {
        fail('tuples have no structural equivalent; use an array of one type or an object');
      }
      if (!node.items || typeof node.items !== 'object') fail('an array needs an items schema');
      out.items = this.convert(node.items as Json, `${path}[*]`, refs);
      if (node.uniqueItems === true) {
        // Kubernetes forbids uniqueItems (quadratic); a set list is its equivalent for scalars.
        if (out.items.type === 'object' || out.items.type === 'array') {
          fail('uniqueItems on a list of objects/lists is not supported');
        }
        out['x-kubernetes-list-type'] = 'set';
      }
    }

    for (const [key, value] of Object.entries(node)) {
      if (handled.has(key)) continue;
      if (key.startsWith('x-kubernetes-')) {
        bag[key] = value;
        continue;
      }
      fail(`keyword "${key}" cannot be expressed in a Kubernetes structural schema`);
    }
    return out;
  }
}

function jsonType(v: unknown): string {
  if (Number.isInteger(v)) return 'integer';
  if (typeof v === 'number') return 'number';
  return typeof v;
}

function isNullEnum(b: Json): boolean {
  return (Array.isArray(b.enum) && b.enum.length === 1 && b.enum[0] === null) || b.const === null;
}

function isEmptySchema(v: unknown): boolean {
  return v === true || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
}

/** Converts one zod schema to a structural schema (exported for tests and other kinds). */
export function structuralSchemaOf(schema: z.ZodType, path = ''): StructuralSchema {
  const json = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    reused: 'inline',
    cycles: 'throw',
    unrepresentable: 'throw',
  }) as Json;
  const defs = {
    ...((json.definitions as Record<string, Json>) ?? {}),
    ...((json.$defs as Record<string, Json>) ?? {}),
  };
  const { definitions: _d, $defs: _D, ...root } = json;
  return new Converter(defs).convert(root, path);
}

const immutable = (field: string): ValidationRule => ({
  rule: 'self == oldSelf',
  message: `spec.${field} cannot change once a migration exists; create a new ${KIND}`,
});

/** The validation schema of the one served version: spec and status only (metadata is the API server's). */
export function versionSchema(): StructuralSchema {
  const spec = structuralSchemaOf(milvusMigration.shape.spec, '.spec');
  const status = structuralSchemaOf(milvusMigration.shape.status.unwrap(), '.status');
  const props = spec.properties ?? {};
  for (const field of ['source', 'target', 'collections'] as const) {
    const node = props[field];
    if (!node) throw new Error(`CRD schema: spec.${field} is missing from the zod schema`);
    node['x-kubernetes-validations'] = [...(node['x-kubernetes-validations'] ?? []), immutable(field)];
  }
  const withDescription = (s: StructuralSchema, fallback: string): StructuralSchema => {
    const { type, description, ...rest } = s;
    return { type, description: description ?? fallback, ...rest };
  };
  return {
    type: 'object',
    description:
      `${KIND} copies Milvus collections from a source cluster to a target cluster: exact schema, every ` +
      'row, then verification.',
    properties: {
      spec: withDescription(
        spec,
        'What to migrate: source and target clusters and the collections. source, target and collections ' +
          'are fixed once the object exists; suspend and verify may change.',
      ),
      status: withDescription(
        status,
        'What the controller observed; written only through the status subresource.',
      ),
    },
    required: ['spec'],
  };
}

export const PRINTER_COLUMNS: PrinterColumn[] = [
  { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Phase of the migration.' },
  {
    name: 'Progress',
    type: 'string',
    jsonPath: '.status.progress',
    description: 'Copied share of all rows.',
  },
  {
    name: 'Rows',
    type: 'string',
    jsonPath: '.status.rows',
    description: 'Rows copied / rows on the source.',
  },
  {
    name: 'Lag',
    type: 'date',
    jsonPath: '.status.sync.lastPassStart',
    description:
      'spec.sync: time since the last complete catch-up pass started (writes older than this are on the target).',
  },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' },
  {
    name: 'Source',
    type: 'string',
    jsonPath: '.spec.source.endpoint',
    description: 'Source Milvus endpoint.',
    priority: 1,
  },
  {
    name: 'Target',
    type: 'string',
    jsonPath: '.spec.target.endpoint',
    description: 'Target Milvus endpoint.',
    priority: 1,
  },
  // Not `.spec.collections[*].name`: the API server's table convertor prints only the FIRST match of
  // a JSONPath (apiextensions-apiserver tableconvertor: results[0][0]), so a list of names would show
  // one collection; the controller writes a "done/total" string instead.
  {
    name: 'Collections',
    type: 'string',
    jsonPath: '.status.collectionsDone',
    description: 'Collections finished / collections in the migration.',
    priority: 1,
  },
];

/** The CustomResourceDefinition object (apiextensions.k8s.io/v1), ready to serialize. */
export function buildCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/name': 'milvus-migrate', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: API_GROUP,
      names: {
        kind: KIND,
        listKind: LIST_KIND,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [...SHORT_NAMES],
        categories: [...CATEGORIES],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: versionSchema() },
        },
      ],
    },
  };
}

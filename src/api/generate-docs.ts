/**
 * Writes docs/reference.md, the field reference of the MilvusMigration CRD, from the same structural
 * schema the CRD is generated from (src/api/crd.ts, itself from the zod schema in ./migration.ts):
 * a field added there appears here on the next `npm run gen:docs`. `--check` writes nothing and
 * exits 1 when the file is missing or differs (a unit test runs the same comparison).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { versionGates } from '../engine/version-gates.js';
import { CRD_NAME, PRINTER_COLUMNS, SHORT_NAMES, type StructuralSchema, versionSchema } from './crd.js';
import { API_VERSION_FULL, KIND } from './migration.js';

export const REFERENCE_FILE = 'docs/reference.md';

interface Row {
  path: string;
  type: string;
  required: boolean;
  node: StructuralSchema;
}

function typeOf(n: StructuralSchema): string {
  if (n.type === 'array') return `[]${n.items ? typeOf(n.items) : 'any'}`;
  if (n.type === 'object' && n.additionalProperties) return `map[string]${typeOf(n.additionalProperties)}`;
  return n.type;
}

function rows(n: StructuralSchema, at: string, required: boolean, out: Row[]): Row[] {
  out.push({ path: at, type: typeOf(n), required, node: n });
  const obj = n.type === 'array' ? n.items : n;
  const prefix = n.type === 'array' ? `${at}[]` : at;
  if (obj?.type === 'object' && obj.properties) {
    for (const [k, child] of Object.entries(obj.properties))
      rows(child, `${prefix}.${k}`, obj.required?.includes(k) ?? false, out);
  }
  return out;
}

const code = (v: unknown) => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;
/** Table cells: pipes escaped, no line breaks. */
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

function constraints(n: StructuralSchema): string {
  const c: string[] = [];
  if (n.enum) c.push(`one of ${n.enum.map(code).join(', ')}`);
  if (n.pattern) c.push(`pattern ${code(n.pattern)}`);
  if (n.minLength !== undefined) c.push(`min length ${n.minLength}`);
  if (n.maxLength !== undefined) c.push(`max length ${n.maxLength}`);
  if (n.minimum !== undefined) c.push(`minimum ${n.minimum}`);
  if (n.maximum !== undefined) c.push(`maximum ${n.maximum}`);
  if (n.minItems !== undefined) c.push(`min items ${n.minItems}`);
  if (n.maxItems !== undefined) c.push(`max items ${n.maxItems}`);
  for (const v of n['x-kubernetes-validations'] ?? [])
    c.push(v.rule === 'self == oldSelf' ? 'immutable' : `${code(v.rule)} (${v.message})`);
  return c.join('; ');
}

function table(all: Row[]): string {
  const lines = [
    '| field | type | required | default | validation | description |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of all) {
    const n = r.node;
    lines.push(
      `| ${[
        code(r.path),
        code(r.type),
        r.required ? 'yes' : '',
        n.default !== undefined ? code(n.default) : '',
        constraints(n),
        n.description ?? '',
      ]
        .map(cell)
        .join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** The exact text of docs/reference.md. */
export function renderReference(): string {
  const schema = versionSchema();
  const spec = schema.properties?.spec;
  const status = schema.properties?.status;
  if (!spec || !status) throw new Error('the CRD schema has no spec or status');
  const columns = PRINTER_COLUMNS.map(
    (c) =>
      `| ${c.name} | ${code(c.jsonPath)} | ${c.priority ? '`-o wide`' : 'always'} | ${cell(c.description)} |`,
  ).join('\n');
  return `<!-- generated from src/api/migration.ts by npm run gen:docs; do not edit -->
# ${KIND} reference

\`apiVersion: ${API_VERSION_FULL}\`, \`kind: ${KIND}\`, namespaced; CRD \`${CRD_NAME}\`, short name
${SHORT_NAMES.map(code).join(', ')}. ${cell(schema.description ?? '')}

The same schema validates the YAML the CLI reads (\`milvus-migrate plan|run -f\`) and, as the CRD's
OpenAPI schema, what the API server accepts: an object that breaks a rule below is refused at
\`kubectl apply\` time. Paths use \`[]\` for "each item of the list".

## spec

${cell(spec.description ?? '')}

${table(rows(spec, 'spec', true, []).slice(1))}

### Secrets

A \`secretRef\` names a Secret in the migration's own namespace (never another one). Keys:
\`username\` + \`password\`, or \`token\` (an API key, or \`user:password\`); optional \`ca.crt\` (the CA
that signed the server certificate), \`tls.crt\` + \`tls.key\` (a client certificate, for mutual TLS).
Without a \`secretRef\` the connection has no credentials.

## status

${cell(status.description ?? '')}

${table(rows(status, 'status', false, []).slice(1))}

Conditions follow kstatus: \`Reconciling=True\` while work is under way, \`Stalled=True\` when it
failed and needs you (its \`reason\` is one of those in [troubleshooting.md](troubleshooting.md)),
\`Ready=True\` once every collection is copied and verified.

## kubectl get columns

| column | JSONPath | shown | description |
|---|---|---|---|
${columns}

## Version-gated elements

What the plan admits per target version (from the constants it checks with), what a milvus-lite
target does, and where the tests ran it. An element whose target is too old is refused in the plan,
with nothing written.

| element | lowest target | milvus-lite 3.x target | tested on |
|---|---|---|---|
${versionGates()
  .map((g) => `| ${[g.element, g.target, g.lite, g.tested].map(cell).join(' | ')} |`)
  .join('\n')}
`;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function main(argv: string[]): number {
  const file = path.join(repoRoot, REFERENCE_FILE);
  const want = renderReference();
  if (argv.includes('--check')) {
    let have: string | undefined;
    try {
      have = readFileSync(file, 'utf8');
    } catch {
      have = undefined;
    }
    if (have === want) {
      process.stdout.write(`${REFERENCE_FILE} is up to date\n`);
      return 0;
    }
    process.stderr.write(
      `${REFERENCE_FILE} is ${have === undefined ? 'missing' : 'out of date with src/api/migration.ts'}: run npm run gen:docs and commit the result\n`,
    );
    return 1;
  }
  writeFileSync(file, want);
  process.stdout.write(`wrote ${REFERENCE_FILE}\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}

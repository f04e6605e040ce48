/**
 * Reads the YAML a user would `kubectl apply` — one MilvusMigration and the v1 Secrets it names,
 * in one or more files — and validates it against the API schema. Every mistake becomes a
 * UserError that names the file, the field and what to do.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import type { Credentials } from '../adapters/milvus/client.js';
import { parseEndpoint } from '../adapters/milvus/endpoint.js';
import { UserError } from '../util/errors.js';
import { API_VERSION_FULL, KIND, type MilvusMigration, milvusMigration } from './migration.js';

export interface SecretObject {
  name: string;
  namespace: string;
  data: Record<string, Buffer>;
}

export interface MigrationInput {
  migration: MilvusMigration;
  secrets: SecretObject[];
}

export function loadInputFiles(files: string[]): MigrationInput {
  if (!files.length)
    throw new UserError(
      'no input: pass the migration YAML with -f FILE (repeat -f for more files)',
      'InvalidInput',
    );
  const docs: { file: string; index: number; value: unknown }[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UserError(
        code === 'ENOENT'
          ? `${file}: no such file: check the path given to -f`
          : `${file}: cannot read it (${code ?? String(err)})`,
        'InvalidInput',
      );
    }
    docs.push(...parseYaml(text, file));
  }
  const input = fromDocuments(docs);
  // The Secrets come with the files: a missing or incomplete one is invalid input, found before
  // any server is contacted.
  credentialsFor(input, 'source');
  credentialsFor(input, 'target');
  return input;
}

export function parseYaml(text: string, file: string): { file: string; index: number; value: unknown }[] {
  const out: { file: string; index: number; value: unknown }[] = [];
  parseAllDocuments(text).forEach((doc, index) => {
    if (doc.errors.length) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw new UserError(
        `${file}${line ? `:${line}` : ''}: the YAML does not parse: ${e.message.split('\n')[0]}. Fix the syntax (indentation, quotes, colons) and try again`,
        'InvalidYAML',
      );
    }
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push({ file, index, value });
  });
  return out;
}

function where(d: { file: string; index: number }): string {
  return `${d.file} (document ${d.index + 1})`;
}

export function fromDocuments(docs: { file: string; index: number; value: unknown }[]): MigrationInput {
  const migrations: { d: (typeof docs)[number]; m: MilvusMigration }[] = [];
  const secrets: SecretObject[] = [];
  for (const d of docs) {
    const v = d.value as Record<string, unknown>;
    if (typeof v !== 'object' || Array.isArray(v)) {
      throw new UserError(
        `${where(d)}: expected a Kubernetes object (apiVersion, kind, metadata, …)`,
        'InvalidInput',
      );
    }
    if (v.kind === KIND) {
      if (v.apiVersion !== API_VERSION_FULL) {
        throw new UserError(
          `${where(d)}: apiVersion "${String(v.apiVersion)}" is not served: use ${API_VERSION_FULL}`,
          'InvalidInput',
        );
      }
      const parsed = milvusMigration.safeParse(v);
      if (!parsed.success)
        throw new UserError(`${where(d)}: ${formatZodError(parsed.error, v)}`, 'InvalidSpec');
      migrations.push({ d, m: parsed.data });
    } else if (v.kind === 'Secret') {
      secrets.push(parseSecret(d, v));
    } else {
      throw new UserError(
        `${where(d)}: kind "${String(v.kind)}" is not expected here: give one ${KIND} and the v1 Secrets it names`,
        'InvalidInput',
      );
    }
  }
  if (migrations.length !== 1) {
    throw new UserError(
      migrations.length === 0
        ? `no ${KIND} found in the input: add one (apiVersion: ${API_VERSION_FULL}, kind: ${KIND})`
        : `${migrations.length} ${KIND} objects found (${migrations.map((x) => x.m.metadata.name).join(', ')}): run one migration at a time`,
      'InvalidInput',
    );
  }
  const migration = migrations[0]!.m;
  checkSpec(migration);
  return { migration, secrets };
}

function parseSecret(d: { file: string; index: number }, v: Record<string, unknown>): SecretObject {
  if (v.apiVersion !== 'v1')
    throw new UserError(`${where(d)}: a Secret must have apiVersion: v1`, 'InvalidInput');
  const meta = (v.metadata ?? {}) as Record<string, unknown>;
  if (typeof meta.name !== 'string' || !meta.name)
    throw new UserError(`${where(d)}: the Secret has no metadata.name`, 'InvalidInput');
  const data: Record<string, Buffer> = {};
  for (const [k, val] of Object.entries((v.data ?? {}) as Record<string, unknown>)) {
    if (typeof val !== 'string' || !/^[A-Za-z0-9+/=\s]*$/.test(val)) {
      throw new UserError(
        `${where(d)}: Secret ${meta.name} data.${k} is not base64: put plain text under stringData instead`,
        'InvalidSecret',
      );
    }
    data[k] = Buffer.from(val, 'base64');
  }
  for (const [k, val] of Object.entries((v.stringData ?? {}) as Record<string, unknown>)) {
    data[k] = Buffer.from(String(val), 'utf8');
  }
  return {
    name: meta.name,
    namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default',
    data,
  };
}

/** Cross-field rules the schema cannot express. */
/** What Milvus accepts as a collection name (spec.collections[].name may also be a pattern). */
const COLLECTION_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function checkSpec(m: MilvusMigration): void {
  // The schema's pattern is loose (e.g. "host:19530x" passes it): parse as the client will.
  parseEndpoint(m.spec.source.endpoint, 'spec.source');
  parseEndpoint(m.spec.target.endpoint, 'spec.target');
  const ns = m.metadata.namespace;
  for (const side of ['source', 'target'] as const) {
    const other = m.spec[side].secretRef?.namespace;
    if (other !== undefined && other !== '' && other !== ns)
      throw new UserError(
        `spec.${side}.secretRef.namespace "${other}" is not the migration's namespace "${ns}": Secrets are only read from the migration's own namespace. Copy the Secret into namespace "${ns}", then delete this MilvusMigration and create it again without secretRef.namespace (source and target cannot change once it exists)`,
        'CrossNamespaceSecret',
      );
  }
  const seen = new Map<string, string>();
  const sources = new Set<string>();
  for (const [i, c] of m.spec.collections.entries()) {
    const where = `spec.collections[${i}]`;
    if (!/[*?]/.test(c.name)) {
      if (!COLLECTION_NAME.test(c.name))
        throw new UserError(
          `${where}.name: "${c.name}" is not a collection name: it must start with a letter or underscore and contain only letters, digits and underscores (or be a pattern with * and ?)`,
          'InvalidSpec',
        );
      if (c.exclude?.length)
        throw new UserError(
          `${where}.exclude is only for a pattern name ("*", "logs_*"): remove exclude, or make name a pattern`,
          'InvalidSpec',
        );
    } else if (c.targetName !== undefined || c.description !== undefined) {
      throw new UserError(
        `${where}: pattern "${c.name}" stands for several collections, which cannot share one targetName or description: list a collection by name for those (a named collection is taken out of the pattern's matches)`,
        'InvalidSpec',
      );
    }
    if (sources.has(c.name))
      throw new UserError(
        `spec.collections lists source collection "${c.name}" twice: list each once`,
        'InvalidSpec',
      );
    sources.add(c.name);
    if (/[*?]/.test(c.name)) continue;
    const t = c.targetName ?? c.name;
    const prev = seen.get(t);
    if (prev !== undefined) {
      throw new UserError(
        `spec.collections: "${prev}" and "${c.name}" would both be written to target collection "${t}": give one of them another targetName`,
        'DuplicateTarget',
      );
    }
    seen.set(t, c.name);
  }
}

/** zod issues as one readable sentence per problem, with the field path. */
export function formatZodError(err: z.ZodError, input?: unknown): string {
  return err.issues
    .map((i) => {
      const path = i.path.join('.').replace(/\.(\d+)/g, '[$1]') || '(top level)';
      // The offending value (zod 4 does not report it), quoted when it is short and plain.
      let value: unknown = input;
      for (const k of i.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[k];
      const shown =
        (typeof value === 'string' && value.length <= 200) || typeof value === 'number'
          ? `${JSON.stringify(value)} `
          : '';
      if (i.code === 'unrecognized_keys')
        return `${path}: unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}: remove or correct the name`;
      if (i.code === 'invalid_type' && i.expected === 'int' && typeof value === 'number')
        return `${path}: ${shown}is not a whole number: use one, e.g. ${Math.max(1, Math.round(value))}`;
      if (
        i.code === 'invalid_type' &&
        (/received undefined/.test(i.message) || (input !== undefined && value === undefined))
      )
        return `${path}: required field is missing: add ${String(i.path[i.path.length - 1] ?? 'it')}`;
      if (i.code === 'invalid_type')
        return `${path}: ${shown || `${typeof value} `}is not ${i.expected === 'int' || i.expected === 'number' ? 'a number' : `a ${i.expected}`}: use ${i.expected === 'int' || i.expected === 'number' ? 'a number, e.g. 4' : `a ${i.expected}`}`;
      if (i.code === 'invalid_value' && i.values.length)
        return `${path}: ${shown}is not allowed: use one of ${i.values.map(String).join(', ')}`;
      if (i.code === 'too_small' && i.origin === 'array')
        return `${path}: the list is empty: add at least ${i.minimum === 1 ? 'one' : String(i.minimum)} ${path === 'spec.collections' ? 'collection (- name: my_collection)' : 'entry'}`;
      if (i.code === 'invalid_format') return `${path}: ${shown}is not valid: ${i.message}`;
      if ((i.code === 'too_small' || i.code === 'too_big') && i.origin === 'number') {
        const bound = i.code === 'too_small' ? `at least ${i.minimum}` : `at most ${i.maximum}`;
        return `${path}: ${shown}is out of range: use a number ${bound}`;
      }

      return `${path}: ${i.message}`;
    })
    .join('; ');
}

/**
 * spec.rbac.users: user name → password on the target, from the Secret's keys (in the migration's
 * namespace). Undefined without spec.rbac.users.
 */
export function userPasswords(input: MigrationInput): Map<string, string> | undefined {
  const ref = input.migration.spec.rbac?.users?.secretRef;
  if (!ref) return undefined;
  const ns = input.migration.metadata.namespace;
  const s = input.secrets.find((x) => x.name === ref.name && x.namespace === ns);
  if (!s)
    throw new UserError(
      `spec.rbac.users.secretRef: Secret "${ref.name}" was not found in namespace "${ns}": add it to the input (-f secret.yaml), one key per user with the password it gets on the target`,
      'SecretNotFound',
    );
  const out = new Map<string, string>();
  for (const [user, value] of Object.entries(s.data)) {
    if (value === undefined) continue;
    const password = value.toString('utf8');
    // Milvus takes passwords of 6 to 256 characters: said before anything is written.
    if (password.length < 6 || password.length > 256)
      throw new UserError(
        `Secret "${ref.name}": the password for user "${user}" has ${password.length} characters; Milvus takes 6 to 256: change that key's value`,
        'InvalidSecret',
      );
    out.set(user, password);
  }
  if (!out.size)
    throw new UserError(
      `Secret "${ref.name}" (spec.rbac.users) has no keys: add one per user, its value the password on the target`,
      'InvalidSecret',
    );
  return out;
}

/** The credentials a Secret holds for one side; the Secret must live in the migration's namespace. */
export function credentialsFor(input: MigrationInput, side: 'source' | 'target'): Credentials | undefined {
  const ref = input.migration.spec[side].secretRef;
  if (!ref) return undefined;
  const ns = input.migration.metadata.namespace;
  const s = input.secrets.find((x) => x.name === ref.name && x.namespace === ns);
  if (!s) {
    const elsewhere = input.secrets.find((x) => x.name === ref.name);
    throw new UserError(
      elsewhere
        ? `spec.${side}.secretRef: Secret "${ref.name}" is in namespace "${elsewhere.namespace}", not in the migration's namespace "${ns}": Secrets are only read from the migration's own namespace: create the Secret in namespace "${ns}" (metadata.namespace)`
        : `spec.${side}.secretRef: Secret "${ref.name}" was not found in namespace "${ns}": add it to the input (-f secret.yaml)`,
      'SecretNotFound',
    );
  }
  return credentialsFromSecret(s.data, `Secret "${ref.name}"`);
}

export function credentialsFromSecret(data: Record<string, Buffer | undefined>, what: string): Credentials {
  const text = (k: string) => data[k]?.toString('utf8');
  const c: Credentials = {};
  const token = text('token');
  const username = text('username');
  const password = text('password');
  if (token !== undefined) c.token = token.trim();
  else if (username !== undefined) {
    if (password === undefined)
      throw new UserError(`${what} has "username" but no "password": add the password key`, 'InvalidSecret');
    c.username = username.trim();
    c.password = password;
  } else if (!data['ca.crt'] && !data['tls.crt']) {
    throw new UserError(
      `${what} has neither "username" + "password" nor "token" (keys found: ${Object.keys(data).join(', ') || 'none'}): add them`,
      'InvalidSecret',
    );
  }
  if (data['ca.crt']) c.caPem = data['ca.crt'];
  if (data['tls.crt']) c.certPem = data['tls.crt'];
  if (data['tls.key']) c.keyPem = data['tls.key'];
  if ((c.certPem && !c.keyPem) || (c.keyPem && !c.certPem)) {
    throw new UserError(
      `${what} has only one of "tls.crt" and "tls.key": a client certificate needs both`,
      'InvalidSecret',
    );
  }
  return c;
}

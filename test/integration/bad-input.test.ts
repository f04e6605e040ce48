/**
 * Mistakes users make, each run through the real CLI (`milvus-migrate run`) against real servers:
 * the CLI must refuse with the right exit code (2 = invalid input, message on stderr; 1 = Failed,
 * status JSON on stdout), a message that says what is wrong AND what to do, and leave no trace:
 * no collection created or dropped on any server, no state recorded, no password in any output,
 * no stack trace.
 *
 * Servers (started once): a 2.3.5 source with authentication (the migration logs in as a read-only
 * user), a plain 2.3.5 target, a 2.2.16 (a source that is too old), milvus-lite (a source with a
 * nullable field, which a 2.3.5 target cannot hold) and a 2.3.5 with server TLS. Plus a plain
 * HTTP/1.1 server (not gRPC) and a closed port.
 */

import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MilvusClient } from '../../src/adapters/milvus/client.js';
import { ensureBuilt, migrationYaml, runCli, secretYaml, yamlFile } from '../support/cli.js';
import { createReadOnlyUser } from '../support/milvus-admin.js';
import { type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import { admin, type CollectionDef, createCollection, indexAndLoad, insertRows } from '../support/rows.js';

// ---- the world ----------------------------------------------------------------------------------

let src: MilvusTestServer; // 2.3.5, auth on
let dst: MilvusTestServer; // 2.3.5, plain
let old: MilvusTestServer; // 2.2.16
let lite: MilvusTestServer; // milvus-lite
let tls: MilvusTestServer; // 2.3.5, server TLS
let httpServer: http.Server;
let httpPort: number;
let closedPort: number;

const admins: Record<string, MilvusClient> = {};

/** The read-only user the migrations log in with, and a wrong password: neither may ever be printed. */
const USER = 'migrator';
const PASSWORD = 'Src-Pa55word-7f3a';
const WRONG_PASSWORD = 'Wr0ng-Pa55word-c9d1';
const SECRETS = [
  PASSWORD,
  WRONG_PASSWORD,
  Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
  Buffer.from(`${USER}:${WRONG_PASSWORD}`).toString('base64'),
];

const vecDef = (name: string, extra: CollectionDef['fields'] = []): CollectionDef => ({
  name,
  fields: [
    { name: 'id', type: 'Int64', primary: true },
    { name: 'vec', type: 'FloatVector', dim: 4 },
    ...extra,
  ],
});
const BOOKS = vecDef('books');
const NULLABLE = vecDef('nullable_notes', [{ name: 'note', type: 'VarChar', maxLength: 64, nullable: true }]);

async function seed(c: MilvusClient, def: CollectionDef, opts: { load?: boolean; rows?: number } = {}) {
  await createCollection(c, def);
  const rows = Array.from({ length: opts.rows ?? 10 }, (_, i) => ({
    id: i,
    vec: [i, 1, 2, 3],
    note: i % 2 ? null : `n${i}`,
  }));
  await insertRows(c, def, rows);
  if (opts.load === false) {
    await c.createIndex(def.name, 'vec', '', [
      { key: 'index_type', value: 'FLAT' },
      { key: 'metric_type', value: 'L2' },
      { key: 'params', value: '{}' },
    ]);
  } else {
    await indexAndLoad(c, def.name, 'vec');
  }
}

beforeAll(async () => {
  ensureBuilt();
  [src, dst, old, lite, tls] = await Promise.all([
    startMilvus({ kind: 'milvus-2.3.5', auth: true, name: 'bad-src' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'bad-dst' }),
    startMilvus({ kind: 'milvus-2.2.16', name: 'bad-old' }),
    startMilvus({ kind: 'milvus-lite', name: 'bad-lite' }),
    startMilvus({ kind: 'milvus-2.3.5', tls: 'server', name: 'bad-tls' }),
  ]);
  admins.src = admin(src.endpoint, src.credentials);
  admins.dst = admin(dst.endpoint);
  admins.old = admin(old.endpoint);
  admins.lite = admin(lite.endpoint);
  admins.tls = new MilvusClient({
    side: 'test',
    endpoint: `https://${tls.endpoint}`,
    database: 'default',
    credentials: { caPem: Buffer.from(tls.tls!.caPem) },
  });
  await createReadOnlyUser(src, { user: USER, password: PASSWORD, withLoad: true });
  await Promise.all([seed(admins.src, BOOKS), seed(admins.lite, NULLABLE)]);

  // Not gRPC at all: a plain HTTP/1.1 server.
  httpServer = http.createServer((_req, res) => res.end('hello, I am not Milvus\n'));
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  httpPort = (httpServer.address() as net.AddressInfo).port;
  // A port nothing listens on.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  console.log(
    `source ${src.endpoint} ${src.version} (auth); target ${dst.endpoint} ${dst.version}; old ${old.endpoint} ${old.version}; lite ${lite.endpoint} ${lite.version}; tls ${tls.endpoint} ${tls.version}`,
  );
}, 180_000);

afterAll(async () => {
  for (const c of Object.values(admins)) c.close();
  await new Promise((r) => httpServer?.close(r));
  await Promise.all([src?.stop(), dst?.stop(), old?.stop(), lite?.stop(), tls?.stop()]);
});

// ---- YAML builders ------------------------------------------------------------------------------

const loginSecret = (name = 'src-login', data: Record<string, string> = {}, namespace = 'default') =>
  secretYaml(name, { username: USER, password: PASSWORD, ...data }, namespace);

/** A migration that would work (books from the auth source to the plain target), with overrides. */
function mig(o: Partial<Parameters<typeof migrationYaml>[0]> = {}): string {
  return migrationYaml({
    name: 'bad-input',
    source: src.endpoint,
    target: dst.endpoint,
    sourceSecret: 'src-login',
    collections: [{ name: BOOKS.name }],
    verify: 'count',
    ...o,
  });
}

/** A migration written out by hand, for mistakes the builder cannot make. */
function rawMig(
  spec: string,
  head = 'apiVersion: migration.milvus.io/v1alpha1\nkind: MilvusMigration',
): string {
  return `${head}
metadata: {name: bad-input, namespace: default}
spec:
  source: {endpoint: "${src.endpoint}", secretRef: {name: src-login}}
  target: {endpoint: "${dst.endpoint}"}
${spec}
`;
}

/** One mistake: its input files, what the CLI must answer, and the setup that makes it happen. */
interface Case {
  name: string;
  /** YAML texts, one file each. */
  files: () => string[];
  /** Replaces the -f arguments (e.g. a path that does not exist). */
  fileArgs?: () => string[];
  /** More command-line arguments. */
  args?: string[];
  setup?: () => Promise<void>;
  exit: 1 | 2;
  /** What is wrong … what to do. */
  message: RegExp;
  /** The reason of the Ready condition (exit 1 only). */
  reason?: string;
}

const withSecret = (...docs: string[]) => [[loginSecret(), ...docs].join('---\n')];

const CASES: Case[] = [
  // ---- the YAML itself (exit 2, nothing contacted) ----
  {
    name: 'YAML that does not parse',
    files: () => [`${loginSecret()}---\n${mig()}\n  collections: [{name: books}\n    - oops: "unclosed\n`],
    exit: 2,
    message: /migration\.yaml:\d+: the YAML does not parse: .*Fix the syntax/,
  },
  {
    name: 'a file that does not exist',
    files: () => [],
    fileArgs: () => ['-f', '/nonexistent/dir/migration.yaml'],
    exit: 2,
    message: /\/nonexistent\/dir\/migration\.yaml: no such file: check the path given to -f/,
  },
  {
    name: 'unknown field in spec (typo)',
    files: () => withSecret(rawMig('  collections: [{name: books}]\n  verfiy: full')),
    exit: 2,
    message: /spec: unknown field\(s\) "verfiy": remove or correct the name/,
  },
  {
    name: 'missing spec.collections',
    files: () => withSecret(rawMig('  verify: count')),
    exit: 2,
    message: /spec\.collections: required field is missing: add/,
  },
  {
    name: 'empty collections list',
    files: () => withSecret(rawMig('  collections: []')),
    exit: 2,
    message: /spec\.collections: .*empty.*: (add|list) at least one/,
  },
  {
    name: 'wrong apiVersion',
    files: () =>
      withSecret(
        rawMig('  collections: [{name: books}]', 'apiVersion: migration.milvus.io/v1\nkind: MilvusMigration'),
      ),
    exit: 2,
    message: /apiVersion "migration\.milvus\.io\/v1" is not served: use migration\.milvus\.io\/v1alpha1/,
  },
  {
    name: 'wrong kind',
    files: () =>
      withSecret(
        rawMig(
          '  collections: [{name: books}]',
          'apiVersion: migration.milvus.io/v1alpha1\nkind: MilvusMigrations',
        ),
      ),
    exit: 2,
    message: /kind "MilvusMigrations" is not expected here: give one MilvusMigration/,
  },
  {
    name: 'two MilvusMigrations (two files)',
    files: () => [...withSecret(mig({ name: 'first' })), mig({ name: 'second' })],
    exit: 2,
    message: /2 MilvusMigration objects found \(first, second\): run one migration at a time/,
  },
  {
    name: 'invalid collection name',
    files: () => withSecret(mig({ collections: [{ name: '1st-books' }] })),
    exit: 2,
    message: /spec\.collections\[0\]\.name: "1st-books" .*must start with a letter or underscore/,
  },
  {
    name: 'invalid endpoint (unknown scheme)',
    files: () => withSecret(mig({ source: 'grpc://milvus.example.com:19530' })),
    exit: 2,
    message:
      /spec\.source\.endpoint: "grpc:\/\/milvus\.example\.com:19530" .*must be host:port, http:\/\/host:port or https:\/\/host\[:port\]/,
  },
  {
    name: 'invalid endpoint (port is not a number)',
    files: () => withSecret(mig({ target: 'milvus.example.com:19530x' })),
    exit: 2,
    message: /spec\.target\.endpoint "milvus\.example\.com:19530x" is not a valid endpoint: use host:port/,
  },
  {
    name: 'bad verify value',
    files: () => withSecret(mig({ verify: 'fast' })),
    exit: 2,
    message: /spec\.verify: "fast" is not allowed: use one of count, sample, full/,
  },
  {
    name: 'parallelism out of range',
    files: () => withSecret(rawMig('  collections: [{name: books}]\n  parallelism: 0')),
    exit: 2,
    message: /spec\.parallelism: 0 is out of range: use a number at least 1/,
  },
  {
    name: '--workers out of range',
    files: () => withSecret(mig()),
    args: ['--workers', '64'],
    exit: 2,
    message: /--workers .*"64" is not a whole number from 1 to 32/,
  },
  {
    name: 'two entries write the same target collection',
    files: () =>
      withSecret(
        mig({
          collections: [
            { name: 'books', targetName: 'library' },
            { name: 'papers', targetName: 'library' },
          ],
        }),
      ),
    exit: 2,
    message:
      /"books" and "papers" would both be written to target collection "library": give one of them another targetName/,
  },
  {
    name: 'the same source collection listed twice',
    files: () =>
      withSecret(mig({ collections: [{ name: 'books' }, { name: 'books', targetName: 'books_2' }] })),
    exit: 2,
    message: /lists source collection "books" twice: list each once/,
  },

  // ---- Secrets (exit 2: the input is incomplete, nothing contacted) ----
  {
    name: 'missing Secret',
    files: () => [mig()],
    exit: 2,
    message: /spec\.source\.secretRef: Secret "src-login" was not found in namespace "default": add it/,
  },
  {
    name: 'Secret in another namespace',
    files: () => [loginSecret('src-login', {}, 'milvus'), mig()],
    exit: 2,
    message:
      /Secret "src-login" is in namespace "milvus", not in the migration's namespace "default": .*(move|put|create)/i,
  },
  {
    name: 'Secret without password',
    files: () => [secretYaml('src-login', { username: USER }), mig()],
    exit: 2,
    message: /Secret "src-login" has "username" but no "password": add the password/,
  },
  {
    name: 'Secret with neither username nor token',
    files: () => [secretYaml('src-login', { user: USER, pass: PASSWORD }), mig()],
    exit: 2,
    message:
      /Secret "src-login" has neither "username" \+ "password" nor "token" \(keys found: user, pass\): add them/,
  },
  {
    name: 'Secret data not base64',
    files: () => [
      `apiVersion: v1\nkind: Secret\nmetadata: {name: src-login, namespace: default}\ndata:\n  username: bWlncmF0b3I=\n  password: ${PASSWORD}!\n`,
      mig(),
    ],
    exit: 2,
    message: /Secret src-login data\.password is not base64: put plain text under stringData instead/,
  },

  // ---- connections (exit 1: Failed before anything is written) ----
  {
    name: 'wrong password',
    files: () => [loginSecret('src-login', { password: WRONG_PASSWORD }), mig()],
    exit: 1,
    reason: 'AuthenticationFailed',
    message: /source .* refused the credentials of user "migrator": check the Secret's username and password/,
  },
  {
    name: 'no credentials for a source that requires them',
    files: () => [mig({ sourceSecret: undefined })],
    exit: 1,
    reason: 'AuthenticationFailed',
    message: /source .* requires authentication.*: add spec\.source\.secretRef/,
  },
  {
    name: 'unreachable endpoint (closed port)',
    files: () => withSecret(mig({ target: `127.0.0.1:${closedPort}` })),
    exit: 1,
    reason: 'Unreachable',
    message: /cannot reach the target 127\.0\.0\.1:\d+ .*: check the endpoint, that the server runs/,
  },
  {
    name: 'wrong protocol (endpoint is an HTTP/1.1 server)',
    files: () => withSecret(mig({ target: `127.0.0.1:${httpPort}` })),
    exit: 1,
    message:
      /target 127\.0\.0\.1:\d+ did not speak plain gRPC \(Protocol error\): if the server uses TLS write the endpoint as https:\/\/host:port; .*check it is a Milvus gRPC port/,
  },
  {
    name: 'wrong protocol (https:// to a plain server)',
    files: () => withSecret(mig({ target: `https://${dst.endpoint}` })),
    exit: 1,
    message:
      /TLS with the target 127\.0\.0\.1:\d+ failed \(wrong version number\): check https:\/\/ vs plain host:port/,
  },
  {
    name: 'TLS mismatch (plain endpoint to a TLS server)',
    files: () => withSecret(mig({ target: tls.endpoint })),
    exit: 1,
    message:
      /target 127\.0\.0\.1:\d+ did not complete a plain gRPC connection .*: if the server uses TLS write the endpoint as https:\/\//,
  },
  {
    name: 'TLS without the CA (https:// to a server with a private CA)',
    files: () => withSecret(mig({ target: `https://${tls.endpoint}` })),
    exit: 1,
    message:
      /TLS with the target 127\.0\.0\.1:\d+ failed .*certificate.*: check .*the CA in the Secret \(ca\.crt\)/,
  },
  {
    name: 'source too old (2.2.16)',
    files: () => [mig({ source: old.endpoint, sourceSecret: undefined })],
    exit: 1,
    reason: 'SourceTooOld',
    message: /the source runs Milvus v?2\.2\.16.*oldest supported source is 2\.3\.0: upgrade the source/,
  },

  // ---- what the servers hold (exit 1: the plan refuses, nothing written) ----
  {
    name: 'missing source database',
    files: () => withSecret(mig({ sourceDb: 'analytics' })),
    exit: 1,
    reason: 'PlanRefused',
    message:
      /source database "analytics" does not exist \(databases there: [^)]*\): check spec\.source\.database/,
  },
  {
    name: 'missing target database',
    files: () => withSecret(mig({ targetDb: 'analytics' })),
    exit: 1,
    reason: 'PlanRefused',
    message:
      /target database "analytics" does not exist .*: check spec\.target\.database or create the database/,
  },
  {
    name: 'missing source collection',
    files: () => withSecret(mig({ collections: [{ name: 'bokks' }] })),
    exit: 1,
    reason: 'PlanRefused',
    message:
      /collection "bokks" does not exist in source database "default" \(collections there: .*books.*\): check spec\.collections\[\]\.name/,
  },
  {
    name: 'unloaded source collection',
    setup: () => seed(admins.src!, vecDef('unloaded'), { load: false }),
    files: () => withSecret(mig({ collections: [{ name: 'unloaded' }] })),
    exit: 1,
    reason: 'PlanRefused',
    message: /source collection "unloaded" is not loaded.*: load it on the source/,
  },
  {
    name: 'target name taken',
    setup: () => createCollection(admins.dst!, vecDef('library')),
    files: () => withSecret(mig({ collections: [{ name: 'books', targetName: 'library' }] })),
    exit: 1,
    reason: 'PlanRefused',
    message:
      /target collection "library" already exists in target database "default" and was not created by this migration: choose another targetName or drop it/,
  },
  {
    name: 'alias taken on the target',
    setup: async () => {
      await seed(admins.src!, vecDef('shelved'));
      await admins.src!.createAlias('shelved', 'shelf');
      await createCollection(admins.dst!, vecDef('other_shelf'));
      await admins.dst!.createAlias('other_shelf', 'shelf');
    },
    files: () => withSecret(mig({ collections: [{ name: 'shelved' }] })),
    exit: 1,
    reason: 'PlanRefused',
    message:
      /alias "shelf" already exists on the target \(it points to "other_shelf"\): drop or rename that alias/,
  },
  {
    name: 'unsupported feature on the target (lite nullable field → 2.3.5)',
    files: () => [
      mig({ source: lite.endpoint, sourceSecret: undefined, collections: [{ name: NULLABLE.name }] }),
    ],
    exit: 1,
    reason: 'PlanRefused',
    message:
      /cannot hold: field note: nullable \(needs Milvus 2\.5\.0 or newer\)\. Use a newer target; nothing was written/,
  },
];

// ---- the checks ---------------------------------------------------------------------------------

/** Every collection and database on every server, to prove a refused run changed nothing. */
async function snapshot(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [name, c] of Object.entries(admins)) {
    out[`${name} collections`] = (await c.showCollections()).sort();
    out[`${name} databases`] = await c.listDatabases().then(
      (d) => d.sort(),
      () => ['(ListDatabases unavailable)'],
    );
  }
  return out;
}

/** The message a user sees: stderr for invalid input, the status' errors and conditions otherwise. */
function messageOf(exit: number, stdout: string, stderr: string): { text: string; reason?: string } {
  if (exit === 2) {
    const lines = stderr.split('\n').filter((l) => l.startsWith('milvus-migrate: '));
    return { text: lines.join('\n') };
  }
  const status = JSON.parse(stdout) as {
    phase: string;
    errors?: { message: string }[];
    conditions?: { type: string; reason: string; message: string }[];
  };
  expect(status.phase).toBe('Failed');
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  return {
    text: [
      ...(status.errors ?? []).map((e) => e.message),
      ...(status.conditions ?? []).map((c) => c.message),
    ].join('\n'),
    reason: ready?.reason,
  };
}

describe('bad input: refused with a message that says what is wrong and what to do, no trace left', () => {
  it('has at least 25 distinct mistakes', () => {
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
    expect(CASES.length).toBeGreaterThanOrEqual(25);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await c.setup?.();
    const before = await snapshot();
    const stateDir = mkdtempSync(path.join(tmpdir(), 'mm-bad-state-'));
    const files = c.fileArgs?.() ?? c.files().flatMap((text) => ['-f', yamlFile(text)]);
    const res = await runCli(
      ['run', ...files, ...(c.args ?? []), '--output', 'json', '--state-dir', stateDir],
      {
        timeoutMs: 60_000,
      },
    );
    const out = `exit ${res.code}\n--- stdout\n${res.stdout.slice(-3000)}\n--- stderr\n${res.stderr.slice(-3000)}`;

    expect(res.code, out).toBe(c.exit);
    if (c.exit === 2) expect(res.stdout, out).toBe('');
    const { text, reason } = messageOf(c.exit, res.stdout, res.stderr);
    expect(text, out).toMatch(c.message);
    if (c.reason) expect(reason, out).toBe(c.reason);

    // No stack trace, no secret, no trace on any server or in the state.
    expect(res.stderr, out).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    for (const s of SECRETS) {
      expect(res.stdout.includes(s) || res.stderr.includes(s), `"${s}" printed\n${out}`).toBe(false);
    }
    expect(await snapshot()).toEqual(before);
    const recorded = readdirSync(stateDir).flatMap((f) =>
      Object.keys(
        (JSON.parse(readFileSync(path.join(stateDir, f), 'utf8')) as { targets?: object }).targets ?? {},
      ),
    );
    expect(recorded, 'target collections recorded in the state').toEqual([]);
  });
});

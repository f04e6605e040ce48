/**
 * TLS for real: a Milvus 2.3.5 source with mutual TLS and authentication, reached through
 * https:// with the CA and a client certificate from the Secret (ca.crt, tls.crt, tls.key).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MilvusClient } from '../../src/adapters/milvus/client.js';
import { ensureBuilt, migrationYaml, runCli, yamlFile } from '../support/cli.js';
import { seedInt64Extreme } from '../support/fixtures.js';
import { type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import { admin } from '../support/rows.js';

let src: MilvusTestServer;
let dst: MilvusTestServer;

beforeAll(async () => {
  ensureBuilt();
  [src, dst] = await Promise.all([
    startMilvus({ kind: 'milvus-2.3.5', auth: true, tls: 'mutual', name: 'tls-src' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'tls-dst' }),
  ]);
  console.log(
    `TLS source ${src.endpoint} ${src.version} (mutual TLS, auth); target ${dst.endpoint} ${dst.version}`,
  );
  const tls = src.tls!;
  const c = new MilvusClient({
    side: 'test',
    endpoint: `https://${src.endpoint}`,
    database: 'default',
    credentials: {
      username: 'root',
      password: 'Milvus',
      caPem: Buffer.from(tls.caPem),
      certPem: Buffer.from(tls.clientCertPem!),
      keyPem: Buffer.from(tls.clientKeyPem!),
    },
    tls: { serverName: 'localhost' },
  });
  await seedInt64Extreme(c, 200);
  c.close();
}, 300_000);

afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
});

describe('TLS with a custom CA and a client certificate', () => {
  it('migrates from a mutual-TLS source', async () => {
    const tls = src.tls!;
    const indent = (pem: string) =>
      pem
        .trim()
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n');
    const secret = `apiVersion: v1
kind: Secret
metadata: {name: tls-src, namespace: default}
stringData:
  username: root
  password: Milvus
  ca.crt: |
${indent(tls.caPem)}
  tls.crt: |
${indent(tls.clientCertPem!)}
  tls.key: |
${indent(tls.clientKeyPem!)}
`;
    const yaml = migrationYaml({
      name: 'tls',
      source: `https://${src.endpoint}`,
      target: dst.endpoint,
      sourceSecret: 'tls-src',
      collections: [{ name: 'int64_extreme' }],
    }).replace(
      /source: \{endpoint: "([^"]+)", database: default, secretRef: \{name: tls-src\}\}/,
      'source: {endpoint: "$1", database: default, secretRef: {name: tls-src}, tls: {serverName: localhost}}',
    );
    const res = await runCli([
      'run',
      '-f',
      yamlFile(`${secret}---\n${yaml}`),
      '--state-dir',
      mkdtempSync(path.join(tmpdir(), 'mm-tls-')),
      '--output',
      'json',
    ]);
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
    const status = JSON.parse(res.stdout);
    expect(status.collections[0].targetEntities).toBe(await admin(dst.endpoint).count('int64_extreme'));
    expect(res.stderr + res.stdout).not.toContain('PRIVATE KEY');
  });
});

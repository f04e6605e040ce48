/**
 * Administration of the Milvus test servers through the Node SDK, as root: clients, users, and the
 * read-only source role the migration needs (privileges from shared/reference/milvus-protocol.md,
 * "A read-only source user", checked on 2.3.5).
 */

import type { ClientConfig } from '@zilliz/milvus2-sdk-node';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import type { MilvusTestServer } from './milvus-server.js';
import { SDK_CHANNEL_OPTIONS } from './sdk-channel.js';

/** The privileges of the read-only source role: [object type, privilege]. */
export const READ_ONLY_PRIVILEGES: ReadonlyArray<readonly ['Global' | 'Collection', string]> = [
  ['Global', 'DescribeCollection'],
  ['Global', 'ShowCollections'],
  ['Global', 'ListDatabases'],
  ['Collection', 'Query'],
  ['Collection', 'Search'],
  ['Collection', 'IndexDetail'],
  ['Collection', 'ShowPartitions'],
  ['Collection', 'HasPartition'],
  ['Collection', 'GetStatistics'],
];

export interface ClientOptions {
  /** Defaults to the server's root credentials when auth is on, none otherwise. */
  username?: string;
  password?: string;
  database?: string;
  /** With a TLS server: present the test client certificate (default true; needed for 'mutual'). */
  clientCert?: boolean;
  /** Extra SDK config. */
  config?: Partial<ClientConfig>;
}

/** An SDK client for a test server (TLS material and root credentials filled in). */
export function clientFor(server: MilvusTestServer, opts: ClientOptions = {}): MilvusClient {
  const config: ClientConfig = {
    address: server.endpoint,
    username: opts.username ?? server.credentials?.username,
    password: opts.password ?? server.credentials?.password,
    database: opts.database,
    logLevel: 'error',
    channelOptions: SDK_CHANNEL_OPTIONS,
    ...opts.config,
  };
  if (server.tls) {
    config.ssl = true;
    config.tls = {
      rootCert: Buffer.from(server.tls.caPem),
      serverName: 'localhost',
      ...(opts.clientCert !== false && server.tls.clientCertPem && server.tls.clientKeyPem
        ? {
            certChain: Buffer.from(server.tls.clientCertPem),
            privateKey: Buffer.from(server.tls.clientKeyPem),
          }
        : {}),
    };
  }
  return new MilvusClient(config);
}

/** Root (admin) client; throws if the server has no authentication (it has no users then). */
export function adminClient(server: MilvusTestServer): MilvusClient {
  if (!server.credentials) throw new Error(`${server.name}: authentication is off, there are no users`);
  return clientFor(server);
}

function check(what: string, res: { error_code?: string | number; reason?: string; code?: number }): void {
  const ok = res.error_code === 'Success' || res.error_code === 0 || res.error_code === undefined;
  if (!ok) throw new Error(`${what}: ${res.error_code} ${res.reason ?? ''}`.trim());
}

async function withAdmin<T>(server: MilvusTestServer, fn: (c: MilvusClient) => Promise<T>): Promise<T> {
  const c = adminClient(server);
  try {
    return await fn(c);
  } finally {
    await c.closeConnection();
  }
}

/** Creates a plain user (no role). */
export async function createUser(
  server: MilvusTestServer,
  opts: { user: string; password: string },
): Promise<{ username: string; password: string }> {
  await withAdmin(server, async (c) => {
    check(`createUser ${opts.user}`, await c.createUser({ username: opts.user, password: opts.password }));
  });
  return { username: opts.user, password: opts.password };
}

/**
 * Creates a user with a role that can only read `database` (default 'default'): list, describe,
 * partitions, indexes, query, search, count. `withLoad` adds the Load privilege, which 2.3.5
 * requires for GetLoadState. The database is created if it does not exist.
 */
export async function createReadOnlyUser(
  server: MilvusTestServer,
  opts: { user: string; password: string; database?: string; role?: string; withLoad?: boolean },
): Promise<{ username: string; password: string; role: string; database: string }> {
  const database = opts.database ?? 'default';
  const role = opts.role ?? `${opts.user}_read_only`;
  await withAdmin(server, async (c) => {
    if (database !== 'default') {
      const dbs = await c.listDatabases();
      if (!dbs.db_names.includes(database)) {
        check(`createDatabase ${database}`, await c.createDatabase({ db_name: database }));
      }
    }
    check(`createUser ${opts.user}`, await c.createUser({ username: opts.user, password: opts.password }));
    check(`createRole ${role}`, await c.createRole({ roleName: role }));
    const privileges = [...READ_ONLY_PRIVILEGES];
    if (opts.withLoad) privileges.push(['Collection', 'Load']);
    for (const [object, privilege] of privileges) {
      check(
        `grant ${object} ${privilege} to ${role}`,
        await c.grantPrivilege({
          roleName: role,
          object: object as never,
          objectName: '*',
          privilegeName: privilege as never,
          db_name: database,
        }),
      );
    }
    check(
      `addUserToRole ${opts.user} ${role}`,
      await c.addUserToRole({ username: opts.user, roleName: role }),
    );
  });
  return { username: opts.user, password: opts.password, role, database };
}

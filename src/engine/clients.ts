/** The two Milvus clients of a migration, from its spec and Secrets (the source read-only). */
import { MilvusClient } from '../adapters/milvus/client.js';
import { credentialsFor, type MigrationInput } from '../api/input.js';

export interface Clients {
  source: MilvusClient;
  target: MilvusClient;
}

export function openClients(input: MigrationInput): Clients {
  const spec = input.migration.spec;
  const source = new MilvusClient({
    side: 'source',
    endpoint: spec.source.endpoint,
    database: spec.source.database,
    credentials: credentialsFor(input, 'source'),
    tls: spec.source.tls,
    readOnly: true,
  });
  const target = new MilvusClient({
    side: 'target',
    endpoint: spec.target.endpoint,
    database: spec.target.database,
    credentials: credentialsFor(input, 'target'),
    tls: spec.target.tls,
  });
  return { source, target };
}

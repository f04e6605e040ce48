/**
 * spec.target.createDatabase: a missing target database is created (after the plan, never by it)
 * with the source database's properties, except the ones that are the target cluster's own:
 * replica count and resource groups (the target's topology, see load-topology.ts) and the
 * database.force.deny.* switches (a target that denies writes could not be filled). What the
 * target did not keep is reported.
 */
import { MilvusClient } from '../adapters/milvus/client.js';
import { MilvusError } from '../adapters/milvus/errors.js';
import type { KeyValue } from '../adapters/milvus/types.js';
import { credentialsFor, type MigrationInput } from '../api/input.js';

const NOT_CARRIED = /^database\.(replica\.number|resource_groups|force\.deny\.)/;

export interface DatabaseToCreate {
  name: string;
  properties: KeyValue[];
  /** Sentences for the plan and the status: what is not carried, what the source did not say. */
  notes: string[];
}

/** Milvus's answer for a database that does not exist (code 800 on 2.4+, wording on 2.3). */
export function isDatabaseNotFound(err: unknown): boolean {
  return (
    err instanceof MilvusError && (err.milvusCode === 800 || /database not (found|exist)/i.test(err.message))
  );
}

/** What to create, from the source database's properties (undefined: the source cannot say). */
export function databaseToCreate(
  name: string,
  source: KeyValue[] | undefined,
  sourceRaw: string,
): DatabaseToCreate {
  if (source === undefined)
    return {
      name,
      properties: [],
      notes: [
        `target database "${name}" does not exist and is created (spec.target.createDatabase); the source (${sourceRaw}) does not report database properties, so it is created without any`,
      ],
    };
  const properties = source.filter((p) => !NOT_CARRIED.test(p.key));
  const left = source.filter((p) => NOT_CARRIED.test(p.key));
  const notes = [
    `target database "${name}" does not exist and is created (spec.target.createDatabase)${properties.length ? ` with the source's properties ${properties.map((p) => `${p.key}=${p.value}`).join(', ')}` : ''}`,
  ];
  if (left.length)
    notes.push(
      `database properties not carried (the target's own: replicas, resource groups, write/read denials): ${left.map((p) => `${p.key}=${p.value}`).join(', ')}`,
    );
  return { name, properties, notes };
}

/** Properties asked for that the target's DescribeDatabase does not show as they were given. */
export function databaseNotKept(want: KeyValue[], got: KeyValue[] | undefined, name: string): string[] {
  if (!want.length) return [];
  if (got === undefined)
    return [
      `target database "${name}": the target does not report database properties (no DescribeDatabase), so ${want.map((p) => p.key).join(', ')} could not be checked`,
    ];
  const g = new Map(got.map((p) => [p.key, p.value]));
  return want
    .filter((p) => g.get(p.key) !== p.value)
    .map((p) =>
      g.has(p.key)
        ? `target database "${name}": property ${p.key} is ${g.get(p.key)} instead of ${p.value}`
        : `target database "${name}": property ${p.key}=${p.value} was not kept`,
    );
}

/**
 * Creates the database unless it exists by now (another run or shard pod may have been first), and
 * returns what it did not keep. The request goes through a client of the default database: the
 * run's own client names the database that is not there yet.
 */
export async function ensureTargetDatabase(input: MigrationInput, db: DatabaseToCreate): Promise<string[]> {
  const t = input.migration.spec.target;
  const client = new MilvusClient({
    side: 'target',
    endpoint: t.endpoint,
    database: 'default',
    credentials: credentialsFor(input, 'target'),
    tls: t.tls,
  });
  try {
    if (!(await client.listDatabases()).includes(db.name)) {
      try {
        await client.createDatabase(db.name, db.properties);
      } catch (err) {
        if (!(await client.listDatabases()).includes(db.name)) throw err;
      }
    }
    return databaseNotKept(db.properties, await client.describeDatabase(db.name), db.name);
  } finally {
    client.close();
  }
}

/**
 * Repair of a target that holds more rows than the source: keys stored twice (an insert that
 * landed twice with an older build, or landed late after its retry) and keys the source does not
 * have (a second writer, a manual insert). Found per key range of the target — count(*) against
 * the distinct keys a query returns, then narrowed by halving the range — and compared with the
 * source key by key. Only in a collection this migration created are they deleted and each key
 * written once again from the source; in any other the exact keys are reported and nothing is
 * touched.
 */
import type { MilvusClient } from '../adapters/milvus/client.js';
import type { FieldSchema } from '../adapters/milvus/types.js';
import { hybridTimestamp } from '../adapters/milvus/types.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { insertable, pageRows, primaryKeys } from './columns.js';
import { duplicatedInRange, queryKeys, readsArrays } from './duplicates.js';
import {
  compareKeys,
  inExpr,
  type Key,
  type KeyRange,
  keyLiteral,
  matchAllExpr,
  rangeExpr,
  sortKeys,
} from './keys.js';
import { decodedFetch, MAX_QUERY_ROWS, RangeReader } from './range-reader.js';
import { type CollectionModel, partitionKeyField, primaryField } from './schema.js';

/** Keys looked up on the source per query (the filter lists them). */
const LOOKUP_KEYS = 1000;

export interface RepairJob {
  source: Pick<MilvusClient, 'query' | 'count'>;
  target: Pick<MilvusClient, 'query' | 'count' | 'insert' | 'deleteKeys'>;
  model: CollectionModel;
  sourceName: string;
  targetName: string;
  /** Fields read from the source to write a row again (CollectionPlan.readFields). */
  readFields: string[];
  /** This migration created the target collection: only then is anything deleted. */
  owned: boolean;
  log: Logger;
}

export interface RepairOutcome {
  /** Keys found more than once on the target (source has them): deleted, written once again. */
  duplicated: Key[];
  /** Keys on the target that the source lacks: deleted. */
  extra: Key[];
  /** Distinct keys repaired: duplicated + extra. */
  repaired: number;
}

/** Finds the target's surplus keys in every partition and, when owned, repairs them. */
export async function repairSurplus(job: RepairJob): Promise<RepairOutcome> {
  const pk = primaryField(job.model.schema);
  // Query results carry no partition: look per partition, as the copy writes (see row-mover).
  const scopes: (string | undefined)[] = partitionKeyField(job.model.schema)
    ? [undefined]
    : job.model.partitions;
  const out: RepairOutcome = { duplicated: [], extra: [], repaired: 0 };
  const found: { partition: string | undefined; duplicated: Key[]; extra: Key[] }[] = [];
  for (const partition of scopes) {
    const f = await surplusIn(job, pk, partition);
    if (f.duplicated.length || f.extra.length) found.push({ partition, ...f });
  }
  for (const f of found) {
    out.duplicated.push(...f.duplicated);
    out.extra.push(...f.extra);
  }
  out.repaired = out.duplicated.length + out.extra.length;
  if (!out.repaired) return out;
  const shown = (keys: Key[]) =>
    keys.length > 50
      ? `${keys.slice(0, 50).map(keyLiteral).join(', ')} and ${keys.length - 50} more`
      : keys.map(keyLiteral).join(', ');
  if (!job.owned) {
    throw new UserError(
      `target collection "${job.targetName}" holds rows the source does not account for, and this migration did not create it, so nothing was changed: ` +
        `${out.duplicated.length ? `keys stored more than once: ${shown(out.duplicated)}` : ''}` +
        `${out.duplicated.length && out.extra.length ? '; ' : ''}` +
        `${out.extra.length ? `keys the source does not have: ${shown(out.extra)}` : ''}. ` +
        'Delete those rows on the target yourself (or find the other writer), then run the migration again',
      'TargetNotOwned',
    );
  }
  for (const f of found) await repairIn(job, pk, f.partition, f.duplicated, f.extra);
  job.log.warn(
    {
      duplicated: out.duplicated.length,
      extra: out.extra.length,
      keys: shown([...out.duplicated, ...out.extra]),
    },
    'target repaired: surplus rows deleted, duplicated keys written once again from the source',
  );
  return out;
}

/** The surplus keys of one partition (undefined: the whole collection). */
async function surplusIn(
  job: RepairJob,
  pk: FieldSchema,
  partition: string | undefined,
): Promise<{ duplicated: Key[]; extra: Key[] }> {
  const parts = partition === undefined ? [] : [partition];
  // Everything written before the repair started: a fresh timestamp, no Strong wait per call.
  const ts = hybridTimestamp(Date.now());
  const expr = (r: KeyRange) => rangeExpr(pk.name, r) || matchAllExpr(pk);
  const count = (r: KeyRange) => job.target.count(job.targetName, expr(r), parts, ts);
  // The target's distinct keys, a range at a time: Milvus returns one row per key, count(*) every copy.
  const reader = new RangeReader(
    job.target,
    decodedFetch(job.target, pk),
    job.targetName,
    pk,
    [pk.name],
    parts,
    { pageBytes: 64 * 1024, estimatedRowBytes: 16, guaranteeTs: ts },
  );
  const duplicated: Key[] = [];
  const extra: Key[] = [];
  for await (const page of reader.pages({})) {
    const keys = sortKeys(page.keys);
    // 2^63-1 is counted by Milvus 2.3 but never returned: not a duplicate.
    const copies = page.counted - page.unreadable;
    if (copies > keys.length) {
      const at = await duplicatedInRange(count, page.range, keys, copies);
      duplicated.push(...at.map((i) => keys[i]!));
    }
    const onSource = await sourceKeys(job, pk, parts, keys);
    for (const k of keys) if (!onSource.has(String(k))) extra.push(k);
  }
  // A key that is both stored twice and absent from the source is only deleted.
  const extraSet = new Set(extra.map(String));
  return { duplicated: duplicated.filter((k) => !extraSet.has(String(k))), extra };
}

/** Which of `keys` the source holds (in the same partition). */
async function sourceKeys(
  job: RepairJob,
  pk: FieldSchema,
  parts: string[],
  keys: Key[],
): Promise<Set<string>> {
  const have = new Set<string>();
  for (let i = 0; i < keys.length; i += LOOKUP_KEYS) {
    const chunk = keys.slice(i, i + LOOKUP_KEYS);
    const res = await job.source.query({
      collection_name: job.sourceName,
      expr: inExpr(pk.name, chunk),
      output_fields: [pk.name],
      partition_names: parts,
      params: { limit: Math.min(MAX_QUERY_ROWS, chunk.length) },
    });
    if (pageRows(res.fields_data)) for (const k of primaryKeys(res.fields_data, pk.name)) have.add(String(k));
  }
  return have;
}

/** Deletes every copy of the keys, then writes the duplicated ones once from the source. */
async function repairIn(
  job: RepairJob,
  pk: FieldSchema,
  partition: string | undefined,
  duplicated: Key[],
  extra: Key[],
): Promise<void> {
  const all = [...duplicated, ...extra].sort(compareKeys);
  for (let i = 0; i < all.length; i += LOOKUP_KEYS) {
    await job.target.deleteKeys(job.targetName, inExpr(pk.name, all.slice(i, i + LOOKUP_KEYS)), partition);
  }
  const arrays = readsArrays(job.model.schema.fields, job.readFields);
  for (let i = 0; i < duplicated.length; i += LOOKUP_KEYS) {
    const chunk = duplicated.slice(i, i + LOOKUP_KEYS);
    const query = {
      collection_name: job.sourceName,
      pk: pk.name,
      output_fields: job.readFields,
      partition_names: partition === undefined ? [] : [partition],
      arrays,
    };
    for (const res of await queryKeys(job.source, query, chunk)) {
      const rows = pageRows(res.fields_data);
      if (!rows) continue;
      await job.target.insert({
        collection_name: job.targetName,
        ...(partition === undefined ? {} : { partition_name: partition }),
        fields_data: res.fields_data.map(insertable),
        num_rows: rows,
      });
    }
  }
}

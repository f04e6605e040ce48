/**
 * A catch-up pass: makes a target that was copied from a source that kept changing equal to the
 * source again, reading primary keys only wherever it can.
 *
 * Per partition, the source's keys and the target's are walked side by side in ascending order
 * (the same RangeReader the copy reads with, asked for the key column only; each page is a whole
 * key range, so the sorted pages of one side form one sorted stream). A key only the source has is
 * read from the source and inserted; a key only the target has is deleted, and only in a target
 * collection this migration created. Rows whose keys both sides hold can still differ: when the
 * application stamps every write into an integer field (`spec.sync.changedField`, e.g.
 * `updated_at`), the rows whose stamp is at least the watermark of the last pass are read again and
 * upserted. The watermark is the field's largest value on the source when a pass starts (found by
 * bisection on count(*)), so a row written during a pass is caught by the next one.
 *
 * Milvus 2.3 has no snapshot reads: a pass over a source that is being written is not a snapshot
 * either, but what it misses (a row changed after its range was read) is caught by the next pass,
 * and a pass after the writes stopped (the cutover) leaves the target equal to the source.
 */
import type { MilvusClient } from '../adapters/milvus/client.js';
import { DataType } from '../adapters/milvus/proto.js';
import type { FieldSchema } from '../adapters/milvus/types.js';
import { hybridTimestamp } from '../adapters/milvus/types.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { insertable, pageRows } from './columns.js';
import { queryKeys, readsArrays } from './duplicates.js';
import { compareKeys, INT64_MAX, INT64_MIN, inExpr, type Key, keyLiteral } from './keys.js';
import { decodedFetch, RangeReader } from './range-reader.js';
import { estimateRowBytes } from './row-mover.js';
import { type CollectionModel, partitionKeyField, primaryField } from './schema.js';
import type { KeySampler } from './verify.js';

/** Keys per delete request and per source look-up (the repair's size: `pk in [...]` of 1000). */
const KEYS_PER_REQUEST = 1000;
/** Bytes of rows read from the source and written to the target per request. */
const WRITE_BYTES = 8 * 1024 * 1024;

const INTEGER_TYPES = new Set<number>(['Int8', 'Int16', 'Int32', 'Int64'].map((t) => DataType[t]!));

export type SyncTarget = Pick<MilvusClient, 'query' | 'count' | 'insert' | 'upsert' | 'deleteKeys'>;

export interface SyncJob {
  source: Pick<MilvusClient, 'query' | 'count'>;
  target: SyncTarget;
  model: CollectionModel;
  sourceName: string;
  targetName: string;
  /** Fields read from the source to write a row (CollectionPlan.readFields). */
  readFields: string[];
  /** This migration created the target collection: only then are keys deleted on it. */
  owned: boolean;
  /** spec.sync.changedField: an integer field the application sets on every write. */
  changedField?: string;
  /** The changed field's watermark from the last pass (decimal); undefined: none taken yet. */
  watermark?: string;
  log: Logger;
  signal?: AbortSignal;
  /** Collects a spread of the source's keys as the pass walks them (the cutover's sample). */
  sampler?: KeySampler;
}

export interface PassOutcome {
  /** Keys the target lacked: written from the source. */
  added: number;
  /** Keys the source no longer has: deleted on the target. */
  deleted: number;
  /** Rows with a changed-field stamp at or above the watermark: upserted from the source. */
  updated: number;
  /** Wall time of the pass. */
  ms: number;
  /** When the pass started (ISO): everything written to the source before it is on the target. */
  startedAt: string;
  /** The watermark for the next pass (decimal), when there is a changed field. */
  watermark?: string;
}

/**
 * Why this collection cannot be kept in sync, or undefined. Keys the target regenerated (autoID
 * into a target that does not accept given keys) match no source key, so no pass can compare them.
 */
export function syncProblem(
  model: CollectionModel,
  regeneratesKeys: boolean,
  changedField: string | undefined,
): string | undefined {
  const pk = primaryField(model.schema);
  if (regeneratesKeys)
    return `primary key ${pk.name} is autoID and the target generates new keys for it, so source and target rows cannot be matched by key and spec.sync cannot keep this collection in sync: remove spec.sync (a one-off copy works), or migrate to a target that accepts given keys (Milvus 2.6.3+ with allow_insert_auto_id)`;
  if (changedField === undefined) return undefined;
  const f = model.schema.fields.find((x) => x.name === changedField);
  if (!f)
    return `spec.sync.changedField "${changedField}" is not a field of the collection: name the field the application sets on every write (e.g. updated_at), or leave changedField out`;
  if (!INTEGER_TYPES.has(f.data_type))
    return `spec.sync.changedField "${changedField}" is not an integer field: the watermark is found by comparing values, so name an Int64 (or smaller integer) field that grows with every write (e.g. epoch milliseconds), or leave changedField out`;
  return undefined;
}

/**
 * The largest value of an integer field on the source (decimal), or undefined when no row has one:
 * a bisection on count(*) of `field >= x`, about 64 counts, which every server answers exactly.
 */
export async function changedWatermark(
  source: Pick<MilvusClient, 'count'>,
  sourceName: string,
  field: string,
  guaranteeTs?: bigint,
  floor?: string,
): Promise<string | undefined> {
  const atLeast = (x: bigint) => source.count(sourceName, `${field} >= ${x}`, [], guaranteeTs);
  // -2^63 cannot be written as a literal on Milvus 2.3: the lowest value asked about is -2^63+1.
  let lo = floor !== undefined ? BigInt(floor) : INT64_MIN + 1n;
  if ((await atLeast(lo)) === 0) {
    if (floor === undefined) return undefined;
    // The row that held the watermark is gone: the watermark stays (it only ever grows).
    return floor;
  }
  let hi = INT64_MAX;
  if ((await atLeast(hi)) > 0) return hi.toString();
  // Invariant: some value >= lo, none >= hi.
  while (hi - lo > 1n) {
    const mid = lo + (hi - lo) / 2n;
    if ((await atLeast(mid)) > 0) lo = mid;
    else hi = mid;
  }
  return lo.toString();
}

/** Every partition the pass walks (undefined: the whole collection, routed by a partition key). */
function scopesOf(model: CollectionModel): (string | undefined)[] {
  return partitionKeyField(model.schema) ? [undefined] : model.partitions;
}

/** A sorted stream of distinct keys over the pages of a range reader, one key at a time. */
class KeyCursor {
  private buf: Key[] = [];
  private at = 0;
  private done = false;
  constructor(private readonly pages: AsyncIterator<{ keys: Key[] }>) {}

  async peek(): Promise<Key | undefined> {
    while (this.at >= this.buf.length && !this.done) {
      const r = await this.pages.next();
      if (r.done) this.done = true;
      else {
        // Pages are whole, ascending key ranges; inside one, milvus-lite does not sort.
        this.buf = r.value.keys.slice().sort(compareKeys);
        this.at = 0;
      }
    }
    return this.at < this.buf.length ? this.buf[this.at] : undefined;
  }

  /** Moves past the key peek() returned, and past its duplicates. */
  skip(): void {
    const k = this.buf[this.at];
    while (this.at < this.buf.length && this.buf[this.at] === k) this.at++;
  }
}

/** One catch-up pass over one collection. */
export async function syncPass(job: SyncJob): Promise<PassOutcome> {
  const t0 = Date.now();
  const startedAt = new Date(t0).toISOString();
  // Everything written to the source before the pass started is seen by every read of it.
  const ts = hybridTimestamp(t0);
  const pk = primaryField(job.model.schema);
  const out: PassOutcome = { added: 0, deleted: 0, updated: 0, ms: 0, startedAt };
  const filter = job.changedField ? await changedFilter(job, ts, out) : undefined;
  const singlePartition = job.model.partitions.length <= 1;
  for (const partition of scopesOf(job.model)) {
    job.signal?.throwIfAborted();
    const added = await diffKeys(job, pk, partition, singlePartition, ts, out);
    if (filter) await copyChanged(job, pk, partition, filter, ts, added, out);
  }
  out.ms = Date.now() - t0;
  job.log.info(
    { added: out.added, deleted: out.deleted, updated: out.updated, ms: out.ms, watermark: out.watermark },
    'sync pass done',
  );
  return out;
}

/** The filter of the rows changed since the last pass, and the watermark for the next one. */
async function changedFilter(job: SyncJob, ts: bigint, out: PassOutcome): Promise<string> {
  const field = job.changedField!;
  out.watermark = await changedWatermark(job.source, job.sourceName, field, ts, job.watermark);
  // No watermark yet (the source had no stamped row when the sync started): every stamped row.
  const from = job.watermark !== undefined ? BigInt(job.watermark) : INT64_MIN + 1n;
  return `${field} >= ${from}`;
}

function reader(
  c: Pick<MilvusClient, 'query' | 'count'>,
  name: string,
  pk: FieldSchema,
  partition: string | undefined,
  ts: bigint,
  filter?: string,
): RangeReader {
  return new RangeReader(c, decodedFetch(c, pk), name, pk, [pk.name], partition ? [partition] : [], {
    pageBytes: 256 * 1024,
    estimatedRowBytes: 16,
    guaranteeTs: ts,
    // A pass costs calls, not bytes: every key-only page a whole query window.
    wholeWindowPages: true,
    ...(filter ? { filter } : {}),
  });
}

/**
 * The merge of the source's and the target's keys in one partition: missing keys written, surplus
 * keys deleted. Writes land only in key ranges both readers have passed already. Returns the keys
 * written (the changed-row pass skips them: they were just read whole).
 */
async function diffKeys(
  job: SyncJob,
  pk: FieldSchema,
  partition: string | undefined,
  singlePartition: boolean,
  ts: bigint,
  out: PassOutcome,
): Promise<Set<string>> {
  const src = new KeyCursor(
    sampled(reader(job.source, job.sourceName, pk, partition, ts).pages(), job.sampler),
  );
  const dst = new KeyCursor(reader(job.target, job.targetName, pk, partition, ts).pages());
  const written = new Set<string>();
  let missing: Key[] = [];
  let surplus: Key[] = [];
  const flushMissing = async () => {
    out.added += await writeKeys(job, pk, partition, missing, 'insert');
    for (const k of missing) written.add(String(k));
    missing = [];
  };
  const flushSurplus = async () => {
    out.deleted += await deleteKeys(job, pk, partition, singlePartition, surplus);
    surplus = [];
  };
  for (;;) {
    const [a, b] = await Promise.all([src.peek(), dst.peek()]);
    if (a === undefined && b === undefined) break;
    const c = a === undefined ? 1 : b === undefined ? -1 : compareKeys(a, b);
    if (c < 0) {
      missing.push(a!);
      src.skip();
    } else if (c > 0) {
      surplus.push(b!);
      dst.skip();
    } else {
      src.skip();
      dst.skip();
    }
    if (missing.length >= KEYS_PER_REQUEST) await flushMissing();
    if (surplus.length >= KEYS_PER_REQUEST) await flushSurplus();
  }
  await flushMissing();
  await flushSurplus();
  return written;
}

async function* sampled<P extends { keys: Key[] }>(pages: AsyncIterable<P>, sampler?: KeySampler) {
  for await (const p of pages) {
    sampler?.add(p.keys);
    yield p;
  }
}

/** Rows with a changed-field stamp at or above the last watermark, upserted from the source. */
async function copyChanged(
  job: SyncJob,
  pk: FieldSchema,
  partition: string | undefined,
  filter: string,
  ts: bigint,
  skip: Set<string>,
  out: PassOutcome,
): Promise<void> {
  let keys: Key[] = [];
  for await (const page of reader(job.source, job.sourceName, pk, partition, ts, filter).pages()) {
    for (const k of page.keys) if (!skip.has(String(k))) keys.push(k);
    if (keys.length >= KEYS_PER_REQUEST) {
      out.updated += await writeKeys(job, pk, partition, keys, 'upsert');
      keys = [];
    }
  }
  out.updated += await writeKeys(job, pk, partition, keys, 'upsert');
}

/** Reads these keys' rows from the source and writes them to the target; returns rows written. */
async function writeKeys(
  job: SyncJob,
  pk: FieldSchema,
  partition: string | undefined,
  keys: Key[],
  how: 'insert' | 'upsert',
): Promise<number> {
  if (!keys.length) return 0;
  const arrays = readsArrays(job.model.schema.fields, job.readFields);
  const perRequest = Math.max(
    1,
    Math.min(KEYS_PER_REQUEST, Math.floor(WRITE_BYTES / estimateRowBytes(job.model))),
  );
  let written = 0;
  for (let i = 0; i < keys.length; i += perRequest) {
    job.signal?.throwIfAborted();
    const chunk = keys.slice(i, i + perRequest);
    // Read one key alone where a folded duplicate would shift Array values (duplicates.ts).
    const replies = await queryKeys(
      job.source,
      {
        collection_name: job.sourceName,
        pk: pk.name,
        output_fields: job.readFields,
        partition_names: partition === undefined ? [] : [partition],
        arrays,
      },
      chunk,
    );
    for (const res of replies) {
      const rows = pageRows(res.fields_data);
      // Deleted on the source since its key was read: nothing to write, the next pass deletes it.
      if (!rows) continue;
      const req = {
        collection_name: job.targetName,
        // As the copy writes: an insert naming _default fails on the embedded Milvus Lite.
        ...(partition === undefined || partition === '_default' ? {} : { partition_name: partition }),
        fields_data: res.fields_data.map(insertable),
        num_rows: rows,
      };
      if (how === 'insert') await job.target.insert(req);
      else await job.target.upsert(req);
      written += rows;
    }
  }
  return written;
}

/** Deletes these keys on the target (in this partition), if the target is this migration's. */
async function deleteKeys(
  job: SyncJob,
  pk: FieldSchema,
  partition: string | undefined,
  singlePartition: boolean,
  keys: Key[],
): Promise<number> {
  if (!keys.length) return 0;
  if (!job.owned) {
    const shown = keys.slice(0, 20).map(keyLiteral).join(', ');
    throw new UserError(
      `target collection "${job.targetName}" holds keys the source no longer has (${shown}${keys.length > 20 ? ', …' : ''}), and this migration did not create it, so sync deletes nothing there: delete those rows on the target yourself, or sync into a collection this migration creates`,
      'TargetNotOwned',
    );
  }
  for (let i = 0; i < keys.length; i += KEYS_PER_REQUEST) {
    job.signal?.throwIfAborted();
    // In its partition only: a key that moved to another partition is written there by the same pass.
    await job.target.deleteKeys(
      job.targetName,
      inExpr(pk.name, keys.slice(i, i + KEYS_PER_REQUEST)),
      singlePartition ? undefined : partition,
    );
  }
  return keys.length;
}

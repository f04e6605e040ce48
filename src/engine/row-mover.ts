/**
 * The row mover: copies every live row of one collection from the source to the target, exactly
 * once, and reports progress. It sits behind `RowMover` so a faster implementation (byte
 * passthrough, sharding) can replace it without touching the engine.
 *
 * Exactly once without a separate checkpoint: the target itself is the checkpoint. When the target
 * collection already holds rows (a resumed run), each page's key range is first looked up on the
 * target and only the keys missing there are inserted. A fresh target skips those look-ups.
 */
import type { MilvusClient } from '../adapters/milvus/client.js';
import { isRateLimited, isTransient } from '../adapters/milvus/errors.js';
import { DataType } from '../adapters/milvus/proto.js';
import type { FieldData, FieldSchema } from '../adapters/milvus/types.js';
import type { Logger } from '../util/logger.js';
import { compressNullable, estimateBytes, primaryKeys, selectRows } from './columns.js';
import { type Key, keyToJson, matchAllExpr, rangeExpr } from './keys.js';
import { MAX_QUERY_ROWS, type Page, RangeReader } from './range-reader.js';
import { retrying } from './retry.js';
import {
  type CollectionModel,
  functionOutputFields,
  isVectorType,
  partitionKeyField,
  primaryField,
  userFields,
} from './schema.js';

export interface CopyProgress {
  /** Rows written to the target by this run plus rows found already there. */
  copied: number;
  /** Rows counted on the source but not returned by any query (duplicates folded, unreadable keys). */
  folded: number;
  unreadable: number;
  /** Rows skipped because a previous run had already written them. */
  alreadyThere: number;
}

export interface CopyJob {
  source: Pick<MilvusClient, 'query' | 'count'>;
  target: Pick<MilvusClient, 'query' | 'count' | 'insert'>;
  model: CollectionModel;
  sourceName: string;
  targetName: string;
  /** The target held rows when the copy started: look up each page on the target first. */
  resume: boolean;
  /** Keys of an autoID primary key are left out: the target generates new ones. */
  regenerateKeys: boolean;
  signal?: AbortSignal;
  /** Hybrid timestamp source reads must see (see ReaderOptions.guaranteeTs). */
  readTs?: bigint;
  log: Logger;
  onProgress: (p: CopyProgress) => void;
  /** Every page read from the source, after it was written (sampling keys, folded rows per partition). */
  onPage?: (page: Page, partition: string | undefined) => void;
}

export interface RowMover {
  copy(job: CopyJob): Promise<CopyProgress>;
}

export interface MoverOptions {
  /** Size of one read page on the wire. */
  pageBytes: number;
  /** Cap of one insert request; Milvus and Zilliz Cloud refuse requests above 64 MB. */
  maxInsertBytes: number;
  /** How long rate-limit and quota errors may go on before the copy fails. */
  retryForMs: number;
}

export const DEFAULT_MOVER_OPTIONS: MoverOptions = {
  // Tests shrink pages to exercise many ranges on small collections.
  pageBytes: Number(process.env.MILVUS_MIGRATE_PAGE_BYTES) || 16 * 1024 * 1024,
  maxInsertBytes: 48 * 1024 * 1024,
  retryForMs: 10 * 60_000,
};

/** Fields to read: all user fields but function outputs, plus the dynamic field. */
export function readFields(model: CollectionModel): string[] {
  const skip = functionOutputFields(model.schema);
  const names = userFields(model.schema)
    .filter((f) => !skip.has(f.name))
    .map((f) => f.name);
  if (model.schema.enable_dynamic_field) names.push('$meta');
  return names;
}

export function estimateRowBytes(model: CollectionModel): number {
  let total = 0;
  for (const f of userFields(model.schema)) {
    const p = new Map(f.type_params.map((kv) => [kv.key, kv.value]));
    const dim = Number(p.get('dim') ?? 0);
    if (f.data_type === DataType.FloatVector) total += dim * 4;
    else if (f.data_type === DataType.BinaryVector) total += dim / 8;
    else if (f.data_type === DataType.Float16Vector || f.data_type === DataType.BFloat16Vector)
      total += dim * 2;
    else if (f.data_type === DataType.Int8Vector) total += dim;
    else if (isVectorType(f.data_type)) total += 256;
    else if (f.data_type === DataType.VarChar) total += Math.min(Number(p.get('max_length') ?? 256), 512);
    else if (f.data_type === DataType.JSON || f.data_type === DataType.Array) total += 512;
    else total += 8;
  }
  if (model.schema.enable_dynamic_field) total += 256;
  return Math.max(16, total);
}

export class QueryInsertMover implements RowMover {
  constructor(private readonly opts: MoverOptions = DEFAULT_MOVER_OPTIONS) {}

  async copy(job: CopyJob): Promise<CopyProgress> {
    const pk = primaryField(job.model.schema);
    const fields = readFields(job.model);
    const progress: CopyProgress = { copied: 0, folded: 0, unreadable: 0, alreadyThere: 0 };
    // Query results carry no partition: read per partition and insert into the same one, except
    // with a partition key, where the target routes every row itself.
    const scopes: { read: string[]; write?: string }[] = partitionKeyField(job.model.schema)
      ? [{ read: [] }]
      : job.model.partitions.map((p) => ({ read: [p], write: p }));
    for (const scope of scopes) {
      const reader = new RangeReader(this.retryingSource(job), job.sourceName, pk, fields, scope.read, {
        pageBytes: this.opts.pageBytes,
        estimatedRowBytes: estimateRowBytes(job.model),
        guaranteeTs: job.readTs,
      });
      for await (const page of reader.pages()) {
        job.signal?.throwIfAborted();
        const written = await this.writePage(job, pk, page, scope);
        progress.copied += page.keys.length;
        progress.alreadyThere += page.keys.length - written;
        progress.folded += page.folded;
        progress.unreadable += page.unreadable;
        job.log.debug(
          {
            partition: scope.write,
            lo: keyToJson(page.range.lo),
            hi: keyToJson(page.range.hi),
            rows: page.keys.length,
            written,
          },
          'page copied',
        );
        job.onPage?.(page, scope.write);
        job.onProgress({ ...progress });
      }
    }
    return progress;
  }

  /** Source reads retry rate limiting (as long as writes do) and lost connections (a minute). */
  private retryingSource(job: CopyJob): CopyJob['source'] {
    const o = {
      forMs: this.opts.retryForMs,
      forMsFor: (err: unknown) => (isRateLimited(err) ? undefined : 60_000),
      retryIf: isTransient,
      log: job.log,
      signal: job.signal,
    };
    return {
      query: (req) =>
        retrying(() => job.source.query(req), { ...o, what: `query on source ${job.sourceName}` }),
      count: (...args) =>
        retrying(() => job.source.count(...args), { ...o, what: `count(*) on source ${job.sourceName}` }),
    };
  }

  /** Writes the rows of a page that the target does not hold yet; returns how many were written. */
  private async writePage(
    job: CopyJob,
    pk: FieldSchema,
    page: Page,
    scope: { read: string[]; write?: string },
  ): Promise<number> {
    let rows = page.data;
    let count = page.keys.length;
    if (!count) return 0;
    if (job.resume) {
      const missing = await this.missingOnTarget(job, pk, page, scope.write);
      if (missing.length === 0) return 0;
      if (missing.length < count) {
        rows = selectRows(rows, missing);
        count = missing.length;
      }
    }
    let columns = rows.map(compressNullable);
    if (job.regenerateKeys) columns = columns.filter((c) => c.field_name !== pk.name);
    await this.insertBatched(job, columns, count, scope.write);
    return count;
  }

  /** Indexes (into the page) of rows whose keys the target does not have in the page's range. */
  private async missingOnTarget(
    job: CopyJob,
    pk: FieldSchema,
    page: Page,
    partition?: string,
  ): Promise<number[]> {
    const parts = partition ? [partition] : [];
    const expr = rangeExpr(pk.name, page.range) || matchAllExpr(pk);
    const n = await job.target.count(job.targetName, expr, parts);
    if (n === 0) return page.keys.map((_k, i) => i);
    const res = await job.target.query({
      collection_name: job.targetName,
      expr,
      output_fields: [pk.name],
      partition_names: parts,
      params: { limit: Math.min(MAX_QUERY_ROWS, Math.max(n, 1)) },
    });
    const have = new Set(primaryKeys(res.fields_data, pk.name).map(String));
    const missing: number[] = [];
    page.keys.forEach((k: Key, i) => {
      if (!have.has(String(k))) missing.push(i);
    });
    return missing;
  }

  private async insertBatched(
    job: CopyJob,
    columns: FieldData[],
    rows: number,
    partition?: string,
  ): Promise<void> {
    const bytes = estimateBytes(columns);
    const chunks = Math.max(1, Math.ceil(bytes / this.opts.maxInsertBytes));
    const per = Math.ceil(rows / chunks);
    for (let start = 0; start < rows; start += per) {
      const idx = Array.from({ length: Math.min(per, rows - start) }, (_v, i) => start + i);
      const part = chunks === 1 ? columns : selectRows(columns, idx);
      await retrying(
        () =>
          job.target.insert({
            collection_name: job.targetName,
            ...(partition ? { partition_name: partition } : {}),
            fields_data: part,
            num_rows: idx.length,
          }),
        {
          forMs: this.opts.retryForMs,
          retryIf: isTransient,
          log: job.log,
          what: `insert into ${job.targetName}`,
          signal: job.signal,
        },
      );
    }
  }
}

/**
 * The row mover: copies every live row of one collection from the source to the target, exactly
 * once, and reports progress. The engine sees only `RowMover`.
 *
 * Bytes, not objects: a page's columns go from the query reply into the insert request as the
 * encoded FieldData they arrived in (see adapters/milvus/wire.ts); only the primary key column is
 * decoded, for paging and resumption. Reads overlap writes (pipeline.ts), and with `workers` > 1
 * a collection is split into key ranges of equal counts that are copied in parallel (shards.ts).
 *
 * Exactly once without a separate checkpoint: the target itself is the checkpoint. When the target
 * collection already holds rows (a resumed run), each page's key range is first looked up on the
 * target and only the keys missing there are inserted. A fresh target skips those look-ups.
 */
import type { MilvusClient } from '../adapters/milvus/client.js';
import { isAmbiguous, isNetworkFailure, isRateLimited } from '../adapters/milvus/errors.js';
import { DataType } from '../adapters/milvus/proto.js';
import type { FieldData, FieldSchema } from '../adapters/milvus/types.js';
import { decodeColumn, encodeColumn, type RawColumn } from '../adapters/milvus/wire.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { insertable, primaryKeys, selectRows } from './columns.js';
import { readsArrays } from './duplicates.js';
import { type Key, type KeyRange, keyToJson, matchAllExpr, rangeExpr } from './keys.js';
import { pipeline } from './pipeline.js';
import { MAX_QUERY_ROWS, type Page, RangeReader, rawFetch } from './range-reader.js';
import { RetriesExhausted, retrying, sleep } from './retry.js';
import {
  type CollectionModel,
  functionOutputFields,
  isVectorType,
  partitionKeyField,
  primaryField,
  userFields,
} from './schema.js';
import { shardCount, splitScope } from './shards.js';

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
  source: Pick<MilvusClient, 'query' | 'queryRaw' | 'count'>;
  target: Pick<MilvusClient, 'query' | 'count' | 'encodeInsert' | 'insertEncoded'>;
  model: CollectionModel;
  sourceName: string;
  targetName: string;
  /** The target held rows when the copy started: look up each page on the target first. */
  resume: boolean;
  /** Keys of an autoID primary key are left out: the target generates new ones. */
  regenerateKeys: boolean;
  /**
   * Makes the target answer queries (indexes, load): a fresh target is filled before it is loaded,
   * and needs this only when an insert failed ambiguously and its keys must be looked up.
   */
  prepareLookups?: () => Promise<void>;
  signal?: AbortSignal;
  /** Hybrid timestamp source reads must see (see ReaderOptions.guaranteeTs). */
  readTs?: bigint;
  log: Logger;
  onProgress: (p: CopyProgress) => void;
  /**
   * Every page read from the source, after it was written (sampling keys, folded rows per
   * partition), with the partition it was read from by name (_default included, as verification
   * counts it); undefined when the whole collection is read at once (partition key).
   */
  onPage?: (page: Page<unknown>, partition: string | undefined) => void;
  /**
   * Copy only this key range (of every partition), with one worker, instead of splitting the
   * collection: one shard of a split made elsewhere (the operator's shard pods).
   */
  range?: KeyRange;
}

export interface RowMover {
  copy(job: CopyJob): Promise<CopyProgress>;
}

export interface MoverOptions {
  /** Size of one read page on the wire (one worker's; see pageBytesFor). */
  pageBytes: number;
  /** Cap of one insert request; Milvus and Zilliz Cloud refuse requests above 64 MB. */
  maxInsertBytes: number;
  /** How long rate-limit and quota errors may go on before the copy fails. */
  retryForMs: number;
  /** Shards of one collection copied in parallel. */
  workers: number;
  /** Inserts in flight per worker (the next page is read meanwhile). */
  writesInFlight: number;
  /** Pause after each page of a worker: spares a busy source (and slows copies down in tests). */
  pageDelayMs: number;
}

export const DEFAULT_MOVER_OPTIONS: MoverOptions = {
  // Tests shrink pages to exercise many ranges on small collections.
  pageBytes: Number(process.env.MILVUS_MIGRATE_PAGE_BYTES) || 16 * 1024 * 1024,
  maxInsertBytes: 48 * 1024 * 1024,
  retryForMs: 10 * 60_000,
  workers: 1,
  writesInFlight: 2,
  pageDelayMs: Number(process.env.MILVUS_MIGRATE_PAGE_DELAY_MS) || 0,
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
  for (const f of userFields(model.schema)) total += typicalFieldBytes(f);
  if (model.schema.enable_dynamic_field) total += 256;
  return Math.max(16, total);
}

/** Bytes of one value of a field as a guess: exact for fixed-size types, capped for variable ones. */
function typicalFieldBytes(f: FieldSchema): number {
  const p = new Map(f.type_params.map((kv) => [kv.key, kv.value]));
  const dim = Number(p.get('dim') ?? 0);
  if (f.data_type === DataType.FloatVector) return dim * 4;
  if (f.data_type === DataType.BinaryVector) return dim / 8;
  if (f.data_type === DataType.Float16Vector || f.data_type === DataType.BFloat16Vector) return dim * 2;
  if (f.data_type === DataType.Int8Vector) return dim;
  if (isVectorType(f.data_type)) return 256;
  if (f.data_type === DataType.VarChar) return Math.min(Number(p.get('max_length') ?? 256), 512);
  if (f.data_type === DataType.JSON || f.data_type === DataType.Array || f.data_type === DataType.Geometry)
    return 512;
  return 8;
}

/** Milvus' limit on one JSON value (common.JSONMaxLength, 64 KB). */
const JSON_MAX_BYTES = 65_536;

/**
 * The most bytes a row of this schema can take: VarChar at its max_length, JSON and the dynamic
 * field at Milvus' JSON limit, arrays full. The reader sizes its first page with it, so that a
 * collection of long texts cannot ask for a reply of hundreds of MB before any row was seen; later
 * pages follow the bytes actually measured (RangeReader).
 */
export function maxRowBytes(model: CollectionModel): number {
  let total = 0;
  for (const f of userFields(model.schema)) {
    const p = new Map(f.type_params.map((kv) => [kv.key, kv.value]));
    const maxLength = Number(p.get('max_length') ?? 65_535);
    if (f.data_type === DataType.VarChar) total += maxLength + 8;
    else if (f.data_type === DataType.JSON || f.data_type === DataType.Geometry) total += JSON_MAX_BYTES;
    else if (f.data_type === DataType.Array) {
      const element = f.element_type === DataType.VarChar ? maxLength + 8 : 8;
      total += Number(p.get('max_capacity') ?? 4096) * element;
    } else if (f.data_type === DataType.SparseFloatVector) total += JSON_MAX_BYTES;
    else total += typicalFieldBytes(f);
  }
  if (model.schema.enable_dynamic_field) total += JSON_MAX_BYTES;
  return Math.max(16, total);
}

/** Rows of a page of `pageBytes` before any page was measured (at most one query's worth). */
export function estimatedPageRows(model: CollectionModel, pageBytes: number): number {
  return Math.min(MAX_QUERY_ROWS, pageBytes / estimateRowBytes(model));
}

export class PassthroughMover implements RowMover {
  private readonly opts: MoverOptions;

  constructor(opts: Partial<MoverOptions> = {}) {
    this.opts = { ...DEFAULT_MOVER_OPTIONS, ...opts };
    this.opts.workers = Math.max(1, Math.floor(this.opts.workers));
  }

  async copy(job: CopyJob): Promise<CopyProgress> {
    const pk = primaryField(job.model.schema);
    const progress: CopyProgress = { copied: 0, folded: 0, unreadable: 0, alreadyThere: 0 };
    // Query results carry no partition: read per partition and insert into the same one, except
    // with a partition key, where the target routes every row itself.
    const scopes: Scope[] = partitionKeyField(job.model.schema)
      ? [{ read: [] }]
      : // _default is where an insert without a partition goes; the embedded Milvus Lite, which
        // has no partitions, answers an insert naming it with "collection not found".
        job.model.partitions.map((p) => ({ read: [p], write: p === '_default' ? undefined : p }));
    // One failing shard stops the others: a partial copy is resumed by the next run anyway.
    const stop = new AbortController();
    const signal = job.signal ? AbortSignal.any([job.signal, stop.signal]) : stop.signal;
    // Loaded once, on the first ambiguous failure (see CopyJob.prepareLookups).
    let prepared: Promise<void> | undefined;
    const prepare = () => {
      prepared ??= job.prepareLookups?.() ?? Promise.resolve();
      prepared.catch(() => {
        prepared = undefined;
      });
      return prepared;
    };
    const ledger = job.regenerateKeys
      ? new InsertLedger(
          async () => {
            await prepare();
            // Waits out a target that is away, as the inserts do: the ledger decides in its turn.
            return retrying(() => job.target.count(job.targetName), {
              forMs: this.opts.retryForMs,
              log: job.log,
              what: `count(*) on target ${job.targetName}`,
              signal,
            });
          },
          job.targetName,
          // A fresh target starts empty; a resumed one (or a shard) is counted when needed.
          job.resume || job.range ? undefined : 0,
        )
      : undefined;
    for (const scope of scopes) {
      const ranges = job.range ? [job.range] : await this.shardsOf(job, pk, scope, signal);
      const results = await Promise.allSettled(
        ranges.map((range) =>
          this.copyRange(job, pk, scope, range, progress, ranges.length, signal, ledger, prepare).catch(
            (err) => {
              stop.abort(err);
              throw err;
            },
          ),
        ),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw job.signal?.aborted ? job.signal.reason : failed.reason;
    }
    return progress;
  }

  private reader(job: CopyJob, pk: FieldSchema, scope: Scope, workers: number): RangeReader<RawColumn[]> {
    const source = this.retryingSource(job);
    return new RangeReader(
      source,
      rawFetch(source, pk),
      job.sourceName,
      pk,
      readFields(job.model),
      scope.read,
      {
        // Every worker holds its own pages: share the memory budget.
        pageBytes: Math.max(1, Math.floor(this.opts.pageBytes / workers)),
        // Insert requests are pages: a page above the cap is read again in parts, never decoded.
        maxPageBytes: this.opts.maxInsertBytes,
        // The first page assumes the largest rows the schema allows; later ones are measured.
        estimatedRowBytes: maxRowBytes(job.model),
        guaranteeTs: job.readTs,
        isolateDuplicates: readsArrays(job.model.schema.fields, readFields(job.model)),
      },
    );
  }

  /** Key ranges of about equal counts, one per worker; the whole range for small scopes. */
  private async shardsOf(
    job: CopyJob,
    pk: FieldSchema,
    scope: Scope,
    signal: AbortSignal,
  ): Promise<KeyRange[]> {
    if (this.opts.workers === 1) return [{}];
    const reader = this.reader(job, pk, scope, 1);
    const total = await reader.count({});
    const workers = shardCount(
      total,
      this.opts.workers,
      estimatedPageRows(job.model, this.opts.pageBytes / this.opts.workers),
    );
    if (workers <= 1) return [{}];
    signal.throwIfAborted();
    const t0 = Date.now();
    const { ranges, probes } = await splitScope(reader, { pkType: pk.data_type, total, shards: workers });
    job.log.info(
      {
        partition: scope.write,
        shards: ranges.map((r) => [keyToJson(r.lo), keyToJson(r.hi)]),
        probes,
        ms: Date.now() - t0,
      },
      'collection split into shards',
    );
    return ranges;
  }

  private async copyRange(
    job: CopyJob,
    pk: FieldSchema,
    scope: Scope,
    range: KeyRange,
    progress: CopyProgress,
    workers: number,
    signal: AbortSignal,
    ledger: InsertLedger | undefined,
    prepare: () => Promise<void>,
  ): Promise<void> {
    const reader = this.reader(job, pk, scope, workers);
    const shard = workers > 1 ? { lo: keyToJson(range.lo), hi: keyToJson(range.hi) } : undefined;
    await pipeline(
      reader.pages(range),
      async (page) => {
        const written = await this.writePage(job, pk, page, scope, signal, ledger, prepare);
        // Every insert of the page has ended and nothing keeps its columns: the reply's memory can
        // take a later page. (After a failure it is left to the garbage collector.) Its data goes
        // first, so that nothing after this line can read memory that is another page's by then.
        page.data = [];
        page.release?.();
        progress.copied += page.keys.length;
        progress.alreadyThere += page.keys.length - written;
        progress.folded += page.folded;
        progress.unreadable += page.unreadable;
        job.log.debug(
          {
            partition: scope.write,
            shard,
            lo: keyToJson(page.range.lo),
            hi: keyToJson(page.range.hi),
            rows: page.keys.length,
            bytes: page.bytes,
            written,
          },
          'page copied',
        );
        job.onPage?.(page, scope.read[0]);
        job.onProgress({ ...progress });
        if (this.opts.pageDelayMs) await sleep(this.opts.pageDelayMs, signal);
      },
      { concurrency: this.opts.writesInFlight, signal },
    );
  }

  /**
   * Source reads retry rate limiting (as long as writes do) and a server that is down or cut off
   * (about a minute, see SERVER_GONE_MS); a reply over a size limit is not retried as it is: the
   * reader reads that range in smaller pages.
   */
  private retryingSource(job: CopyJob): CopyJob['source'] {
    const o = { forMs: this.opts.retryForMs, log: job.log, signal: job.signal };
    return {
      query: (req) =>
        retrying(() => job.source.query(req), { ...o, what: `query on source ${job.sourceName}` }),
      queryRaw: (req) =>
        retrying(() => job.source.queryRaw(req), { ...o, what: `query on source ${job.sourceName}` }),
      count: (...args) =>
        retrying(() => job.source.count(...args), { ...o, what: `count(*) on source ${job.sourceName}` }),
    };
  }

  /** Writes the rows of a page that the target does not hold yet; returns how many were written. */
  private async writePage(
    job: CopyJob,
    pk: FieldSchema,
    page: Page<RawColumn[]>,
    scope: Scope,
    signal: AbortSignal,
    ledger: InsertLedger | undefined,
    prepare: () => Promise<void>,
  ): Promise<number> {
    const count = page.keys.length;
    if (!count) return 0;
    let columns = page.data;
    if (job.regenerateKeys) columns = columns.filter((c) => c.name !== pk.name);
    let missing: number[] | undefined;
    if (job.resume) {
      // What an earlier run wrote is older than readTs: no need for Strong reads (a time tick each).
      missing = await this.missingOnTarget(job, pk, page, scope.write, job.readTs);
      if (missing.length === 0) return 0;
      if (missing.length === count) missing = undefined;
    }
    const rows = missing?.length ?? count;
    page.data = [];
    let decoded: FieldData[] | undefined;
    // An insert request for some rows of the page (undefined: all of them, as they came).
    const build = (idx: number[] | undefined): Buffer[] => {
      if (!idx) return this.request(job, columns, count, scope.write);
      decoded ??= columns.map(decodeColumn);
      return this.request(
        job,
        selectRows(decoded, idx).map((fd: FieldData) => encodeColumn(fd)),
        idx.length,
        scope.write,
      );
    };
    const target = { job, pk, page, scope, signal, ledger, build, prepare };
    if (!missing && page.bytes <= this.opts.maxInsertBytes) {
      // The fast path: every column as it came, but nullable ones (Insert wants them compressed) and
      // arrays with untyped empty elements (see typeEmptyArrayElements). The request's parts are
      // views of the query reply: no copy.
      await this.send(target, undefined);
      return rows;
    }
    // Some rows only, or a page above the request cap: pick rows out of decoded columns.
    const idx = missing ?? Array.from({ length: count }, (_v, i) => i);
    const chunks = Math.max(1, Math.ceil((page.bytes * (idx.length / count)) / this.opts.maxInsertBytes));
    const per = Math.ceil(idx.length / chunks);
    for (let start = 0; start < idx.length; start += per)
      await this.send(target, idx.slice(start, start + per));
    return rows;
  }

  private request(job: CopyJob, columns: RawColumn[], rows: number, partition: string | undefined): Buffer[] {
    return job.target.encodeInsert({
      collection_name: job.targetName,
      ...(partition ? { partition_name: partition } : {}),
      num_rows: rows,
      // Only columns that need a change are decoded; every other one passes as the bytes it came in.
      columns: columns.map((c) =>
        c.hasNulls || c.untypedElements ? encodeColumn(insertable(decodeColumn(c))).bytes : c.bytes,
      ),
    });
  }

  /**
   * Inserts rows `idx` of a page (undefined: all), exactly once. A failure after which the insert
   * may have landed (the request had gone out whole: a connection lost before the reply, a
   * deadline, a 502/503/504) is not simply sent again, which would write the rows twice: the next
   * attempt first looks the rows' keys up on the target, with Strong consistency so that the look-up
   * sees the failed attempt if it landed, and sends only the rows still missing. Failures before the
   * request went out (refused connection, GOAWAY, REFUSED_STREAM) are sent again as they are.
   * With regenerated keys the keys cannot be looked up: the ledger counts instead (InsertLedger).
   */
  private async send(w: WriteTarget, idx: number[] | undefined): Promise<void> {
    const { job, page, scope } = w;
    let pending = idx;
    let request = w.build(pending);
    let check: unknown;
    const what = `insert into ${job.targetName}${scope.write ? ` partition ${scope.write}` : ''} of the rows with ${rangeExpr(w.pk.name, page.range) || 'any key'}`;
    const ambiguous = (err: unknown, rows: number, landed: number) =>
      job.log.warn(
        {
          lo: keyToJson(page.range.lo),
          hi: keyToJson(page.range.hi),
          rows,
          landed,
          err: err instanceof Error ? err.message : String(err),
        },
        'insert failed after it was sent: rows that landed are not written again',
      );
    const attempt = async (): Promise<void> => {
      if (check !== undefined) {
        const err = check;
        const all = pending ?? page.keys.map((_k, i) => i);
        await w.prepare();
        const absent = new Set(await this.missingOnTarget(job, w.pk, page, scope.write, undefined));
        const left = all.filter((i) => absent.has(i));
        check = undefined;
        ambiguous(err, all.length, all.length - left.length);
        if (left.length === 0) return;
        if (left.length !== all.length) {
          pending = left;
          request = w.build(pending);
        }
      }
      const rows = (pending ?? page.keys).length;
      try {
        if (w.ledger) {
          // The ledger decides whether an ambiguous insert landed in its own turn (InsertLedger).
          let failure: unknown;
          const landed = await w.ledger.insert(
            () =>
              job.target.insertEncoded(request).catch((err: unknown) => {
                failure = err;
                throw err;
              }),
            rows,
          );
          if (landed) ambiguous(failure, rows, rows);
        } else await job.target.insertEncoded(request);
      } catch (err) {
        if (isAmbiguous(err)) {
          if (w.ledger) ambiguous(err, rows, 0);
          else check = err;
        }
        throw err;
      }
    };
    try {
      await retrying(attempt, { forMs: this.opts.retryForMs, log: job.log, what, signal: w.signal });
    } catch (err) {
      if (w.signal.aborted) throw err;
      throw writeFailure(what, err);
    }
  }

  /**
   * Indexes (into the page) of rows whose keys the target does not have in the page's range, as
   * of `ts` (undefined: Strong, everything written before the call).
   */
  private async missingOnTarget(
    job: CopyJob,
    pk: FieldSchema,
    page: Page<RawColumn[]>,
    partition: string | undefined,
    ts: bigint | undefined,
  ): Promise<number[]> {
    const parts = partition ? [partition] : [];
    const expr = rangeExpr(pk.name, page.range) || matchAllExpr(pk);
    const n = await job.target.count(job.targetName, expr, parts, ts);
    if (n === 0) return page.keys.map((_k, i) => i);
    const res = await job.target.query({
      collection_name: job.targetName,
      expr,
      output_fields: [pk.name],
      partition_names: parts,
      params: { limit: Math.min(MAX_QUERY_ROWS, Math.max(n, 1)) },
      guaranteeTs: ts,
    });
    const have = new Set(primaryKeys(res.fields_data, pk.name).map(String));
    const missing: number[] = [];
    page.keys.forEach((k: Key, i) => {
      if (!have.has(String(k))) missing.push(i);
    });
    return missing;
  }
}

/** What one page's inserts need (see send). */
interface WriteTarget {
  job: CopyJob;
  pk: FieldSchema;
  page: Page<RawColumn[]>;
  scope: Scope;
  signal: AbortSignal;
  ledger: InsertLedger | undefined;
  build: (idx: number[] | undefined) => Buffer[];
  prepare: () => Promise<void>;
}

/**
 * The error a page's write ends with, naming the collection and key range being written: a target
 * that went away is not waited for longer than a restart takes (see SERVER_GONE_MS).
 */
function writeFailure(what: string, err: unknown): Error {
  const cause = err instanceof RetriesExhausted ? err.cause : err;
  // RetriesExhausted's message starts with `what` already.
  if (err instanceof RetriesExhausted && isNetworkFailure(cause))
    return new UserError(err.message, 'TargetUnavailable');
  if (err instanceof RetriesExhausted && isRateLimited(cause))
    return new UserError(err.message, 'RateLimited');
  if (err instanceof UserError) return err;
  const e = new Error(`${what} failed: ${err instanceof Error ? err.message : String(err)}`);
  (e as { cause?: unknown }).cause = err;
  return e;
}

/**
 * Exactly once where keys cannot be looked up: an autoID collection whose target regenerates keys.
 * Its inserts (of every worker of the collection in this process) go one at a time while the
 * ledger knows what count(*) the target must show; after an ambiguous failure a Strong count(*)
 * tells whether the rows landed (count went up by exactly their number) or not (unchanged). Any
 * other count means a second writer, a partly applied insert or another process copying the same
 * collection: the copy stops rather than guess.
 */
export class InsertLedger {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly count: () => Promise<number>,
    private readonly targetName: string,
    /** count(*) of the target before the first insert, when known (a fresh target: 0). */
    private expected?: number,
    /** How long a count that did not move is given to move before "not landed" is believed. */
    private readonly settleMs = 1000,
  ) {}

  /**
   * Runs one insert of `rows` after the ones before it, keeping the expected count. After an
   * ambiguous failure it tells, still in this insert's turn, whether the rows landed: true when
   * they did (nothing to send again); the error is rethrown when they did not. Deciding later, once
   * another insert had run, could not tell two equal-sized inserts apart when both failed: seen in
   * CI as one page written twice and another missing, with count(*) right.
   */
  insert(send: () => Promise<unknown>, rows: number): Promise<boolean> {
    const run = this.queue.then(async () => {
      this.expected ??= await this.count();
      try {
        await send();
      } catch (err) {
        if (!isAmbiguous(err)) throw err;
        if (await this.landed(rows)) return true;
        throw err;
      }
      this.expected += rows;
      return false;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async landed(rows: number): Promise<boolean> {
    const before = this.expected!;
    let now = await this.count();
    if (now === before) {
      // A request that reached the server can be applied a moment after its connection failed.
      await sleep(this.settleMs);
      now = await this.count();
    }
    if (now === before) return false;
    if (now === before + rows) {
      this.expected = now;
      return true;
    }
    throw new UserError(
      `cannot tell whether an insert of ${rows} rows into "${this.targetName}" landed after the connection failed: the target now counts ${now} rows where ${before} (not landed) or ${before + rows} (landed) were expected, so another writer or copy is adding rows to it. Keys are regenerated by this target, so rows cannot be matched by key: stop the other writer, drop "${this.targetName}" on the target and run the migration again`,
      'AmbiguousWrite',
    );
  }
}

interface Scope {
  read: string[];
  write?: string;
}

/**
 * Reads every live row of a collection (or one partition) as pages of bounded key ranges.
 *
 * Correct on every server, sorting or not: a range is read only whole, with a limit equal to its own
 * count(*), so a server that returns "some n rows" instead of "the n smallest" cannot make us skip
 * any. Ranges too large for one request are split at keys taken from a sample of the range; on
 * servers that sort (Milvus) the sample is the smallest keys, which makes the splits exact pages.
 */
import type { MilvusClient } from '../adapters/milvus/client.js';
import { isTooLarge } from '../adapters/milvus/errors.js';
import { DataType } from '../adapters/milvus/proto.js';
import type { FieldData, FieldSchema, QueryRequestInput } from '../adapters/milvus/types.js';
import { decodeColumn, int64Values, type RawColumn } from '../adapters/milvus/wire.js';
import { estimateBytes, pageRows, primaryKeys } from './columns.js';
import { duplicatedInRange } from './duplicates.js';
import {
  compareKeys,
  INT64_MAX,
  INT64_MIN,
  type Key,
  type KeyRange,
  keyLiteral,
  matchAllExpr,
  rangeExpr,
} from './keys.js';

/** Milvus refuses offset + limit above 16384 (maxQueryResultWindow). */
export const MAX_QUERY_ROWS = 16384;

export interface Page<T = FieldData[]> {
  range: KeyRange;
  data: T;
  keys: Key[];
  /** Size of the page on the wire (or an estimate of it). */
  bytes: number;
  /** count(*) of the range on the source, counting duplicate keys. */
  counted: number;
  /** Rows counted but not returned: duplicate keys folded into one, or unreadable keys. */
  folded: number;
  /** Of `folded`, rows with the int64 key 2^63-1, which Milvus 2.3 counts but never returns. */
  unreadable: number;
  /**
   * Lets the memory behind `data` be reused for a later page. Call it only once nothing refers to
   * `data` (or to a view of it) any more, for example after the page was written; a page never
   * released is garbage-collected.
   */
  release?: () => void;
}

export interface ReaderOptions {
  /** Target size of one page on the wire. */
  pageBytes: number;
  /** A page read larger than this is not returned but split at its own keys and read again. */
  maxPageBytes?: number;
  /** Estimated bytes per row before any page was measured. */
  estimatedRowBytes: number;
  /**
   * Hybrid timestamp every read must see (taken once when the run starts): Strong reads would
   * wait for a time tick on every call. The source is expected to be quiet during a copy.
   */
  guaranteeTs?: bigint;
  /**
   * The output holds Array fields: a page that folded duplicated keys is not returned but read
   * again with each duplicated key in a range of its own (see duplicates.ts: Milvus 2.3.5 shifts
   * Array values against the keys in such a reply).
   */
  isolateDuplicates?: boolean;
  /** Only rows matching this expression too (sync's changed rows: `updated_at >= w`). */
  filter?: string;
  /**
   * Cut a sorted sample of a range that holds more than the sample at its last key, not its middle:
   * pages of a whole query window. For key-only reads (sync), whose cost is the number of calls; a
   * sample that is not the range's smallest keys only makes that part be split again.
   */
  wholeWindowPages?: boolean;
}

/** One read page as a fetch strategy returns it: the rows, their keys and their size. */
export interface Fetched<T> {
  data: T;
  keys: Key[];
  bytes: number;
  /** Lets the memory behind `data` be reused (see Page.release). */
  release?: () => void;
}

export type Fetch<T> = (req: QueryRequestInput) => Promise<Fetched<T>>;

/** Pages decoded into FieldData objects: for verification, which compares values. */
export function decodedFetch(source: Pick<MilvusClient, 'query'>, pk: FieldSchema): Fetch<FieldData[]> {
  return async (req) => {
    const res = await source.query(req);
    const data = res.fields_data;
    const keys = pageRows(data) ? primaryKeys(data, pk.name) : [];
    return { data, keys, bytes: keys.length ? estimateBytes(data) : 0 };
  };
}

/** Pages kept as encoded columns, only the primary key decoded: the copy's read path. */
export function rawFetch(source: Pick<MilvusClient, 'queryRaw'>, pk: FieldSchema): Fetch<RawColumn[]> {
  return async (req) => {
    const res = await source.queryRaw(req);
    const pkColumn = res.columns.find((c) => c.name === pk.name);
    const keys = !pkColumn
      ? []
      : ((pkColumn.type === DataType.Int64 ? int64Values(pkColumn) : undefined) ??
        primaryKeys([decodeColumn(pkColumn)], pk.name));
    if (!pkColumn && res.columns.length) throw new Error(`query result has no primary key column ${pk.name}`);
    return { data: res.columns, keys, bytes: res.bytes, release: res.release };
  };
}

export class RangeReader<T = FieldData[]> {
  private rowsPerPage: number;
  /** A page was read: rowsPerPage follows measured bytes, no longer the schema's estimate. */
  private measured = false;

  constructor(
    private readonly source: Pick<MilvusClient, 'query' | 'count'>,
    private readonly fetch: Fetch<T>,
    private readonly collection: string,
    private readonly pk: FieldSchema,
    private readonly outputFields: string[],
    private readonly partitions: string[],
    private readonly opts: ReaderOptions,
  ) {
    this.rowsPerPage = clampRows(opts.pageBytes / Math.max(1, opts.estimatedRowBytes));
  }

  private expr(r: KeyRange): string {
    const range = rangeExpr(this.pk.name, r) || matchAllExpr(this.pk);
    return this.opts.filter ? `(${range}) and (${this.opts.filter})` : range;
  }

  count(r: KeyRange): Promise<number> {
    return this.source.count(this.collection, this.expr(r), this.partitions, this.opts.guaranteeTs);
  }

  /** Some key of the range (the smallest, on servers that sort), if it holds any. */
  async someKey(r: KeyRange = {}): Promise<Key | undefined> {
    return (await this.sampleKeys(this.expr(r), 1))[0];
  }

  /** Pages in ascending key order; empty ranges yield nothing. */
  async *pages(start: KeyRange = {}): AsyncGenerator<Page<T>> {
    const stack: KeyRange[] = [start];
    while (stack.length) {
      const r = stack.pop()!;
      const n = await this.count(r);
      if (n === 0) continue;
      // A little over one page is read whole: splitting it would make two half pages.
      if (n <= Math.min(MAX_QUERY_ROWS, Math.ceil(this.rowsPerPage * 1.25))) {
        const page = await this.readWhole(r, n);
        if (Array.isArray(page)) {
          for (let i = page.length - 1; i >= 0; i--) stack.push(page[i]!);
          continue;
        }
        if (page) {
          yield page;
          continue;
        }
        // The server refused the page as too large: fall through and split it.
      }
      const parts = await this.split(r, n);
      if (parts) {
        for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]!);
        continue;
      }
      // Nothing to split at: every row of the range has one key (duplicates). Read it whole.
      const page = await this.readWhole(r, n, true);
      if (page && !Array.isArray(page)) yield page;
    }
  }

  /** The range's rows as one page; or smaller ranges when it came back too big; undefined when refused. */
  private async readWhole(
    r: KeyRange,
    n: number,
    unsplittable = false,
  ): Promise<Page<T> | KeyRange[] | undefined> {
    let res: Fetched<T>;
    const limit = Math.min(n, MAX_QUERY_ROWS);
    try {
      res = await this.fetch({
        collection_name: this.collection,
        expr: this.expr(r),
        output_fields: this.outputFields,
        partition_names: this.partitions,
        params: { limit },
        guaranteeTs: this.opts.guaranteeTs,
      });
    } catch (err) {
      if (n > 1 && !unsplittable && isTooLarge(err)) {
        this.rowsPerPage = clampRows(Math.floor(n / 2));
        return undefined;
      }
      throw err;
    }
    const { data, keys, bytes, release } = res;
    const rows = keys.length;
    if (rows === limit && n > limit) {
      // Rows beyond the limit exist and were not returned: never count them as duplicates.
      throw new Error(
        `range ${this.expr(r)} of ${this.collection} holds ${n} rows but could not be split below ${limit}: stopping rather than skipping rows; please report this`,
      );
    }
    if (this.opts.maxPageBytes && bytes > this.opts.maxPageBytes && rows > 1) {
      const parts = cutAt(r, dedupeSorted(keys), Math.ceil(bytes / this.opts.pageBytes));
      if (parts.length > 1) {
        this.rowsPerPage = clampRows(this.opts.pageBytes / Math.max(1, bytes / rows));
        release?.();
        return parts;
      }
    }
    let unreadable = 0;
    const folded = Math.max(0, n - rows);
    if (folded && typeof keys[0] !== 'string' && this.pk.data_type === 5 && r.hi === undefined) {
      unreadable = await this.source.count(
        this.collection,
        `${this.pk.name} == ${INT64_MAX}`,
        this.partitions,
        this.opts.guaranteeTs,
      );
    }
    if (this.opts.isolateDuplicates && folded > unreadable && rows > 1) {
      const parts = await this.isolateDuplicated(r, n, dedupeSorted(keys));
      if (parts.length > 1) {
        release?.();
        return parts;
      }
    }
    if (rows) {
      const measured = bytes / rows;
      this.rowsPerPage = clampRows(this.opts.pageBytes / Math.max(1, measured));
      this.measured = true;
    }
    return {
      range: r,
      data,
      keys,
      bytes,
      counted: n,
      folded,
      unreadable: Math.min(unreadable, folded),
      release,
    };
  }

  /**
   * The range cut so that every key counted more than once is alone in a part (its part then holds
   * one returned row); the parts between hold no duplicate.
   */
  private async isolateDuplicated(r: KeyRange, n: number, keys: Key[]): Promise<KeyRange[]> {
    const at = await duplicatedInRange((sub) => this.count(sub), r, keys, n);
    const cuts = new Set<number>();
    for (const i of at) {
      if (i > 0) cuts.add(i);
      if (i + 1 < keys.length) cuts.add(i + 1);
    }
    const parts: KeyRange[] = [];
    let lo = r.lo;
    for (const i of [...cuts].sort((a, b) => a - b)) {
      parts.push({ lo, hi: keys[i] });
      lo = keys[i];
    }
    parts.push({ lo, hi: r.hi });
    return parts;
  }

  private async sampleKeys(expr: string, n: number): Promise<Key[]> {
    // Through the page fetch, whose key decoding is the copy's fast one: up to 16,384 Int64 keys a
    // sample, which as protobuf objects took 90 ms of a 200,000-row copy's client CPU.
    const sample = await this.fetch({
      collection_name: this.collection,
      expr,
      output_fields: [this.pk.name],
      partition_names: this.partitions,
      // Milvus returns the smallest matching keys for a plain limit (the sample is then sorted). Not
      // with `reduce_stop_for_best`: that stops at a segment's end, sometimes after a single key.
      params: { limit: Math.min(n, MAX_QUERY_ROWS) },
      guaranteeTs: this.opts.guaranteeTs,
    });
    sample.release?.();
    return sample.keys;
  }

  /** Splits a range at keys sampled from it (every part is non-empty); null if it cannot be split. */
  private async split(r: KeyRange, n: number): Promise<KeyRange[] | null> {
    const serverOrder = await this.sampleKeys(this.expr(r), n);
    const ascending = serverOrder.every((k, i) => i === 0 || compareKeys(serverOrder[i - 1]!, k) < 0);
    let keys = dedupeSorted(serverOrder);
    if (keys.length === 1 && n > 1) {
      // One key in the sample: either every row has it (duplicates), or the server returned too
      // few keys. Only rows with other keys decide.
      const others = `(${this.expr(r)}) and ${notKeyExpr(this.pk.name, keys[0]!)}`;
      const more = await this.source.count(this.collection, others, this.partitions, this.opts.guaranteeTs);
      if (more === 0) return null;
      keys = dedupeSorted([...keys, ...(await this.sampleKeys(others, more))]);
      if (keys.length <= 1) {
        throw new Error(
          `range ${this.expr(r)} of ${this.collection} counts ${more} rows with other keys than ${String(keys[0])} but no query returns them: stopping rather than skipping rows; please report this`,
        );
      }
      return cutAt(r, keys, 2);
    }
    if (keys.length <= 1) return null;
    // A sorted sample holds the smallest keys: cut every rowsPerPage keys for exact pages. An
    // unsorted one is spread over the range: cut so that each part holds about one page.
    const half = Math.floor(keys.length / 2);
    const step = ascending
      ? Math.max(
          1,
          Math.min(this.rowsPerPage, this.opts.wholeWindowPages && n > keys.length ? keys.length - 1 : half),
        )
      : Math.max(1, Math.floor((keys.length * this.rowsPerPage) / n / 1.5));
    const cuts: Key[] = [];
    for (let i = step; i < keys.length; i += step) cuts.push(keys[i]!);
    if (!cuts.length) cuts.push(keys[Math.floor(keys.length / 2)]!);
    // Before any page was measured only the first page is cut off: the rest is split again once
    // its rows' real size is known (the estimate may be far off either way).
    if (!this.measured) cuts.length = 1;
    const parts: KeyRange[] = [];
    let lo = r.lo;
    for (const c of cuts) {
      parts.push({ lo, hi: c });
      lo = c;
    }
    parts.push({ lo, hi: r.hi });
    return parts;
  }
}

/** Cuts a range into `parts` ranges at keys of it (sorted, distinct); every part holds one of them. */
function cutAt(r: KeyRange, keys: Key[], parts: number): KeyRange[] {
  const step = Math.max(1, Math.ceil(keys.length / Math.max(2, parts)));
  const out: KeyRange[] = [];
  let lo = r.lo;
  for (let i = step; i < keys.length; i += step) {
    out.push({ lo, hi: keys[i]! });
    lo = keys[i]!;
  }
  out.push({ lo, hi: r.hi });
  return out;
}

/** Every key but k; -2^63 is written as a bound because Milvus 2.3 cannot parse its literal. */
function notKeyExpr(pk: string, k: Key): string {
  return k === INT64_MIN ? `${pk} >= ${INT64_MIN + 1n}` : `${pk} != ${keyLiteral(k)}`;
}

function clampRows(x: number): number {
  return Math.max(1, Math.min(MAX_QUERY_ROWS, Math.floor(x)));
}

function dedupeSorted(keys: Key[]): Key[] {
  const s = keys.slice().sort(compareKeys);
  return s.filter((k, i) => i === 0 || compareKeys(s[i - 1]!, k) !== 0);
}

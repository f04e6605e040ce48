/**
 * Proof after the copy: count(*) with Strong consistency on both sides (per collection and per
 * partition), then the content of a sample of rows, or of every row, compared cell by cell.
 */
import type { MilvusClient } from '../adapters/milvus/client.js';
import type { FieldData } from '../adapters/milvus/types.js';
import { columnCells } from './cells.js';
import { pageRows, primaryKeys } from './columns.js';
import { queryKeys, readsArrays } from './duplicates.js';
import { inExpr, type Key, type KeyRange, matchAllExpr, rangeExpr } from './keys.js';
import { decodedFetch, MAX_QUERY_ROWS, RangeReader } from './range-reader.js';
import type { CollectionModel } from './schema.js';
import { partitionKeyField, primaryField } from './schema.js';

type Reader = Pick<MilvusClient, 'query' | 'count'>;

export interface CountCheck {
  sourceEntities: number;
  targetEntities: number;
  /** Per partition: [source, target] for partitions whose counts differ beyond the folded rows. */
  partitionMismatches: string[];
  /** Some partition holds more rows on the target than expected. */
  partitionSurplus: boolean;
}

export async function countBoth(
  source: Reader,
  target: Reader,
  model: CollectionModel,
  sourceName: string,
  targetName: string,
  foldedByPartition: Map<string, number>,
): Promise<CountCheck> {
  const [sourceEntities, targetEntities] = await Promise.all([
    source.count(sourceName),
    target.count(targetName),
  ]);
  const partitionMismatches: string[] = [];
  let partitionSurplus = false;
  if (!partitionKeyField(model.schema) && model.partitions.length > 1) {
    // With partitions named, count through a filter: milvus-lite ignores partition_names otherwise.
    const pk = primaryField(model.schema);
    const all = matchAllExpr(pk);
    for (const p of model.partitions) {
      const [s, t] = await Promise.all([
        source.count(sourceName, all, [p]),
        target.count(targetName, all, [p]),
      ]);
      const expected = s - (foldedByPartition.get(p) ?? 0);
      if (t !== expected)
        partitionMismatches.push(`partition ${p}: source ${s}, target ${t}, expected ${expected}`);
      if (t > expected) partitionSurplus = true;
    }
  }
  return { sourceEntities, targetEntities, partitionMismatches, partitionSurplus };
}

function rowsByKey(page: FieldData[], pkName: string, fields: string[]): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  if (!pageRows(page)) return out;
  const keys = primaryKeys(page, pkName);
  const cols = new Map(page.map((fd) => [fd.field_name, columnCells(fd)]));
  keys.forEach((k, i) => {
    const row = new Map<string, string>();
    for (const f of fields) row.set(f, cols.get(f)?.[i] ?? '<absent>');
    out.set(String(k), row);
  });
  return out;
}

/** Differences between the rows with these keys on the source and on the target (at most `limit`). */
export async function compareKeys(
  source: Reader,
  target: Reader,
  model: CollectionModel,
  sourceName: string,
  targetName: string,
  fields: string[],
  keys: Key[],
  limit = 10,
): Promise<{ compared: number; differences: string[] }> {
  const pk = primaryField(model.schema).name;
  const differences: string[] = [];
  let compared = 0;
  const arrays = readsArrays(model.schema.fields, fields);
  for (let i = 0; i < keys.length && differences.length < limit; i += 256) {
    const chunk = keys.slice(i, i + 256);
    const q = async (c: Reader, name: string) => {
      const replies = await queryKeys(c, { collection_name: name, pk, output_fields: fields, arrays }, chunk);
      const rows = new Map<string, Map<string, string>>();
      for (const r of replies) for (const [k, row] of rowsByKey(r.fields_data, pk, fields)) rows.set(k, row);
      return rows;
    };
    const [s, t] = await Promise.all([q(source, sourceName), q(target, targetName)]);
    compared += diffRows(s, t, differences, limit);
  }
  return { compared, differences };
}

/** Every row of the source, page by page, against the same key range on the target. */
export async function compareAll(
  source: Reader,
  target: Reader,
  model: CollectionModel,
  sourceName: string,
  targetName: string,
  fields: string[],
  limit = 10,
): Promise<{ compared: number; differences: string[] }> {
  const pk = primaryField(model.schema);
  const reader = new RangeReader(source, decodedFetch(source, pk), sourceName, pk, fields, [], {
    pageBytes: 8 * 1024 * 1024,
    estimatedRowBytes: 4096,
    isolateDuplicates: readsArrays(model.schema.fields, fields),
  });
  const differences: string[] = [];
  let compared = 0;
  for await (const page of reader.pages()) {
    const t = await target.query({
      collection_name: targetName,
      expr: rangeExpr(pk.name, page.range) || inExpr(pk.name, page.keys),
      output_fields: fields,
      params: { limit: Math.min(MAX_QUERY_ROWS, page.counted + 1) },
    });
    compared += diffRows(
      rowsByKey(page.data, pk.name, fields),
      rowsByKey(t.fields_data, pk.name, fields),
      differences,
      limit,
    );
    if (differences.length >= limit) break;
  }
  return { compared, differences };
}

function diffRows(
  src: Map<string, Map<string, string>>,
  dst: Map<string, Map<string, string>>,
  out: string[],
  limit: number,
): number {
  let compared = 0;
  for (const [k, row] of src) {
    if (out.length >= limit) break;
    compared++;
    const other = dst.get(k);
    if (!other) {
      out.push(`row with key ${k} is missing on the target`);
      continue;
    }
    for (const [f, v] of row) {
      if (other.get(f) !== v) {
        out.push(
          `row with key ${k}: field ${f} differs (source ${clip(v)}, target ${clip(other.get(f) ?? '<absent>')})`,
        );
        break;
      }
    }
  }
  for (const k of dst.keys()) {
    if (out.length >= limit) break;
    if (!src.has(k)) out.push(`row with key ${k} is on the target but not on the source`);
  }
  return compared;
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** A spread of keys: every n-th key seen, so samples cover the whole key space. */
export class KeySampler {
  private readonly keys: Key[] = [];
  private seen = 0;
  private every = 1;
  constructor(private readonly size = 1000) {}

  add(keys: Key[]): void {
    for (const k of keys) {
      if (this.seen++ % this.every === 0) this.keys.push(k);
      if (this.keys.length >= this.size * 2) {
        // Keep every second key and sample half as often: the spread stays even.
        const kept = this.keys.filter((_k, i) => i % 2 === 0);
        this.keys.length = 0;
        this.keys.push(...kept);
        this.every *= 2;
      }
    }
  }

  sample(): Key[] {
    return this.keys.slice();
  }
}

/**
 * Source rows that count(*) counts but no query returns (duplicate keys folded into one, Milvus
 * 2.3's unreadable 2^63-1), per partition: a walk over the primary keys only. For a verification
 * that did not see the copy's pages (a sharded run's separate verification).
 */
export async function foldedOnSource(
  source: Reader,
  model: CollectionModel,
  sourceName: string,
): Promise<{ folded: number; unreadable: number; byPartition: Map<string, number> }> {
  const pk = primaryField(model.schema);
  const scopes: (string | undefined)[] = partitionKeyField(model.schema) ? [undefined] : model.partitions;
  let folded = 0;
  let unreadable = 0;
  const byPartition = new Map<string, number>();
  for (const p of scopes) {
    const reader = new RangeReader(
      source,
      decodedFetch(source, pk),
      sourceName,
      pk,
      [pk.name],
      p ? [p] : [],
      {
        pageBytes: 8 * 1024 * 1024,
        estimatedRowBytes: 16,
      },
    );
    for await (const page of reader.pages()) {
      folded += page.folded;
      unreadable += page.unreadable;
      if (page.folded) byPartition.set(p ?? '', (byPartition.get(p ?? '') ?? 0) + page.folded);
    }
  }
  return { folded, unreadable, byPartition };
}

/** Up to `size` primary keys of the source, taken evenly from the start of each key range. */
export async function sampleKeys(
  source: Reader,
  model: CollectionModel,
  sourceName: string,
  ranges: KeyRange[],
  size = 1000,
): Promise<Key[]> {
  const pk = primaryField(model.schema);
  const per = Math.max(1, Math.ceil(size / Math.max(1, ranges.length)));
  const keys: Key[] = [];
  for (const r of ranges) {
    const res = await source.query({
      collection_name: sourceName,
      expr: rangeExpr(pk.name, r) || matchAllExpr(pk),
      output_fields: [pk.name],
      params: { limit: per },
    });
    if (pageRows(res.fields_data)) keys.push(...primaryKeys(res.fields_data, pk.name));
  }
  return keys;
}

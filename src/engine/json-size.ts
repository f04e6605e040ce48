/**
 * A limit of the target that only the rows show: Milvus refuses a JSON value (a JSON field, or a
 * row's dynamic fields together) longer than 64 KiB — seen on 2.3.5 as "the length (94637) of
 * dynamic field exceeds max length (65536)" — while milvus-lite stores any length. Found by the
 * generated corpus (F5): the copy failed midway, after the target collection was created. The
 * plan reads the JSON columns of such a source first, so the refusal comes with nothing written.
 */
import type { MilvusClient } from '../adapters/milvus/client.js';
import { DataType } from '../adapters/milvus/proto.js';
import type { FieldData } from '../adapters/milvus/types.js';
import { primaryKeys } from './columns.js';
import type { Key } from './keys.js';
import { decodedFetch, RangeReader } from './range-reader.js';
import { type CollectionModel, primaryField, userFields } from './schema.js';
import type { ServerVersion } from './versions.js';

export const MILVUS_JSON_MAX_BYTES = 65536;

/**
 * Whether the source may hold JSON the target refuses: a Milvus target fed from a source without
 * that limit (milvus-lite). A Milvus source enforced the same limit when its rows were written.
 */
export function jsonLimitApplies(source: ServerVersion, target: ServerVersion): boolean {
  return target.kind === 'milvus' && source.kind === 'milvus-lite';
}

export interface OversizedJson {
  key: Key;
  field: string;
  bytes: number;
}

/** The first row whose JSON value (or dynamic fields) is longer than the target takes. */
export async function firstOversizedJson(
  source: Pick<MilvusClient, 'query' | 'count'>,
  model: CollectionModel,
  collection: string,
): Promise<OversizedJson | undefined> {
  const json = userFields(model.schema)
    .filter((f) => f.data_type === DataType.JSON)
    .map((f) => f.name);
  if (model.schema.enable_dynamic_field) json.push('$meta');
  if (!json.length) return undefined;
  const pk = primaryField(model.schema);
  const reader = new RangeReader(source, decodedFetch(source, pk), collection, pk, [pk.name, ...json], [], {
    pageBytes: 8 * 1024 * 1024,
    estimatedRowBytes: 2 * MILVUS_JSON_MAX_BYTES,
  });
  for await (const page of reader.pages()) {
    const keys = primaryKeys(page.data, pk.name);
    for (const fd of page.data) {
      const cells = jsonCells(fd);
      if (!cells) continue;
      const at = cells.findIndex((c) => c.length > MILVUS_JSON_MAX_BYTES);
      if (at >= 0)
        return {
          key: keys[at]!,
          field: fd.is_dynamic ? '$meta' : fd.field_name,
          bytes: cells[at]!.length,
        };
    }
  }
  return undefined;
}

function jsonCells(fd: FieldData): Uint8Array[] | undefined {
  return fd.type === DataType.JSON ? (fd.scalars?.json_data?.data as Uint8Array[] | undefined) : undefined;
}

/**
 * Every index of a collection, several per field included (JSON path indexes: one per json_path
 * on one JSON field). Indexes are told apart by name, as Milvus does (names are unique within a
 * collection); a target that renames indexes (milvus-lite names each after its field) is matched
 * by field and JSON path instead, so a resumed run does not create an index a second time.
 * Pure: what to create, what a target can hold, and what it did not keep.
 */
import { DataType } from '../adapters/milvus/proto.js';
import type { FieldSchema, IndexDescription, KeyValue } from '../adapters/milvus/types.js';
import { atLeast, type ServerVersion } from './versions.js';

/**
 * JSON path indexes are documented for the Milvus 2.5 line and later; no server installable here
 * holds one (2.3.5 and milvus-lite 3.2.2 refuse an index on a JSON field, tried), so the floor is
 * the first line this project is sure of rather than the earliest that may work.
 */
export const JSON_PATH_INDEX_SINCE = '2.6.0';
/** Scalar INVERTED indexes: Milvus 2.4 on (2.3.5 refuses them, tried). */
export const INVERTED_SINCE = '2.4.0';

function param(i: IndexDescription, key: string): string | undefined {
  return i.params.find((p: KeyValue) => p.key === key)?.value;
}

export function jsonPathOf(i: IndexDescription): string | undefined {
  return param(i, 'json_path');
}

export interface IndexPairing {
  /** [wanted, found on the target] */
  pairs: [IndexDescription, IndexDescription][];
  /** Wanted indexes the target does not have. */
  missing: IndexDescription[];
  /** Indexes on the target that no wanted one accounts for. */
  extra: IndexDescription[];
}

/**
 * Pairs wanted indexes with a target's: by name first, then (for targets that rename indexes) by
 * field and JSON path among the ones still unpaired.
 */
export function pairIndexes(want: IndexDescription[], got: IndexDescription[]): IndexPairing {
  const free = [...got];
  const take = (pred: (g: IndexDescription) => boolean): IndexDescription | undefined => {
    const at = free.findIndex(pred);
    return at < 0 ? undefined : free.splice(at, 1)[0];
  };
  const pairs: [IndexDescription, IndexDescription][] = [];
  const unnamed: IndexDescription[] = [];
  for (const w of want) {
    const g = take((x) => x.index_name === w.index_name && x.field_name === w.field_name);
    if (g) pairs.push([w, g]);
    else unnamed.push(w);
  }
  const missing: IndexDescription[] = [];
  for (const w of unnamed) {
    const g = take((x) => x.field_name === w.field_name && jsonPathOf(x) === jsonPathOf(w));
    if (g) pairs.push([w, g]);
    else missing.push(w);
  }
  return { pairs, missing, extra: free };
}

/** The wanted indexes a target still lacks, in the source's order. */
export function indexesToCreate(want: IndexDescription[], have: IndexDescription[]): IndexDescription[] {
  return pairIndexes(want, have).missing;
}

/**
 * What a target cannot hold of the source's indexes, one sentence each (plan problems: a target
 * missing an index answers the same queries far slower, which is not a faithful copy).
 */
export function indexProblems(
  indexes: IndexDescription[],
  fields: FieldSchema[],
  target: ServerVersion,
): string[] {
  const out: string[] = [];
  const typeOf = new Map(fields.map((f) => [f.name, f.data_type]));
  const byField = new Map<string, IndexDescription[]>();
  for (const i of indexes) byField.set(i.field_name, [...(byField.get(i.field_name) ?? []), i]);
  for (const [field, list] of byField) {
    const json = typeOf.get(field) === DataType.JSON || list.every((i) => jsonPathOf(i) !== undefined);
    if (list.length > 1 && !json) {
      // Milvus's data coordinator refuses a second index on a field ("creating multiple indexes
      // on same field is not supported"; 2.3.5 and milvus-lite 3.2.2 tried); only the embedded
      // Milvus Lite keeps several.
      out.push(
        `field ${field} has ${list.length} indexes (${list.map((i) => i.index_name).join(', ')}); a Milvus server keeps one index per field (several only on a JSON field, one per json_path): drop all but one of them on the source and run again`,
      );
    }
  }
  for (const i of indexes) {
    const type = param(i, 'index_type')?.toUpperCase();
    const t = typeOf.get(i.field_name);
    // Vector types are 100-199 (schema.ts isVectorType; not imported: schema.ts imports this file).
    const scalar = t !== undefined && (t < 100 || t >= 200);
    // Both found by trying: milvus-lite 3.2.2 answers "scalar index_type 'TRIE' is not implemented;
    // supported: INVERTED", Milvus 2.3.5 "index type not match" for INVERTED. Either would fail the
    // run after the copy, so the plan says it first.
    if (scalar && target.kind === 'milvus-lite' && type && !['INVERTED', 'AUTOINDEX'].includes(type))
      out.push(
        `index ${i.index_name} on ${i.field_name} is of type ${type}; ${target.raw} builds only INVERTED indexes on scalar fields: change that index on the source to INVERTED, or use a Milvus target`,
      );
    if (scalar && target.kind === 'milvus' && type === 'INVERTED' && !atLeast(target, INVERTED_SINCE))
      out.push(
        `index ${i.index_name} on ${i.field_name} is INVERTED, which needs Milvus ${INVERTED_SINCE} or newer on the target (it runs ${target.raw}): use a newer target, or an index type it builds (STL_SORT for numbers, Trie for VarChar) on the source`,
      );
    const path = jsonPathOf(i);
    if (path === undefined) continue;
    const what = `index ${i.index_name} on JSON path ${path} of ${i.field_name}`;
    if (target.kind === 'milvus-lite')
      out.push(
        `${what}: ${target.raw} holds no index on JSON values: use a Milvus ${JSON_PATH_INDEX_SINCE} or newer target`,
      );
    else if (!atLeast(target, JSON_PATH_INDEX_SINCE))
      out.push(
        `${what} needs Milvus ${JSON_PATH_INDEX_SINCE} or newer on the target (it runs ${target.raw})`,
      );
  }
  return out;
}

/** Sentences for each wanted index the target did not keep as it was asked for. */
export function diffIndexes(
  want: IndexDescription[],
  got: IndexDescription[],
  diffParams: (what: string, want: KeyValue[], got: KeyValue[], out: string[]) => void,
  out: string[],
): void {
  const { pairs, missing } = pairIndexes(want, got);
  for (const [w, g] of pairs) {
    if (g.index_name !== w.index_name)
      out.push(`index on ${w.field_name} is named "${g.index_name}" instead of "${w.index_name}"`);
    diffParams(`index ${w.index_name}: parameter`, w.params, g.params, out);
  }
  for (const w of missing) {
    const path = jsonPathOf(w);
    out.push(`index ${w.index_name} on ${w.field_name}${path === undefined ? '' : ` (${path})`} is missing`);
  }
}

/**
 * Function outputs are never copied: the target computes them from the copied inputs. For BM25
 * that is the same statistics from the same text and analyzer. For every other function
 * (TextEmbedding, MinHash, …) the target calls a model or provider of its own: it needs that
 * provider configured (with credentials), re-embedding every row costs money and time, and the
 * vectors will not be bit-for-bit the source's. So each of those is a warning in the plan and in
 * the status, naming what the target needs.
 */
import { FUNCTION_TYPE_NAMES, FunctionType } from '../adapters/milvus/proto.js';
import type { CollectionSchema, KeyValue } from '../adapters/milvus/types.js';

/** Parameter values that may be secrets are never repeated (status and logs carry no credentials). */
const SECRET_KEY = /key|secret|token|password|credential|auth/i;

function paramsText(params: KeyValue[]): string {
  if (!params.length) return 'no parameters';
  return params.map((p) => `${p.key}=${SECRET_KEY.test(p.key) ? '(not shown)' : p.value}`).join(', ');
}

export interface FunctionOutputNotes {
  /** Plan notes only (BM25: recomputed exactly from the copied text). */
  notes: string[];
  /** Plan notes that are also status warnings (every other function). */
  warnings: string[];
}

export function functionOutputNotes(schema: CollectionSchema): FunctionOutputNotes {
  const notes: string[] = [];
  const warnings: string[] = [];
  for (const fn of schema.functions ?? []) {
    const type = FUNCTION_TYPE_NAMES[fn.type] ?? `type ${fn.type}`;
    const outputs = fn.output_field_names.join(', ');
    const inputs = fn.input_field_names.join(', ');
    if (fn.type === FunctionType.BM25) {
      notes.push(
        `function ${fn.name} (BM25): ${outputs} is not copied; the target recomputes it from ${inputs} with the same analyzer`,
      );
      continue;
    }
    warnings.push(
      `function ${fn.name} (${type}): ${outputs} is not copied but recomputed by the target from ${inputs}; the target needs the same function provider configured with its own credentials (${paramsText(fn.params)}), recomputing every row may cost money, and the values will not be bit-for-bit the source's`,
    );
  }
  return { notes, warnings };
}

/**
 * Function outputs the target recomputes (issue 16): BM25 is a plan note, every other function a
 * warning in the plan and the status naming what the target needs; secrets among the function's
 * parameters are never repeated. The schema goes through the official protobuf CollectionSchema
 * first, as a described source would hand it over (no server here can create a TextEmbedding
 * function: it needs a provider).
 */
import { describe, expect, it } from 'vitest';
import { decode, encode, FunctionType } from '../../src/adapters/milvus/proto.js';
import type { CollectionSchema } from '../../src/adapters/milvus/types.js';
import { functionOutputNotes } from '../../src/engine/function-outputs.js';

function described(functions: object[]): CollectionSchema {
  return decode<CollectionSchema>(
    'schema.CollectionSchema',
    encode('schema.CollectionSchema', { name: 'c', fields: [], functions }),
  );
}

describe('function outputs', () => {
  it('BM25 is a note; TextEmbedding and MinHash are warnings naming provider and inputs, without secrets', () => {
    const s = described([
      { name: 'bm', type: FunctionType.BM25, input_field_names: ['text'], output_field_names: ['sparse'] },
      {
        name: 'embed',
        type: FunctionType.TextEmbedding,
        input_field_names: ['text'],
        output_field_names: ['dense'],
        params: [
          { key: 'provider', value: 'openai' },
          { key: 'model_name', value: 'text-embedding-3-small' },
          { key: 'api_key', value: 'sk-secret-value' },
          { key: 'credential', value: 'my_cred' },
        ],
      },
      { name: 'mh', type: FunctionType.MinHash, input_field_names: ['text'], output_field_names: ['sig'] },
    ]);
    const n = functionOutputNotes(s);
    expect(n.notes).toEqual([
      'function bm (BM25): sparse is not copied; the target recomputes it from text with the same analyzer',
    ]);
    expect(n.warnings).toHaveLength(2);
    expect(n.warnings[0]).toMatch(
      /^function embed \(TextEmbedding\): dense is not copied but recomputed by the target from text;/,
    );
    expect(n.warnings[0]).toMatch(
      /provider=openai, model_name=text-embedding-3-small, api_key=\(not shown\), credential=\(not shown\)/,
    );
    expect(n.warnings[0]).toMatch(/cost money.*not be bit-for-bit/);
    expect(n.warnings.join(' ')).not.toMatch(/sk-secret-value|my_cred/);
    expect(n.warnings[1]).toMatch(/^function mh \(MinHash\): sig is not copied/);
  });

  it('says nothing for a schema without functions', () => {
    expect(functionOutputNotes(described([]))).toEqual({ notes: [], warnings: [] });
  });
});

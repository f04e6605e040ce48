/**
 * Collection patterns (issue 16): `name: "*"`, globs and `exclude`, expanded once and recorded, so
 * the set cannot change under a migration under way; named entries keep their targetName and win
 * over a pattern; a changed spec expands again. The controller expands before anything else and
 * reconciles the recorded set from then on.
 */
import { describe, expect, it } from 'vitest';
import type { MigrationInput } from '../../src/api/input.js';
import { checkSpec } from '../../src/api/input.js';
import { type MilvusMigration, milvusMigration } from '../../src/api/migration.js';
import { decide } from '../../src/controller/decide.js';
import { withRecordedSelection } from '../../src/controller/selection.js';
import {
  applySelection,
  expandPatterns,
  globToRegExp,
  newSelection,
  resolveCollections,
  selectionKey,
} from '../../src/engine/collection-set.js';
import type { UserError } from '../../src/util/errors.js';
import { observed } from '../support/observed.js';

const migration = (collections: object[]): MilvusMigration =>
  milvusMigration.parse({
    apiVersion: 'migration.milvus.io/v1alpha1',
    kind: 'MilvusMigration',
    metadata: { name: 'm', namespace: 'ns' },
    spec: {
      source: { endpoint: '10.0.0.1:19530' },
      target: { endpoint: '10.0.0.2:19530' },
      collections,
    },
  });

const SOURCE = ['logs_2024', 'logs_2025', 'logs_tmp', 'products', 'users'];

describe('patterns', () => {
  it('globs: * any run, ? one character, everything else literal', () => {
    expect(globToRegExp('logs_*').test('logs_2024')).toBe(true);
    expect(globToRegExp('logs_*').test('xlogs_2024')).toBe(false);
    expect(globToRegExp('logs_202?').test('logs_2025')).toBe(true);
    expect(globToRegExp('logs_202?').test('logs_20255')).toBe(false);
    expect(globToRegExp('*').test('anything_at_all')).toBe(true);
  });

  it('"*" with exclude: every other collection, sorted; a named entry keeps its targetName and is not matched twice', () => {
    const m = migration([
      { name: 'users', targetName: 'people' },
      { name: '*', exclude: ['logs_tmp', 'pro*'] },
    ]);
    expect(expandPatterns(m.spec.collections, SOURCE, 'default')).toEqual(['logs_2024', 'logs_2025']);
    const sel = newSelection(m.spec, SOURCE, 't0');
    expect(applySelection(m, sel).spec.collections).toEqual([
      { name: 'users', targetName: 'people' },
      { name: 'logs_2024' },
      { name: 'logs_2025' },
    ]);
  });

  it('a pattern that matches nothing is refused, naming the collections there', () => {
    const m = migration([{ name: 'orders_*' }]);
    expect(() => expandPatterns(m.spec.collections, SOURCE, 'shop')).toThrowError(
      /pattern "orders_\*" matches no collection in source database "shop" \(collections there: logs_2024, .*\)/,
    );
    try {
      expandPatterns(m.spec.collections, SOURCE, 'shop');
    } catch (err) {
      expect((err as UserError).reason).toBe('NoCollectionMatched');
    }
  });

  it('more than 1000 collections are refused', () => {
    const many = Array.from({ length: 1001 }, (_, i) => `c${i}`);
    expect(() => expandPatterns(migration([{ name: '*' }]).spec.collections, many, 'default')).toThrowError(
      /over the limit of 1000/,
    );
  });

  it('a set recorded from this spec is reused without asking the source; another spec expands again', async () => {
    const m = migration([{ name: 'logs_*' }]);
    const input: MigrationInput = { migration: m, secrets: [] };
    const recorded = newSelection(m.spec, ['logs_2024'], 't0');
    let asked = 0;
    const list = async () => {
      asked++;
      return SOURCE;
    };
    const kept = await resolveCollections(input, recorded, list, 't1');
    expect(asked).toBe(0);
    expect(kept.fresh).toBe(false);
    expect(kept.input.migration.spec.collections).toEqual([{ name: 'logs_2024' }]);

    const edited = migration([{ name: 'logs_*', exclude: ['logs_tmp'] }]);
    expect(selectionKey(edited.spec)).not.toBe(recorded.from);
    const again = await resolveCollections({ migration: edited, secrets: [] }, recorded, list, 't1');
    expect(asked).toBe(1);
    expect(again.fresh).toBe(true);
    expect(again.input.migration.spec.collections.map((c) => c.name)).toEqual(['logs_2024', 'logs_2025']);
    expect(again.selection).toEqual({
      from: selectionKey(edited.spec),
      time: 't1',
      names: ['logs_2024', 'logs_2025'],
    });
  });

  it('without a pattern nothing is asked and nothing recorded', async () => {
    const input: MigrationInput = { migration: migration([{ name: 'users' }]), secrets: [] };
    const r = await resolveCollections(input, undefined, async () => SOURCE, 't');
    expect(r).toEqual({ input, fresh: false });
  });

  it("a match colliding with a named entry's targetName is refused after expansion", async () => {
    const m = migration([{ name: 'users', targetName: 'products' }, { name: 'pro*' }]);
    await expect(
      resolveCollections({ migration: m, secrets: [] }, undefined, async () => SOURCE, 't'),
    ).rejects.toThrow(/would both be written to target collection "products"/);
  });
});

describe('checkSpec with patterns', () => {
  it('refuses targetName or description on a pattern, exclude on a name, and a name Milvus would refuse', () => {
    expect(() => checkSpec(migration([{ name: '*', targetName: 'x' }]))).toThrowError(
      /cannot share one targetName/,
    );
    expect(() => checkSpec(migration([{ name: '*', description: 'd' }]))).toThrowError(
      /cannot share one targetName or description/,
    );
    expect(() => checkSpec(migration([{ name: 'users', exclude: ['a'] }]))).toThrowError(
      /exclude is only for a pattern name/,
    );
    expect(() => checkSpec(migration([{ name: '1users' }]))).toThrowError(
      /must start with a letter or underscore/,
    );
    expect(() => checkSpec(migration([{ name: '*', exclude: ['logs_*'] }, { name: 'users' }]))).not.toThrow();
  });
});

describe('operator', () => {
  it('decide(): patterns without a recorded set → expand them first, nothing else', () => {
    expect(decide(observed({ selectionNeeded: true }, { ownedTargets: undefined }))).toEqual([
      { type: 'resolveCollections' },
    ]);
  });

  it('reconciles the recorded set in place of the patterns, and the patterns again once the spec changes', () => {
    const m = migration([{ name: 'logs_*' }]);
    const sel = newSelection(m.spec, SOURCE, 't0');
    const obj = {
      apiVersion: m.apiVersion,
      kind: m.kind,
      metadata: m.metadata,
      spec: m.spec,
      status: { collectionSelection: sel },
    };
    const seen = withRecordedSelection(obj);
    expect((seen.spec as MilvusMigration['spec']).collections).toEqual([
      { name: 'logs_2024' },
      { name: 'logs_2025' },
      { name: 'logs_tmp' },
    ]);
    // Later source collections do not join: the recorded set is what is reconciled.
    const edited = { ...obj, spec: { ...m.spec, collections: [{ name: 'logs_*', exclude: ['logs_tmp'] }] } };
    expect(withRecordedSelection(edited)).toBe(edited);
    expect(withRecordedSelection({ ...obj, status: {} }).spec).toBe(m.spec);
  });
});

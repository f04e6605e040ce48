import { describe, expect, it } from 'vitest';
import { checkSpec, formatZodError } from '../../src/api/input.js';
import { milvusMigration } from '../../src/api/migration.js';
import { UserError } from '../../src/util/errors.js';

const base = (secretRef: Record<string, string>) =>
  milvusMigration.parse({
    apiVersion: 'migration.milvus.io/v1alpha1',
    kind: 'MilvusMigration',
    metadata: { name: 'm', namespace: 'team-a' },
    spec: {
      source: { endpoint: '10.0.0.1:19530', secretRef },
      target: { endpoint: '10.0.0.2:19530' },
      collections: [{ name: 'books' }],
    },
  });

describe('checkSpec(): Secrets only from the migration’s own namespace', () => {
  it('refuses secretRef.namespace naming another namespace, saying what to do', () => {
    let err: unknown;
    try {
      checkSpec(base({ name: 'creds', namespace: 'kube-system' }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).reason).toBe('CrossNamespaceSecret');
    expect((err as Error).message).toMatch(
      /spec\.source\.secretRef\.namespace "kube-system" is not the migration's namespace "team-a".*Copy the Secret into namespace "team-a"/,
    );
  });

  it('accepts no namespace or the own one', () => {
    expect(() => checkSpec(base({ name: 'creds' }))).not.toThrow();
    expect(() => checkSpec(base({ name: 'creds', namespace: 'team-a' }))).not.toThrow();
  });

  it('defaults deletionPolicy to Retain and refuses unknown policies', () => {
    expect(base({ name: 'c' }).spec.deletionPolicy).toBe('Retain');
    const bad = milvusMigration.safeParse({
      ...base({ name: 'c' }),
      spec: { ...base({ name: 'c' }).spec, deletionPolicy: 'Delete' },
    });
    expect(bad.success).toBe(false);
  });
});

describe('formatZodError(): a value of the wrong type is named, not called missing', () => {
  const doc = (spec: Record<string, unknown>) => ({
    apiVersion: 'migration.milvus.io/v1alpha1',
    kind: 'MilvusMigration',
    metadata: { name: 'm', namespace: 'default' },
    spec: {
      source: { endpoint: '10.0.0.1:19530' },
      target: { endpoint: '10.0.0.2:19530' },
      collections: [{ name: 'books' }],
      ...spec,
    },
  });
  const message = (d: unknown) => {
    const r = milvusMigration.safeParse(d);
    expect(r.success).toBe(false);
    return formatZodError(r.error!, d);
  };

  it('parallelism: four', () => {
    expect(message(doc({ parallelism: 'four' }))).toBe(
      'spec.parallelism: "four" is not a number: use a number, e.g. 4',
    );
  });

  it('a missing field is still called missing', () => {
    const d = doc({});
    delete (d.spec as Record<string, unknown>).collections;
    expect(message(d)).toMatch(/spec\.collections: required field is missing: add collections/);
  });
});

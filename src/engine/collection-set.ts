/**
 * Collection patterns (`name: "*"`, globs, `exclude`): expanded against the source's collection
 * list once, when a migration is first planned, and recorded (status.collectionSelection; the CLI
 * also in its state file), so that the set cannot change under a migration that is under way.
 * Named entries keep their targetName and description; a collection both named and matched is
 * taken as named. Pure, apart from the caller's list of source collections.
 */
import { createHash } from 'node:crypto';
import { checkSpec, type MigrationInput } from '../api/input.js';
import type {
  CollectionSelection,
  CollectionSpec,
  MigrationSpec,
  MilvusMigration,
} from '../api/migration.js';
import { UserError } from '../util/errors.js';

/** The most collections one migration holds (spec.collections' bound). */
export const MAX_COLLECTIONS = 1000;

export function isPattern(name: string): boolean {
  return /[*?]/.test(name);
}

export function hasPatterns(spec: Pick<MigrationSpec, 'collections'>): boolean {
  return spec.collections.some((c) => isPattern(c.name));
}

export function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('')
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

/** What a recorded set depends on: the source database and the collection entries. */
export function selectionKey(spec: Pick<MigrationSpec, 'source' | 'collections'>): string {
  const what = JSON.stringify({
    endpoint: spec.source.endpoint,
    database: spec.source.database,
    collections: spec.collections.map((c) => [c.name, c.targetName ?? null, c.exclude ?? null]),
  });
  return createHash('sha256').update(what).digest('hex').slice(0, 32);
}

/**
 * The source collections the patterns stand for, in spec order (each pattern's matches sorted).
 * Throws a UserError when a pattern matches nothing or the set grows past MAX_COLLECTIONS.
 */
export function expandPatterns(
  collections: CollectionSpec[],
  available: string[],
  database: string,
): string[] {
  const named = new Set(collections.filter((c) => !isPattern(c.name)).map((c) => c.name));
  const taken = new Set<string>();
  const out: string[] = [];
  const sorted = [...available].sort();
  for (const c of collections) {
    if (!isPattern(c.name)) continue;
    const re = globToRegExp(c.name);
    const excluded = (c.exclude ?? []).map(globToRegExp);
    const matched = sorted.filter((n) => re.test(n) && !excluded.some((x) => x.test(n)));
    if (!matched.length) {
      const there = sorted.slice(0, 20).join(', ') || 'none';
      throw new UserError(
        `spec.collections: pattern "${c.name}"${c.exclude?.length ? ` (exclude ${c.exclude.join(', ')})` : ''} matches no collection in source database "${database}" (collections there: ${there}): correct the pattern or spec.source.database`,
        'NoCollectionMatched',
      );
    }
    for (const n of matched) {
      if (named.has(n) || taken.has(n)) continue;
      taken.add(n);
      out.push(n);
    }
  }
  if (named.size + out.length > MAX_COLLECTIONS)
    throw new UserError(
      `spec.collections: the patterns match ${out.length} collections (${named.size} more are named), over the limit of ${MAX_COLLECTIONS} per migration: split them over several migrations (e.g. by name pattern, with exclude)`,
      'TooManyCollections',
    );
  return out;
}

export function newSelection(spec: MigrationSpec, available: string[], time: string): CollectionSelection {
  return {
    from: selectionKey(spec),
    time,
    names: expandPatterns(spec.collections, available, spec.source.database),
  };
}

/**
 * The migration with its patterns replaced by the recorded set: named entries where they were,
 * the pattern matches in place of their pattern. Unchanged when the spec has no pattern or the
 * selection was made from another spec.
 */
export function applySelection(m: MilvusMigration, sel: CollectionSelection | undefined): MilvusMigration {
  if (!hasPatterns(m.spec) || !sel || sel.from !== selectionKey(m.spec)) return m;
  const placed = new Set<string>();
  const collections: CollectionSpec[] = [];
  for (const c of m.spec.collections) {
    if (!isPattern(c.name)) {
      collections.push(c);
      continue;
    }
    const re = globToRegExp(c.name);
    for (const n of sel.names) {
      if (placed.has(n) || !re.test(n)) continue;
      placed.add(n);
      collections.push({ name: n });
    }
  }
  return { ...m, spec: { ...m.spec, collections } };
}

/**
 * The input with its patterns expanded: from the recorded selection when it was made from this
 * spec, else from the source's collection list (a new selection, returned for the caller to
 * record). Unchanged input and no selection when the spec has no pattern.
 */
export async function resolveCollections(
  input: MigrationInput,
  recorded: CollectionSelection | undefined,
  listSource: () => Promise<string[]>,
  time: string,
): Promise<{ input: MigrationInput; selection?: CollectionSelection; fresh: boolean }> {
  const m = input.migration;
  if (!hasPatterns(m.spec)) return { input, fresh: false };
  const reuse = recorded?.from === selectionKey(m.spec);
  const selection = reuse ? recorded! : newSelection(m.spec, await listSource(), time);
  const migration = applySelection(m, selection);
  // Named entries and matches together may now collide on a target name: same checks as a spec.
  checkSpec(migration);
  return { input: { ...input, migration }, selection, fresh: !reuse };
}

/**
 * The CLI's side of collection patterns: expanded against the source before the plan, and, for
 * `run`, recorded in the state file so that a re-run (a resume) copies the same set even if
 * collections were created on the source meanwhile. The record is dropped once a run succeeds:
 * the next run of the migration expands the patterns again.
 */
import type { MigrationInput } from '../api/input.js';
import type { CollectionSelection } from '../api/migration.js';
import { now } from '../api/status.js';
import { openClients } from '../engine/clients.js';
import { resolveCollections } from '../engine/collection-set.js';
import type { StateStore } from '../engine/state.js';

export async function selectCollections(
  input: MigrationInput,
  state: StateStore,
  record: boolean,
): Promise<{ input: MigrationInput; selection?: CollectionSelection }> {
  const recorded = (await state.load()).selection;
  const r = await resolveCollections(input, recorded, listSource(input), now());
  if (record && r.fresh && r.selection) {
    const s = await state.load();
    s.selection = r.selection;
    await state.save(s);
  }
  return { input: r.input, ...(r.selection ? { selection: r.selection } : {}) };
}

/** After a run: a Succeeded migration forgets its set, so that its next run expands again. */
export async function forgetSelection(state: StateStore): Promise<void> {
  const s = await state.load();
  if (!s.selection) return;
  delete s.selection;
  await state.save(s);
}

function listSource(input: MigrationInput): () => Promise<string[]> {
  return async () => {
    const { source, target } = openClients(input);
    target.close();
    try {
      return await source.showCollections();
    } finally {
      source.close();
    }
  };
}

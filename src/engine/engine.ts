/**
 * The copy engine: plan → create the target exactly → copy every row once → verify. It knows
 * nothing of Kubernetes; the CLI and the operator's copy pods both run it on the same input.
 *
 * One process runs it whole (runMigration). A sharded run (the operator's shard pods) runs the same
 * pieces as stages in separate processes: plan (targets created, key ranges computed once), copy
 * (one key range of every collection per shard), finalize (target shape, verification).
 */

import { type MigrationInput, userPasswords } from '../api/input.js';
import type { MigrationStatus } from '../api/migration.js';
import { errorText } from '../util/errors.js';
import { openClients } from './clients.js';
import { alreadyComplete, copyCollection, prepareCollection } from './collection.js';
import { finalizeFillingIn } from './fill-in.js';
import { finalizeCollection } from './finalize.js';
import { type Plan, planMigration } from './planner.js';
import { type EngineOptions, runStage } from './stage.js';
import type { StateStore } from './state.js';
import { ensureTargetShape } from './target-shape.js';

export { type Clients, openClients } from './clients.js';
export {
  type CopyStageOptions,
  type FinalizeStageOptions,
  type PlanStageOptions,
  runCopyStage,
  runFinalizeStage,
  runPlanStage,
  type ShardPlan,
  type ShardPlanCollection,
} from './sharded.js';
export { type EngineOptions, initialStatus } from './stage.js';

export async function plan(input: MigrationInput, state: StateStore): Promise<Plan> {
  const { source, target } = openClients(input);
  try {
    const passwords = userPasswords(input);
    return await planMigration(
      input.migration,
      source,
      target,
      await state.load(),
      passwords && [...passwords.keys()],
    );
  } finally {
    source.close();
    target.close();
  }
}

/** The whole migration in one process (the CLI, and the operator with parallelism 1). */
export async function runMigration(input: MigrationInput, opts: EngineOptions): Promise<MigrationStatus> {
  return runStage(input, opts, {
    runningReason: 'Copying',
    reason: 'Verified',
    doneMessage: (n) => `${n} collections copied and verified`,
    sourceCount: (cp, _at, { source }) => source.count(cp.sourceName),
    work: async (w) => {
      const fresh = await prepareCollection(w);
      if (!fresh && (await alreadyComplete(w))) {
        // A finished migration run again changes nothing: verified as configured, not copied.
        await finalizeCollection(w, { shape: false });
        w.cs.message = `already complete, nothing copied; ${w.cs.message}`;
        w.changed();
        return;
      }
      // A fresh target is indexed and loaded while it fills, not after: loading a filled target
      // replays the whole copy from the target's log (most of the time between the copy and a
      // usable target, measured on 2.3.5), loading an empty one takes a few seconds.
      // Best effort: the copy's calls have a retry policy, these have not, so a failure here (a
      // target cut off for a moment) leaves the shape to finalizeCollection, after the copy, as
      // before. A failed copy does not wait for it: closing the clients ends it.
      const shaping = fresh
        ? ensureTargetShape(w.cp, w.cp.model!, w.clients.target, w.log).catch((err: unknown) => {
            w.log.warn(
              { err: errorText(err) },
              'indexing and loading the target while it fills failed: done after the copy',
            );
          })
        : undefined;
      const workers = w.opts.workers ?? w.input.migration.spec.parallelism;
      const copy = await copyCollection(w, { fresh, workers });
      await shaping;
      await finalizeFillingIn(w, { shape: fresh, copy }, workers);
    },
  });
}

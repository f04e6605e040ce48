/**
 * Verification with one fill-in pass. A target can hold fewer rows than the source after a copy
 * that wrote every page: milvus-lite restarted mid-copy lost a 127-row page it had acknowledged
 * (CI, faults.test.ts). The user's next step would be a re-run, which looks every source key up on
 * the target and writes only the missing ones; the run takes that step once itself before it
 * reports the shortfall. Surplus rows and regenerated keys are never filled in: finalizeCollection
 * reports those as before. The single-process run only: see runFinalizeStage for the sharded one.
 */
import { CountShortfallError, VerificationError } from '../util/errors.js';
import { type CopyOutcome, copyCollection } from './collection.js';
import { finalizeCollection } from './finalize.js';
import type { KeyRange } from './keys.js';
import type { CollectionWork } from './stage.js';

export async function finalizeFillingIn(
  w: CollectionWork,
  how: { shape: boolean; copy?: CopyOutcome; ranges?: KeyRange[] },
  workers: number,
): Promise<void> {
  try {
    await finalizeCollection(w, how);
    return;
  } catch (err) {
    if (!(err instanceof CountShortfallError)) throw err;
    w.log.warn(
      { missing: err.missing, counts: err.counts },
      'the target holds fewer rows than the source after the copy: writing the missing keys (one fill-in pass)',
    );
    const copy = await copyCollection(w, { fresh: false, workers });
    const written = copy.result.copied - copy.result.alreadyThere;
    try {
      await finalizeCollection(w, { shape: false, copy });
    } catch (again) {
      if (!(again instanceof CountShortfallError)) throw again;
      throw new VerificationError(
        `${again.counts}, after a fill-in pass that wrote ${written} missing rows: rows keep disappearing from the target; check that nothing else deletes there and that the target keeps what it acknowledges (restarts, storage), then run again`,
      );
    }
    const note =
      written > 0
        ? `after the copy the target held ${err.missing} rows fewer than the source (it lost rows it had acknowledged, or something deleted rows there); a fill-in pass looked up every key and wrote the ${written} missing`
        : `after the copy count(*) on the target was ${err.missing} short, yet a fill-in pass that looked up every key found none missing (the count lagged)`;
    w.log.warn({ missing: err.missing, written }, 'fill-in pass completed the target');
    w.cs.warnings = [...(w.cs.warnings ?? []), note];
    w.cs.message = `${w.cs.message ?? ''}; ${written} missing rows written by a fill-in pass`;
    w.changed();
  }
}

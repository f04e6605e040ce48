/**
 * A collection's last step: the target's shape, what it did not keep, counts on both sides (and
 * the repair of surplus keys), then the content per spec.verify.
 */
import { now } from '../api/status.js';
import { CountShortfallError, VerificationError } from '../util/errors.js';
import { type CopyOutcome, regeneratedWarning, regeneratesKeys, targetKeyOf } from './collection.js';
import type { KeyRange } from './keys.js';
import { repairSurplus } from './repair.js';
import { retryingReads } from './retry.js';
import { type CollectionModel, diffModels } from './schema.js';
import type { CollectionWork } from './stage.js';
import { describeTarget, ensureTargetShape } from './target-shape.js';
import { compareAll, compareKeys, countBoth, foldedOnSource, sampleKeys } from './verify.js';

/** Records (or, with `undefined`, forgets) a collection's last successful verification. */
async function recordVerified(
  { cp, input, opts }: CollectionWork,
  counts: { sourceEntities: number; targetEntities: number } | undefined,
): Promise<void> {
  const state = await opts.state.load();
  const record = state.targets[targetKeyOf(input, cp)];
  if (!record || (!counts && !record.verified)) return;
  if (counts) record.verified = { ...counts, at: now() };
  else delete record.verified;
  await opts.state.save(state);
}

/**
 * After the copy: the target's shape (when `shape`), what it did not keep, counts on both sides and
 * the content per spec.verify. Without the copy's own figures (a sharded run, whose shards copied
 * elsewhere), folded source rows are counted again only when the counts differ, and the sample is
 * drawn from the start of every key range.
 */
export async function finalizeCollection(
  w: CollectionWork,
  how: { shape: boolean; copy?: CopyOutcome; ranges?: KeyRange[] },
): Promise<void> {
  const { cp, cs, clients, input, log, changed } = w;
  const { source, target } = clients;
  // Verification reads wait out what the copy's reads wait out (a server gone for a while, rate
  // limits): a blip after a complete copy must not fail it.
  const reads = {
    source: retryingReads(source, `source ${cp.sourceName}`, log, w.opts.signal),
    target: retryingReads(target, `target ${cp.targetName}`, log, w.opts.signal),
  };
  const model = cp.model!;
  const spec = input.migration.spec;
  const regenerateKeys = regeneratesKeys(model);
  const warnings: string[] = [...cp.filled, ...(regenerateKeys ? [regeneratedWarning(model)] : [])];
  if (how.shape) await ensureTargetShape(cp, model, target, log);
  const kept = await describeTarget(target, cp.targetName, model.aliases);
  const wanted: CollectionModel = {
    ...model,
    name: cp.targetName,
    description: cp.description,
    schema: cp.targetSchema!,
  };
  for (const w of diffModels(wanted, kept)) warnings.push(`target did not keep: ${w}`);
  if (warnings.length) log.warn({ warnings }, 'target did not keep every schema element');
  if (w.opts.deferVerify) {
    cs.warnings = warnings.length ? warnings : undefined;
    cs.message = 'copied; catch-up passes follow, verified at cutover (spec.sync)';
    cs.phase = 'Succeeded';
    changed();
    return;
  }

  cs.phase = 'Verifying';
  changed();
  let fold = how.copy
    ? { folded: how.copy.result.folded, unreadable: how.copy.result.unreadable, byPartition: how.copy.folded }
    : { folded: 0, unreadable: 0, byPartition: new Map<string, number>() };
  // Counts with the folded rows known so far (fold changes below when the source is walked).
  const recount = () =>
    countBoth(reads.source, reads.target, model, cp.sourceName, cp.targetName, fold.byPartition);
  const tCount = Date.now();
  let counts = await recount();
  log.info(
    { sourceEntities: counts.sourceEntities, targetEntities: counts.targetEntities, ms: Date.now() - tCount },
    'counts verified',
  );
  if (!how.copy && (counts.targetEntities !== counts.sourceEntities || counts.partitionMismatches.length)) {
    // Rows counted on the source that no query returns (duplicate keys, 2^63-1) explain a difference.
    fold = await foldedOnSource(reads.source, model, cp.sourceName);
    if (fold.folded) counts = await recount();
  }
  const expected = counts.sourceEntities - fold.folded;
  if (!regenerateKeys && counts.targetEntities > expected) {
    // More rows than the source accounts for: keys stored twice or keys the source lacks.
    const owned = Boolean((await w.opts.state.load()).targets[targetKeyOf(input, cp)]);
    const r = await repairSurplus({
      ...clients,
      model,
      sourceName: cp.sourceName,
      targetName: cp.targetName,
      readFields: cp.readFields,
      owned,
      log,
    });
    if (r.repaired) {
      cs.repairedEntities = (cs.repairedEntities ?? 0) + r.repaired;
      counts = await recount();
    }
  }
  cs.sourceEntities = counts.sourceEntities;
  cs.targetEntities = counts.targetEntities;
  cs.copiedEntities = how.copy ? how.copy.onTarget : counts.targetEntities;
  cs.foldedEntities = fold.folded || undefined;
  if (fold.folded) {
    const dup = fold.folded - fold.unreadable;
    if (dup)
      warnings.push(
        `${dup} source rows share a primary key with another row: Milvus returns one row per key, so the target holds ${dup} fewer rows than count(*) on the source`,
      );
    if (fold.unreadable)
      warnings.push(
        `${fold.unreadable} source row(s) with key 9223372036854775807 (2^63-1) are counted by Milvus 2.3 but returned by no query, so no query-based copy can move them`,
      );
  }
  cs.warnings = warnings.length ? warnings : undefined;
  const rerun =
    counts.targetEntities < expected
      ? 'run the migration again: it writes only the keys missing on the target'
      : regenerateKeys
        ? `the target regenerated the keys, so surplus rows cannot be told apart by key: stop any other writer, drop the target collection "${cp.targetName}" and run again`
        : 'stop any other writer to the target and run the migration again: it finds rows stored twice or missing on the source key by key and repairs them';
  if (counts.targetEntities !== expected || counts.partitionMismatches.length) {
    await recordVerified(w, undefined);
    const found =
      `count mismatch: source count(*) ${counts.sourceEntities}${fold.folded ? ` (${fold.folded} folded)` : ''}, expected ${expected} on the target, found ${counts.targetEntities}` +
      `${counts.partitionMismatches.length ? `; ${counts.partitionMismatches.join('; ')}` : ''}`;
    // Only a shortfall can be filled in key by key, and only with keys to look up.
    const short = counts.targetEntities < expected && !counts.partitionSurplus;
    throw short && !regenerateKeys
      ? new CountShortfallError(found, rerun, expected - counts.targetEntities)
      : new VerificationError(`${found}: ${rerun}`);
  }
  const mode = spec.verify;
  if (mode !== 'count' && !regenerateKeys) {
    const keys = how.copy
      ? how.copy.sampler.sample()
      : await sampleKeys(reads.source, model, cp.sourceName, how.ranges ?? [{}]);
    const r =
      mode === 'full'
        ? await compareAll(reads.source, reads.target, model, cp.sourceName, cp.targetName, cp.readFields)
        : await compareKeys(
            reads.source,
            reads.target,
            model,
            cp.sourceName,
            cp.targetName,
            cp.readFields,
            keys,
          );
    if (r.differences.length) {
      await recordVerified(w, undefined);
      throw new VerificationError(
        `content mismatch after comparing ${r.compared} rows: ${r.differences.join('; ')}: a re-run does not rewrite rows that are already on the target; if the source changed during the copy (Milvus 2.3 has no snapshot reads), keep it quiet, drop the target collection "${cp.targetName}" and run again`,
      );
    }
    log.info({ mode, compared: r.compared }, 'content verified');
    cs.message = `verified: counts match, ${r.compared} rows compared field by field (${mode})`;
  } else {
    cs.message = regenerateKeys
      ? 'verified: counts match (keys were regenerated, rows cannot be matched by key)'
      : 'verified: counts match';
  }
  if (cs.repairedEntities)
    cs.message += `; ${cs.repairedEntities} keys stored twice or missing on the source were repaired`;
  await recordVerified(w, { sourceEntities: counts.sourceEntities, targetEntities: counts.targetEntities });
  cs.phase = 'Succeeded';
  changed();
}

/**
 * A migration of a source that keeps changing (spec.sync), in one process: the bulk copy, then
 * catch-up passes (sync.ts) every interval while the phase says Syncing, then, at cutover, a final
 * pass after the application stopped writing, verification, and Succeeded with the time the final
 * pass and its verification took: the write downtime.
 *
 * The watermark of spec.sync.changedField is taken before the bulk copy reads anything, so rows
 * updated while it ran are upserted by the first pass. It is kept in the state store with the
 * targets this migration created, so a restarted sync neither copies again nor loses it; a
 * collection found copied without a recorded watermark upserts every stamped row once.
 */
import type { MigrationInput } from '../api/input.js';
import type { CollectionStatus, MigrationStatus, SyncSpec } from '../api/migration.js';
import { applyPhaseConditions, now, pushError, summarize } from '../api/status.js';
import { errorText, reasonOf, UserError } from '../util/errors.js';
import { type Logger, logger as rootLogger } from '../util/logger.js';
import { type Clients, openClients } from './clients.js';
import { regeneratesKeys } from './collection.js';
import { runMigration } from './engine.js';
import { type CollectionPlan, planMigration, planProblems } from './planner.js';
import { retryingReads, sleep } from './retry.js';
import { type EngineOptions, initialStatus } from './stage.js';
import { type StateStore, targetKey } from './state.js';
import { changedWatermark, type PassOutcome, syncPass, syncProblem } from './sync.js';
import { compareAll, compareKeys, countBoth, foldedOnSource, KeySampler } from './verify.js';

export const DEFAULT_SYNC: SyncSpec = { interval: '5m', cutover: false };

export interface SyncRunOptions extends EngineOptions {
  /** Ends the passes after the current one (Ctrl-C); `signal` cancels a bulk copy in progress. */
  stop?: AbortSignal;
  /** Read before every pass: true runs the final pass and the cutover. */
  cutover: () => boolean;
  /** Called after every complete pass. */
  onPass?: (status: MigrationStatus, passes: { name: string; outcome: PassOutcome }[]) => void;
}

export function intervalMs(spec: SyncSpec): number {
  const m = /^(\d+)(s|m|h)$/.exec(spec.interval);
  if (!m) return 5 * 60_000;
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'];
}

function keyOf(input: MigrationInput, cp: CollectionPlan): string {
  const t = input.migration.spec.target;
  return targetKey(t.endpoint, t.database, cp.targetName);
}

/** Plans and refuses, before anything is written, collections that cannot be kept in sync. */
async function syncPlan(
  input: MigrationInput,
  clients: Clients,
  state: StateStore,
): Promise<CollectionPlan[]> {
  const p = await planMigration(input.migration, clients.source, clients.target, await state.load());
  const problems = planProblems(p);
  const sync = input.migration.spec.sync ?? DEFAULT_SYNC;
  for (const cp of p.collections) {
    if (!cp.model) continue;
    const why = syncProblem(cp.model, regeneratesKeys(cp.model), sync.changedField);
    if (why) problems.push(`${cp.sourceName}: ${why}`);
  }
  if (problems.length) throw new UserError(`nothing was written: ${problems.join(' | ')}`, 'SyncRefused');
  return p.collections;
}

/** The bulk copy (unless a run before did it), then passes until stopped or cut over. */
export async function runSync(input: MigrationInput, opts: SyncRunOptions): Promise<MigrationStatus> {
  const m = input.migration;
  const sync = m.spec.sync ?? DEFAULT_SYNC;
  const log = (opts.log ?? rootLogger).child({ migration: `${m.metadata.namespace}/${m.metadata.name}` });
  let status = initialStatus(input);
  const gen = status.observedGeneration;
  const emit = () => opts.onStatus?.(structuredClone(status));
  const fail = (err: unknown) => {
    pushError(status, errorText(err));
    applyPhaseConditions(status, 'Failed', reasonOf(err), errorText(err), gen);
    status.completionTime = now();
    emit();
    return status;
  };
  status.startTime = now();

  let clients: Clients;
  try {
    clients = openClients(input);
  } catch (err) {
    return fail(err);
  }
  try {
    let plans: CollectionPlan[];
    try {
      plans = await syncPlan(input, clients, opts.state);
      // Watermarks before the copy reads a row: what it then misses is at or above them.
      const st = await opts.state.load();
      st.sync ??= {};
      for (const cp of plans) {
        const key = keyOf(input, cp);
        if (st.sync[key]) continue;
        const watermark =
          sync.changedField && !cp.resume
            ? await changedWatermark(clients.source, cp.sourceName, sync.changedField)
            : undefined;
        st.sync[key] = { copied: false, ...(watermark !== undefined ? { watermark } : {}) };
      }
      await opts.state.save(st);
    } catch (err) {
      return fail(err);
    }

    const st = await opts.state.load();
    if (plans.some((cp) => !st.sync?.[keyOf(input, cp)]?.copied)) {
      status = await runMigration(input, { ...opts, deferVerify: true });
      if (status.phase !== 'Succeeded') return status;
      const after = await opts.state.load();
      for (const cp of plans) after.sync![keyOf(input, cp)]!.copied = true;
      await opts.state.save(after);
      log.info('bulk copy done: catch-up passes follow');
    } else {
      for (const cs of status.collections ?? []) cs.message = 'copied by an earlier run';
    }
    // Later passes see what the copy created: the plan now resumes into every target.
    plans = await syncPlan(input, clients, opts.state);
    status.sync ??= { passes: 0 };
    for (const cs of status.collections ?? []) cs.phase = 'Syncing';
    setSyncing(status, 'catch-up passes follow', gen);
    emit();

    const every = intervalMs(sync);
    for (;;) {
      const cutover = opts.cutover();
      // The final pass walks every source key: the sample verification compares a spread of them.
      const samplers = cutover ? plans.map(() => new KeySampler(1000)) : undefined;
      const roundStart = Date.now();
      let passes: { name: string; outcome: PassOutcome }[];
      try {
        passes = await passAll(input, clients, plans, status, opts, log, samplers);
      } catch (err) {
        if (opts.signal?.aborted) {
          setSyncing(status, 'stopped during a pass: the next run goes on from the last complete one', gen);
          emit();
          return status;
        }
        if (err instanceof UserError || cutover) return fail(err);
        // A failed pass (a server gone for a while) leaves the target as the last pass left it.
        pushError(status, `catch-up pass failed, retried at the next interval: ${errorText(err)}`);
        log.warn({ err: errorText(err) }, 'catch-up pass failed');
        emit();
        passes = [];
      }
      if (passes.length) {
        status.sync!.passes++;
        status.sync!.lastPassStart = new Date(roundStart).toISOString();
        status.sync!.lagSeconds = (Date.now() - roundStart) / 1000;
      }
      if (cutover && passes.length) {
        const passMs = Date.now() - roundStart;
        try {
          await verifyAll(input, clients, plans, status, opts, log, samplers!);
        } catch (err) {
          return fail(err);
        }
        delete status.sync!.nextPassAt;
        status.sync!.finalPassSeconds = passMs / 1000;
        status.sync!.cutoverSeconds = (Date.now() - roundStart) / 1000;
        for (const cs of status.collections ?? []) cs.phase = 'Succeeded';
        summarize(status);
        applyPhaseConditions(
          status,
          'Succeeded',
          'CutOver',
          `cut over: final pass ${(passMs / 1000).toFixed(1)} s, verified (${m.spec.verify}); the target holds what the source held when writes stopped`,
          gen,
        );
        status.completionTime = now();
        emit();
        return status;
      }
      if (passes.length) opts.onPass?.(structuredClone(status), passes);
      if (opts.stop?.aborted || opts.signal?.aborted) {
        setSyncing(status, 'stopped after a pass; run sync again to go on, or with --cutover to finish', gen);
        emit();
        return status;
      }
      const next = roundStart + every;
      status.sync!.nextPassAt = new Date(next).toISOString();
      emit();
      await waitUntil(next, opts);
      status.sync!.lagSeconds = status.sync!.lastPassStart
        ? (Date.now() - Date.parse(status.sync!.lastPassStart)) / 1000
        : undefined;
      if ((opts.stop?.aborted || opts.signal?.aborted) && !opts.cutover()) {
        setSyncing(
          status,
          'stopped between passes; run sync again to go on, or with --cutover to finish',
          gen,
        );
        emit();
        return status;
      }
    }
  } finally {
    clients.source.close();
    clients.target.close();
  }
}

function setSyncing(status: MigrationStatus, message: string, gen: number | undefined): void {
  summarize(status);
  applyPhaseConditions(status, 'Syncing', 'Syncing', message, gen);
}

/** Sleeps until `at`, ending early when stopped or when a cutover is asked for. */
async function waitUntil(at: number, opts: SyncRunOptions): Promise<void> {
  const stop =
    opts.stop && opts.signal ? AbortSignal.any([opts.stop, opts.signal]) : (opts.stop ?? opts.signal);
  while (Date.now() < at && !stop?.aborted && !opts.cutover()) {
    try {
      await sleep(Math.min(1000, at - Date.now()), stop);
    } catch {
      return;
    }
  }
}

/** One pass over every collection; the watermarks are kept after each. */
async function passAll(
  input: MigrationInput,
  clients: Clients,
  plans: CollectionPlan[],
  status: MigrationStatus,
  opts: SyncRunOptions,
  log: Logger,
  samplers?: KeySampler[],
): Promise<{ name: string; outcome: PassOutcome }[]> {
  const sync = input.migration.spec.sync ?? DEFAULT_SYNC;
  const out: { name: string; outcome: PassOutcome }[] = [];
  for (const [i, cp] of plans.entries()) {
    const cs = status.collections![i]!;
    const key = keyOf(input, cp);
    const st = await opts.state.load();
    const clog = log.child({ collection: cp.sourceName, target: cp.targetName });
    const outcome = await syncPass({
      source: retryingReads(clients.source, `source ${cp.sourceName}`, clog, opts.signal),
      target: clients.target,
      model: cp.model!,
      sourceName: cp.sourceName,
      targetName: cp.targetName,
      readFields: cp.readFields,
      owned: Boolean(st.targets[key]),
      ...(sync.changedField ? { changedField: sync.changedField } : {}),
      ...(st.sync?.[key]?.watermark !== undefined ? { watermark: st.sync[key]!.watermark } : {}),
      log: clog,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(samplers?.[i] ? { sampler: samplers[i] } : {}),
    });
    if (outcome.watermark !== undefined) {
      const after = await opts.state.load();
      after.sync ??= {};
      after.sync[key] = { copied: true, watermark: outcome.watermark };
      await opts.state.save(after);
    }
    recordPass(cs, outcome);
    out.push({ name: cp.sourceName, outcome });
  }
  return out;
}

function recordPass(cs: CollectionStatus, o: PassOutcome): void {
  cs.sync = {
    passes: (cs.sync?.passes ?? 0) + 1,
    added: o.added,
    deleted: o.deleted,
    updated: o.updated,
    passSeconds: o.ms / 1000,
    lastPassStart: o.startedAt,
    ...(o.watermark !== undefined ? { watermark: o.watermark } : {}),
  };
  cs.message = `last pass: ${o.added} added, ${o.deleted} deleted, ${o.updated} updated in ${(o.ms / 1000).toFixed(1)} s`;
}

/**
 * After the final pass: count(*) on both sides (rows Milvus folds explained), then rows as
 * spec.verify says, per collection; any difference fails the cutover with what differs.
 */
async function verifyAll(
  input: MigrationInput,
  clients: Clients,
  plans: CollectionPlan[],
  status: MigrationStatus,
  opts: SyncRunOptions,
  log: Logger,
  samplers: KeySampler[],
): Promise<void> {
  const mode = input.migration.spec.verify;
  for (const [i, cp] of plans.entries()) {
    const cs = status.collections![i]!;
    const model = cp.model!;
    const source = retryingReads(clients.source, `source ${cp.sourceName}`, log, opts.signal);
    const target = retryingReads(clients.target, `target ${cp.targetName}`, log, opts.signal);
    let counts = await countBoth(source, target, model, cp.sourceName, cp.targetName, new Map());
    let folded = 0;
    if (counts.targetEntities !== counts.sourceEntities || counts.partitionMismatches.length) {
      const f = await foldedOnSource(source, model, cp.sourceName);
      folded = f.folded;
      counts = await countBoth(source, target, model, cp.sourceName, cp.targetName, f.byPartition);
    }
    cs.sourceEntities = counts.sourceEntities;
    cs.targetEntities = counts.targetEntities;
    cs.copiedEntities = counts.targetEntities;
    cs.foldedEntities = folded || undefined;
    const expected = counts.sourceEntities - folded;
    if (counts.targetEntities !== expected || counts.partitionMismatches.length)
      throw new Error(
        `${cp.sourceName}: count mismatch after the final pass: source ${counts.sourceEntities}${folded ? ` (${folded} folded)` : ''}, target ${counts.targetEntities}${counts.partitionMismatches.length ? `; ${counts.partitionMismatches.join('; ')}` : ''}: the source was still being written to; stop every writer and cut over again`,
      );
    if (mode === 'count') continue;
    const r =
      mode === 'full'
        ? await compareAll(source, target, model, cp.sourceName, cp.targetName, cp.readFields)
        : await compareKeys(
            source,
            target,
            model,
            cp.sourceName,
            cp.targetName,
            cp.readFields,
            samplers[i]!.sample(),
          );
    if (r.differences.length)
      throw new Error(
        `${cp.sourceName}: content mismatch after the final pass (${r.compared} rows compared): ${r.differences.join('; ')}: rows updated in place are only caught with spec.sync.changedField; stop every writer and cut over again`,
      );
    cs.message = `cut over: counts match, ${r.compared} rows compared field by field (${mode})`;
  }
}

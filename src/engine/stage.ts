/**
 * The skeleton every stage of the engine runs (the whole migration, and each stage of a sharded
 * run): clients, plan, each collection in turn, the verdict in the status.
 */

import { type MigrationInput, userPasswords } from '../api/input.js';
import type { CollectionStatus, MigrationStatus } from '../api/migration.js';
import type { Reason } from '../api/reasons.js';
import { applyPhaseConditions, now, pushError, summarize } from '../api/status.js';
import { errorText, reasonOf, VerificationError } from '../util/errors.js';
import { type Logger, logger as rootLogger } from '../util/logger.js';
import { type Clients, openClients } from './clients.js';
import { type CollectionPlan, type Plan, planMigration, planProblems } from './planner.js';
import { applyRoles } from './roles.js';
import type { RowMover } from './row-mover.js';
import type { StateStore } from './state.js';
import { ensureTargetDatabase } from './target-database.js';
import { applyUsers } from './users.js';

export interface EngineOptions {
  state: StateStore;
  mover?: RowMover;
  /** Shards of each collection copied in parallel by the default mover (default spec.parallelism). */
  workers?: number;
  log?: Logger;
  signal?: AbortSignal;
  /** Called with a fresh copy of the status whenever it changes. */
  onStatus?: (s: MigrationStatus) => void;
  /**
   * The source is still written to (spec.sync): after the copy only the target's shape is made;
   * counts and rows are verified at cutover, after the final catch-up pass (see sync-run.ts).
   */
  deferVerify?: boolean;
}

export function initialStatus(input: MigrationInput): MigrationStatus {
  const status: MigrationStatus = {
    phase: 'Pending',
    observedGeneration: input.migration.metadata.generation,
    collections: input.migration.spec.collections.map((c) => ({
      name: c.name,
      targetName: c.targetName ?? c.name,
      phase: 'Pending',
      copiedEntities: 0,
    })),
    errors: [],
  };
  applyPhaseConditions(
    status,
    'Pending',
    'Planning',
    'checking source, target and collections',
    status.observedGeneration,
  );
  return status;
}

/** A stage's work on one collection of the plan (the same skeleton runs every stage). */
export interface CollectionWork {
  cp: CollectionPlan;
  cs: CollectionStatus;
  /** Position of the collection in the spec (and in a shard plan). */
  at: number;
  clients: Clients;
  input: MigrationInput;
  opts: EngineOptions;
  log: Logger;
  changed: () => void;
}

export interface StageDefinition {
  /** Recorded as the status' reason and message when every collection went through. */
  reason: Reason;
  doneMessage: (collections: number) => string;
  /** The Running condition's reason while collections are worked on. */
  runningReason: Reason;
  /**
   * count(*) of each collection on the source, asked for every collection right after the plan and
   * before the first row, so that progress has its whole total from the start.
   */
  sourceCount: (cp: CollectionPlan, at: number, clients: Clients) => Promise<number> | number;
  work: (w: CollectionWork) => Promise<void>;
}

/**
 * The skeleton of every stage: open clients, plan (and refuse with every problem before writing),
 * then each collection in turn — one failing does not stop the others — and the verdict.
 */
export async function runStage(
  input: MigrationInput,
  opts: EngineOptions,
  stage: StageDefinition,
): Promise<MigrationStatus> {
  const m = input.migration;
  const log = (opts.log ?? rootLogger).child({ migration: `${m.metadata.namespace}/${m.metadata.name}` });
  const status = initialStatus(input);
  const gen = status.observedGeneration;
  const emit = () => opts.onStatus?.(structuredClone(status));
  const fail = (reason: Reason, message: string, collection?: string) => {
    pushError(status, message, collection);
    applyPhaseConditions(status, 'Failed', reason, message, gen);
    status.completionTime = now();
    emit();
    return status;
  };
  status.startTime = now();
  emit();

  let clients: Clients;
  let passwords: Map<string, string> | undefined;
  try {
    passwords = userPasswords(input);
    clients = openClients(input);
  } catch (err) {
    return fail(reasonOf(err), errorText(err));
  }
  const { source, target } = clients;
  try {
    let thePlan: Plan;
    try {
      thePlan = await planMigration(
        m,
        source,
        target,
        await opts.state.load(),
        passwords && [...passwords.keys()],
      );
    } catch (err) {
      return fail(reasonOf(err), errorText(err));
    }
    const problems = planProblems(thePlan);
    if (problems.length) {
      for (const p of problems) pushError(status, p);
      return fail('PlanRefused', `nothing was written: ${problems.join(' | ')}`);
    }
    log.info({ source: thePlan.sourceVersion.raw, target: thePlan.targetVersion.raw }, 'plan accepted');
    if (thePlan.createDatabase) {
      let notKept: string[];
      try {
        notKept = await ensureTargetDatabase(input, thePlan.createDatabase);
      } catch (err) {
        return fail(
          reasonOf(err),
          `creating target database "${thePlan.createDatabase.name}" failed: ${errorText(err)}`,
        );
      }
      const warnings = [...thePlan.createDatabase.notes.slice(1), ...notKept];
      status.targetDatabase = {
        name: thePlan.createDatabase.name,
        created: now(),
        ...(warnings.length ? { warnings } : {}),
      };
      log.info({ database: thePlan.createDatabase.name, warnings }, 'target database created');
    }
    if (thePlan.roles) {
      let warnings: string[];
      try {
        warnings = await applyRoles(
          target,
          thePlan.roles,
          m.spec.source.database,
          m.spec.target.database,
          log,
        );
      } catch (err) {
        return fail(reasonOf(err), `creating the roles on the target failed: ${errorText(err)}`);
      }
      status.roles = {
        names: thePlan.roles.roles.map((r) => r.name),
        ...(warnings.length ? { warnings } : {}),
      };
    }
    if (thePlan.users && passwords) {
      let warnings: string[];
      try {
        warnings = await applyUsers(target, thePlan.users, passwords, log);
      } catch (err) {
        return fail(reasonOf(err), `creating the users on the target failed: ${errorText(err)}`);
      }
      status.users = {
        names: thePlan.users.users.map((u) => u.name),
        ...(warnings.length ? { warnings } : {}),
      };
    }
    for (const [i, cp] of thePlan.collections.entries())
      status.collections![i]!.sourceEntities = await stage.sourceCount(cp, i, clients);
    summarize(status);
    applyPhaseConditions(status, 'Running', stage.runningReason, 'copying collections', gen);
    emit();

    let verificationFailed = false;
    for (const [i, cp] of thePlan.collections.entries()) {
      const cs = status.collections![i]!;
      const clog = log.child({ collection: cp.sourceName, target: cp.targetName });
      try {
        await stage.work({
          cp,
          cs,
          at: i,
          clients,
          input,
          opts,
          log: clog,
          changed: () => {
            summarize(status);
            // The top-level phase says Verifying while a collection is being verified.
            const phase = cs.phase === 'Verifying' ? 'Verifying' : 'Running';
            if (status.phase !== phase) {
              applyPhaseConditions(
                status,
                phase,
                phase === 'Verifying' ? 'Verifying' : stage.runningReason,
                `${phase.toLowerCase()} ${cs.name}`,
                gen,
              );
            }
            emit();
          },
        });
      } catch (err) {
        if (opts.signal?.aborted) {
          cs.phase = 'Canceled';
          cs.message = 'canceled: what was copied stays on the target; run again to resume';
          for (const rest of status.collections!) if (rest.phase === 'Pending') rest.phase = 'Canceled';
          applyPhaseConditions(
            status,
            'Canceled',
            'Canceled',
            'canceled by the user; run again to resume without duplicates',
            gen,
          );
          status.completionTime = now();
          emit();
          return status;
        }
        cs.phase = 'Failed';
        cs.message = errorText(err);
        if (err instanceof VerificationError) verificationFailed = true;
        clog.error({ err: errorText(err) }, 'collection failed');
        pushError(status, cs.message, cs.name);
        emit();
      }
    }
    summarize(status);
    const failed = status.collections!.filter((c) => c.phase === 'Failed');
    if (failed.length) {
      return fail(
        verificationFailed ? 'VerificationFailed' : 'CopyFailed',
        `${failed.length} of ${status.collections!.length} collections failed (${failed.map((c) => c.name).join(', ')}): see errors; run again to complete what is missing`,
      );
    }
    applyPhaseConditions(
      status,
      'Succeeded',
      stage.reason,
      stage.doneMessage(status.collections!.length),
      gen,
    );
    status.completionTime = now();
    emit();
    return status;
  } finally {
    source.close();
    target.close();
  }
}

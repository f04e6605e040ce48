/**
 * `milvus-migrate worker`: what the operator's copy pod runs. Everything comes from the Job: the
 * MilvusMigration, the credentials, TLS files and the target collections this migration owns
 * (input.ts). Pods get no API access, so progress goes to stdout as
 * `MMSTATUS {json}` lines that the controller reads from the pod log.
 *
 * With spec.parallelism > 1 the same worker runs one stage of a sharded run (env MM_STAGE): `plan`
 * (prints the ShardPlan as one `MMPLAN {json}` line), `copy` (shard JOB_COMPLETION_INDEX of the
 * plan in MM_SHARD_PLAN; MM_SHARD_RESUME, MM_COMPLETED_INDEXES) or `finalize`.
 *
 * Its input is read in input.ts, its log protocol is protocol.ts.
 */
import type { MigrationStatus, ShardPlan } from '../api/migration.js';
import { applyPhaseConditions, now, pushError } from '../api/status.js';
import { runCopyStage, runFinalizeStage, runMigration, runPlanStage } from '../engine/engine.js';
import { FixedStateStore, targetKey } from '../engine/state.js';
import { runSync } from '../engine/sync-run.js';
import { errorText, reasonOf, UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { type Env, ownedTargets, syncState, workerInput } from './input.js';
import { PLAN_PREFIX, parseIndexes, parseShardPlan, STAGES, statusLine } from './protocol.js';
import { statusReporter } from './reporter.js';

export interface WorkerResult {
  status: MigrationStatus;
  exitCode: number;
}

/** Runs the migration; writes MMSTATUS lines (throttled) to `write`. */
export async function runWorker(opts: {
  env?: Env;
  secretsDir?: string;
  signal?: AbortSignal;
  write?: (line: string) => void;
  throttleMs?: number;
}): Promise<WorkerResult> {
  const env = opts.env ?? process.env;
  const write = opts.write ?? ((l: string) => process.stdout.write(`${l}\n`));
  const reporter = statusReporter((s) => write(statusLine(s)), opts.throttleMs ?? 2000);
  let status: MigrationStatus;
  try {
    const input = workerInput(env, opts.secretsDir);
    const t = input.migration.spec.target;
    const state = new FixedStateStore(t.endpoint, t.database, ownedTargets(env));
    const common = {
      state,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onStatus: reporter.report,
    };
    const stage = env.MM_STAGE;
    const sync = input.migration.spec.sync;
    if (sync && (stage === undefined || stage === '')) {
      // One pod for the whole sync: the bulk copy, passes until the controller replaces it with a
      // pod whose spec says cutover (the spec hash covers spec.sync), then the cutover.
      const st = await state.load();
      st.sync = {};
      for (const [name, r] of Object.entries(syncState(env)))
        st.sync[targetKey(t.endpoint, t.database, name)] = r;
      await state.save(st);
      status = await runSync(input, {
        ...common,
        cutover: () => sync.cutover,
        // Every pass is reported at once: the throttle must not hold the last one back a whole interval.
        onPass: reporter.now,
      });
    } else if (stage === undefined || stage === '') {
      status = await runMigration(input, common);
    } else if (stage === 'plan') {
      const r = await runPlanStage(input, { ...common, shards: input.migration.spec.parallelism });
      if (r.plan) write(`${PLAN_PREFIX}${JSON.stringify(r.plan)}`);
      status = r.status;
    } else if (stage === 'copy' || stage === 'finalize') {
      let plan: ShardPlan;
      try {
        plan = parseShardPlan(JSON.parse(env.MM_SHARD_PLAN ?? ''));
      } catch {
        throw new UserError(
          'MM_SHARD_PLAN is not a shard plan: the copy and finalize stages need one',
          'InvalidInput',
        );
      }
      if (stage === 'finalize') {
        status = await runFinalizeStage(input, { ...common, plan });
      } else {
        const index = /^\d+$/.test(env.JOB_COMPLETION_INDEX ?? '') ? Number(env.JOB_COMPLETION_INDEX) : -1;
        if (index < 0)
          throw new UserError(
            'JOB_COMPLETION_INDEX is not set: a copy stage runs in an Indexed Job',
            'InvalidInput',
          );
        if (parseIndexes(env.MM_COMPLETED_INDEXES).has(index)) {
          logger.info({ index }, 'this shard was completed by an earlier attempt: nothing to do');
          status = { phase: 'Succeeded', errors: [] };
          applyPhaseConditions(status, 'Succeeded', 'Copied', `shard ${index} was complete already`);
        } else {
          status = await runCopyStage(input, {
            ...common,
            plan,
            index,
            resume: env.MM_SHARD_RESUME === 'true',
          });
        }
      }
    } else {
      throw new UserError(`MM_STAGE "${stage}" is not one of ${STAGES.join(', ')}`, 'InvalidInput');
    }
  } catch (err) {
    logger.error({ reason: reasonOf(err) }, errorText(err));
    status = { phase: 'Failed', startTime: now(), completionTime: now(), errors: [] };
    pushError(status, errorText(err));
    applyPhaseConditions(status, 'Failed', reasonOf(err), errorText(err));
  }
  reporter.close();
  write(statusLine(status));
  const exitCode =
    status.phase === 'Succeeded' ? 0 : status.phase === 'Canceled' || status.phase === 'Syncing' ? 130 : 1;
  return { status, exitCode };
}

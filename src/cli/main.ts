#!/usr/bin/env node
/**
 * `milvus-migrate`: the engine from the command line, on the same YAML the operator reads.
 * Exit codes: 0 the migration Succeeded (or the plan is OK), 1 it Failed (or the plan has
 * problems), 2 the input is invalid, 130 canceled.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { MilvusClient } from '../adapters/milvus/client.js';
import { loadInputFiles, type MigrationInput } from '../api/input.js';
import { DURATION_PATTERN } from '../api/migration.js';
import { plan, runMigration } from '../engine/engine.js';
import { defaultStateDir, FileStateStore } from '../engine/state.js';
import { DEFAULT_SYNC, runSync } from '../engine/sync-run.js';
import { errorText, UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { productVersion } from '../util/version.js';
import { quietIpServerNameWarning } from '../util/warnings.js';
import { planJson, planText } from './plan-view.js';
import { ProgressView } from './progress-view.js';
import { forgetSelection, selectCollections } from './selection.js';

quietIpServerNameWarning();

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function readInput(files: string[]): MigrationInput {
  try {
    return loadInputFiles(files);
  } catch (err) {
    fail(err, 2);
  }
}

function fail(err: unknown, code: number): never {
  process.stderr.write(`milvus-migrate: ${errorText(err)}\n`);
  process.exit(code);
}

function stateStore(input: MigrationInput, dir: string | undefined): FileStateStore {
  const m = input.migration.metadata;
  return new FileStateStore(dir ?? defaultStateDir(), m.namespace, m.name);
}

/**
 * The migration's state store, locked for this process until it exits: one run of a migration at
 * a time, since two would write the same targets. A held lock ends the command with its reason.
 */
function lockedStateStore(
  input: MigrationInput,
  dir: string | undefined,
): { state: FileStateStore; unlock: () => void } {
  const state = stateStore(input, dir);
  let unlock: () => void;
  try {
    unlock = state.lock();
  } catch (err) {
    fail(err, 1);
  }
  process.on('exit', () => unlock());
  return { state, unlock };
}

const program = new Command()
  .name('milvus-migrate')
  .description('Migrate Milvus collections between clusters: exact schema, every row, verified.')
  .version(productVersion(), '-v, --version')
  .showHelpAfterError()
  // One prefix for every message this program writes, as for bad YAML.
  .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, 'milvus-migrate: ')) })
  // Usage mistakes are bad input like a bad YAML: exit 2 (commander would say 1).
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program
  .command('plan')
  .description(
    'Preview the target schema of every collection and every problem found; writes nothing anywhere.',
  )
  .requiredOption(
    '-f, --file <file>',
    'YAML with a MilvusMigration and its Secrets (repeatable)',
    collect,
    [],
  )
  .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
  .option('--state-dir <dir>', 'where runs remember the target collections they created', undefined)
  .action(async (o: { file: string[]; output: string; stateDir?: string }) => {
    let input = readInput(o.file);
    let p: Awaited<ReturnType<typeof plan>>;
    try {
      const state = stateStore(input, o.stateDir);
      input = (await selectCollections(input, state, false)).input;
      p = await plan(input, state);
    } catch (err) {
      fail(err, err instanceof UserError ? 2 : 1);
    }
    const spec = input.migration.spec;
    if (o.output === 'json') process.stdout.write(`${JSON.stringify(planJson(p), null, 2)}\n`);
    else
      process.stdout.write(
        `${planText(p, `${spec.source.endpoint}/${spec.source.database}`, `${spec.target.endpoint}/${spec.target.database}`)}\n`,
      );
    process.exitCode = planJson(p).ok ? 0 : 1;
  });

/** `run` and `sync`: the input files, the final status format and the state directory. */
function writingCommand(name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .requiredOption(
      '-f, --file <file>',
      'YAML with a MilvusMigration and its Secrets (repeatable)',
      collect,
      [],
    )
    .addOption(
      new Option('-o, --output <format>', 'final status format').choices(['text', 'json']).default('text'),
    )
    .option('--state-dir <dir>', 'where runs remember the target collections they created', undefined);
}

writingCommand(
  'run',
  'Run the migration here: create the targets, copy every row, verify. Re-running resumes.',
)
  .option(
    '-w, --workers <n>',
    'shards of each large collection copied in parallel (1-32; default: spec.parallelism)',
    parseWorkers,
  )
  .action(async (o: { file: string[]; output: string; stateDir?: string; workers?: number }) => {
    const input = readInput(o.file);
    if (input.migration.spec.sync)
      fail(
        new UserError(
          'spec.sync is set: a source that keeps changing is migrated with "milvus-migrate sync" (catch-up passes, then --cutover); remove spec.sync to copy once with "run"',
          'InvalidInput',
        ),
        2,
      );
    const view = new ProgressView();
    if (view.enabled && !process.env.LOG_LEVEL) logger.level = 'warn';
    const abort = new AbortController();
    const onSignal = (sig: string) => {
      if (abort.signal.aborted) process.exit(130);
      logger.warn({ signal: sig }, 'canceling: finishing the current request, then stopping');
      abort.abort(new Error(`canceled by ${sig}`));
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    const { state, unlock } = lockedStateStore(input, o.stateDir);
    let selected: Awaited<ReturnType<typeof selectCollections>>;
    try {
      selected = await selectCollections(input, state, true);
    } catch (err) {
      unlock();
      fail(err, 1);
    }
    view.start();
    let lastLogged = 0;
    const status = await runMigration(selected.input, {
      state,
      signal: abort.signal,
      ...(o.workers ? { workers: o.workers } : {}),
      onStatus: (s) => {
        view.update(s);
        if (!view.enabled && Date.now() - lastLogged > 5000) {
          lastLogged = Date.now();
          logger.info(
            {
              phase: s.phase,
              progress: s.progress,
              collections: s.collections?.map(
                (c) => `${c.name}:${c.phase}:${c.copiedEntities}/${c.sourceEntities ?? '?'}`,
              ),
            },
            'progress',
          );
        }
      },
    });
    view.stop();
    if (selected.selection) status.collectionSelection = selected.selection;
    if (status.phase === 'Succeeded') await forgetSelection(state);
    unlock();
    if (o.output === 'json') process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    else process.stdout.write(`${statusText(status)}\n`);
    process.exitCode = status.phase === 'Succeeded' ? 0 : status.phase === 'Canceled' ? 130 : 1;
  });

writingCommand(
  'sync',
  'Copy, then keep the target following a source that is still written to (catch-up passes every spec.sync.interval) until Ctrl-C; with --cutover, end with a final pass and verification.',
)
  .option('--cutover', 'the application has stopped writing: final pass, verify, exit (spec.sync.cutover)')
  .option(
    '--interval <duration>',
    'time between pass starts, e.g. 30s, 5m (default: spec.sync.interval)',
    parseInterval,
  )
  .action(
    async (o: {
      file: string[];
      output: string;
      stateDir?: string;
      cutover?: boolean;
      interval?: string;
    }) => {
      const input = readInput(o.file);
      const spec = input.migration.spec;
      spec.sync = {
        ...(spec.sync ?? DEFAULT_SYNC),
        ...(o.interval ? { interval: o.interval } : {}),
        ...(o.cutover ? { cutover: true } : {}),
      };
      const abort = new AbortController();
      const stop = new AbortController();
      let syncing = false;
      const onSignal = (sig: string) => {
        if (stop.signal.aborted) process.exit(130);
        stop.abort(new Error(`stopped by ${sig}`));
        if (syncing) logger.warn({ signal: sig }, 'stopping after the current pass (again to stop at once)');
        else {
          logger.warn({ signal: sig }, 'canceling the copy: finishing the current request, then stopping');
          abort.abort(new Error(`canceled by ${sig}`));
        }
      };
      process.on('SIGINT', () => onSignal('SIGINT'));
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      const { state, unlock } = lockedStateStore(input, o.stateDir);
      let lastLogged = 0;
      const status = await runSync(input, {
        state,
        signal: abort.signal,
        stop: stop.signal,
        cutover: () => spec.sync?.cutover === true,
        onStatus: (s) => {
          syncing = s.phase === 'Syncing';
          if (!syncing && Date.now() - lastLogged > 5000) {
            lastLogged = Date.now();
            logger.info({ phase: s.phase, progress: s.progress }, 'progress');
          }
        },
        onPass: (s, passes) => {
          const lines = passes.map(
            ({ name, outcome: p }) =>
              `  ${name}: +${p.added} -${p.deleted} ~${p.updated} in ${(p.ms / 1000).toFixed(1)} s`,
          );
          process.stderr.write(
            `pass ${s.sync?.passes ?? 0} done, lag ${(s.sync?.lagSeconds ?? 0).toFixed(1)} s\n${lines.join('\n')}\n`,
          );
        },
      });
      unlock();
      if (o.output === 'json') process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      else process.stdout.write(`${statusText(status)}\n`);
      process.exitCode =
        status.phase === 'Succeeded' || status.phase === 'Syncing'
          ? 0
          : status.phase === 'Canceled'
            ? 130
            : 1;
    },
  );

program
  .command('ping')
  .description(
    'Connect to one Milvus endpoint and print the version it reports (no credentials: for reachability checks).',
  )
  .requiredOption('--endpoint <endpoint>', 'host:port, http://host:port or https://host[:port]')
  .option('--database <db>', 'database', 'default')
  .option('--username <user>', 'user name (the password is read from MILVUS_PASSWORD)')
  .action(async (o: { endpoint: string; database: string; username?: string }) => {
    let c: MilvusClient | undefined;
    try {
      c = new MilvusClient({
        side: 'server',
        endpoint: o.endpoint,
        database: o.database,
        credentials: o.username
          ? { username: o.username, password: process.env.MILVUS_PASSWORD ?? '' }
          : undefined,
        timeoutMs: 15_000,
      });
      process.stdout.write(`${await c.getVersion()}\n`);
    } catch (err) {
      fail(err, err instanceof UserError ? 2 : 1);
    } finally {
      c?.close();
    }
  });

program
  .command('worker')
  .description(
    'Run one migration inside an operator copy pod (input from the environment; see src/worker/worker.ts).',
  )
  .action(async () => {
    const { runWorker } = await import('../worker/worker.js');
    const abort = new AbortController();
    const onSignal = (sig: string) => {
      logger.warn({ signal: sig }, 'canceling: finishing the current request, then stopping');
      abort.abort(new Error(`canceled by ${sig}`));
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
    const { exitCode } = await runWorker({ signal: abort.signal });
    process.exitCode = exitCode;
  });

program
  .command('controller')
  .description('Run the Kubernetes operator: watch MilvusMigrations and run their copy Jobs.')
  .action(async () => {
    const { runController } = await import('../controller/controller.js');
    await runController();
  });

function statusText(s: Awaited<ReturnType<typeof runMigration>>): string {
  const lines = [`phase ${s.phase}  progress ${s.progress ?? '-'}`];
  if (s.sync)
    lines.push(
      `  sync: ${s.sync.passes} passes, last started ${s.sync.lastPassStart ?? '-'}${s.sync.cutoverSeconds !== undefined ? `, cutover ${s.sync.cutoverSeconds.toFixed(1)} s (final pass ${s.sync.finalPassSeconds?.toFixed(1)} s)` : ''}`,
    );
  for (const c of s.collections ?? []) {
    lines.push(
      `  ${c.name} -> ${c.targetName}: ${c.phase}, source ${c.sourceEntities ?? '?'}, copied ${c.copiedEntities}, target ${c.targetEntities ?? '?'}${c.message ? ` — ${c.message}` : ''}`,
    );
    for (const w of c.warnings ?? []) lines.push(`    warning: ${w}`);
  }
  for (const e of s.errors ?? [])
    lines.push(`  error ${e.time}${e.collection ? ` [${e.collection}]` : ''}: ${e.message}`);
  return lines.join('\n');
}

program.parseAsync(process.argv).catch((err: unknown) => fail(err, 1));

function parseInterval(v: string): string {
  if (!DURATION_PATTERN.test(v))
    throw new InvalidArgumentError(`"${v}" is not a duration: a whole number followed by s, m or h, e.g. 5m`);
  return v;
}

function parseWorkers(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 32) {
    throw new InvalidArgumentError(`"${v}" is not a whole number from 1 to 32`);
  }
  return n;
}

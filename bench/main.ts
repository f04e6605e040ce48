/**
 * `npm run bench` (issue 7, item 4): copy throughput between two local Milvus 2.3.5 servers.
 *
 *   npm run bench -- [--rows 200000] [--dim 768] [--workers 4] [--skip naive,engine-n]
 *                    [--json FILE] [--cli dist/cli/main.js] [--page-mb 16] [--insert-mb 24]
 *
 * Starts a source and a target server (test/support/milvus-server.ts), seeds the source with
 * deterministic rows (pk Int64, vec FloatVector(dim), tag VarChar(64); flushed, FLAT index,
 * loaded), then measures, each in its own process and each into a fresh target collection that is
 * verified with count(*) and dropped afterwards:
 *   read ceiling, write ceiling, the naive SDK copy, the engine (CLI) with 1 and with N workers.
 * Prints a table and the ratios against the issue's targets. See docs/performance.md.
 *
 * config.ts: the command line and the Row of a path; fixtures.ts: servers, seeding, the target
 * between paths; runner.ts: one path in its own process; report.ts: tables and ratios.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../test/support/milvus-server.js';
import {
  argv,
  type Build,
  CLI,
  COMPARE,
  CONTENDERS,
  DIM,
  IN_FLIGHT,
  out,
  PATHS,
  type PathName,
  READ_ROWS,
  ROUNDS,
  ROWS,
  type Row,
  SKIP,
  SOURCE,
  say,
  TARGET_STATE,
  WORKERS,
  WRITE_ROWS,
} from './config.js';
import {
  admin,
  emptyTarget,
  idleCpuPerS,
  linked,
  measureIdle,
  querySegments,
  seed,
  start,
  stopAll,
  stopping,
  waitForFile,
  waitIdle,
} from './fixtures.js';
import { loadAvg } from './measure.js';
import { buildOf, medians, ratios, ratioText, table, usableTable } from './report.js';
import { cliHasWorkers, runEngine, runPath, runPeer } from './runner.js';
import { payloadBytes, selfCheck, TAG_MAX } from './wire.js';

// ---- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  selfCheck();
  const t0 = Date.now();
  if (!fs.existsSync(CLI)) {
    if (CLI !== path.join(REPO_ROOT, 'dist', 'cli', 'main.js')) throw new Error(`--cli ${CLI}: no such file`);
    say('building dist/ (npm run build)');
    execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 2, 2] });
  }
  const hasWorkers = cliHasWorkers();
  const bytes = payloadBytes(ROWS, DIM);
  const uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  const header = [
    `milvus-migrate bench  ${new Date().toISOString()}`,
    `data: ${ROWS} rows x (pk Int64, vec FloatVector(${DIM}), tag VarChar(${TAG_MAX})) = ${(bytes / 1e6).toFixed(1)} MB of column data (MB = 1e6 bytes: 8 + 4*dim + tag bytes per row, the same for every path)`,
    `machine: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}; uptime: ${uptime}`,
    `engine: ${path.relative(REPO_ROOT, CLI) || CLI} (${buildOf(CLI)}), --workers ${hasWorkers ? `supported, N = ${WORKERS}` : 'not supported by this build'}`,
    `ceilings: read pages ${READ_ROWS} rows, inserts ${WRITE_ROWS} rows per request, ${IN_FLIGHT} in flight; naive: SDK queryIterator batchSize ${READ_ROWS}; write and naive targets ${TARGET_STATE === 'empty' ? 'empty (no index, not loaded) during the copy, indexed and loaded afterwards' : 'indexed and loaded before the copy'}`,
  ];
  for (const h of header) say(h);

  say('installing / checking the Milvus 2.3.5 venv (test/setup/milvus/install.sh)');
  execFileSync('bash', [path.join(REPO_ROOT, 'test/setup/milvus/install.sh'), 'milvus-2.3.5'], {
    stdio: ['ignore', 2, 2],
  });
  const [src, dst] = await Promise.all([start('bench-source'), start('bench-target')]);
  say(`source ${src.endpoint} (${src.version}), target ${dst.endpoint} (${dst.version})`);
  const rows: Row[] = [];
  try {
    await seed(src);
    if (argv['wait-for']) {
      await waitForFile(argv['wait-for']);
      // The build may have changed while we waited: the table is of this one.
      header[3] = `engine: ${path.relative(REPO_ROOT, CLI) || CLI} (${buildOf(CLI)}) when the measuring began, --workers N = ${WORKERS}`;
      say(header[3]);
    }
    const link = await linked(src, dst);
    header.push(`link: ${link.text}`);
    say(header.at(-1)!);
    await measureIdle();
    say(`servers idle: ${idleCpuPerS.toFixed(2)} CPU-s per s together`);
    const contenders: [PathName, Build][] = CONTENDERS.filter((p) => !SKIP.has(p)).flatMap((p) =>
      p === 'peer' ? [[p, undefined]] : [[p, undefined], ...COMPARE.map((b): [PathName, Build] => [p, b])],
    );
    const plan: [PathName, number | undefined, Build][] = PATHS.filter(
      (p) => !CONTENDERS.includes(p) || SKIP.has(p),
    ).map((p) => [p, undefined, undefined]);
    // Alternating order: peer, engine-1, engine-n, then engine-n, engine-1, peer, …
    for (let r = 1; r <= ROUNDS; r++)
      for (const [p, b] of r % 2 ? contenders : [...contenders].reverse())
        plan.push([p, ROUNDS > 1 ? r : undefined, b]);
    for (const [p, round, build] of plan) {
      if (stopping) break;
      if (SKIP.has(p)) {
        rows.push({ path: p, label: p, skipped: '--skip' });
        continue;
      }
      try {
        await emptyTarget(dst);
        const idle: Row = { path: p, label: p };
        await waitIdle(idle);
        const a = admin(src);
        const before = await querySegments(a, SOURCE);
        const row =
          p === 'engine-1' || p === 'engine-n'
            ? await runEngine(
                p,
                link.src,
                link.dst,
                bytes,
                build ? cliHasWorkers(build.cli) : hasWorkers,
                build,
              )
            : p === 'peer'
              ? await runPeer(link.dst, link.src, bytes)
              : await runPath(p, link.src, link.dst, bytes);
        row.idleWaitS = idle.idleWaitS;
        row.idle = idle.idle;
        if (round !== undefined) {
          row.round = round;
          row.label = `${row.label} #${round}`;
        }
        row.sourceSegments = { before, after: await querySegments(a, SOURCE) };
        a.close();
        if (row.sourceSegments.before.join() !== row.sourceSegments.after.join())
          say(
            `${row.label}: the source's loaded segments changed during the path: ${JSON.stringify(row.sourceSegments)}`,
          );
        if (!row.idle && !row.skipped)
          say(`${row.label}: the servers were not idle after ${row.idleWaitS} s of waiting; measured anyway`);
        rows.push(row);
      } catch (err) {
        rows.push({ path: p, label: p, round, error: err instanceof Error ? err.message : String(err) });
      }
    }
  } finally {
    await stopAll();
  }
  const med = medians(rows);
  const rs = ratios(med);
  out('');
  for (const h of header) out(h);
  out(`load average at the end: ${loadAvg()}; total bench time ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  out('');
  out(table(rows, ['src', 'dst']));
  out('');
  out(
    'wall s: the copy window (copy loop timed inside the process; engine: from its "copy started" log line, or "target shape ensured" in older builds, to its last "copy done"); process s: the whole process.',
  );
  out(
    `CPU s, CPU s/GB, peak RSS: the whole copy process (getrusage at exit, start-up included); copy CPU s/GB: its CPU inside the copy window only; src/dst CPU s: the servers over the whole process lifetime; other CPU s: everything else on the machine meanwhile (the machine has ${os.cpus().length} cores x process s of CPU).`,
  );
  const cores = os.cpus().length;
  for (const r of rows) {
    if (r.otherCpuS === undefined || !r.processS) continue;
    const share = r.otherCpuS / (cores * r.processS);
    if (share > 0.15)
      out(
        `note: other work on the machine took ${(share * 100).toFixed(0)} % of the ${cores} cores during "${r.label}": its figures are depressed by it`,
      );
  }
  for (const r of rows.filter((x) => x.error))
    out(`ERROR in ${r.label}: ${r.error}${r.logs ? ` (output kept in ${r.logs})` : ''}`);
  out('');
  out(
    `time to a usable target${ROUNDS > 1 ? ` (medians of ${ROUNDS} alternating rounds; each path on an emptied, idle target)` : ''}: the whole process, then the bench's same steps for every path: flush, FLAT index unless there is one (waited until it covers every row), load unless loaded, Strong count(*)`,
  );
  out(usableTable(med));
  out('');
  out('timelines (seconds from the process start):');
  for (const r of rows.filter((x) => x.timeline))
    out(
      `  ${r.label}: ${r.timeline}${r.idleWaitS !== undefined ? ` [waited ${r.idleWaitS.toFixed(0)} s for idle servers${r.idle ? '' : ', not reached'}]` : ''}`,
    );
  out('');
  out(ratioText(rs));
  if (argv.json) {
    fs.writeFileSync(
      argv.json,
      `${JSON.stringify(
        {
          header,
          config: {
            rows: ROWS,
            dim: DIM,
            workers: WORKERS,
            readRows: READ_ROWS,
            writeRows: WRITE_ROWS,
            inFlight: IN_FLIGHT,
            payloadBytes: bytes,
            cli: CLI,
          },
          results: rows,
          ratios: rs,
        },
        null,
        2,
      )}\n`,
    );
    say(`JSON written to ${argv.json}`);
  }
  if (rows.some((r) => r.error)) process.exitCode = 1;
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  await stopAll();
  process.exit(1);
});

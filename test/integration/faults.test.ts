/**
 * Exactly once under network faults: the real CLI copies Milvus 2.3.5 → Milvus 2.3.5 through
 * Toxiproxy (a real TCP fault proxy, test/support/toxiproxy.ts), one proxy in front of each
 * server, and a fault is put on the source's connections (hitting Query) or the target's (hitting
 * Insert) in the middle of the copy: connections reset before or after the server got the request,
 * cut in the middle of a reply, stalled past the deadline, slowed down, cut into slices, and a
 * server that goes away and comes back. Every case must end Succeeded with the target equal to
 * the source row for row (read back with the official SDK, not the engine's verify code) and every
 * key once (count(*) equal to the distinct keys). Also: a target that stays away stops the run
 * quickly with the key range named, and the re-run completes it.
 *
 * Every call goes through grpc-js: the kind of each failure and whether the request may have run
 * (errors.ts, MilvusError.ambiguous) are inferred from its status in MilvusClient.translate.
 */

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MilvusClient } from '../../src/adapters/milvus/client.js';
import { LoadState } from '../../src/adapters/milvus/proto.js';
import { ensureBuilt, migrationYaml, runCli, startCli, yamlFile } from '../support/cli.js';
import { sdk } from '../support/compare.js';
import { rng, vector } from '../support/fixtures.js';
import { type MilvusTestServer, startMilvus } from '../support/milvus-server.js';
import {
  admin,
  type CollectionDef,
  createCollection,
  indexAndLoad,
  insertRows,
  type Row,
} from '../support/rows.js';
import { startToxiproxy, type Toxic, type Toxiproxy } from '../support/toxiproxy.js';

const ROWS = 3000;
/** The rows of SOURCE, for a second source server. */
let sourceRows: Row[] = [];
const SOURCE: CollectionDef = {
  name: 'faults_src',
  fields: [
    { name: 'id', type: 'Int64', primary: true },
    { name: 'vec', type: 'FloatVector', dim: 32 },
    { name: 'text', type: 'VarChar', maxLength: 2048 },
    { name: 'n', type: 'Int64' },
  ],
  shards: 2,
};
const AUTO: CollectionDef = {
  name: 'faults_auto',
  fields: [
    { name: 'id', type: 'Int64', primary: true, autoID: true },
    { name: 'vec', type: 'FloatVector', dim: 32 },
    { name: 'text', type: 'VarChar', maxLength: 2048 },
    { name: 'n', type: 'Int64' },
  ],
};

let src: MilvusTestServer;
let dst: MilvusTestServer;
let srcAdmin: MilvusClient;
let dstAdmin: MilvusClient;
let toxi: Toxiproxy;
const stateDir = mkdtempSync(path.join(tmpdir(), 'mm-faults-state-'));
/** One line per case for the report: what the fault did and what the engine did. */
const report: string[] = [];

// Small pages (about 100 rows) with a pause between them: a copy of 3000 rows takes a few seconds,
// long enough to put a fault in the middle of it. A short deadline makes stalls fail fast.
const ENV = {
  LOG_LEVEL: 'debug',
  MILVUS_MIGRATE_PAGE_BYTES: String(64 * 1024),
  MILVUS_MIGRATE_PAGE_DELAY_MS: '60',
  MILVUS_MIGRATE_CALL_TIMEOUT_MS: '4000',
  MILVUS_MIGRATE_SERVER_GONE_MS: '20000',
};

beforeAll(async () => {
  ensureBuilt();
  [src, dst, toxi] = await Promise.all([
    startMilvus({ kind: 'milvus-2.3.5', name: 'faults-src' }),
    startMilvus({ kind: 'milvus-2.3.5', name: 'faults-dst' }),
    startToxiproxy(),
  ]);
  srcAdmin = admin(src.endpoint);
  dstAdmin = admin(dst.endpoint);
  const r = rng(13);
  const rows: Row[] = Array.from({ length: ROWS }, (_v, i) => ({
    id: BigInt(i * 7 - 5000),
    vec: vector(r, 32),
    text: `row ${i} `.padEnd(100 + Math.floor(r() * 500), String.fromCharCode(97 + (i % 26))),
    n: BigInt(i),
  }));
  sourceRows = rows;
  await createCollection(srcAdmin, SOURCE);
  await insertRows(srcAdmin, SOURCE, rows);
  await indexAndLoad(srcAdmin, SOURCE.name, 'vec');
  await createCollection(srcAdmin, AUTO);
  await insertRows(
    srcAdmin,
    AUTO,
    rows.map((row) => ({ vec: row.vec, text: row.text, n: row.n })),
  );
  await indexAndLoad(srcAdmin, AUTO.name, 'vec');
}, 600_000);

/** A proxy in front of each server for one case (`src<tag>`, `dst<tag>`): cases run side by side. */
async function proxiesFor(
  tag: string,
  target: MilvusTestServer = dst,
  source: MilvusTestServer = src,
): Promise<{ src: string; dst: string }> {
  return {
    src: await toxi.proxy(`src${tag}`, source.endpoint),
    dst: await toxi.proxy(`dst${tag}`, target.endpoint),
  };
}

afterAll(async () => {
  console.log(`\nfault report (${ROWS} source rows per case)\n${report.join('\n')}\n`);
  srcAdmin?.close();
  dstAdmin?.close();
  await Promise.all([src?.stop(), dst?.stop(), toxi?.stop()]);
});

interface Fault {
  name: string;
  /** Which proxy: the source's (Query) or the target's (Insert). */
  side: 'src' | 'dst';
  /** A toxic, or the proxy disabled (a server that went away) for `holdMs`, or the server restarted. */
  toxic?: Toxic;
  down?: boolean;
  restart?: boolean;
  /** How long the fault stays at most (it is removed earlier once the engine saw it fail). */
  holdMs: number;
  /** The fault makes calls fail (rather than only slowing them). */
  fails: boolean;
}

const FAULTS: Omit<Fault, 'side'>[] = [
  {
    name: 'reset before the server got the request',
    toxic: { type: 'reset_peer', stream: 'upstream', attributes: { timeout: 0 } },
    holdMs: 1500,
    fails: true,
  },
  {
    name: 'reset after the server got the request (reply lost)',
    toxic: { type: 'reset_peer', stream: 'downstream', attributes: { timeout: 0 } },
    holdMs: 1500,
    fails: true,
  },
  {
    name: 'connection cut mid-reply (limit_data)',
    toxic: { type: 'limit_data', stream: 'downstream', attributes: { bytes: 3000 } },
    holdMs: 1500,
    fails: true,
  },
  {
    name: 'replies stalled past the deadline',
    toxic: { type: 'timeout', stream: 'downstream', attributes: { timeout: 0 } },
    holdMs: 6000,
    fails: true,
  },
  {
    name: 'requests delayed past the deadline (latency 5 s)',
    toxic: { type: 'latency', stream: 'upstream', attributes: { latency: 5000, jitter: 0 } },
    holdMs: 6000,
    fails: true,
  },
  {
    name: 'slow answers (latency 800 ms)',
    toxic: { type: 'latency', stream: 'downstream', attributes: { latency: 800, jitter: 200 } },
    holdMs: 3000,
    fails: false,
  },
  {
    name: 'narrow link (bandwidth 200 KB/s)',
    toxic: { type: 'bandwidth', stream: 'downstream', attributes: { rate: 200 } },
    holdMs: 3000,
    fails: false,
  },
  {
    name: 'replies in tiny slices',
    toxic: {
      type: 'slicer',
      stream: 'downstream',
      attributes: { average_size: 64, size_variation: 32, delay: 200 },
    },
    holdMs: 3000,
    fails: false,
  },
  {
    name: 'server gone for 3 s and back (refused, then reconnect)',
    down: true,
    holdMs: 3000,
    fails: true,
  },
];

/** Puts a toxic (or a down proxy) in, and takes it out once it did its work or holdMs passed. */
async function putFault(proxy: string, fault: Fault, failed: () => boolean): Promise<void> {
  if (fault.down) await toxi.enable(proxy, false);
  else await toxi.add(proxy, 'fault', fault.toxic!);
  if (fault.fails && !fault.down) {
    // A failing toxic stays until the engine saw a call fail (and a little longer), at most holdMs.
    const end = Date.now() + fault.holdMs;
    while (!failed() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
  } else {
    await new Promise((r) => setTimeout(r, fault.holdMs));
  }
  if (fault.down) await toxi.enable(proxy, true);
  else await toxi.remove(proxy, 'fault');
}

interface Outcome {
  code: number | null;
  status: {
    phase: string;
    collections: { name: string; message?: string; targetEntities?: number; warnings?: string[] }[];
  };
  stderr: string;
  ms: number;
  retries: number;
  ambiguous: number;
  landed: number;
  faultSeen: boolean;
  /** The migration's file, for a re-run. */
  file: string;
}

let serial = 0;
/** Copies under a fault running at once: two keep a 2-core machine busy without starving stalls. */
let slots = 2;
const waiting: (() => void)[] = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  while (slots === 0) await new Promise<void>((r) => waiting.push(r));
  slots--;
  try {
    return await fn();
  } finally {
    slots++;
    waiting.shift()?.();
  }
}

/** Runs the CLI for one collection through the proxies, puts `fault` in after a few pages. */
async function copyUnderFault(
  collection: string,
  targetName: string,
  fault: Fault,
  env: Record<string, string> = {},
  target: MilvusTestServer = dst,
  source: MilvusTestServer = src,
): Promise<Outcome> {
  const tag = String(serial++);
  const proxies = await proxiesFor(tag, target, source);
  const proxy = `${fault.side}${tag}`;
  const file = yamlFile(
    migrationYaml({
      name: `faults-${tag}`,
      source: proxies.src,
      target: proxies.dst,
      collections: [{ name: collection, targetName }],
      verify: 'sample',
    }),
  );
  const t0 = Date.now();
  const child = startCli(['run', '-f', file, '--state-dir', stateDir, '-o', 'json'], { ...ENV, ...env });
  let stdout = '';
  let stderr = '';
  let pages = 0;
  let failures = 0;
  // A failed call shows as the engine's retry, the client's own retry of a read, or a lookup.
  const failed = /: retrying"|: trying again"|insert failed after it was sent/;
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    const text = String(d);
    stderr += text;
    pages += text.split('"page copied"').length - 1;
    for (const line of text.split('\n')) if (failed.test(line)) failures++;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const until = async (cond: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!cond() && !done && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  };
  await until(() => pages >= 4, 60_000);
  expect(done, `the copy ended before the fault was put in:\n${stderr.slice(-2000)}`).toBe(false);
  const before = failures;
  if (fault.restart) {
    await (fault.side === 'src' ? source : target).restart(280_000);
  } else {
    await putFault(proxy, fault, () => failures > before);
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
  const code = await exited;
  clearTimeout(timer);
  const lines = stderr.split('\n').filter((l) => l.startsWith('{'));
  const parsed = lines.map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return {};
    }
  });
  const lookups = parsed.filter((l) => String(l.msg).startsWith('insert failed after it was sent'));
  let status: Outcome['status'] = { phase: 'none', collections: [] };
  try {
    status = JSON.parse(stdout);
  } catch {
    // checked below
  }
  return {
    code,
    status,
    stderr,
    ms: Date.now() - t0,
    retries: parsed.filter((l) => String(l.msg).endsWith(': retrying')).length,
    ambiguous: lookups.length,
    landed: lookups.reduce((n, l) => n + Number(l.landed ?? 0), 0),
    faultSeen: failures > before,
    file,
  };
}

/** Every row of a collection in one SDK query (the collections here hold < 16384 rows). */
async function allRows(
  endpoint: string,
  collection: string,
): Promise<{ rows: Map<string, unknown>; count: number }> {
  const c = sdk({ endpoint });
  try {
    const res = await c.query({
      collection_name: collection,
      filter: 'id > -9223372036854775807',
      output_fields: ['*'],
      limit: 16384,
      consistency_level: 'Strong' as never,
    });
    if (res.status.error_code !== 'Success') throw new Error(`sdk query: ${res.status.reason}`);
    const counted = await c.count({
      collection_name: collection,
      consistency_level: 'Strong' as never,
    } as never);
    return { rows: new Map(res.data.map((r) => [String(r.id), r])), count: Number(counted.data) };
  } finally {
    await c.closeConnection();
  }
}

/**
 * The target equals the source row for row, and holds every key once (count(*) = distinct keys).
 * Read with the official Node SDK, not with the engine's code.
 */
async function expectExactCopy(
  targetName: string,
  target: MilvusTestServer = dst,
  source: MilvusTestServer = src,
): Promise<number> {
  const [s, t] = await Promise.all([
    allRows(source.endpoint, SOURCE.name),
    allRows(target.endpoint, targetName),
  ]);
  expect(t.count, 'count(*) on the target = distinct keys (no duplicates)').toBe(t.rows.size);
  expect(t.rows.size).toBe(s.rows.size);
  for (const [k, row] of s.rows) expect(t.rows.get(k), `row ${k}`).toEqual(row);
  return t.count;
}

/** One report line, written before the checks so that a failing build is measured too. */
async function record(
  kind: string,
  o: Outcome,
  targetName: string,
  target: MilvusTestServer = dst,
): Promise<void> {
  const t = await allRows(target.endpoint, targetName).catch(() => ({ count: -1, rows: new Map() }));
  report.push(
    `${kind.padEnd(70)} ${o.status.phase.padEnd(9)} ${String(Math.round(o.ms / 100) / 10).padStart(5)} s  retries ${o.retries}  ambiguous inserts ${o.ambiguous} (rows already landed ${o.landed})  target ${t.count} rows, ${t.rows.size} distinct keys`,
  );
}

const cases: [string, Fault, Record<string, string>][] = [];
for (const f of FAULTS) {
  for (const side of ['src', 'dst'] as const) {
    cases.push([`${side === 'src' ? 'Query' : 'Insert'}: ${f.name}`, { ...f, side }, {}]);
  }
}

// Two cases at a time, each through its own pair of proxies: the suite fits the CI budget.
describe.concurrent('copy through a fault proxy: exactly once, Succeeded', () => {
  it.each(cases.map((c, i) => [i, ...c] as const))(
    '#%i %s',
    async (i, label, fault, env) => {
      const targetName = `f_${i}`;
      const o = await slot(() => copyUnderFault(SOURCE.name, targetName, fault, env));
      await record(label, o, targetName);
      expect(o.code, `${label}\n${o.stderr.slice(-3000)}`).toBe(0);
      expect(o.status.phase).toBe('Succeeded');
      // The server kept every write it acknowledged: a shortfall mended by the fill-in pass would
      // hide a write the retries lost.
      expect(o.status.collections[0]?.warnings ?? []).not.toContainEqual(
        expect.stringMatching(/fill-in pass/),
      );
      if (fault.fails) expect(o.faultSeen, 'the fault made a call fail').toBe(true);
      await expectExactCopy(targetName);
    },
    300_000,
  );

  it('autoID with regenerated keys: an insert whose reply was lost is counted, not written twice', async () => {
    const fault: Fault = {
      name: 'reset after',
      side: 'dst',
      toxic: { type: 'reset_peer', stream: 'downstream', attributes: { timeout: 0 } },
      holdMs: 1500,
      fails: true,
    };
    const o = await slot(() => copyUnderFault(AUTO.name, 'f_auto', fault));
    const count = await dstAdmin.count('f_auto').catch(() => -1);
    report.push(
      `${'Insert (autoID, keys regenerated): reset after the server got the request'.padEnd(70)} ${o.status.phase.padEnd(9)} ${Math.round(o.ms / 100) / 10} s  ambiguous inserts ${o.ambiguous} (rows already landed ${o.landed})  target ${count} rows for ${ROWS} source rows`,
    );
    expect(o.code, o.stderr.slice(-3000)).toBe(0);
    expect(o.faultSeen).toBe(true);
    // Keys are new on the target: compare the unique column n instead.
    const ns = await dstAdmin.query({
      collection_name: 'f_auto',
      expr: 'n >= 0',
      output_fields: ['n'],
      params: { limit: 16384 },
    });
    const values = ns.fields_data[0]!.scalars!.long_data!.data.map(String);
    expect(count).toBe(ROWS);
    expect(new Set(values).size).toBe(ROWS);
  }, 300_000);

  it(
    'a target that stays away stops the run quickly, naming the key range; the re-run completes it',
    () =>
      slot(async () => {
        const proxies = await proxiesFor('gone');
        const t0 = Date.now();
        const file = yamlFile(
          migrationYaml({
            name: 'faults-gone',
            source: proxies.src,
            target: proxies.dst,
            collections: [{ name: SOURCE.name, targetName: 'f_gone' }],
          }),
        );
        const child = startCli(['run', '-f', file, '--state-dir', stateDir, '-o', 'json'], {
          ...ENV,
          MILVUS_MIGRATE_SERVER_GONE_MS: '5000',
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        const code = new Promise<number | null>((resolve) => child.on('close', resolve));
        while (stderr.split('"page copied"').length < 5) await new Promise((r) => setTimeout(r, 20));
        await toxi.enable('dstgone', false);
        const exit = await code;
        const stoppedMs = Date.now() - t0;
        await toxi.enable('dstgone', true);
        expect(exit).toBe(1);
        const status = JSON.parse(stdout);
        const msg: string = status.collections[0].message;
        expect(msg).toMatch(
          /insert into f_gone (partition _default )?of the rows with id >= -?\d+ and id < -?\d+/,
        );
        expect(msg).toMatch(/re-running resumes/);
        expect(stoppedMs).toBeLessThan(60_000);
        report.push(
          `Insert: target gone for good: stopped after ${Math.round(stoppedMs / 1000)} s: ${msg.slice(0, 160)}…`,
        );
        const again = await runCli(['run', '-f', file, '--state-dir', stateDir, '-o', 'json'], { env: ENV });
        expect(again.code, again.stderr.slice(-3000)).toBe(0);
        const count = await expectExactCopy('f_gone');
        report.push(`  re-run: ${JSON.parse(again.stdout).phase}, target ${count} rows, distinct = count`);
      }),
    300_000,
  );
});

// A real server restarted under the copy, in CI: milvus-lite 3.2.2 as the target (stopped with
// SIGINT, started again on its data dir and port within seconds). Its own server, so that no other
// case sees the restart.
describe('a milvus-lite target restarted mid-copy', () => {
  let lite: MilvusTestServer | undefined;
  afterAll(async () => {
    await lite?.stop();
  });
  it('Insert: the target stopped (SIGINT) and started again on its data dir: Succeeded, every key once (a lost acknowledged insert filled in)', async () => {
    lite = await startMilvus({ kind: 'milvus-lite', name: 'faults-lite-dst' });
    const fault: Fault = { name: 'restart', side: 'dst', restart: true, holdMs: 0, fails: true };
    const o = await slot(() => copyUnderFault(SOURCE.name, 'f_lite_restart', fault, {}, lite));
    await record(
      'Insert: milvus-lite target restarted mid-copy (stop + start on its data dir)',
      o,
      'f_lite_restart',
      lite,
    );
    expect(o.faultSeen, 'the restart made a call fail').toBe(true);
    expect(o.code, o.stderr.slice(-3000)).toBe(0);
    expect(o.status.phase).toBe('Succeeded');
    // milvus-lite can lose an insert it acknowledged just before SIGINT (seen in CI: one page of 127
    // rows, no ambiguous insert, every page logged as written). No client can keep such a row: the
    // count after the copy comes up short, and the run's one fill-in pass writes the page again.
    const filled = o.status.collections[0]?.warnings?.find((w) => /fill-in pass/.test(w));
    if (filled) console.log(`[faults] lite restart: ${filled}`);
    await expectExactCopy('f_lite_restart', lite);
  }, 300_000);
});

// The same for the source: milvus-lite 3.2.2 holding the source collection restarted under the
// copy's reads (a Milvus 2.3.5 source would stop every other case's copy). Reads in flight fail, the
// reader's retries wait the restart out, and lite (which does not sort query results) must serve the
// rest of the key ranges after it reopened its data dir.
describe('a milvus-lite source restarted mid-copy', () => {
  let lite: MilvusTestServer | undefined;
  afterAll(async () => {
    await lite?.stop();
  });
  it('Query: the source stopped (SIGINT) and started again on its data dir, not loaded any more: Failed saying to load it; loaded, a re-run Succeeds with every key once', async () => {
    lite = await startMilvus({ kind: 'milvus-lite', name: 'faults-lite-src' });
    const c = admin(lite.endpoint);
    try {
      await createCollection(c, SOURCE);
      await insertRows(c, SOURCE, sourceRows);
      await indexAndLoad(c, SOURCE.name, 'vec');
    } finally {
      c.close();
    }
    const fault: Fault = { name: 'restart', side: 'src', restart: true, holdMs: 0, fails: true };
    const o = await slot(() => copyUnderFault(SOURCE.name, 'f_lite_src_restart', fault, {}, dst, lite));
    await record(
      'Query: milvus-lite source restarted mid-copy (stop + start on its data dir)',
      o,
      'f_lite_src_restart',
    );
    expect(o.faultSeen, `the restart made a call fail\n${o.stderr.slice(-3000)}`).toBe(true);
    // milvus-lite reopens its data dir with every collection released (Milvus 2.3.5 loads them
    // again by itself). The source is read-only to the migration: it waits as long as for a server
    // that went away, then says what to do.
    expect(o.code, o.stderr.slice(-3000)).toBe(1);
    expect(o.status.phase, o.stderr.slice(-3000)).toBe('Failed');
    expect(o.status.collections[0]?.message).toMatch(
      /(query|count\(\*\)) on source faults_src kept failing for \d+ s .*no longer loaded on that server .*load it there \(load_collection\) and run the migration again/,
    );
    const again = admin(lite.endpoint);
    try {
      await again.call('LoadCollection', { db_name: '', collection_name: SOURCE.name });
      for (let i = 0; i < 100 && (await again.getLoadState(SOURCE.name)) !== LoadState.LoadStateLoaded; i++)
        await new Promise((r) => setTimeout(r, 100));
    } finally {
      again.close();
    }
    const rerun = await runCli(['run', '-f', o.file, '--state-dir', stateDir, '-o', 'json'], { env: ENV });
    expect(rerun.code, rerun.stderr.slice(-3000)).toBe(0);
    const st = JSON.parse(rerun.stdout);
    expect(st.phase).toBe('Succeeded');
    expect(st.collections[0]?.warnings ?? []).not.toContainEqual(expect.stringMatching(/fill-in pass/));
    await expectExactCopy('f_lite_src_restart', dst, lite);
  }, 300_000);
});

// Alone, after the cases above: every copy running on the target would see the restart. Milvus
// 2.3.5 answers again only after its old etcd sessions expired (30 s idle, minutes on a loaded
// 2-core machine), which does not fit the suite's CI budget: MM_FAULTS_RESTART=1 runs it.
describe.runIf(process.env.MM_FAULTS_RESTART === '1')('a target restarted mid-copy', () => {
  it('Insert: the target server stopped (SIGINT) and started again on its data dir', async () => {
    const fault: Fault = { name: 'restart', side: 'dst', restart: true, holdMs: 0, fails: true };
    const o = await copyUnderFault(SOURCE.name, 'f_restart', fault, {
      MILVUS_MIGRATE_SERVER_GONE_MS: '300000',
    });
    await record('Insert: target restarted mid-copy (stop + start on the same data dir)', o, 'f_restart');
    expect(o.code, o.stderr.slice(-3000)).toBe(0);
    expect(o.status.phase).toBe('Succeeded');
    expect(o.faultSeen).toBe(true);
    await expectExactCopy('f_restart');
  }, 600_000);
});

describe('repair: a target with keys stored twice and keys the source lacks', () => {
  it('is repaired by one re-run, only in a collection this migration created; the status counts the keys', async () => {
    const proxies = await proxiesFor('repair');
    const file = yamlFile(
      migrationYaml({
        name: 'faults-repair',
        source: proxies.src,
        target: proxies.dst,
        collections: [{ name: SOURCE.name, targetName: 'f_repair' }],
      }),
    );
    const first = await runCli(['run', '-f', file, '--state-dir', stateDir, '-o', 'json'], { env: ENV });
    expect(first.code, first.stderr.slice(-3000)).toBe(0);
    // 20 keys written a second time (as an older build's retried insert did) and 15 keys the
    // source never had (a second writer).
    const twice = await srcAdmin.query({
      collection_name: SOURCE.name,
      expr: 'id >= 0 and id < 140',
      output_fields: ['id', 'vec', 'text', 'n'],
      params: { limit: 100 },
    });
    // Columns come back in the server's order, not output_fields' order: find the key by name.
    const idColumn = twice.fields_data.find((f) => f.field_name === 'id');
    expect(
      idColumn?.scalars?.long_data?.data.length,
      JSON.stringify(twice.fields_data.map((f) => f.field_name)),
    ).toBe(20);
    await dstAdmin.insert({ collection_name: 'f_repair', fields_data: twice.fields_data, num_rows: 20 });
    const r = rng(99);
    const extra: Row[] = Array.from({ length: 15 }, (_v, i) => ({
      id: BigInt(10_000_000 + i),
      vec: vector(r, 32),
      text: `extra ${i}`,
      n: BigInt(-1 - i),
    }));
    await insertRows(dstAdmin, { ...SOURCE, name: 'f_repair' }, extra);
    const damaged = await dstAdmin.count('f_repair');
    expect(damaged).toBe(ROWS + 35);

    // Without the state that says this migration created it, the run refuses to touch it.
    const strangerState = mkdtempSync(path.join(tmpdir(), 'mm-faults-stranger-'));
    const refused = await runCli(['run', '-f', file, '--state-dir', strangerState, '-o', 'json'], {
      env: ENV,
    });
    expect(refused.code).toBe(1);
    expect(
      JSON.parse(refused.stdout).conditions.find((c: { type: string }) => c.type === 'Stalled').reason,
    ).toBe('PlanRefused');
    expect(await dstAdmin.count('f_repair')).toBe(damaged);

    const t0 = Date.now();
    const again = await runCli(['run', '-f', file, '--state-dir', stateDir, '-o', 'json'], { env: ENV });
    expect(again.code, again.stderr.slice(-3000)).toBe(0);
    const status = JSON.parse(again.stdout);
    expect(status.phase).toBe('Succeeded');
    expect(status.collections[0].repairedEntities).toBe(35);
    expect(status.collections[0].message).toMatch(
      /35 keys stored twice or missing on the source were repaired/,
    );
    const count = await expectExactCopy('f_repair');
    report.push(
      `Repair: target seeded with 20 duplicated + 15 extra keys (${damaged} rows): one re-run in ${Math.round((Date.now() - t0) / 100) / 10} s, repairedEntities ${status.collections[0].repairedEntities}, target ${count} rows, distinct = count`,
    );
  }, 300_000);
});

describe('page sizes follow the data', () => {
  it('long texts with 768-d vectors: pages stay near the page budget, memory bounded', async () => {
    const BIG: CollectionDef = {
      name: 'faults_long_texts',
      fields: [
        { name: 'id', type: 'Int64', primary: true },
        { name: 'vec', type: 'FloatVector', dim: 768 },
        { name: 'text', type: 'VarChar', maxLength: 65535 },
      ],
    };
    const r = rng(7);
    const rows: Row[] = Array.from({ length: 400 }, (_v, i) => ({
      id: BigInt(i),
      vec: vector(r, 768),
      text: `${i} `.padEnd(60_000, String.fromCharCode(97 + (i % 26))),
    }));
    await createCollection(srcAdmin, BIG);
    for (let i = 0; i < rows.length; i += 100) await insertRows(srcAdmin, BIG, rows.slice(i, i + 100));
    await indexAndLoad(srcAdmin, BIG.name, 'vec');
    const file = yamlFile(
      migrationYaml({
        name: 'faults-long-texts',
        source: src.endpoint,
        target: dst.endpoint,
        collections: [{ name: BIG.name }],
        verify: 'count',
      }),
    );
    const pageBytes = 1024 * 1024;
    const child = startCli(['run', '-f', file, '--state-dir', stateDir, '-o', 'json'], {
      LOG_LEVEL: 'debug',
      MILVUS_MIGRATE_PAGE_BYTES: String(pageBytes),
    });
    let stdout = '';
    let stderr = '';
    let peakKb = 0;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        // exited
      }
    }, 50);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(poll);
    expect(code, stderr.slice(-3000)).toBe(0);
    expect(JSON.parse(stdout).phase).toBe('Succeeded');
    const pages = stderr
      .split('\n')
      .filter((l) => l.includes('"page copied"'))
      .map((l) => JSON.parse(l) as { rows: number; bytes: number });
    const largest = Math.max(...pages.map((p) => p.bytes));
    // The first page is sized for the largest row the schema allows, the rest by measured bytes.
    expect(largest).toBeLessThan(2 * pageBytes);
    expect(await dstAdmin.count(BIG.name)).toBe(400);
    report.push(
      `Page sizes: 400 rows of 60 KB text + 768-d vectors (${Math.round((400 * 63_072) / 1e6)} MB), page budget 1 MiB: ${pages.length} pages of ${pages[0]!.rows}..${Math.max(...pages.map((p) => p.rows))} rows, largest ${Math.round(largest / 1024)} KB, CLI peak RSS ${Math.round(peakKb / 1024)} MB`,
    );
  }, 300_000);
});

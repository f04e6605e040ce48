/**
 * The test ground of a bench run: the two servers (started, stopped on exit and Ctrl-C), the
 * seeded source collection, and the target between and after paths: emptied, idle, finished to a
 * usable state the same way for every path (finishTarget).
 */
import fs from 'node:fs';
import { MilvusClient } from '../src/adapters/milvus/client.js';
import { encode } from '../src/adapters/milvus/proto.js';
import { type MilvusTestServer, startMilvus } from '../test/support/milvus-server.js';
import { indexCovering, loadAndWait } from '../test/support/rows.js';
import { startToxiproxy } from '../test/support/toxiproxy.js';
import { DIM, LATENCY_MS, ROWS, type Row, SOURCE, say, sleep, WRITE_ROWS } from './config.js';
import { killCurrent, loadAvg, serverCpu } from './measure.js';
import { insertRequestBytes, PK, TAG, TAG_MAX, VEC } from './wire.js';

// ---- servers and cleanup -----------------------------------------------------------------------

export const servers: MilvusTestServer[] = [];
export let stopping = false;

export async function stopAll(): Promise<void> {
  await Promise.allSettled([...servers.map((s) => s.stop()), ...stoppers.map((stop) => stop())]);
}

/** What else stopAll stops (the link's proxy). */
const stoppers: (() => Promise<void>)[] = [];

/**
 * The servers as the measured processes reach them: directly, or with `--latency` through a
 * Toxiproxy in front of each that holds every chunk half the round trip in each direction (a delay,
 * not a bandwidth cap: chunks that arrive together leave together).
 */
export async function linked(
  src: MilvusTestServer,
  dst: MilvusTestServer,
): Promise<{ src: MilvusTestServer; dst: MilvusTestServer; text: string }> {
  if (!(LATENCY_MS > 0)) return { src, dst, text: 'direct (loopback)' };
  const proxy = await startToxiproxy();
  stoppers.push(() => proxy.stop());
  const via = async (s: MilvusTestServer, name: string): Promise<MilvusTestServer> => {
    const endpoint = await proxy.proxy(name, s.endpoint);
    for (const stream of ['upstream', 'downstream'] as const)
      await proxy.add(name, `latency_${stream}`, {
        type: 'latency',
        stream,
        attributes: { latency: LATENCY_MS / 2, jitter: 0 },
      });
    return { ...s, endpoint, port: Number(endpoint.split(':').pop()) };
  };
  return {
    src: await via(src, 'source'),
    dst: await via(dst, 'target'),
    text: `Toxiproxy, +${LATENCY_MS} ms round trip (half each way) between every measured process and both servers, the bench's finishing steps included (its proxy's CPU counts as other CPU); emptying the target between paths goes direct`,
  };
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    say(`${sig}: stopping the copy process and the servers`);
    killCurrent();
    void stopAll().finally(() => process.exit(130));
  });
}

/** The servers as the measurement sees them: 'src' and 'dst'. */
export function serverRefs() {
  return servers.map((s) => ({ name: s.name === 'bench-source' ? 'src' : 'dst', pids: () => s.pids() }));
}

export function admin(s: MilvusTestServer): MilvusClient {
  return new MilvusClient({ endpoint: s.endpoint, database: 'default', side: 'bench', timeoutMs: 600_000 });
}

// ---- collections -------------------------------------------------------------------------------

export async function createBenchCollection(c: MilvusClient, name: string): Promise<void> {
  const schema = {
    name,
    description: 'milvus-migrate bench',
    fields: [
      { name: PK, data_type: 5, is_primary_key: true, autoID: false, type_params: [] },
      { name: VEC, data_type: 101, type_params: [{ key: 'dim', value: String(DIM) }] },
      { name: TAG, data_type: 21, type_params: [{ key: 'max_length', value: String(TAG_MAX) }] },
    ],
    enable_dynamic_field: false,
  };
  await c.createCollection({
    collection_name: name,
    schema: encode('schema.CollectionSchema', schema),
    shards_num: 1,
    consistency_level: 2, // Bounded, the server default
    properties: [],
  });
}

export async function waitFor(what: string, ms: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await sleep(100);
  }
  throw new Error(`${what}: not done after ${ms / 1000} s`);
}

/** FLAT index on the vector, then load; waits until the index covers every flushed row and the load is done. */
export async function indexAndLoad(c: MilvusClient, name: string): Promise<void> {
  await indexCovering(c, name, VEC, { indexName: 'vec_flat', timeoutMs: 20 * 60_000 });
  await loadAndWait(c, name, 20 * 60_000);
}

export async function flush(c: MilvusClient, name: string): Promise<void> {
  const r = await c.call<{
    coll_segIDs: Record<string, { data: string[] }>;
    coll_flush_ts: Record<string, string>;
  }>('Flush', { db_name: 'default', collection_names: [name] });
  const segmentIDs = r.coll_segIDs[name]?.data ?? [];
  const flushTs = r.coll_flush_ts[name] ?? '0';
  await waitFor(`flush of ${name}`, 10 * 60_000, async () => {
    const s = await c.call<{ flushed: boolean }>('GetFlushState', {
      segmentIDs,
      flush_ts: flushTs,
      db_name: 'default',
      collection_name: name,
    });
    return s.flushed;
  });
}

/** The source's loaded segments as `id:rows`, sorted (to see compaction and handoff between paths). */
export async function querySegments(c: MilvusClient, name: string): Promise<string[]> {
  const r = await c.call<{ infos: { segmentID: string; num_rows: string }[] }>('GetQuerySegmentInfo', {
    dbName: 'default',
    collectionName: name,
  });
  return r.infos.map((i) => `${i.segmentID}:${i.num_rows}`).sort();
}

/**
 * Compacts the source and waits until the compacted segments are indexed and loaded and the loaded
 * segment set is stable and holds every row: a quiet, steady source, as a real one would be, and
 * no background compaction or handoff during the measurements.
 */
export async function settle(c: MilvusClient, name: string): Promise<string[]> {
  const d = await c.describeCollection(name);
  const collectionID = (d as unknown as { collectionID: string }).collectionID;
  // Milvus keeps merging in the background after a manual round: repeat compact → indexed →
  // loaded segments stable for 10 s, until a whole round leaves the loaded segments as they were.
  let prev = await querySegments(c, name);
  let segs = prev;
  for (let round = 0; round < 8; round++) {
    const m = await c.call<{ compactionID: string }>('ManualCompaction', { collectionID });
    await waitFor(`compaction of ${name}`, 20 * 60_000, async () => {
      const st = await c.call<{ state: number }>('GetCompactionState', { compactionID: m.compactionID });
      return st.state === 2; // Completed
    });
    await waitFor(`index of ${name} after compaction`, 20 * 60_000, async () => {
      const [x] = await c.describeIndexes(name);
      return x !== undefined && x.state === 3 && x.indexed_rows === x.total_rows;
    });
    let last = '';
    let stableSince = Date.now();
    await waitFor(`a stable set of loaded segments of ${name}`, 10 * 60_000, async () => {
      segs = await querySegments(c, name);
      const rows = segs.reduce((t, x) => t + Number(x.split(':')[1]), 0);
      const key = segs.join(',');
      if (key !== last || rows !== ROWS) {
        last = key;
        stableSince = Date.now();
        return false;
      }
      return Date.now() - stableSince >= 10_000;
    });
    if (segs.join() === prev.join()) break;
    prev = segs;
  }
  return segs;
}

/**
 * Seeding a large source takes long (1M rows: ~12 min, mostly compaction settling) and may share
 * the machine with other work; the measurements need it quiet. --wait-for FILE seeds, then waits
 * until FILE exists before measuring.
 */
export async function waitForFile(file: string): Promise<void> {
  say(`seeded; waiting for ${file} to exist before measuring (touch it when the machine is quiet)`);
  while (!fs.existsSync(file) && !stopping) await sleep(2000);
  say(`${file} exists: measuring, load average ${loadAvg()}`);
}

export async function seed(src: MilvusTestServer): Promise<number> {
  const c = admin(src);
  const t0 = Date.now();
  await createBenchCollection(c, SOURCE);
  const starts: number[] = [];
  for (let s = 0; s < ROWS; s += WRITE_ROWS) starts.push(s);
  let next = 0;
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      while (next < starts.length) {
        const start = starts[next++]!;
        const req = insertRequestBytes(SOURCE, start, Math.min(WRITE_ROWS, ROWS - start), DIM);
        await c.raw<Buffer, Buffer>(
          '/milvus.proto.milvus.MilvusService/Insert',
          (b) => b,
          (b) => b,
          req,
          600_000,
        );
      }
    }),
  );
  const tInsert = Date.now();
  await flush(c, SOURCE);
  await indexAndLoad(c, SOURCE);
  const tLoaded = Date.now();
  const segs = await settle(c, SOURCE);
  const n = await c.count(SOURCE); // Strong
  c.close();
  say(
    `seeded ${n} rows: insert ${((tInsert - t0) / 1000).toFixed(1)} s, flush + index + load ${((tLoaded - tInsert) / 1000).toFixed(1)} s, compaction until the loaded segments are stable ${((Date.now() - tLoaded) / 1000).toFixed(1)} s; loaded segments (id:rows) ${segs.join(' ')}`,
  );
  if (n !== ROWS) throw new Error(`source count(*) is ${n}, expected ${ROWS}`);
  return n;
}

/** Drops every collection on the target: each path starts on an empty server. */
export async function emptyTarget(dst: MilvusTestServer): Promise<void> {
  const c = admin(dst);
  try {
    for (const n of await c.showCollections()) await c.dropCollection(n);
  } finally {
    c.close();
  }
}

/** CPU seconds both servers have used so far. */
export function serversCpu(): number {
  return serverRefs().reduce((t, s) => t + serverCpu(s), 0);
}

/** What both servers use per second when nothing runs, measured after seeding. */
export let idleCpuPerS = 0;

/**
 * Waits (at most 2 minutes) until both servers have been idle for 3 s in a row: using at most
 * their idle CPU as measured after seeding plus 5 % of a core. Returns the seconds waited.
 */
export async function waitIdle(row: Row): Promise<void> {
  const t0 = Date.now();
  let prev = serversCpu();
  let quiet = 0;
  while (Date.now() - t0 < 120_000 && quiet < 3 && !stopping) {
    await sleep(1000);
    const now = serversCpu();
    quiet = now - prev <= idleCpuPerS * 1.2 + 0.05 ? quiet + 1 : 0;
    prev = now;
  }
  row.idleWaitS = (Date.now() - t0) / 1000;
  row.idle = quiet >= 3;
}

export async function measureIdle(): Promise<void> {
  await sleep(3000);
  const a = serversCpu();
  await sleep(5000);
  idleCpuPerS = (serversCpu() - a) / 5;
}

export async function dropTarget(dst: MilvusTestServer, name: string): Promise<void> {
  const c = admin(dst);
  try {
    if ((await c.showCollections()).includes(name)) await c.dropCollection(name);
  } finally {
    c.close();
  }
}

/**
 * Makes the target usable the same way after every path, timed: flush, a FLAT index on the vector
 * unless the path made one, wait until it covers every flushed row, load unless loaded, and a
 * Strong count(*), which must equal `expected`. The engine has already indexed and loaded its
 * target (so its index and load steps are short); the peer and the ceilings have not.
 */
export async function finishTarget(
  dst: MilvusTestServer,
  name: string,
  expected: number,
  row: Row,
): Promise<void> {
  const c = admin(dst);
  const steps: Record<string, number> = {};
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      steps[what] = (Date.now() - t0) / 1000;
    }
  };
  try {
    await step('flush', () => flush(c, name));
    await step('index', () => indexCovering(c, name, VEC, { indexName: 'vec_flat', timeoutMs: 20 * 60_000 }));
    await step('load', async () => {
      if ((await c.getLoadState(name)) !== 3) await loadAndWait(c, name, 20 * 60_000);
    });
    const n = await step('count', () => c.count(name)); // Strong: sees every acknowledged insert
    row.verified = `${n}`;
    if (n !== expected) row.error = `target count(*) ${n} != source ${expected}`;
  } finally {
    c.close();
    row.finishSteps = steps;
    row.finishS = Object.values(steps).reduce((a, b) => a + b, 0);
    if (row.processS !== undefined) row.usableS = row.processS + row.finishS;
  }
}

/**
 * Starts a server, once more if it dies during start: ports are free when picked, but servers of
 * other checkouts on the same machine (their own port claims) can take one before Milvus binds it.
 */
export async function start(name: string): Promise<MilvusTestServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      const server = await startMilvus({ kind: 'milvus-2.3.5', name });
      servers.push(server); // stopped on exit, Ctrl-C or failure
      return server;
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (attempt >= 3 || stopping) throw err;
      say(
        `${name} did not start (${msg.split('\n')[0]}${/address already in use/.test(msg) ? '; a port was taken meanwhile' : ''}): trying again`,
      );
    }
  }
}

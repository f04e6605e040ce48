/**
 * One measured copy path, run in its own Node process so that its CPU time and peak RSS are its
 * own (the parent reads them through the usage preload, see measure.ts):
 *
 *   tsx bench/paths.ts '<json PathConfig>'
 *
 * - read:  raw read-only scan of the source: Query by primary-key ranges with a pinned
 *          guarantee_timestamp, replies kept as undecoded Buffers (only the key column is counted).
 * - write: raw insert of InsertRequest bytes encoded before the clock starts.
 * - naive: the official Node SDK, queryIterator + insert, the way a user would write it.
 *
 * The last stdout line is `BENCH_RESULT <json>` with the timed window and what was moved.
 */
import { type RowData, MilvusClient as SdkClient } from '@zilliz/milvus2-sdk-node';
import { MilvusClient } from '../src/adapters/milvus/client.js';
import { encode, SERVICE } from '../src/adapters/milvus/proto.js';
import { hybridTimestamp } from '../src/adapters/milvus/types.js';
import { insertCount, insertRequestBytes, PK, rowsInQueryReply, TAG, VEC } from './wire.js';

export interface PathConfig {
  path: 'read' | 'write' | 'naive';
  source: string;
  target: string;
  sourceCollection: string;
  targetCollection: string;
  rows: number;
  dim: number;
  /** Rows per read page / per insert request. */
  readRows: number;
  writeRows: number;
  /** Requests in flight (read and write ceilings). */
  inFlight: number;
}

export interface PathResult {
  rows: number;
  /** Bytes of the replies (read) or requests (write) on the wire; naive: not known. */
  wireBytes?: number;
  requests: number;
  /** The timed window, epoch milliseconds. */
  startMs: number;
  endMs: number;
  /** CPU of this process inside the window (µs), from process.resourceUsage(). */
  windowCpuUs: number;
}

const identity = (b: Buffer) => b;

function lean(endpoint: string, side: string): MilvusClient {
  return new MilvusClient({ endpoint, database: 'default', side, timeoutMs: 600_000 });
}

/** Runs jobs 0..n-1 with at most `width` in flight, in order of start. */
async function pool(n: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) await job(next++);
  });
  await Promise.all(lanes);
}

function cpuUs(): number {
  const u = process.resourceUsage();
  return u.userCPUTime + u.systemCPUTime;
}

async function readCeiling(c: PathConfig): Promise<Omit<PathResult, 'startMs' | 'endMs' | 'windowCpuUs'>> {
  const client = lean(c.source, 'source');
  const ts = hybridTimestamp(Date.now()).toString();
  const pages = Math.ceil(c.rows / c.readRows);
  let rows = 0;
  let wireBytes = 0;
  await pool(pages, c.inFlight, async (i) => {
    const lo = i * c.readRows;
    const hi = Math.min(c.rows, lo + c.readRows);
    const req = encode('QueryRequest', {
      db_name: 'default',
      collection_name: c.sourceCollection,
      expr: `${PK} >= ${lo} && ${PK} < ${hi}`,
      output_fields: [PK, VEC, TAG],
      query_params: [{ key: 'limit', value: String(hi - lo) }],
      guarantee_timestamp: ts,
      consistency_level: 4, // Customized: wait only until `ts` is visible
      use_default_consistency: false,
    });
    const reply = await client.raw<Buffer, Buffer>(`/${SERVICE}/Query`, identity, identity, req, 600_000);
    const got = rowsInQueryReply(reply);
    if (got !== hi - lo) throw new Error(`page [${lo}, ${hi}) returned ${got} rows`);
    rows += got;
    wireBytes += reply.length;
  });
  client.close();
  return { rows, wireBytes, requests: pages };
}

async function writeCeiling(
  c: PathConfig,
  batches: Buffer[],
): Promise<Omit<PathResult, 'startMs' | 'endMs' | 'windowCpuUs'>> {
  const client = lean(c.target, 'target');
  let rows = 0;
  let wireBytes = 0;
  await pool(batches.length, c.inFlight, async (i) => {
    const req = batches[i]!;
    const reply = await client.raw<Buffer, Buffer>(`/${SERVICE}/Insert`, identity, identity, req, 600_000);
    rows += insertCount(reply);
    wireBytes += req.length;
  });
  client.close();
  return { rows, wireBytes, requests: batches.length };
}

async function naive(c: PathConfig): Promise<Omit<PathResult, 'startMs' | 'endMs' | 'windowCpuUs'>> {
  const src = new SdkClient({ address: c.source, logLevel: 'error' });
  const dst = new SdkClient({ address: c.target, logLevel: 'error' });
  let rows = 0;
  let requests = 0;
  const iterator = await src.queryIterator({
    collection_name: c.sourceCollection,
    output_fields: [PK, VEC, TAG],
    batchSize: c.readRows,
  });
  for await (const batch of iterator as AsyncIterable<RowData[]>) {
    if (!batch.length) continue;
    const res = await dst.insert({ collection_name: c.targetCollection, data: batch });
    if (res.status.error_code !== 'Success') throw new Error(`insert: ${res.status.reason}`);
    rows += Number(res.insert_cnt);
    requests++;
  }
  await src.closeConnection();
  await dst.closeConnection();
  return { rows, requests };
}

async function main(): Promise<void> {
  const c = JSON.parse(process.argv[2] ?? '') as PathConfig;
  // Encoded before the clock starts.
  const batches: Buffer[] = [];
  if (c.path === 'write') {
    for (let start = 0; start < c.rows; start += c.writeRows)
      batches.push(
        insertRequestBytes(c.targetCollection, start, Math.min(c.writeRows, c.rows - start), c.dim),
      );
  }
  const cpu0 = cpuUs();
  const startMs = Date.now();
  const r =
    c.path === 'read'
      ? await readCeiling(c)
      : c.path === 'write'
        ? await writeCeiling(c, batches)
        : await naive(c);
  const endMs = Date.now();
  const result: PathResult = { ...r, startMs, endMs, windowCpuUs: cpuUs() - cpu0 };
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench path failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

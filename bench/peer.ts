/**
 * The peer: zilliztech/milvus-migration (Go), built by the user for measurement only (see
 * docs/performance.md, "The peer"), run on the same data as the engine. It is started as
 *
 *   milvus-migration start --config=<dir>/migration.yaml
 *
 * in mode milvus2x with `reader.bufferSize` rows per batch (its default is 100 rows), which copies
 * the source collection into a target collection it creates; it neither indexes nor loads it, and
 * it exits 0 whether or not the copy succeeded: the bench judges it by the target's count(*).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface PeerConfig {
  source: string;
  target: string;
  sourceCollection: string;
  targetCollection: string;
  /** Rows per read batch (`dumper.worker.reader.bufferSize`). */
  bufferSize: number;
}

/** Largest gRPC message either side may send or receive: batches of 2000 × 768-d are ~6 MB. */
const MAX_MSG = 256 * 1024 * 1024;

export function peerYaml(c: PeerConfig): string {
  return `dumper:
  worker:
    workMode: milvus2x
    reader:
      bufferSize: ${c.bufferSize}
meta:
  mode: config
  version: 2.3.5
  collection: ${c.sourceCollection}
  milvus:
    collection: ${c.targetCollection}
    closeDynamicField: true
source:
  milvus2x:
    endpoint: ${c.source}
    grpc:
      maxCallRecvMsgSize: ${MAX_MSG}
      maxCallSendMsgSize: ${MAX_MSG}
target:
  milvus2x:
    endpoint: ${c.target}
    grpc:
      maxCallRecvMsgSize: ${MAX_MSG}
      maxCallSendMsgSize: ${MAX_MSG}
`;
}

/** Writes the config into `dir` and returns the peer's command line. */
export function peerCommand(binary: string, dir: string, c: PeerConfig): string[] {
  const file = path.join(dir, 'migration.yaml');
  fs.writeFileSync(file, peerYaml(c));
  return [binary, 'start', `--config=${file}`];
}

/** The peer says so when it finished; it exits 0 on failure as well. */
export function peerSucceeded(output: string): boolean {
  return /Migration Success!/.test(output);
}

/**
 * Starts one real Milvus test server by hand (demos, debugging) and keeps it until Ctrl-C.
 *
 *   npx tsx test/setup/milvus/start.ts [--kind milvus-2.3.5|milvus-2.2.16|milvus-lite]
 *                                      [--auth] [--tls server|mutual] [--name NAME]
 *
 * Prints one JSON line with the endpoint, version, credentials and (with --tls) the paths of the CA
 * and client certificate, then waits. Ctrl-C (or SIGTERM) stops the server and removes its data.
 */
import { parseArgs } from 'node:util';
import { type MilvusKind, startMilvus } from '../../support/milvus-server.js';

const { values } = parseArgs({
  options: {
    kind: { type: 'string', default: 'milvus-2.3.5' },
    auth: { type: 'boolean', default: false },
    tls: { type: 'string' },
    name: { type: 'string' },
  },
});
const kinds: MilvusKind[] = ['milvus-2.3.5', 'milvus-2.2.16', 'milvus-lite'];
if (!kinds.includes(values.kind as MilvusKind)) {
  console.error(`--kind must be one of ${kinds.join(', ')}`);
  process.exit(2);
}
if (values.tls !== undefined && values.tls !== 'server' && values.tls !== 'mutual') {
  console.error('--tls must be server or mutual');
  process.exit(2);
}

const server = await startMilvus({
  kind: values.kind as MilvusKind,
  auth: values.auth,
  tls: values.tls as 'server' | 'mutual' | undefined,
  name: values.name ?? `manual-${values.kind}`,
});
console.log(
  JSON.stringify({
    kind: server.kind,
    endpoint: server.endpoint,
    version: server.version,
    credentials: server.credentials,
    tls: server.tls && {
      caPath: server.tls.caPath,
      clientCertPath: server.tls.clientCertPath,
      clientKeyPath: server.tls.clientKeyPath,
    },
    dataDir: server.dataDir,
    pgid: server.pgid,
    startMs: server.startMs,
    rssMiB: Math.round(server.rssBytes() / 2 ** 20),
  }),
);
console.error('Ctrl-C to stop');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.stop();
  console.error('stopped');
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => {}, 1 << 30);

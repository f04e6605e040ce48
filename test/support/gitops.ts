/**
 * Health as GitOps tools compute it, for tests: Argo CD's custom Lua check (deploy/argocd/health.lua
 * run in a Lua VM, as Argo CD runs it with `obj` set) and kstatus (the real sigs.k8s.io/cli-utils
 * library, built by test/setup/kstatus/build.sh).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory } from 'wasmoon';
import { REPO_ROOT } from './milvus-server.js';

export const HEALTH_LUA = path.join(REPO_ROOT, 'deploy', 'argocd', 'health.lua');

export interface ArgoHealth {
  status: 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown';
  message: string;
}

const factory = new LuaFactory();

export async function argoHealth(obj: unknown): Promise<ArgoHealth> {
  const lua = await factory.createEngine();
  try {
    // A deep copy: wasmoon hands JS objects to Lua as tables.
    lua.global.set('obj', JSON.parse(JSON.stringify(obj)));
    const hs = (await lua.doString(readFileSync(HEALTH_LUA, 'utf8'))) as ArgoHealth;
    return { status: hs.status, message: hs.message };
  } finally {
    lua.global.close();
  }
}

export interface KstatusResult {
  status: 'InProgress' | 'Failed' | 'Current' | 'Terminating' | 'NotFound' | 'Unknown';
  message: string;
}

let kstatusBin: string | undefined;

export function kstatus(objs: unknown[]): KstatusResult[] {
  kstatusBin ??= execFileSync('bash', [path.join(REPO_ROOT, 'test/setup/kstatus/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return JSON.parse(execFileSync(kstatusBin, [], { input: JSON.stringify(objs), encoding: 'utf8' }));
}

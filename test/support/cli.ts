/** Runs the real CLI (the built dist/, as a user would run it) in a child process. */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './milvus-server.js';

/** The built CLI; MM_CLI points the tests at another build (to measure an older one). */
export const CLI = process.env.MM_CLI ?? path.join(REPO_ROOT, 'dist', 'cli', 'main.js');

export function ensureBuilt(): void {
  if (!existsSync(CLI) || process.env.MM_REBUILD)
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The fill-in pass's log line and status warning. */
export const FILL_IN = /one fill-in pass|a fill-in pass looked up every key/;

export function runCli(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; allowFillIn?: boolean } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, LOG_LEVEL: 'info', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(t);
      // A run that came up short mends itself with a fill-in pass (src/engine/fill-in.ts). Unless a
      // test put a fault in that loses acknowledged writes, that pass hides a copy defect.
      if (!opts.allowFillIn && FILL_IN.test(stdout + stderr))
        return reject(
          new Error(
            `the copy came up short and a fill-in pass mended it: ${args.join(' ')}\n${stderr.slice(-3000)}`,
          ),
        );
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts the CLI and returns the child, for tests that kill it mid-run. */
export function startCli(args: string[], env: Record<string, string> = {}) {
  return spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Writes YAML documents into a fresh temp file and returns its path. */
export function yamlFile(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mm-yaml-'));
  const f = path.join(dir, 'migration.yaml');
  writeFileSync(f, text);
  return f;
}

export function migrationYaml(o: {
  name: string;
  source: string;
  target: string;
  sourceDb?: string;
  targetDb?: string;
  sourceSecret?: string;
  targetSecret?: string;
  collections: { name: string; targetName?: string; description?: string }[];
  verify?: string;
  extraSpec?: string;
}): string {
  const side = (endpoint: string, db?: string, secret?: string) =>
    `{endpoint: "${endpoint}", database: ${db ?? 'default'}${secret ? `, secretRef: {name: ${secret}}` : ''}}`;
  return `apiVersion: migration.milvus.io/v1alpha1
kind: MilvusMigration
metadata: {name: ${o.name}, namespace: default}
spec:
  source: ${side(o.source, o.sourceDb, o.sourceSecret)}
  target: ${side(o.target, o.targetDb, o.targetSecret)}
  verify: ${o.verify ?? 'full'}
  collections:
${o.collections.map((c) => `    - {name: ${c.name}${c.targetName ? `, targetName: ${c.targetName}` : ''}${c.description !== undefined ? `, description: ${JSON.stringify(c.description)}` : ''}}`).join('\n')}
${o.extraSpec ?? ''}`;
}

export function secretYaml(name: string, data: Record<string, string>, namespace = 'default'): string {
  return `apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${namespace}}
stringData:
${Object.entries(data)
  .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
  .join('\n')}
`;
}

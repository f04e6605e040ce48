/**
 * Writes the CRD generated from the zod schema (`npm run gen:crd`) to every place it ships from:
 * crds/ (kustomize base, npm package) and the Helm chart's crds/ (Helm installs CRDs from there and
 * never deletes them on uninstall, so users' MilvusMigration objects survive an uninstall).
 * `--check` writes nothing and exits 1 when a copy is missing or differs (for CI and tests).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildCrd, CRD_FILE, CRD_NAME } from './crd.js';

export const CRD_HEADER =
  '# generated from src/api/migration.ts by npm run gen:crd; do not edit\n' +
  '# (the conversion to a structural schema, CEL rules and printer columns are in src/api/crd.ts)\n';

/** The Helm chart's copy of the CRD, relative to the repository root. */
export const CHART_CRD_FILE = `charts/milvus-migrate/crds/${CRD_NAME}.yaml`;
/** Every file the generator writes, relative to the repository root. */
export const CRD_FILES = [CRD_FILE, CHART_CRD_FILE];

/** The exact text of the CRD file. */
export function renderCrdYaml(): string {
  return CRD_HEADER + stringify(buildCrd(), { lineWidth: 0, indent: 2 });
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function main(argv: string[]): number {
  const want = renderCrdYaml();
  if (argv.includes('--check')) {
    let rc = 0;
    for (const rel of CRD_FILES) {
      const have = readOrUndefined(path.join(repoRoot, rel));
      if (have === want) {
        process.stdout.write(`${rel} is up to date\n`);
        continue;
      }
      process.stderr.write(
        `${rel} is ${have === undefined ? 'missing' : 'out of date with src/api/migration.ts'}: ` +
          'run npm run gen:crd and commit the result\n',
      );
      rc = 1;
    }
    return rc;
  }
  for (const rel of CRD_FILES) {
    writeFileSync(path.join(repoRoot, rel), want);
    process.stdout.write(`wrote ${rel}\n`);
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}

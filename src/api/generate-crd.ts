/**
 * Writes crds/milvusmigrations.migration.milvus.io.yaml from the zod schema (`npm run gen:crd`).
 * `--check` writes nothing and exits 1 when the file is missing or differs (for CI and tests).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildCrd, CRD_FILE } from './crd.js';

export const CRD_HEADER =
  '# generated from src/api/migration.ts by npm run gen:crd; do not edit\n' +
  '# (the conversion to a structural schema, CEL rules and printer columns are in src/api/crd.ts)\n';

/** The exact text of the CRD file. */
export function renderCrdYaml(): string {
  return CRD_HEADER + stringify(buildCrd(), { lineWidth: 0, indent: 2 });
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function main(argv: string[]): number {
  const file = path.join(repoRoot, CRD_FILE);
  const want = renderCrdYaml();
  if (argv.includes('--check')) {
    let have: string | undefined;
    try {
      have = readFileSync(file, 'utf8');
    } catch {
      have = undefined;
    }
    if (have === want) {
      process.stdout.write(`${CRD_FILE} is up to date\n`);
      return 0;
    }
    process.stderr.write(
      `${CRD_FILE} is ${have === undefined ? 'missing' : 'out of date with src/api/migration.ts'}: ` +
        'run npm run gen:crd and commit the result\n',
    );
    return 1;
  }
  writeFileSync(file, want);
  process.stdout.write(`wrote ${CRD_FILE}\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}

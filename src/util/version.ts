import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (two levels above src/ and dist/ files). */
export function productVersion(): string {
  const url = new URL('../../package.json', import.meta.url);
  const pkg = JSON.parse(readFileSync(url, 'utf8')) as { version: string };
  return pkg.version;
}

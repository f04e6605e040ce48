#!/usr/bin/env node
import { Command } from 'commander';
import { productVersion } from '../util/version.js';

const program = new Command()
  .name('milvus-migrate')
  .description('Migrate Milvus collections between clusters: exact schema, every row, verified.')
  .version(productVersion(), '-v, --version');

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`milvus-migrate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

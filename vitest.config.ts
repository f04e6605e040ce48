import { defineConfig } from 'vitest/config';

// Integration tests talk to real Milvus servers and a real Kubernetes cluster, so timeouts are long
// and files run in separate processes (forks) that each start the servers they need.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
